/**
 * Logins and secrets, end to end, against the htpasswd registry (127.0.0.1:5001) and the open one (:5000). Every
 * run gets its own DOCKER_CONFIG directory (the runner's docker config), so the machine's own credentials are
 * neither used nor touched; a credential store is a helper of the test's own, speaking docker's protocol. The
 * action logs in only in the job's own docker config (in its work directory): the runner's config.json and its
 * store are never written, and the run's logins end with the work directory. A fork's pull request with an empty
 * password builds and logs in nowhere.
 */
import { beforeAll, describe, expect, it } from '@jest/globals'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readFileSync } from 'node:fs'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { runPostStep, type ActionRun } from '../../scripts/run-action.mjs'
import {
  AUTH,
  AUTH_REGISTRY,
  BASE_IMAGE,
  commandsRun,
  dockerLogin,
  expectSucceeded,
  freshDockerConfig,
  GO_IMAGE,
  HELLO_CONTEXT,
  leaks,
  MINUTES,
  REGISTRY,
  freshRepository,
  registryTags,
  requireEnvironment,
  splitStaging,
  theError
} from './support/environment.js'
import { describeEachPath, runOnPath, stagingTags } from './support/paths.js'

const TAG = 'login'
const BUILD_ARGS = `GO_IMAGE=${GO_IMAGE}\nBASE_IMAGE=${BASE_IMAGE}`
const PLATFORMS = 'linux/amd64,linux/s390x'

beforeAll(requireEnvironment, MINUTES)

async function auths(dir: string): Promise<string[]> {
  const config = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8')) as { auths?: Record<string, unknown> }
  return Object.keys(config.auths ?? {}).sort()
}

/**
 * A docker credential helper of the test's own (`docker-credential-e2etest`), speaking docker's get/store/erase/list
 * protocol over a JSON file, and recording each call with the names of the INPUT_* variables it was started with.
 */
async function credentialHelper(initial: Record<string, { Username: string; Secret: string }>): Promise<{ dir: string; store: string; log: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'go-build-action-helper-'))
  const store = path.join(dir, 'store.json')
  const log = path.join(dir, 'calls.jsonl')
  await writeFile(store, JSON.stringify(initial))
  await writeFile(log, '')
  const script = [
    `#!${process.execPath}`,
    "const fs = require('fs')",
    'const action = process.argv[2]',
    "const input = fs.readFileSync(0, 'utf8')",
    'const file = process.env.E2E_CRED_STORE',
    "const store = JSON.parse(fs.readFileSync(file, 'utf8'))",
    "fs.appendFileSync(process.env.E2E_CRED_LOG, JSON.stringify({ action, inputs: Object.keys(process.env).filter(k => /^INPUT_/i.test(k)) }) + '\\n')",
    "if (action === 'get') {",
    '  const found = store[input.trim()]',
    "  if (!found) { process.stdout.write('credentials not found in native keychain\\n'); process.exit(1) }",
    '  process.stdout.write(JSON.stringify({ ServerURL: input.trim(), ...found }))',
    "} else if (action === 'store') {",
    '  const c = JSON.parse(input)',
    '  store[c.ServerURL] = { Username: c.Username, Secret: c.Secret }',
    '  fs.writeFileSync(file, JSON.stringify(store))',
    "} else if (action === 'erase') {",
    '  delete store[input.trim()]',
    '  fs.writeFileSync(file, JSON.stringify(store))',
    "} else if (action === 'list') {",
    '  process.stdout.write(JSON.stringify(Object.fromEntries(Object.entries(store).map(([k, v]) => [k, v.Username]))))',
    '}',
    ''
  ].join('\n')
  await writeFile(path.join(dir, 'docker-credential-e2etest'), script, { mode: 0o755 })
  return { dir, store, log }
}

async function helperCalls(log: string): Promise<Array<{ action: string; inputs: string[] }>> {
  return (await readFile(log, 'utf8'))
    .split('\n')
    .filter(l => l !== '')
    .map(l => JSON.parse(l) as { action: string; inputs: string[] })
}

