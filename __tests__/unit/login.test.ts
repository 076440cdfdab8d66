import { describe, expect, it } from '@jest/globals'
import { FakeDocker } from '../../__fixtures__/fake-docker.js'
import { fixture } from '../../__fixtures__/fixtures.js'
import { InputError } from '../../src/core/input.js'
import { readFileSync } from 'node:fs'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { authKey } from '../../src/setup/docker-config.js'
import {
  holdsCredentials,
  logInAll,
  loginArgs,
  loginTo,
  maskPasswordLines,
  parseLogins,
  planLogins,
  readLogins,
  type CredentialHelper
} from '../../src/setup/login.js'
import { NO_RETRY } from '../../src/core/retry.js'

const PASSWORD = 'pa55-word-never-printed'
const reader =
  (values: Record<string, string>) =>
  (name: string): string =>
    values[name] ?? ''

function inputError(values: Record<string, string>): InputError {
  try {
    const { problem } = readLogins(reader(values))
    if (problem) return problem
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
    ).toEqual({
      logins: [
        { registry: 'localhost:5001', username: 'u', password: PASSWORD },
        { registry: 'ghcr.io', username: 'bot', password: 't0ken' }
      ],
      problem: undefined,
      githubToken: ''
    })
  })

  it('reads nothing when no login input is given (earlier steps\' credentials are used)', () => {
    expect(readLogins(reader({}))).toEqual({ logins: [], problem: undefined, githubToken: '' })
  })

  it.each([
    ['ghcr.io/org/app', 'ghcr.io'],
    ['127.0.0.1:5001/team/app', '127.0.0.1:5001'],
    ['org/app', ''],
    ['docker.io/org/app', '']
  ])('without "registry", username/password are for the first image\'s registry (%s → "%s")', (image, registry) => {
    const settings = readLogins(reader({ username: 'u', password: PASSWORD }), undefined, () => [image, 'quay.io/other/app'])
    expect(settings.logins).toEqual([{ registry, username: 'u', password: PASSWORD }])
  })

  it.each(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'https://index.docker.io/v1/', 'Docker.IO'])(
    'reads Docker Hub spelled %s as Docker Hub, whose login docker keys https://index.docker.io/v1/',
    spelling => {
      const settings = readLogins(
        reader({ registry: spelling, username: 'u', password: PASSWORD, logins: `- registry: ghcr.io\n  username: u\n  password: x\n` })
      )
      expect(settings.logins[0]?.registry).toBe('')
      expect(authKey(settings.logins[0]!.registry)).toBe('https://index.docker.io/v1/')
      expect(() => readLogins(reader({ registry: spelling, username: 'u', password: 'p', logins: '- registry: docker.io\n  username: u\n  password: p\n' }))).toThrow(
        'input "logins": registry "docker.io" is given twice'
      )
    }
  )

  it('reads github-token, masked', () => {
    const masked: string[] = []
    expect(readLogins(reader({ 'github-token': ' ghs_abc ' }), s => masked.push(s)).githubToken).toBe('ghs_abc')
    expect(masked).toContain('ghs_abc')
  })

  it('keeps an empty secret (a fork\'s pull request) as a problem for a pushing run, not an error now', () => {
    const settings = readLogins(reader({ username: 'actor', password: '', logins: '- registry: ghcr.io\n  username: u\n  password:\n' }))
    expect(settings.logins).toEqual([])
    expect(settings.problem?.message).toMatch(/^input "password": is empty but "username" is set: give both, or neither \(a pull request from a fork gets no secrets/)
  })

  it.each<[string, Record<string, string>, string, RegExp]>([
    ['username without password', { username: 'u' }, 'password', /is empty but "username" is set: give both, or neither \(a pull request from a fork gets no secrets/],
    ['password without username', { password: PASSWORD }, 'username', /is empty but "password" is set: give both, or neither/],
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

describe('planLogins', () => {
  const explicit = { logins: [{ registry: 'localhost:5001', username: 'u', password: 'p' }], githubToken: 'ghs_t' }
  const none = { logins: [], githubToken: 'ghs_t' }

  it('logs in nowhere on a run that does not push, whatever the inputs (an empty secret included)', () => {
    const problem = new InputError('password', 'is empty')
    expect(planLogins({ ...explicit, problem }, ['ghcr.io/o/a'], 'push is false')).toEqual({ logins: [], reason: 'not pushing (push is false): logging in nowhere' })
    expect(planLogins(none, ['ghcr.io/o/a'], 'event "pull_request"').logins).toEqual([])
  })

  it('fails a pushing run for an empty secret', () => {
    expect(() => planLogins({ ...none, problem: new InputError('password', 'is empty') }, ['ghcr.io/o/a'], undefined)).toThrow('input "password": is empty')
  })

  it('uses the login inputs where given (and then not the token)', () => {
    expect(planLogins(explicit, ['ghcr.io/o/a'], undefined)).toEqual({ logins: explicit.logins })
  })

  it('logs in to ghcr.io as the actor with the job\'s token when no login input is given and an image is there', () => {
    expect(planLogins(none, ['localhost:5000/a', 'ghcr.io/o/a'], undefined, 'octocat')).toEqual({
      logins: [{ registry: 'ghcr.io', username: 'octocat', password: 'ghs_t', token: true }]
    })
  })

  it('uses the stored credentials with no login input and no image on ghcr.io, or no token', () => {
    const reason = 'no login inputs: using the credentials earlier steps stored'
    expect(planLogins(none, ['quay.io/o/a'], undefined)).toEqual({ logins: [], reason })
    expect(planLogins({ logins: [], githubToken: '' }, ['ghcr.io/o/a'], undefined)).toEqual({ logins: [], reason })
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

/** A job docker config and a runner's config.json, each in a directory of its own. */
async function configs(runner: object = {}): Promise<{ job: string; runnerFile: string }> {
  const job = await mkdtemp(path.join(tmpdir(), 'login-job-'))
  await writeFile(path.join(job, 'config.json'), '{"auths":{}}')
  const runnerFile = path.join(await mkdtemp(path.join(tmpdir(), 'login-runner-')), 'config.json')
  await writeFile(runnerFile, JSON.stringify(runner))
  return { job, runnerFile }
}

describe('logInAll', () => {
  it('remembers each registry as soon as it is logged into, so the post step knows them even when a later login fails', async () => {
    const { job, runnerFile } = await configs()
    const docker = new FakeDocker().on(['login'], args =>
      args.at(-1) === 'localhost:5999' ? { exitCode: 1, stderr: 'unauthorized: authentication required' } : { stdout: 'Login Succeeded' }
    )
    const remembered: string[][] = []
    const logins = [
      { registry: 'localhost:5001', username: 'u', password: 'p' },
      { registry: 'localhost:5999', username: 'u', password: 'p' }
    ]
    await expect(logInAll(docker, logins, NO_RETRY, r => remembered.push(r), job, runnerFile)).rejects.toThrow(/^login to localhost:5999 failed/)
    expect(remembered).toEqual([['localhost:5001']])
  })

  it('logs in to nothing without login inputs', async () => {
    const { job, runnerFile } = await configs()
    const docker = new FakeDocker()
    await logInAll(
      docker,
      [],
      NO_RETRY,
      () => {
        throw new Error('nothing to remember')
      },
      job,
      runnerFile
    )
    expect(docker.calls).toHaveLength(0)
  })
})

describe('credential stores: the runner\'s config.json and credential helpers are read, never written', () => {
  /** A credential helper of the test's own, speaking docker's get/store/erase protocol, over an in-memory store. */
  function memoryHelper(initial: Record<string, { Username: string; Secret: string }> = {}) {
    const store = new Map(Object.entries(initial))
    const calls: string[] = []
    const helper: CredentialHelper = async (name, action, input) => {
      calls.push(`${name} ${action}`)
      if (action === 'get') {
        const found = store.get(input.trim())
        return found ? { exitCode: 0, stdout: JSON.stringify({ ServerURL: input.trim(), ...found }), stderr: '' } : { exitCode: 1, stdout: 'credentials not found in native keychain\n', stderr: '' }
      }
      throw new Error(`the runner's helper was asked to ${action}`)
    }
    return { store, calls, helper }
  }

  /** `docker login` as the CLI does it: which helper it stores through, read from the job's config at that moment. */
  function dockerLoggingIn(job: string) {
    const seen: Array<{ key: string; helper: unknown }> = []
    const docker = new FakeDocker().on(['login'], args => {
      const key = authKey(args.length > 4 ? (args.at(-1) ?? '') : '')
      const config = JSON.parse(readFileSync(path.join(job, 'config.json'), 'utf8')) as { credHelpers?: Record<string, string> }
      seen.push({ key, helper: config.credHelpers?.[key] })
      return { stdout: 'Login Succeeded' }
    })
    return { docker, seen }
  }

  it.each([
    ['credsStore', { credsStore: 'e2e', auths: { 'localhost:5001': {} } }],
    ['credHelpers', { credHelpers: { 'localhost:5001': 'e2e', 'https://index.docker.io/v1/': 'e2e' }, auths: { 'localhost:5001': {} } }],
    ['auths of its own', { auths: { 'localhost:5001': { auth: Buffer.from('runner-own:secret').toString('base64') } } }]
  ])('with %s, logs in through no helper (the job\'s config.json stores it), and leaves the runner\'s config and helper as they were', async (_what, runner) => {
    const { job, runnerFile } = await configs(runner)
    const before = await readFile(runnerFile)
    const h = memoryHelper({ 'localhost:5001': { Username: 'runner-own', Secret: 'runner-own-secret' } })
    const { docker, seen } = dockerLoggingIn(job)
    await logInAll(docker, [{ registry: 'localhost:5001', username: 'u', password: 'p' }], NO_RETRY, () => undefined, job, runnerFile, h.helper)
    expect(seen).toEqual([{ key: 'localhost:5001', helper: '' }])
    expect((await readFile(runnerFile)).equals(before)).toBe(true)
    expect(h.calls).toEqual([])
  })

  it('registry: docker.io (as typed) logs in to Docker Hub under docker\'s own key, stored in the job\'s config', async () => {
    const { job, runnerFile } = await configs({ credsStore: 'e2e' })
    const { docker, seen } = dockerLoggingIn(job)
    const { logins } = readLogins(reader({ registry: 'docker.io', username: 'u', password: 'p' }))
    await logInAll(docker, logins, NO_RETRY, () => undefined, job, runnerFile, memoryHelper().helper)
    expect(docker.calls[0]?.args).toEqual(['login', '--username', 'u', '--password-stdin'])
    expect(seen).toEqual([{ key: 'https://index.docker.io/v1/', helper: '' }])
  })

  it('the job\'s token does not replace credentials an earlier step stored (in config.json or a store), whose secret it masks', async () => {
    const token = { registry: 'ghcr.io', username: 'octocat', password: 'ghs_t', token: true }
    const h = memoryHelper({ 'ghcr.io': { Username: 'pat-user', Secret: 'pat' } })
    for (const runner of [{ auths: { 'ghcr.io': { auth: 'eDp5' } } }, { credsStore: 'e2e', auths: { 'ghcr.io': {} } }]) {
      const { job, runnerFile } = await configs(runner)
      const docker = new FakeDocker()
      await logInAll(docker, { logins: [token] }, NO_RETRY, () => undefined, job, runnerFile, h.helper)
      expect(docker.calls).toHaveLength(0)
    }
    const masked: string[] = []
    const { runnerFile } = await configs({ credsStore: 'e2e' })
    expect(await holdsCredentials('ghcr.io', runnerFile, h.helper, s => masked.push(s))).toBe(true)
    expect(masked).toEqual(['pat'])

    const empty = await configs({})
    const { docker, seen } = dockerLoggingIn(empty.job)
    const remembered: string[][] = []
    await logInAll(docker, { logins: [token] }, NO_RETRY, r => remembered.push(r), empty.job, empty.runnerFile, h.helper)
    expect(docker.calls[0]?.args).toEqual(['login', '--username', 'octocat', '--password-stdin', 'ghcr.io'])
    expect(seen).toEqual([{ key: 'ghcr.io', helper: '' }])
    expect(remembered).toEqual([['ghcr.io']])
  })

  it('a helper that cannot say what it holds counts as holding nothing: the job\'s token logs in', async () => {
    const { job, runnerFile } = await configs({ credsStore: 'broken' })
    const helper: CredentialHelper = async () => ({ exitCode: 2, stdout: '', stderr: 'dbus: no session' })
    expect(await holdsCredentials('ghcr.io', runnerFile, helper)).toBe(false)
    const docker = new FakeDocker().on(['login'], { stdout: 'Login Succeeded' })
    await logInAll(docker, { logins: [{ registry: 'ghcr.io', username: 'octocat', password: 'ghs_t', token: true }] }, NO_RETRY, () => undefined, job, runnerFile, helper)
    expect(docker.calls.map(c => c.args[0])).toEqual(['login'])
  })
})
