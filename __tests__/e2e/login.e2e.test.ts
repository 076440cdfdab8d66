/**
 * Logins and secrets, end to end, against the htpasswd registry (127.0.0.1:5001) and the open one (:5000). Every
 * run gets its own DOCKER_CONFIG directory, so the machine's own credentials are neither used nor touched.
 */
import { beforeAll, describe, expect, it } from '@jest/globals'
import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import type { ActionRun } from '../../scripts/run-action.mjs'
import {
  AUTH,
  AUTH_REGISTRY,
  BASE_IMAGE,
  GO_IMAGE,
  HELLO_CONTEXT,
  REGISTRY,
  freshRepository,
  registryTags,
  requireEnvironment,
  splitStaging
} from './support/environment.js'
import { describeEachPath, runOnPath, stagingTags } from './support/paths.js'

const MINUTES = 60_000
const TAG = 'login'
const BUILD_ARGS = `GO_IMAGE=${GO_IMAGE}\nBASE_IMAGE=${BASE_IMAGE}`
const PLATFORMS = 'linux/amd64,linux/s390x'

beforeAll(requireEnvironment, MINUTES)

async function dockerConfig(config?: object): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'go-build-action-docker-config-'))
  if (config) await writeFile(path.join(dir, 'config.json'), JSON.stringify(config))
  return dir
}

async function auths(dir: string): Promise<string[]> {
  const config = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8')) as { auths?: Record<string, unknown> }
  return Object.keys(config.auths ?? {}).sort()
}

/** `docker login --password-stdin` as an earlier workflow step would run it. */
function dockerLogin(dir: string, registry: string, user: string, password: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('docker', ['login', '--username', user, '--password-stdin', registry], { env: { ...process.env, DOCKER_CONFIG: dir } }, (error, stdout, stderr) =>
      error ? reject(new Error(`docker login ${registry}: ${stderr}`)) : resolve(stdout)
    )
    child.stdin?.end(password)
  })
}

/** Every place a run can leak a value: both logs, outputs, state, summary. Lines that mask it are allowed. */
function leaks(run: ActionRun, value: string): string[] {
  const lines = [run.main.log, run.post?.log ?? ''].flatMap(log => log.split('\n')).filter(l => l.includes(value) && !l.startsWith('::add-mask::'))
  const saved = [JSON.stringify(run.outputs), JSON.stringify(run.state), run.summary].filter(text => text.includes(value))
  return [...lines, ...saved]
}

function commandLines(run: ActionRun): string[] {
  return [run.main.log, run.post?.log ?? ''].flatMap(log => log.split('\n')).filter(l => l.startsWith('[command]'))
}

function succeeded(run: ActionRun): { exitCode: number; log: string; post: number | undefined } {
  return { exitCode: run.main.exitCode, log: run.main.exitCode === 0 ? '' : run.main.log.slice(-3000), post: run.post?.exitCode }
}

