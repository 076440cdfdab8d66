import { describe, expect, it } from '@jest/globals'
import { FakeDocker } from '../../__fixtures__/fake-docker.js'
import { fixture } from '../../__fixtures__/fixtures.js'
import { InputError } from '../../src/input.js'
import { logInAll, loginArgs, loginTo, maskPasswordLines, parseLogins, readLogins } from '../../src/login.js'
import { NO_RETRY } from '../../src/retry.js'

const PASSWORD = 'pa55-word-never-printed'
const reader =
  (values: Record<string, string>) =>
  (name: string): string =>
    values[name] ?? ''

function inputError(values: Record<string, string>): InputError {
  try {
    readLogins(reader(values))
  } catch (error) {
    if (error instanceof InputError) return error
    throw error
  }
  throw new Error('readLogins accepted the inputs')
}

describe('readLogins', () => {
  it('reads registry/username/password and a logins list', () => {
    expect(
      readLogins(
        reader({
          registry: 'localhost:5001',
          username: 'u',
          password: ` ${PASSWORD}\n`,
          logins: '- registry: ghcr.io\n  username: bot\n  password: t0ken\n'
        })
      )
    ).toEqual([
      { registry: 'localhost:5001', username: 'u', password: PASSWORD },
      { registry: 'ghcr.io', username: 'bot', password: 't0ken' }
    ])
  })

  it('reads nothing when no login input is given (earlier steps\' credentials are used)', () => {
    expect(readLogins(reader({}))).toEqual([])
  })

  it.each<[string, Record<string, string>, string, RegExp]>([
    ['username without password', { username: 'u' }, 'password', /is empty but "username" is set: give both, or neither$/],
    ['password without username', { password: PASSWORD }, 'username', /is empty but "password" is set: give both, or neither$/],
    ['registry without credentials', { registry: 'localhost:5001' }, 'registry', /is set \(localhost:5001\) but "username" and "password" are not: give them/],
    [
      'the same registry twice',
      { registry: 'localhost:5001', username: 'u', password: PASSWORD, logins: `- registry: localhost:5001\n  username: u\n  password: ${PASSWORD}\n` },
      'logins',
      /registry "localhost:5001" is given twice: log in to each registry once$/
    ],
    ['invalid YAML', { logins: `- registry: [x\n  username: u\n  password: ${PASSWORD}\n` }, 'logins', /^input "logins": is not valid YAML \(line \d+\): write a list of/],
    ['a password YAML would read as a list', { logins: `- registry: x\n  username: u\n  password: [${PASSWORD}\n` }, 'logins', /^input "logins": the password on line 3 would be read by YAML as something else than written: quote it/],
    ['not a list', { logins: `registry: x\nusername: u\npassword: ${PASSWORD}\n` }, 'logins', /is not a YAML list: write one "- registry: HOST" entry/],
    ['an entry that is not a mapping', { logins: '- localhost:5001\n' }, 'logins', /entry 1 is not a mapping of registry, username, password/],
    ['an entry without registry', { logins: `- username: u\n  password: ${PASSWORD}\n` }, 'logins', /entry 1 has no registry: give the registry host/],
    ['an entry without password', { logins: '- registry: localhost:5001\n  username: u\n' }, 'logins', /entry 1 \(localhost:5001\) needs both username and password: give both$/],
    ['an unknown key', { logins: `- registry: r\n  user: u\n  password: ${PASSWORD}\n` }, 'logins', /entry 1 has unknown key\(s\) user: use registry, username, password$/]
  ])('%s: names input %s and never quotes the password', (_name, values, input, message) => {
    const error = inputError(values)
    expect(error.input).toBe(input)
    expect(error.message).toMatch(new RegExp(`^input "${input}": `))
    expect(error.message).toMatch(message)
    expect(error.message).not.toContain(PASSWORD)
  })
})

