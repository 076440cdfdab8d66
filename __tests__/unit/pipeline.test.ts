/**
 * The pipeline's composition (main.ts, stages.ts) and the post step after it (post.ts, core/state.ts), in one
 * process: the real modules end to end, with only the docker and cosign CLIs answered by FakeDocker over a registry
 * and an engine in memory (support/pipeline.ts). What the e2e tests show on the real tools, shown here for the
 * order of the stages: what runs before a tag moves, and what the post step removes after a main step that ended
 * at each phase.
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { existsSync } from 'node:fs'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import * as path from 'node:path'
import { FakeCli, pipelineHarness } from './support/pipeline.js'

const IMAGE = 'localhost:5000/app'
/** A key as `cosign generate-key-pair` writes it (the fake cosign reads nothing of it). */
const KEY = '-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\neyJrZGYiOnsibmFtZSI6InNjcnlwdCJ9\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----'

const h = pipelineHarness()
beforeEach(() => h.setUp())
afterEach(() => h.tearDown())

/** Inputs of a publishing run from a workflow_dispatch: push, the hosted path's builder, nothing cached. */
function inputs(extra: Record<string, string> = {}): Record<string, string> {
  return { images: IMAGE, platforms: 'linux/arm64', push: 'true', driver: 'docker-container', ...extra }
}

describe('mode all: nothing moves a tag before what it publishes is verified and signed', () => {
  it('a publish that verifies moves TAG-ARCH, then TAG (the composition the failures below are measured against)', async () => {
    const cli = new FakeCli({ driver: 'docker-container' })
    const step = await h.main(cli, inputs())
    expect(step.error).toBeUndefined()
    expect(cli.tagMoves().map(c => c.split(' ').at(-2))).toEqual([`${IMAGE}:sha-0123456-arm64`, `${IMAGE}:sha-0123456`])
    expect(step.outputs.result).toBe('published')
  })

  it('an architecture check that fails (/bin/sh, an aarch64 busybox, in the linux/amd64 image) after the push by digest: the step fails naming it, and no tag moves', async () => {
    const cli = new FakeCli({ driver: 'docker-container' })
    const step = await h.main(cli, inputs({ platforms: 'linux/amd64,linux/arm64' }))
    expect(cli.tagMoves()).toEqual([])
    expect(cli.registry.tags.size).toBe(0)
    // the index had reached the registry by digest: verification, not the build, stopped the run
    expect([...(cli.registry.held.get(IMAGE) ?? [])]).toHaveLength(3)
    expect(step.error?.message).toMatch(/^linux\/amd64: \/bin\/sh \(→ \/bin\/busybox\) is an aarch64 executable.*No tag moved\.$/s)
    expect(step.outputs.result).toBe('failed')
  })

  it('a verify command that fails in the pushed image: no tag moves', async () => {
    const cli = new FakeCli({ driver: 'docker-container' }).answer('docker', ['run'], { exitCode: 3, stderr: 'bad version\n' })
    const step = await h.main(cli, inputs({ 'verify-command': 'app --version' }))
    expect(cli.tagMoves()).toEqual([])
    expect(cli.registry.tags.size).toBe(0)
    expect(cli.timeline.filter(c => c.startsWith('docker run '))).toHaveLength(1)
    expect(step.error?.message).toContain('the verify command exited 3: bad version')
  })

  it('sign: true signs (cosign sign) and verifies (cosign verify) the index and its platform manifest before the first tag moves', async () => {
    const cli = new FakeCli({ driver: 'docker-container' })
    const step = await h.main(cli, inputs({ sign: 'true', 'sign-key': KEY, 'sign-key-password': 'pw', 'sign-transparency-log': 'false', 'cosign-version': 'installed' }))
    expect(step.error).toBeUndefined()
    const at = (pattern: RegExp): number[] => cli.timeline.flatMap((c, i) => (pattern.test(c) ? [i] : []))
    const signs = at(/^cosign sign /)
    const verifies = at(/^cosign verify /)
    const moves = cli.tagMoves().map(c => cli.timeline.indexOf(c))
    expect(signs).toHaveLength(1)
    expect(verifies).toHaveLength(1)
    expect(moves).toHaveLength(2)
    expect(Math.max(...signs, ...verifies)).toBeLessThan(Math.min(...moves))
    // what was signed is what the registry holds by digest: the index and the arm64 manifest
    const signed = cli.timeline[signs[0]!]!.split(' ').filter(a => a.startsWith(`${IMAGE}@`))
    expect(signed.sort()).toEqual([...cli.registry.held.get(IMAGE)!].map(d => `${IMAGE}@${d}`).sort())
  })

  it('a cosign sign that fails (the registry refuses the signature): no tag moves', async () => {
    const cli = new FakeCli({ driver: 'docker-container' }).answer('cosign', ['sign'], { exitCode: 1, stderr: 'PUT https://localhost:5000/v2/app/manifests/sha256-x.sig: unexpected status code 403 Forbidden\n' })
    const step = await h.main(cli, inputs({ sign: 'true', 'sign-key': KEY, 'sign-key-password': 'pw', 'sign-transparency-log': 'false', 'cosign-version': 'installed' }))
    expect(cli.tagMoves()).toEqual([])
    expect(cli.registry.tags.size).toBe(0)
    expect(step.error?.message).toMatch(/^cosign could not sign 2 digest\(s\).*no tag moved$/)
  })
})