describeEachPath('logins and secrets', builderPath => {
  describe('a wrong password', () => {
    const open = freshRepository('login-wrong', REGISTRY)
    const authed = freshRepository('login-wrong', AUTH_REGISTRY)
    const wrong = `wrong-${randomBytes(8).toString('hex')}`
    let run: ActionRun
    let config: string

    beforeAll(async () => {
      config = await dockerConfig()
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
      expect(run.main.exitCode).toBe(1)
      const errors = run.main.log.split('\n').filter(l => l.startsWith('::error::'))
      expect(errors).toHaveLength(1)
      expect(errors[0]).toMatch(
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
      expect(commandLines(run).filter(l => l.includes(wrong))).toEqual([])
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
      config = await dockerConfig()
      await dockerLogin(config, AUTH_REGISTRY, AUTH.user, AUTH.password)
      run = await runOnPath(builderPath, {
        cwd: HELLO_CONTEXT,
        env: { DOCKER_CONFIG: config },
        inputs: { images: authed, 'tag-template': TAG, 'build-args': BUILD_ARGS, platforms: PLATFORMS }
      })
    }, 10 * MINUTES)

    it('are used as they are: the run publishes to the htpasswd registry', async () => {
      expect(succeeded(run)).toEqual({ exitCode: 0, log: '', post: 0 })
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
    /** An entry an earlier step stored for another registry: the post step must leave it alone. */
    const OTHER = 'registry.example.test'
    let run: ActionRun
    let config: string
    let during: string[]

    beforeAll(async () => {
      config = await dockerConfig({ auths: { [OTHER]: { auth: Buffer.from('someone:else').toString('base64') } } })
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
      during = await auths(config)
      // the post step, as the runner starts it, with the state the main step saved
      const post = await runOnPath(builderPath, {
        cwd: HELLO_CONTEXT,
        env: { DOCKER_CONFIG: config, ...Object.fromEntries(Object.entries(run.state).map(([k, v]) => [`STATE_${k}`, v])) },
        inputs: {},
        post: false
      })
      run = { ...run, post: post.main }
    }, 10 * MINUTES)

    it('logs in to both and publishes to both', async () => {
      expect(succeeded(run)).toEqual({ exitCode: 0, log: '', post: 0 })
      expect(during).toEqual([REGISTRY, AUTH_REGISTRY, OTHER].sort())
      expect(await registryTags(authed, AUTH)).toEqual([TAG, `${TAG}-amd64`, `${TAG}-s390x`].sort())
      expect(await registryTags(open)).toContain(TAG)
    })

    it('logs out of exactly those two in the post step, and leaves the other registry\'s credentials', async () => {
      const loggedOut = (run.post?.log ?? '').split('\n').filter(l => l.startsWith('logged out of '))
      expect(loggedOut.sort()).toEqual([`logged out of ${REGISTRY}`, `logged out of ${AUTH_REGISTRY}`].sort())
      expect(await auths(config)).toEqual([OTHER])
    })

    it('prints the password nowhere but in the mask command, and never on argv', () => {
      expect(leaks(run, AUTH.password)).toEqual([])
      const logins = commandLines(run).filter(l => / login /.test(l))
      expect(logins.length).toBe(0) // login runs silently: not even its argv is echoed
      expect(commandLines(run).filter(l => l.includes(AUTH.password))).toEqual([])
    })
  })

  describe('a self-hosted runner logged in to the registry itself', () => {
    const repository = freshRepository('login-own', AUTH_REGISTRY)
    /** The runner's own login, as `docker login` stored it (another user: the run must not keep it, nor lose it). */
    const OWN = { auth: Buffer.from('runner-own-user:runner-own-token').toString('base64') }
    let run: ActionRun
    let config: string

    beforeAll(async () => {
      config = await dockerConfig({ auths: { [AUTH_REGISTRY]: OWN } })
      run = await runOnPath(builderPath, {
        cwd: HELLO_CONTEXT,
        env: { DOCKER_CONFIG: config },
        inputs: {
          images: repository,
          'tag-template': TAG,
          'build-args': BUILD_ARGS,
          platforms: PLATFORMS,
          logins: `- registry: ${AUTH_REGISTRY}\n  username: ${AUTH.user}\n  password: '${AUTH.password}'\n`
        }
      })
    }, 10 * MINUTES)

    it('publishes with the run\'s login, and the post step puts the runner\'s own login back instead of logging out', async () => {
      expect(succeeded(run)).toEqual({ exitCode: 0, log: '', post: 0 })
      expect(run.post?.log).toContain(`put back the credentials ${AUTH_REGISTRY} had before this run`)
      expect(run.post?.log).not.toMatch(/logged out of/)
      const stored = JSON.parse(await readFile(path.join(config, 'config.json'), 'utf8')) as { auths: Record<string, unknown> }
      expect(stored.auths[AUTH_REGISTRY]).toEqual(OWN)
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
        env: { DOCKER_CONFIG: await dockerConfig() },
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
      expect(succeeded(run)).toEqual({ exitCode: 0, log: '', post: 0 })
      expect(splitStaging(await registryTags(repository))).toEqual({ published: [TAG, `${TAG}-amd64`, `${TAG}-s390x`].sort(), staging: stagingTags(builderPath) })
    })

    it('is given to buildx as a file, never on argv', () => {
      const build = commandLines(run).filter(l => / buildx build /.test(l))
      expect(build).toHaveLength(1)
      expect(build[0]).toMatch(/--secret id=token,src=\S+secret-0 /)
      expect(commandLines(run).filter(l => l.includes(secret))).toEqual([])
    })

    it('is in no log line (but the mask command), output, state or summary', () => {
      expect(run.main.log).toContain(`::add-mask::${secret}`)
      expect(leaks(run, secret)).toEqual([])
    })
  })
})
