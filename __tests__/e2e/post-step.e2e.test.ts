/**
 * What the post step acts on, and what a later step of the job finds, for real.
 *
 * The runner's own docker config is a directory of the test's own (DOCKER_CONFIG), with the logins an earlier
 * step left there (`docker login`, as docker/login-action does): the htpasswd registry, whose private base image
 * the build pulls, and the open registry, where the action logs in again with its own password. Between the main
 * step and the post step (where a later step of the job runs) the test looks through everything the action wrote
 * for a build secret, the signing key and the earlier logins' secrets; then it runs the post step with state the
 * runner would hold had the build issued `save-state` commands: a DOCKER_CONFIG whose `docker-buildx` plugin
 * writes a marker file, and a work directory, builder, docker context and local image of the test's own.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { promisify } from 'node:util'
import { runPostStep, type ActionRun, type StepResult } from '../../scripts/run-action.mjs'
import { FaultProxy } from './support/fault-proxy.js'
import { AUTH, AUTH_REGISTRY, BASE_IMAGE, REGISTRY, docker, dockerLogin, expectSucceeded, freshRepository, MINUTES, registryTags, requireEnvironment } from './support/environment.js'
import { builderLeftovers, describeEachPath, ENGINE_PATH, runOnPath, type BuilderPath } from './support/paths.js'

const execFileAsync = promisify(execFile)
/** The machine's own buildx (Debian's 0.13.1): the engine path's plugin. */
const MACHINE_BUILDX = '/usr/libexec/docker/cli-plugins/docker-buildx'
const KEY_PASSWORD = 'e2e-cosign-Passw0rd'
const temp = (name: string): Promise<string> => mkdtemp(path.join(tmpdir(), `go-build-action-${name}-`))
const random = (prefix: string): string => `${prefix}-${randomBytes(8).toString('hex')}`

beforeAll(requireEnvironment, MINUTES)

/** Whether a docker command succeeds (a builder, a context, an image that exists). */
const succeeds = (config: string, args: string[]): Promise<boolean> =>
  docker(args, config).then(
    () => true,
    () => false
  )

/**
 * The files under `dirs` (symbolic links not followed: they point at what the action did not write) holding any of
 * `needles` (what → its values), as `file: what`, each file relative to `base`. What a later step of the job could read.
 */
async function filesHolding(dirs: string[], needles: Record<string, string[]>, base: string, skip: (file: string) => boolean = () => false): Promise<string[]> {
  const found: string[] = []
  const walk = async (dir: string): Promise<void> => {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const file = path.join(dir, name)
      const info = await lstat(file).catch(() => undefined)
      if (!info || info.isSymbolicLink()) continue
      if (info.isDirectory()) await walk(file)
      else if (info.isFile() && !skip(file)) {
        const text = (await readFile(file).catch(() => Buffer.alloc(0))).toString('latin1')
        for (const [what, values] of Object.entries(needles)) if (values.some(v => text.includes(v))) found.push(`${path.relative(base, file)}: ${what}`)
      }
    }
  }
  for (const dir of dirs) await walk(dir)
  return found
}

/** Files under `dir` whose name is `name` (links not followed). */
async function filesNamed(dir: string, name: RegExp): Promise<string[]> {
  const found: string[] = []
  for (const entry of await readdir(dir, { recursive: true }).catch(() => [] as string[])) {
    if (name.test(path.basename(entry)) && !(await lstat(path.join(dir, entry))).isSymbolicLink()) found.push(entry)
  }
  return found
}

/** A key pair as a user makes it: `cosign generate-key-pair` with COSIGN_PASSWORD. */
async function keyPair(): Promise<{ key: string; line: string }> {
  const dir = await temp('cosign-keys')
  await execFileAsync('cosign', ['generate-key-pair'], { cwd: dir, env: { ...process.env, COSIGN_PASSWORD: KEY_PASSWORD } })
  const key = readFileSync(path.join(dir, 'cosign.key'), 'utf8')
  const line = key.split('\n').find(l => l.length >= 40 && !l.startsWith('-----')) ?? ''
  return { key, line }
}

/**
 * A build that needs its secret and pulls its base image from the htpasswd registry: `MODE=fail` fails after
 * reading the secret, `MODE=wait` prints `waiting-for-2-cancel` and waits; NONCE keeps the step out of the cache.
 */