describe('the engine path without imagetools create --prefer-index (each TAG-ARCH pulled, tagged and pushed)', () => {
  it('removes the build\'s staging name once the platform manifests are pulled, before any TAG-ARCH is pushed, and the pulled names after the read-back, one command per image; the post step finds none', async () => {
    const cli = new FakeCli({ driver: 'docker' })
      .answer('docker', ['buildx', 'imagetools', 'create', '--help'], { stdout: '' })
      // the engine's containerd store holds a pulled manifest unchanged: its image ID is the manifest's digest
      .answer('docker', ['image', 'inspect'], args => ({ stdout: `${args.at(-1)!.split('@')[1]}\n` }))
    const step = await h.main(cli, inputs({ driver: 'docker', platforms: 'linux/arm64' }))
    expect(step.error).toBeUndefined()
    const at = (pattern: RegExp): number[] => cli.timeline.flatMap((c, i) => (pattern.test(c) ? [i] : []))
    const staging = at(new RegExp(`^docker image rm ${IMAGE}:go-build-action-staging-\\S+$`))
    expect(staging).toHaveLength(1)
    expect(staging[0]!).toBeGreaterThan(Math.max(...at(/^docker pull /)))
    expect(staging[0]!).toBeLessThan(Math.min(...at(new RegExp(`^docker push ${IMAGE}:sha-0123456-arm64$`))))
    const pulled = cli.timeline.find(c => c.startsWith('docker pull '))!.split(' ').at(-1)!
    expect(cli.timeline.filter(c => c.startsWith('docker image rm ')).slice(1)).toEqual([`docker image rm ${pulled} ${IMAGE}:sha-0123456-arm64`])
    expect(at(/^docker image rm /).at(-1)!).toBeGreaterThan(Math.max(...at(/ imagetools inspect --raw \S+:sha-0123456(-arm64)?$/)))
    expect(JSON.parse(step.state.localImages ?? '[]')).toEqual([])
    expect(cli.engine.size).toBe(0)
  })
})

describe('a main step that failed after logging in: the post step logs out (removes the job\'s docker config)', () => {
  it('the build fails after the login to localhost:5001: the login was in the job\'s config.json only, which the post step removes with the work directory; the runner\'s config.json is as it was', async () => {
    const cli = new FakeCli({ driver: 'docker-container' }).answer('docker', ['buildx', 'build'], { exitCode: 1, stderr: 'ERROR: failed to solve: process "/bin/sh -c go build" did not complete successfully: exit code: 2\n' })
    const runnerConfig = await readFile(path.join(h.runner.dockerConfig, 'config.json'), 'utf8')
    const step = await h.main(cli, inputs({ registry: 'localhost:5001', username: 'e2e-user', password: 'not-a-real-password' }))
    expect(step.error?.message).toContain('exit code: 2')
    const jobConfig = path.join(step.state.dockerConfig!, 'config.json')
    expect(Object.keys((JSON.parse(await readFile(jobConfig, 'utf8')) as { auths: object }).auths)).toEqual(['localhost:5001'])
    const { log, warnings } = await h.post(cli.docker, step.state)
    expect(existsSync(jobConfig)).toBe(false)
    expect(existsSync(step.state.workDir!)).toBe(false)
    expect(log).toContain('logged out of localhost:5001 (its login was in the job\'s docker config only, now removed)')
    expect(await readFile(path.join(h.runner.dockerConfig, 'config.json'), 'utf8')).toBe(runnerConfig)
    expect(warnings).toEqual([])
  })
})

/**
 * The post step after a main step that ended at each phase: it removes exactly what that run recorded, and ignores
 * state something else saved (a work directory outside RUNNER_TEMP, a builder not of this run's marker).
 */
