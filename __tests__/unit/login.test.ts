import { describe, expect, it } from '@jest/globals'
import { loginArgs, loginTo, parseLogins, readLogins } from '../../src/login.js'
import { InputError } from '../../src/input.js'
import { NO_RETRY } from '../../src/retry.js'
import { FakeDocker } from '../../__fixtures__/fake-docker.js'
import { fixture } from '../../__fixtures__/fixtures.js'

const reader =
  (inputs: Record<string, string>) =>
  (name: string): string =>
    inputs[name] ?? ''

const SECRET = 's3cr3t-value-never-printed'

function inputError(fn: () => unknown): InputError {
  try {
    fn()
  } catch (error) {
    if (error instanceof InputError) return error
    throw error
  }
  throw new Error('no InputError thrown')
}

describe('readLogins', () => {
  it('is empty without login inputs (earlier steps\' credentials are used as they are)', () => {
    expect(readLogins(reader({}))).toEqual([])
  })

  it('reads one registry from registry/username/password', () => {
    expect(readLogins(reader({ registry: 'localhost:5001', username: 'u', password: SECRET }))).toEqual([
      { registry: 'localhost:5001', username: 'u', password: SECRET }
    ])
  })

  it('reads several from logins, after the single one', () => {
    const logins = readLogins(
      reader({
        registry: 'ghcr.io',
        username: 'a',
        password: 'p1',
        logins: '- registry: localhost:5001\n  username: b\n  password: p2\n- registry: quay.io\n  username: c\n  password: 1234\n'
      })
    )
    expect(logins.map(l => [l.registry, l.username, l.password])).toEqual([
      ['ghcr.io', 'a', 'p1'],
      ['localhost:5001', 'b', 'p2'],
      ['quay.io', 'c', '1234']
    ])
  })

  it.each([
    [{ username: 'u' }, 'password', /is empty but "username" is set/],
    [{ password: SECRET }, 'username', /is empty but "password" is set/],
    [{ registry: 'localhost:5001' }, 'registry', /"username" and "password" are not/],
    [{ logins: 'registry: x' }, 'logins', /must be a YAML list/],
    [{ logins: `- registry: x\n  username: u\n  password: [${SECRET}` }, 'logins', /is not valid YAML/],
    [{ logins: '- registry: x\n  username: u' }, 'logins', /entry 1 \(x\) needs both username and password/],
    [{ logins: `- username: u\n  password: ${SECRET}` }, 'logins', /entry 1 has no registry/],
    [{ logins: `- registry: x\n  user: u\n  password: ${SECRET}` }, 'logins', /unknown key\(s\) user/],
    [{ logins: '- just a string' }, 'logins', /entry 1 is not a mapping/],
    [
      { registry: 'localhost:5001', username: 'u', password: SECRET, logins: `- registry: localhost:5001\n  username: v\n  password: ${SECRET}` },
      'logins',
      /"localhost:5001" is given twice/
    ]
  ])('rejects %j naming input %s, never quoting the password', (inputs, input, message) => {
    const error = inputError(() => readLogins(reader(inputs)))
    expect(error.input).toBe(input)
    expect(error.message).toMatch(message)
    expect(error.message).not.toContain(SECRET)
  })
})

describe('parseLogins', () => {
  it('keeps numbers as text', () => {
    expect(parseLogins('- registry: r\n  username: 42\n  password: 0123')[0]).toEqual({ registry: 'r', username: '42', password: '0123' })
  })
})

describe('loginTo', () => {
  it('gives the password on standard input only', async () => {
    const docker = new FakeDocker().on(['login'], { stdout: 'Login Succeeded' })
    await loginTo(docker, { registry: 'localhost:5001', username: 'u', password: SECRET }, NO_RETRY)
    const [call] = docker.calls
    expect(call?.args).toEqual(['login', '--username', 'u', '--password-stdin', 'localhost:5001'])
    expect(call?.args.join(' ')).not.toContain(SECRET)
    expect(call?.options.input).toBe(SECRET)
    expect(call?.options.silent).toBe(true)
  })

  it('says which registry refused which user, and what to check, on a 401', async () => {
    const docker = new FakeDocker().on(['login'], { exitCode: 1, stderr: fixture('login-wrong-password.txt') })
    await expect(loginTo(docker, { registry: 'localhost:5001', username: 'e2e-user', password: SECRET }, NO_RETRY)).rejects.toThrow(
      /^login to localhost:5001 failed: the registry refused user "e2e-user" with the given password .*check the username and password inputs/
    )
  })

  it('logs in to Docker Hub when no registry is named', () => {
    expect(loginArgs({ registry: '', username: 'u', password: 'p' })).toEqual(['login', '--username', 'u', '--password-stdin'])
  })
})