async function secretContext(): Promise<string> {
  const dir = await temp('post-step-context')
  await writeFile(
    path.join(dir, 'Dockerfile'),
    [
      'ARG BASE_IMAGE',
      'FROM ${BASE_IMAGE}',
      'ARG MODE=ok',
      'ARG NONCE',
      'RUN --mount=type=secret,id=token,required=true test -s /run/secrets/token && echo "$NONCE" > /built && ' +
        'if [ "$MODE" = fail ]; then echo failing on purpose; exit 3; fi && ' +
        'if [ "$MODE" = wait ]; then echo waiting-for-$((1+1))-cancel; sleep 300; fi',
      ''
    ].join('\n')
  )
  return dir
}

/**
 * The runner's docker config as earlier steps leave it: logged in to the htpasswd registry (the e2e user) and to
 * the open registry (a user of the runner's own), and a private base image pushed with those credentials.
 */
async function runnerSetUp(): Promise<{ config: string; base: string; earlier: string[] }> {
  const config = await temp('runner-docker-config')
  const open = { user: 'runner-own', password: random('runner-own-password') }
  await dockerLogin(config, AUTH_REGISTRY, AUTH.user, AUTH.password)
  await dockerLogin(config, REGISTRY, open.user, open.password)
  const base = `${freshRepository('private-base', AUTH_REGISTRY)}:base`
  await docker(['buildx', 'imagetools', 'create', '--tag', base, BASE_IMAGE], config)
  const auth = (user: string, password: string): string => Buffer.from(`${user}:${password}`).toString('base64')
  return { config, base, earlier: [AUTH.password, auth(AUTH.user, AUTH.password), open.password, auth(open.user, open.password)] }
}

interface Scenario {
  builderPath: BuilderPath
  runner: Awaited<ReturnType<typeof runnerSetUp>>
  repository: string
  buildSecret: string
  /** The action's own login to the open registry (its password may live in the job's docker config until the post step). */
  ownPassword: string
  key: Awaited<ReturnType<typeof keyPair>>
}

async function scenario(builderPath: BuilderPath): Promise<Scenario> {
  return {
    builderPath,
    runner: await runnerSetUp(),
    repository: freshRepository('post-step'),
    buildSecret: random('build-secret'),
    ownPassword: random('action-own-password'),
    key: await keyPair()
  }
}

/** The main step alone (the post step is the test's to run), signing with a key and logging in to the open registry. */
async function mainStep(s: Scenario, mode: 'ok' | 'fail' | 'wait', extra: { cancelWhen?: RegExp; inputs?: Record<string, string> } = {}): Promise<ActionRun> {
  return runOnPath(s.builderPath, {
    cwd: await secretContext(),
    env: { DOCKER_CONFIG: s.runner.config },
    post: false,
    cancelWhen: extra.cancelWhen,
    inputs: {
      images: s.repository,
      'tag-template': `post-${mode}`,
      platforms: 'linux/amd64',
      'build-args': `BASE_IMAGE=${s.runner.base}\nMODE=${mode}\nNONCE=${random('nonce')}`,
      secrets: `token=${s.buildSecret}`,
      logins: `- registry: ${REGISTRY}\n  username: action-own\n  password: ${s.ownPassword}\n`,
      sign: 'true',
      'sign-key': s.key.key,
      'sign-key-password': KEY_PASSWORD,
      'sign-transparency-log': 'false',
      'cosign-version': 'installed',
      ...extra.inputs
    }
  })
}

/** The action's own password, as given and as docker stores it. */
const ownPassword = (s: Scenario): string[] => [s.ownPassword, Buffer.from(`action-own:${s.ownPassword}`).toString('base64')]

/**
 * What a later step of the job finds in everything the action wrote, RUNNER_TEMP (files relative to it) and the
 * runner's docker config (but its config.json, which holds the earlier logins by design).
 */
async function laterStepFinds(s: Scenario, run: ActionRun): Promise<{ secrets: string[]; keyFiles: string[]; ownPassword: string[] }> {
  const dirs = [run.runnerDir, s.runner.config]
  const runnerConfigFile = path.join(s.runner.config, 'config.json')
  const needles = { 'the build secret': [s.buildSecret], 'the signing key': [s.key.line], 'an earlier login': s.runner.earlier }
  const secrets = await filesHolding(dirs, needles, run.runnerDir, f => f === runnerConfigFile)
  const keyFiles = await filesNamed(run.runnerDir, /cosign\.key|^secret-\d+$/)
  const own = await filesHolding(dirs, { 'the action\'s own password': ownPassword(s) }, run.runnerDir)
  return { secrets, keyFiles, ownPassword: own }
}