describe('the post step after a main step that died at each phase', () => {
  const FOREIGN_BUILDER = `go-build-action-${'f'.repeat(32)}`

  /** What else is on the runner: another directory in RUNNER_TEMP, one outside it, an image in the engine. */
  async function othersOnTheRunner(cli: FakeCli) {
    const neighbour = path.join(h.runner.temp, `go-build-action-${'e'.repeat(32)}`)
    const outside = path.join(h.runner.dir, 'outside')
    for (const dir of [neighbour, outside]) {
      await mkdir(dir)
      await writeFile(path.join(dir, 'keep'), 'not this run\'s')
    }
    cli.engine.set('someone/else:1', 'sha256:0')
    return { neighbour, outside }
  }

  /** The post step with the runner's state as the main step left it, plus forged values; what it ran and left. */
  async function postWithForgedState(cli: FakeCli, state: Record<string, string>, outside: string) {
    const before = cli.timeline.length
    const forged = { ...state, workDir: outside, builder: FOREIGN_BUILDER }
    const { log, warnings } = await h.post(cli.docker, forged)
    return { commands: cli.timeline.slice(before), log, warnings }
  }

  async function expectOthersKept(cli: FakeCli, others: { neighbour: string; outside: string }) {
    for (const dir of [others.neighbour, others.outside]) expect(await readFile(path.join(dir, 'keep'), 'utf8')).toBe('not this run\'s')
    expect(cli.engine.get('someone/else:1')).toBe('sha256:0')
  }

  it('before the work directory existed (an input error): removes nothing, runs no command, and the forged values only warn', async () => {
    const cli = new FakeCli({ driver: 'docker-container' })
    const others = await othersOnTheRunner(cli)
    const step = await h.main(cli, inputs({ platforms: 'linux/not-an-arch' }))
    expect(step.error?.message).toContain('input "platforms"')
    expect(step.state).toEqual({ isPost: 'true' })
    const { commands, warnings } = await postWithForgedState(cli, step.state, others.outside)
    expect(commands).toEqual([])
    expect((await readdir(h.runner.temp)).sort()).toEqual([path.basename(others.neighbour)])
    await expectOthersKept(cli, others)
    expect(warnings).toEqual([expect.stringContaining('the state "workDir" holds a value'), expect.stringContaining('the state "builder" holds a value')])
  })

  it('after the logins, before a builder (the tag read fails): removes the work directory and its login, runs no docker command', async () => {
    const cli = new FakeCli({ driver: 'docker-container' }).answer('docker', ['buildx', 'imagetools', 'inspect', '--raw'], { exitCode: 1, stderr: 'ERROR: unexpected status from HEAD request: 400 Bad Request\n' })
    const others = await othersOnTheRunner(cli)
    const step = await h.main(cli, inputs({ registry: 'localhost:5001', username: 'e2e-user', password: 'not-a-real-password' }))
    expect(step.error?.message).toMatch(/^cannot tell whether localhost:5000\/app:sha-0123456 exists/)
    expect(cli.timeline.some(c => c.startsWith('docker login '))).toBe(true)
    expect(cli.timeline.some(c => c.startsWith('docker buildx create '))).toBe(false)
    const { commands, log, warnings } = await postWithForgedState(cli, step.state, others.outside)
    expect(commands).toEqual([])
    expect(existsSync(step.state.workDir!)).toBe(false)
    expect(log).toContain('logged out of localhost:5001')
    await expectOthersKept(cli, others)
    expect(warnings).toHaveLength(2)
  })

  it('after the builder (the build fails): removes this run\'s builder and work directory, never the forged builder', async () => {
    const cli = new FakeCli({ driver: 'docker-container' }).answer('docker', ['buildx', 'build'], { exitCode: 1, stderr: 'ERROR: failed to solve\n' })
    const others = await othersOnTheRunner(cli)
    const step = await h.main(cli, inputs())
    expect(step.error?.message).toContain('failed to solve')
    expect(step.state.builder).toBe(`go-build-action-${step.state.run}`)
    const { commands, warnings } = await postWithForgedState(cli, step.state, others.outside)
    expect(commands).toEqual([`docker buildx rm go-build-action-${step.state.run}`])
    expect(existsSync(step.state.workDir!)).toBe(false)
    await expectOthersKept(cli, others)
    expect(warnings).toEqual([expect.stringContaining('the state "workDir" holds a value'), expect.stringContaining('the state "builder" holds a value')])
  })

  it('after local images were recorded (engine path with a verify command: the loaded index and its staging name, then a failed verification): removes exactly those names and this run\'s docker context', async () => {
    const cli = new FakeCli({ driver: 'docker' })
    const others = await othersOnTheRunner(cli)
    // a verify command runs in the loaded index before anything is pushed: without one, the engine pushes straight from the build
    const step = await h.main(cli, inputs({ driver: 'docker', platforms: 'linux/amd64,linux/arm64', 'verify-command': 'app --version' }))
    expect(step.error?.message).toMatch(/^linux\/amd64: \/bin\/sh \(→ \/bin\/busybox\) is an aarch64 executable.*No tag moved\.$/s)
    const recorded = JSON.parse(step.state.localImages ?? '[]') as string[]
    expect(recorded).toHaveLength(2)
    expect(recorded.every(name => name.startsWith(`${IMAGE}:go-build-action-staging-`) && cli.engine.has(name))).toBe(true)
    const { commands, warnings } = await postWithForgedState(cli, step.state, others.outside)
    const own = `go-build-action-${step.state.run}`
    expect(commands).toEqual([`docker image rm ${recorded.join(' ')}`, `docker context inspect ${own}`, `docker context rm --force ${own}`])
    expect(recorded.some(name => cli.engine.has(name))).toBe(false)
    expect(existsSync(step.state.workDir!)).toBe(false)
    await expectOthersKept(cli, others)
    expect(warnings).toHaveLength(2)
  })
})