describeEachPath('logins and secrets', builderPath => {
  describe('a wrong password', () => {
    const open = freshRepository('login-wrong', REGISTRY)
    const authed = freshRepository('login-wrong', AUTH_REGISTRY)
    const wrong = `wrong-${randomBytes(8).toString('hex')}`
    let run: ActionRun
    let config: string

    beforeAll(async () => {
      config = await freshDockerConfig()
      run = await runOnPath(builderPath, {
        cwd: HELLO_CONTEXT,
        env: { DOCKER_CONFIG: config },
        inputs: {
          images: `${open}\n${authed}`,
          'tag-template': TAG,
          'build-args': BUILD_ARGS,
          platforms: PLATFORMS,
          registry: AUTH_REGISTRY,
          username: AUTH.user,
          password: wrong
        }
      })
    }, 5 * MINUTES)

    it('fails at login with one error naming the user and the username/password inputs', () => {
      expect(theError(run)).toMatch(
        /^::error::login to localhost:5001 failed: the registry refused user "e2e-user" with the given password \(.*401 Unauthorized\); check the "username" and "password" inputs/
      )
      expect(run.main.log).not.toMatch(/\[internal\] load build definition|buildx build/)
      expect(run.post?.exitCode).toBe(0)
    })

    it('pushes nothing to either registry', async () => {
      expect(await registryTags(open)).toEqual([])
      expect(await registryTags(authed, AUTH)).toEqual([])
    })

    it('prints the wrong password nowhere but in the mask command, and never on argv', () => {
      expect(run.main.log).toContain(`::add-mask::${wrong}`)
      expect(leaks(run, wrong)).toEqual([])
      expect(commandsRun(run).filter(l => l.includes(wrong))).toEqual([])
    })

    it('logs out of nothing (it logged into nothing)', () => {
      expect(run.post?.log).not.toMatch(/logged out|logout/i)
    })
  })

  describe('credentials from an earlier login step', () => {
    const authed = freshRepository('login-earlier', AUTH_REGISTRY)
    let run: ActionRun
    let config: string

    beforeAll(async () => {
      config = await freshDockerConfig()
      await dockerLogin(config, AUTH_REGISTRY, AUTH.user, AUTH.password)
      run = await runOnPath(builderPath, {
        cwd: HELLO_CONTEXT,
        env: { DOCKER_CONFIG: config },
        inputs: { images: authed, 'tag-template': TAG, 'build-args': BUILD_ARGS, platforms: PLATFORMS }
      })
    }, 10 * MINUTES)

    it('are used as they are: the run publishes to the htpasswd registry', async () => {
      expectSucceeded(run)
      expect(run.main.log).toContain('no login inputs: using the credentials earlier steps stored')
      // the docker driver's index reaches the first repository through the staging tag (see publish.ts)
      expect(splitStaging(await registryTags(authed, AUTH))).toEqual({ published: [TAG, `${TAG}-amd64`, `${TAG}-s390x`].sort(), staging: stagingTags(builderPath) })
    })

    it('are left in place: the post step does not log out of a registry it did not log into', async () => {
      expect(run.post?.log).not.toMatch(/logged out|logging out/i)
      expect(await auths(config)).toEqual([AUTH_REGISTRY])
    })
  })

  describe('logins for two registries', () => {
    const open = freshRepository('login-two', REGISTRY)
    const authed = freshRepository('login-two', AUTH_REGISTRY)
    /** An entry an earlier step stored for another registry: the run must leave it alone. */
    const OTHER = 'registry.example.test'
    let run: ActionRun
    let config: string
    let before: Buffer
    let during: { runner: Buffer; job: string[] }

    beforeAll(async () => {
      config = await freshDockerConfig({ auths: { [OTHER]: { auth: Buffer.from('someone:else').toString('base64') } } })
      before = readFileSync(path.join(config, 'config.json'))
      run = await runOnPath(builderPath, {
        cwd: HELLO_CONTEXT,
        env: { DOCKER_CONFIG: config },
        inputs: {
          images: `${open}\n${authed}`,
          'tag-template': TAG,
          'build-args': BUILD_ARGS,
          platforms: PLATFORMS,
          logins: [
            `- registry: ${REGISTRY}`,
            `  username: ${AUTH.user}`,
            `  password: ${AUTH.password}`,
            `- registry: ${AUTH_REGISTRY}`,
            `  username: ${AUTH.user}`,
            `  password: ${AUTH.password}`,
            ''
          ].join('\n')
        },
        post: false
      })
      // between the main step and the post step
      during = { runner: readFileSync(path.join(config, 'config.json')), job: await auths(run.state.dockerConfig ?? '') }
      run = { ...run, post: await runPostStep(run) }
    }, 10 * MINUTES)

    it('logs in to both, in the job\'s own docker config only, and publishes to both', async () => {
      expectSucceeded(run)
      expect(run.state.dockerConfig).toMatch(new RegExp(`^${run.runnerDir}/go-build-action-[0-9a-f]{32}/docker-config$`))
      expect(during.job).toEqual([REGISTRY, AUTH_REGISTRY].sort())
      expect(during.runner.equals(before)).toBe(true)
      expect(await registryTags(authed, AUTH)).toEqual([TAG, `${TAG}-amd64`, `${TAG}-s390x`].sort())
      expect(await registryTags(open)).toContain(TAG)
    })

    it('logs out of exactly those two in the post step (the job\'s config goes), and the runner\'s config.json is as it was', () => {
      const loggedOut = (run.post?.log ?? '').split('\n').filter(l => l.startsWith('logged out of '))
      expect(loggedOut.sort()).toEqual([REGISTRY, AUTH_REGISTRY].map(r => `logged out of ${r} (its login was in the job's docker config only, now removed)`).sort())
      expect(existsSync(run.state.dockerConfig ?? '')).toBe(false)
      expect(readFileSync(path.join(config, 'config.json')).equals(before)).toBe(true)
    })

    it('prints the password nowhere but in the mask command, and never on argv', () => {
      expect(leaks(run, AUTH.password)).toEqual([])
      const logins = commandsRun(run).filter(l => / login /.test(l))
      expect(logins.length).toBe(0) // login runs silently: not even its argv is echoed
      expect(commandsRun(run).filter(l => l.includes(AUTH.password))).toEqual([])
    })
  })

  describe('a self-hosted runner logged in to the registry itself', () => {
    const repository = freshRepository('login-own', AUTH_REGISTRY)
    /** The runner's own login, as `docker login` stored it (another user: the run must not use it, nor touch it). */
    const OWN = { auth: Buffer.from('runner-own-user:runner-own-token').toString('base64') }
    let run: ActionRun
    let config: string
    let before: Buffer
    let during: Buffer

    beforeAll(async () => {
      config = await freshDockerConfig({ auths: { [AUTH_REGISTRY]: OWN } })
      before = readFileSync(path.join(config, 'config.json'))
      run = await runOnPath(builderPath, {
        cwd: HELLO_CONTEXT,
        env: { DOCKER_CONFIG: config },
        inputs: {
          images: repository,
          'tag-template': TAG,
          'build-args': BUILD_ARGS,
          platforms: PLATFORMS,
          logins: `- registry: ${AUTH_REGISTRY}\n  username: ${AUTH.user}\n  password: '${AUTH.password}'\n`
        },
        post: false
      })
      during = readFileSync(path.join(config, 'config.json'))
      run = { ...run, post: await runPostStep(run) }
    }, 10 * MINUTES)

    it('publishes with the run\'s login, and never writes the runner\'s config.json, in the main step or the post step', () => {
      expectSucceeded(run)
      expect(run.main.log).toContain(`logged in to ${AUTH_REGISTRY} as ${AUTH.user}, for this job only`)
      expect(during.equals(before)).toBe(true)
      expect(readFileSync(path.join(config, 'config.json')).equals(before)).toBe(true)
    })
  })

  describe('a self-hosted runner with a credential store, and username/password without "registry"', () => {
    const authed = freshRepository('login-store', AUTH_REGISTRY)
    const open = freshRepository('login-store', REGISTRY)
    /** What the runner held before: its own login to the htpasswd registry, in the store; config.json shows `{}`. */
    const STORE_BEFORE = { [AUTH_REGISTRY]: { Username: 'runner-own-user', Secret: 'runner-own-token' }, 'other.example': { Username: 'o', Secret: 's' } }
    const CONFIG_BEFORE = { credsStore: 'e2etest', auths: { [AUTH_REGISTRY]: {}, 'other.example': {} } }
    let run: ActionRun
    let helper: { dir: string; store: string; log: string }
    let config: string
    let before: { store: Buffer; config: Buffer }

    beforeAll(async () => {
      helper = await credentialHelper(STORE_BEFORE)
      config = await freshDockerConfig(CONFIG_BEFORE)
      before = { store: readFileSync(helper.store), config: readFileSync(path.join(config, 'config.json')) }
      run = await runOnPath(builderPath, {
        cwd: HELLO_CONTEXT,
        env: { DOCKER_CONFIG: config, PATH: `${helper.dir}:${process.env.PATH ?? ''}`, E2E_CRED_STORE: helper.store, E2E_CRED_LOG: helper.log },
        // the first image's registry is the one to log in to
        inputs: { images: `${authed}\n${open}`, 'tag-template': TAG, 'build-args': BUILD_ARGS, platforms: 'linux/amd64', username: AUTH.user, password: AUTH.password }
      })
    }, 10 * MINUTES)

    it('logs in to the first image\'s registry (not Docker Hub), in the job\'s own config, and publishes', async () => {
      expectSucceeded(run)
      expect(run.main.log).toContain(`logged in to ${AUTH_REGISTRY} as ${AUTH.user}, for this job only`)
      expect(await registryTags(authed, AUTH)).toContain(TAG)
      expect(await registryTags(open)).toContain(TAG)
    })

    it('never stores or erases through the runner\'s store: the store and config.json are byte for byte as they were', async () => {
      const calls = await helperCalls(helper.log)
      expect(calls.filter(c => c.action !== 'get' && c.action !== 'list')).toEqual([])
      expect(readFileSync(helper.store).equals(before.store)).toBe(true)
      expect(readFileSync(path.join(config, 'config.json')).equals(before.config)).toBe(true)
      expect(run.post?.log).toContain(`logged out of ${AUTH_REGISTRY} (its login was in the job's docker config only, now removed)`)
    })

    it('runs the credential helper (and docker) without any INPUT_* variable in its environment', async () => {
      const calls = await helperCalls(helper.log)
      expect(calls.length).toBeGreaterThan(0)
      expect(calls.flatMap(c => c.inputs)).toEqual([])
      expect(leaks(run, AUTH.password)).toEqual([])
    })
  })

  describe('a pull request from a fork (no secrets: an empty password)', () => {
    const authed = freshRepository('login-fork', AUTH_REGISTRY)
    let run: ActionRun
    let config: string

    beforeAll(async () => {
      config = await freshDockerConfig()
      const event = path.join(await mkdtemp(path.join(tmpdir(), 'go-build-action-event-')), 'event.json')
      await writeFile(
        event,
        JSON.stringify({
          action: 'opened',
          number: 7,
          repository: { full_name: 'example/go-build-action-e2e', default_branch: 'main' },
          pull_request: { number: 7, head: { ref: 'patch-1', repo: { full_name: 'someone/go-build-action-e2e', fork: true } }, base: { ref: 'main' } }
        })
      )
      run = await runOnPath(builderPath, {
        cwd: HELLO_CONTEXT,
        env: { DOCKER_CONFIG: config, GITHUB_EVENT_NAME: 'pull_request', GITHUB_EVENT_PATH: event, GITHUB_REF: 'refs/pull/7/merge' },
        inputs: { images: authed, 'tag-template': TAG, 'build-args': BUILD_ARGS, platforms: 'linux/amd64', username: AUTH.user, password: '' }
      })
    }, 10 * MINUTES)

    it('builds, logs in nowhere and says so, and pushes nothing', async () => {
      expectSucceeded(run)
      expect(run.main.log).toMatch(/not pushing \(.*pull_request.*\): logging in nowhere/)
      expect(run.main.log).toMatch(/buildx build /)
      expect(run.main.log).not.toMatch(/logged in to/)
      expect(run.post?.log).not.toMatch(/logged out|logging out/i)
      expect(await registryTags(authed, AUTH)).toEqual([])
      expect(existsSync(path.join(config, 'config.json')) ? await auths(config) : []).toEqual([])
    })
  })

  describe('a build secret', () => {
    const repository = freshRepository('login-secret', REGISTRY)
    const secret = `tok-${randomBytes(12).toString('hex')}`
    const hash = createHash('sha256').update(secret).digest('hex')
    let run: ActionRun

    beforeAll(async () => {
      const context = await mkdtemp(path.join(tmpdir(), 'go-build-action-secret-'))
      await writeFile(
        path.join(context, 'Dockerfile'),
        [
          'ARG BASE_IMAGE',
          'FROM ${BASE_IMAGE}',
          'ARG EXPECTED_SHA256',
          // checks the content without printing it; fails the build (on every platform) if it differs
          'RUN --mount=type=secret,id=token,required=true test "$(sha256sum < /run/secrets/token | cut -d" " -f1)" = "$EXPECTED_SHA256" && echo checked > /secret-checked',
          ''
        ].join('\n')
      )
      run = await runOnPath(builderPath, {
        cwd: context,
        env: { DOCKER_CONFIG: await freshDockerConfig() },
        inputs: {
          images: repository,
          'tag-template': TAG,
          'build-args': `BASE_IMAGE=${BASE_IMAGE}\nEXPECTED_SHA256=${hash}`,
          platforms: PLATFORMS,
          secrets: `token=${secret}`,
          'verify-command': 'cat /secret-checked'
        }
      })
    }, 10 * MINUTES)

    it('reaches the build with its exact content on every platform, and the run publishes', async () => {
      expectSucceeded(run)
      expect(splitStaging(await registryTags(repository))).toEqual({ published: [TAG, `${TAG}-amd64`, `${TAG}-s390x`].sort(), staging: stagingTags(builderPath) })
    })

    it('is given to buildx as a file, never on argv', () => {
      const build = commandsRun(run).filter(l => / buildx build /.test(l))
      expect(build).toHaveLength(1)
      expect(build[0]).toMatch(/--secret id=token,src=\S+secret-0 /)
      expect(commandsRun(run).filter(l => l.includes(secret))).toEqual([])
    })

    it('is in no log line (but the mask command), output, state or summary', () => {
      expect(run.main.log).toContain(`::add-mask::${secret}`)
      expect(leaks(run, secret)).toEqual([])
    })
  })
})