describeEachPath('the post step acts only on what this run made; a later step finds no secret', builderPath => {
  let s: Scenario
  let run: ActionRun
  let configBefore: Buffer
  let configAfterMain: Buffer
  let found: Awaited<ReturnType<typeof laterStepFinds>>
  let post: StepResult
  /** What the forged state names: all of the test's own. */
  const forged = {
    pluginMarker: '',
    dockerConfig: '',
    workDir: '',
    builder: random('e2e-forged-builder'),
    context: random('e2e-forged-context'),
    image: `${REGISTRY}/e2e/${random('forged-image')}:keep`
  }

  beforeAll(async () => {
    s = await scenario(builderPath)
    configBefore = readFileSync(path.join(s.runner.config, 'config.json'))
    run = await mainStep(s, 'ok')
    configAfterMain = readFileSync(path.join(s.runner.config, 'config.json'))
    found = await laterStepFinds(s, run)

    // the state a build's output could have added: a DOCKER_CONFIG whose docker-buildx writes a marker, then runs
    // the real buildx there (its builders reached through a link, as a checkout can hold one)
    const own = await temp('forged')
    forged.pluginMarker = path.join(own, 'plugin-ran')
    forged.dockerConfig = path.join(own, 'docker-config')
    await mkdir(path.join(forged.dockerConfig, 'cli-plugins'), { recursive: true })
    const runnersPlugin = path.join(s.runner.config, 'cli-plugins', 'docker-buildx')
    const buildx = existsSync(runnersPlugin) ? await readlink(runnersPlugin) : MACHINE_BUILDX
    await writeFile(path.join(forged.dockerConfig, 'cli-plugins', 'docker-buildx'), `#!/bin/sh\necho "$@" >> '${forged.pluginMarker}'\nexec '${buildx}' "$@"\n`, { mode: 0o755 })
    for (const name of ['buildx', 'contexts']) {
      await mkdir(path.join(s.runner.config, name), { recursive: true })
      await symlink(path.join(s.runner.config, name), path.join(forged.dockerConfig, name))
    }
    forged.workDir = path.join(own, 'work')
    await mkdir(forged.workDir)
    await writeFile(path.join(forged.workDir, 'keep'), 'the test\'s own')
    await docker(['buildx', 'create', '--name', forged.builder, '--driver', 'docker-container'], s.runner.config)
    await docker(['context', 'create', forged.context, '--docker', 'host=unix:///var/run/docker.sock'], s.runner.config)
    await docker(['tag', BASE_IMAGE, forged.image]).catch(async () => {
      await docker(['pull', BASE_IMAGE])
      await docker(['tag', BASE_IMAGE, forged.image])
    })
    post = await runPostStep(run, {
      state: {
        ...run.state,
        dockerConfig: forged.dockerConfig,
        workDir: forged.workDir,
        builder: forged.builder,
        dockerContext: forged.context,
        localImages: JSON.stringify([forged.image]),
        logins: JSON.stringify([AUTH_REGISTRY, REGISTRY])
      }
    })
  }, 10 * MINUTES)

  afterAll(async () => {
    await docker(['buildx', 'rm', forged.builder], s.runner.config).catch(() => undefined)
    await docker(['context', 'rm', '--force', forged.context], s.runner.config).catch(() => undefined)
    await docker(['image', 'rm', forged.image]).catch(() => undefined)
  }, MINUTES)

  it('builds on a private base image from the htpasswd registry with the login an earlier step left, and publishes', async () => {
    expectSucceeded({ main: run.main, post })
    expect(await registryTags(s.repository)).toContain('post-ok')
    expect(JSON.parse(run.outputs.signatures ?? '[]')).not.toEqual([])
  }, MINUTES)

  it('leaves a later step no build secret, no key file and no copy of the earlier logins\' secrets, and the action\'s own password only in the job\'s docker config', () => {
    expect(found.secrets).toEqual([])
    expect(found.keyFiles).toEqual([])
    expect(found.ownPassword).toEqual([`go-build-action-${run.state.run}/docker-config/config.json: the action's own password`])
  })

  it('never changes the runner\'s own config.json, in the main step or the post step', () => {
    expect(configAfterMain.equals(configBefore)).toBe(true)
    expect(readFileSync(path.join(s.runner.config, 'config.json')).equals(configBefore)).toBe(true)
  })

  it('never runs a program from a DOCKER_CONFIG the state names', () => {
    expect(existsSync(forged.pluginMarker) ? readFileSync(forged.pluginMarker, 'utf8') : 'not run').toBe('not run')
  })

  it('removes none of the directory, builder, context or local image the state names, and says it ignored them', async () => {
    expect(post.exitCode).toBe(0)
    expect(readFileSync(path.join(forged.workDir, 'keep'), 'utf8')).toBe('the test\'s own')
    expect(await succeeds(s.runner.config, ['buildx', 'inspect', forged.builder])).toBe(true)
    expect(await succeeds(s.runner.config, ['context', 'inspect', forged.context])).toBe(true)
    expect(await succeeds(s.runner.config, ['image', 'inspect', forged.image])).toBe(true)
    const warnings = post.log.split('\n').filter(l => l.startsWith('::warning::'))
    for (const name of ['dockerConfig', 'workDir', 'builder', 'dockerContext', 'localImages', 'logins']) {
      expect(warnings.filter(w => w.includes(`"${name}"`))).toHaveLength(1)
    }
  }, MINUTES)

  it('removes what this run made: its builder, its work directory and the job\'s docker config with the action\'s login', async () => {
    expect(await builderLeftovers({ ...run, dockerConfig: s.runner.config })).toEqual([])
    const workDirs = (await readdir(run.runnerDir)).filter(n => n.startsWith('go-build-action-'))
    expect(workDirs).toEqual([])
    expect(await filesHolding([run.runnerDir], { 'the action\'s own password': ownPassword(s) }, run.runnerDir)).toEqual([])
  }, MINUTES)
})