describe('docker login', () => {
  const login = { registry: 'localhost:5001', username: 'e2e-user', password: PASSWORD }

  it('sends the password on stdin, never on argv', async () => {
    expect(loginArgs(login)).toEqual(['login', '--username', 'e2e-user', '--password-stdin', 'localhost:5001'])
    const docker = new FakeDocker().on(['login'], { stdout: 'Login Succeeded' })
    await loginTo(docker, login, NO_RETRY)
    expect(docker.calls[0]!.args.join(' ')).not.toContain(PASSWORD)
    expect(docker.calls[0]!.options).toMatchObject({ input: PASSWORD, silent: true })
  })

  it('a refused password names the registry, the user and the inputs to fix, not the password', async () => {
    const docker = new FakeDocker().on(['login'], { exitCode: 1, stderr: fixture('login-wrong-password.txt') })
    const failure = loginTo(docker, login, NO_RETRY)
    await expect(failure).rejects.toThrow(
      /^login to localhost:5001 failed: the registry refused user "e2e-user" with the given password \(.*401 Unauthorized\); check the "username" and "password" inputs \(or "logins", or the secret behind them\)$/
    )
    await expect(loginTo(docker, login, NO_RETRY)).rejects.not.toThrow(PASSWORD)
  })

  it('an unreachable registry says where to look', async () => {
    const stderr = 'Error response from daemon: Get "http://localhost:5999/v2/": dial tcp 127.0.0.1:5999: connect: connection refused'
    const docker = new FakeDocker().on(['login'], { exitCode: 1, stderr })
    await expect(loginTo(docker, { ...login, registry: 'localhost:5999' }, NO_RETRY)).rejects.toThrow(
      /^login to localhost:5999 failed: .*connection refused: check the registry host in input "registry" \(or "logins"\) and that the registry is up$/
    )
  })
})

describe('logins YAML: passwords YAML would alter', () => {
  const entry = (password: string): string => `- registry: ghcr.io\n  username: u\n  password: ${password}\n`
  it.each([
    ['a tag', '!secret-value'],
    ['an anchor', '&anchor-value'],
    ['an alias', '*alias-value'],
    ['a comment', 'pass #word-value'],
    ['a leading %', '%percent-value'],
    ['a leading @', '@at-value'],
    ['a leading backtick', '`tick-value']
  ])('refuses %s, naming the fix and never the line', (_what, password) => {
    const error = (() => {
      try {
        parseLogins(entry(password))
      } catch (e) {
        return e as Error
      }
      throw new Error('accepted')
    })()
    expect(error.message).toMatch(/^input "logins": the password on line 3 would be read by YAML as something else than written: quote it \(password: 'the password'.*\$\{\{ toJSON\(secrets\.NAME\) \}\}$/)
    expect(error.message).not.toContain(password.replace(/^[!&*%@`]/, ''))
  })

  it('takes quoted passwords, and # inside a word, as written', () => {
    expect(parseLogins(entry("'!not-a-tag #x'"))[0]?.password).toBe('!not-a-tag #x')
    expect(parseLogins(entry('"%x"'))[0]?.password).toBe('%x')
    expect(parseLogins(entry('a#b'))[0]?.password).toBe('a#b')
  })

  it('masks every password line as written, before parsing', () => {
    const masked: string[] = []
    maskPasswordLines(`${entry("'quoted pw'")}- registry: r2\n  username: u\n  password: plain #c\n`, s => masked.push(s))
    expect(masked).toEqual(expect.arrayContaining(["'quoted pw'", 'quoted pw', 'plain #c', 'plain']))
  })

  it('readLogins masks the password input before anything reads it', () => {
    const masked: string[] = []
    readLogins(reader({ username: 'u', password: ' pw ' }), s => masked.push(s))
    expect(masked).toEqual(expect.arrayContaining([' pw ', 'pw']))
  })
})

describe('parseLogins', () => {
  it('keeps every value as the text written (a password 0123 is not the number 123)', () => {
    expect(parseLogins('- registry: r\n  username: 42\n  password: 0123')[0]).toEqual({ registry: 'r', username: '42', password: '0123' })
  })
})

describe('loginArgs', () => {
  it('logs in to Docker Hub when no registry is named', () => {
    expect(loginArgs({ registry: '', username: 'u', password: 'p' })).toEqual(['login', '--username', 'u', '--password-stdin'])
  })
})

describe('logInAll', () => {
  it('remembers each registry as soon as it is logged into, so a later failure still logs out of the earlier', async () => {
    const docker = new FakeDocker().on(['login'], args =>
      args.at(-1) === 'localhost:5999' ? { exitCode: 1, stderr: 'unauthorized: authentication required' } : { stdout: 'Login Succeeded' }
    )
    const remembered: string[][] = []
    const logins = [
      { registry: 'localhost:5001', username: 'u', password: 'p' },
      { registry: 'localhost:5999', username: 'u', password: 'p' }
    ]
    await expect(logInAll(docker, logins, NO_RETRY, r => remembered.push(r))).rejects.toThrow(/^login to localhost:5999 failed/)
    expect(remembered).toEqual([['localhost:5001']])
  })

  it('logs in to nothing without login inputs', async () => {
    const docker = new FakeDocker()
    await logInAll(docker, [], NO_RETRY, () => {
      throw new Error('nothing to remember')
    })
    expect(docker.calls).toHaveLength(0)
  })
})