describe(`${ENGINE_PATH.title} a later step of a failed or cancelled job finds no build secret, no key and no earlier login`, () => {
  let s: Scenario
  let configBefore: Buffer
  /** The open registry behind a proxy that never answers a signature's upload, so cosign is still signing when the job is cancelled. */
  const proxy = new FaultProxy(5000, [{ method: 'PUT', path: /\/manifests\/sha256-[0-9a-f]{64}\.sig$/, times: Infinity, fault: 'hang' }])

  beforeAll(async () => {
    s = await scenario(ENGINE_PATH)
    configBefore = readFileSync(path.join(s.runner.config, 'config.json'))
    await proxy.start()
  }, 2 * MINUTES)

  afterAll(() => proxy.stop())

  /** A later step finds nothing, the runner's config.json is as it was, and the post step then removes the work directory. */
  async function check(run: ActionRun): Promise<void> {
    expect(run.main.exitCode).toBe(1)
    const found = await laterStepFinds(s, run)
    expect({ secrets: found.secrets, keyFiles: found.keyFiles }).toEqual({ secrets: [], keyFiles: [] })
    expect(readFileSync(path.join(s.runner.config, 'config.json')).equals(configBefore)).toBe(true)
    const post = await runPostStep(run)
    expect(post.exitCode).toBe(0)
    expect((await readdir(run.runnerDir)).filter(n => n.startsWith('go-build-action-'))).toEqual([])
    expect(readFileSync(path.join(s.runner.config, 'config.json')).equals(configBefore)).toBe(true)
  }

  it('a build that fails after reading its secret', async () => {
    const run = await mainStep(s, 'fail')
    expect(run.main.log).toContain('failing on purpose')
    await check(run)
  }, 5 * MINUTES)

  it('a job cancelled while the build holds its secret', async () => {
    const run = await mainStep(s, 'wait', { cancelWhen: /waiting-for-2-cancel/ })
    expect(run.main.log).toMatch(/::error::the job was cancelled \(SIGINT\) during the run/)
    await check(run)
  }, 5 * MINUTES)

  it('a job cancelled while cosign signs with the key', async () => {
    const run = await mainStep({ ...s, repository: `${proxy.host}/e2e/${random('post-sign')}` }, 'ok', { cancelWhen: /\[command\]\S*cosign sign / })
    expect(run.main.log).toMatch(/::error::the job was cancelled \(SIGINT\) during the run/)
    await check(run)
  }, 5 * MINUTES)
})
