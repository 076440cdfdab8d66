/**
 * Nothing hangs, for real, on both runner paths: a registry that accepts the connection and never answers (the
 * fault proxy holds the request open), and a verify command that sleeps forever. Each run fails within its
 * bound, with one error naming the registry or the platform and the timeout input, and leaves nothing running.
 * Bounds are measured where the build does not count: on the registry's side (how long the client kept a held
 * request open). A cancelled job (SIGINT, as the runner sends first) during the tag moves or the verify command
 * ends within the runner's 7.5 s before SIGTERM, leaving no process (found by a marker in their environment) and
 * no container.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import type { ActionRun } from '../../scripts/run-action.mjs'
import { failNthTagMove, FaultProxy, HANG } from './support/fault-proxy.js'
import { BASE_IMAGE, copyOnlyContext, docker, expectSucceeded, MINUTES, registryManifest, registryTags, requireEnvironment, theError } from './support/environment.js'
import { describeEachPath, runOnPath, type BuilderPath } from './support/paths.js'
import { interruptWhen, MARKER_VARIABLE, processesWith, stepMarker } from './support/processes.js'

/** Two platforms: a single-platform build has no index for the index annotations the action adds. */
const PLATFORMS = 'linux/amd64,linux/arm64'
const TAG = 'bounded'

beforeAll(requireEnvironment, MINUTES)

const fresh = (what: string): string => `e2e/bounds-${what}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`

describeEachPath('bounds', (builderPath: BuilderPath) => {
  const proxy = new FaultProxy(5000)
  let copyOnly: string
  let busybox: string

  beforeAll(async () => {
    await proxy.start()
    copyOnly = await copyOnlyContext()
    busybox = await mkdtemp(path.join(tmpdir(), 'go-build-action-sleepy-'))
    await writeFile(path.join(busybox, 'Dockerfile'), 'ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n')
  }, MINUTES)
  afterAll(() => proxy.stop())

  /** Runs the action on this path and times it. */
  const timed = async (cwd: string, inputs: Record<string, string>): Promise<{ run: ActionRun; seconds: number }> => {
    const started = Date.now()
    const run = await runOnPath(builderPath, { cwd, inputs })
    return { run, seconds: (Date.now() - started) / 1000 }
  }

  /**
   * The requests the proxy held since `logged` (its log's length before the run), each with how long its client
   * kept the connection open: the action's bound, measured on the registry's side (the build before it does not
   * count). Undefined where the client never closed it (only the proxy's stop did).
   */
  const heldSince = (logged: number): Array<{ path: string; openSeconds?: number }> =>
    proxy.log
      .slice(logged)
      .filter(l => l.status === 'hang')
      .map(l => ({ path: l.path, openSeconds: l.closed === undefined ? undefined : (l.closed - l.arrived) / 1000 }))

  /**
   * A two-platform publish to `images` whose manifest PUTs matching `hangs` are never answered (registry-timeout 10 s,
   * 2 attempts: 5 s killed a healthy docker pull through a loaded engine, load average 40).
   */
  const hungManifestPut = async (images: string[], hangs: RegExp): Promise<{ run: ActionRun; seconds: number; hung: ReturnType<typeof heldSince> }> => {
    const logged = proxy.log.length
    const { run, seconds } = await proxy.during([{ method: 'PUT', path: hangs, times: Infinity, fault: HANG }], () =>
      timed(copyOnly, {
        images: images.join('\n'),
        'tag-template': TAG,
        platforms: PLATFORMS,
        provenance: 'false',
        'registry-timeout': '10',
        'retry-attempts': '2',
        'retry-delay': '0.1'
      })
    )
    return { run, seconds, hung: heldSince(logged) }
  }

  it('a registry that never answers the tag check: each attempt\'s request closed by its client within registry-timeout (3 s, margin 10×), naming the registry', async () => {
    const name = fresh('check')
    const logged = proxy.log.length
    const { run } = await proxy.during([{ path: /^\/v2\/.*\/manifests\//, times: Infinity, fault: HANG }], () =>
      timed(copyOnly, {
        images: `${proxy.host}/${name}`,
        'tag-template': TAG,
        platforms: PLATFORMS,
        'registry-timeout': '3',
        'retry-attempts': '2',
        'retry-delay': '0.1'
      })
    )
    const error = theError(run)
    expect(error).toContain(`no answer from ${proxy.host} within 3 s (input "registry-timeout")`)
    expect(error).toMatch(/after 2 attempts/)
    // two attempts, each given up by a client killed after about 3 s (an unbounded one would wait for GitHub's 6 h)
    const held = heldSince(logged)
    expect(held.length).toBeGreaterThanOrEqual(2)
    for (const request of held) expect({ ...request, openSeconds: (request.openSeconds ?? Infinity) < 30 }).toEqual({ ...request, openSeconds: true })
    expect(run.post?.exitCode).toBe(0)
    expect(await registryTags(`localhost:5000/${name}`)).toEqual([])
  }, 5 * MINUTES)

  it('a registry that stops answering during the tag moves: the held PUT closed by its client within registry-timeout (15 s, margin 4×); the run fails and reports every reference', async () => {
    const name = fresh('move')
    const repository = `${proxy.host}/${name}`
    const logged = proxy.log.length
    const { run } = await proxy.during([failNthTagMove(1, HANG)], () =>
      timed(copyOnly, {
        images: repository,
        'tag-template': TAG,
        platforms: PLATFORMS,
        'if-tag-exists': 'overwrite',
        provenance: 'false',
        // every registry operation of the run gets it: 5 s killed a healthy docker pull through a loaded engine
        'registry-timeout': '15',
        'retry-attempts': '1'
      })
    )
    const error = theError(run)
    expect(error).toContain(`no answer from ${proxy.host} within 15 s (input "registry-timeout")`)
    expect(error).toMatch(/\d of 3 tag\(s\) had moved/)
    const held = heldSince(logged)
    expect(held.length).toBeGreaterThanOrEqual(1)
    for (const request of held) expect({ ...request, openSeconds: (request.openSeconds ?? Infinity) < 60 }).toEqual({ ...request, openSeconds: true })
    const moves = JSON.parse(run.outputs.moves!) as Array<{ reference: string; outcome: string; now: string }>
    expect(moves.map(m => m.reference).sort()).toEqual([`${repository}:${TAG}`, `${repository}:${TAG}-amd64`, `${repository}:${TAG}-arm64`])
    for (const move of moves) {
      const served = await registryManifest(`localhost:5000/${name}:${move.reference.split(':').at(-1)}`)
      expect(served.status === 200 ? served.digest : '').toBe(move.now)
    }
    expect(run.post?.exitCode).toBe(0)
  }, 5 * MINUTES)

  it('a registry that accepts a push and never answers its manifest PUT: killed registry-timeout after the last progress, per attempt', async () => {
    // engine path: the build's own push under the staging tag (the engine's push inside docker buildx build);
    // hosted path: BuildKit pushed to the first repository, and the copy into the second (imagetools create) is the
    // transfer whose manifest PUT hangs
    const names = [fresh('push-a'), fresh('push-b')]
    const hangs = builderPath.driver === 'docker' ? /\/manifests\/go-build-action-staging-/ : /\/manifests\//
    const images = builderPath.driver === 'docker' ? [`${proxy.host}/${names[0]}`] : [`localhost:5000/${names[0]}`, `${proxy.host}/${names[1]}`]
    const { run, hung } = await hungManifestPut(images, hangs)
    const error = theError(run)
    // the bound counts silence after the last line of progress (a layer pushed), not 10 × registry-timeout
    expect(error).toContain(
      builderPath.driver === 'docker'
        ? `${proxy.host} did not take ${proxy.host}/${names[0]} (2 attempt(s)): it made no progress for 10 s (input "registry-timeout")`
        : `no answer from ${proxy.host} for 10 s (input "registry-timeout") after its last progress`
    )
    expect(error).toMatch(/\(2 attempt\(s\)\)|after 2 attempts/)
    expect(run.main.log).toMatch(/::warning::docker (buildx build|buildx imagetools create)\b.*: killed after 10 s without progress \(attempt 1 of 2\)/)
    // each attempt's manifest PUT hung (a copy PUTs every platform manifest at once), and its client closed it
    // about 10 s after its last progress: well under the 100 s that 10 × registry-timeout would have given it
    expect(hung.length).toBeGreaterThanOrEqual(2)
    for (const request of hung) expect({ ...request, openSeconds: (request.openSeconds ?? Infinity) < 50 }).toEqual({ ...request, openSeconds: true })
    expect(run.post?.exitCode).toBe(0)
    for (const name of names) expect((await registryTags(`localhost:5000/${name}`)).filter(t => t === TAG || t.startsWith(`${TAG}-`))).toEqual([])
  }, 5 * MINUTES)

  if (builderPath.driver !== 'docker') {
    it("BuildKit's own push inside the build, its manifest PUT never answered: killed registry-timeout after the push's last line, per attempt", async () => {
      // the hosted path pushes by digest from BuildKit, inside `buildx build`; the build's own steps keep the job's
      // bound, the push gets registry-timeout of silence
      const name = fresh('buildkit-push')
      const { run, hung } = await hungManifestPut([`${proxy.host}/${name}`], /\/manifests\//)
      const error = theError(run)
      expect(error).toContain(`${proxy.host} did not take ${proxy.host}/${name} (2 attempt(s)): it made no progress for 10 s (input "registry-timeout")`)
      expect(run.main.log).toMatch(/::warning::docker buildx build: killed after 10 s without progress \(attempt 1 of 2\)/)
      expect(hung.length).toBeGreaterThanOrEqual(2)
      for (const request of hung) expect({ ...request, openSeconds: (request.openSeconds ?? Infinity) < 50 }).toEqual({ ...request, openSeconds: true })
      expect(run.post?.exitCode).toBe(0)
      expect((await registryTags(`localhost:5000/${name}`)).filter(t => t === TAG || t.startsWith(`${TAG}-`))).toEqual([])
    }, 5 * MINUTES)
  }

  if (builderPath.driver !== 'docker') {
    // BuildKit prints nothing while it uploads a layer (plain and rawjson progress alike); the bound reads how many
    // bytes its buildkitd has sent instead. A layer of random bytes (it does not compress).
    const bigLayer = async (bytes: number): Promise<string> => {
      const dir = await mkdtemp(path.join(tmpdir(), 'go-build-action-big-layer-'))
      await writeFile(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY big.bin /\n')
      await writeFile(path.join(dir, 'big.bin'), randomBytes(bytes))
      return dir
    }
    const blobUploads = (name: string): RegExp => new RegExp(`^/v2/${name}/blobs/uploads/[^/?]+`)
    const layerPush = (context: string, name: string): Promise<ActionRun> =>
      runOnPath(builderPath, {
        cwd: context,
        inputs: { images: `${proxy.host}/${name}`, 'tag-template': TAG, platforms: PLATFORMS, provenance: 'false', 'registry-timeout': '5', 'retry-attempts': '2', 'retry-delay': '0.1' }
      })

    it("BuildKit's layer upload that the registry never answers: killed registry-timeout after buildkitd stopped sending, per attempt, not ten registry-timeouts", async () => {
      const name = fresh('blob-hang')
      proxy.rules = [{ method: 'PUT', path: blobUploads(name), times: Infinity, fault: HANG }]
      const logged = proxy.log.length
      const run = await layerPush(await bigLayer(20_000_000), name)
      proxy.rules = []
      const hung = proxy.log.slice(logged).filter(l => l.status === 'hang')
      const error = theError(run)
      expect(error).toContain(`(2 attempt(s)): it made no progress for 5 s (input "registry-timeout")`)
      expect(run.main.log).toMatch(/::warning::docker buildx build: killed after 5 s without progress \(attempt 1 of 2\)/)
      expect(hung.length).toBeGreaterThanOrEqual(2)
      // from the last attempt's hung upload to the end of the step: about one registry-timeout (and a few reads of
      // buildkitd's count), where ten registry-timeouts of silence (50 s) were allowed before
      expect(run.main.endedAt - hung.at(-1)!.at!).toBeLessThan(25_000)
      expect(run.post?.exitCode).toBe(0)
      expect(await registryTags(`localhost:5000/${name}`)).toEqual([])
    }, 10 * MINUTES)

    it("BuildKit's layer upload that moves slowly (8 MB at 300 KB/s: five registry-timeouts without a line, and buildkitd writing nothing for 10 s at a time while the kernel's send queue drains) is not cut, and publishes", async () => {
      const name = fresh('blob-slow')
      proxy.rules = [{ method: 'PUT', path: blobUploads(name), times: Infinity, fault: { throttle: 300_000 } }]
      const run = await layerPush(await bigLayer(8_000_000), name)
      proxy.rules = []
      expectSucceeded(run)
      expect(run.main.log).not.toMatch(/killed after/)
      expect(await registryTags(`localhost:5000/${name}`)).toContain(TAG)
    }, 10 * MINUTES)
  }

  it('a verify command that sleeps forever is killed after verify-timeout, its container too, and nothing is published', async () => {
    const name = fresh('verify')
    const { run, seconds } = await timed(busybox, {
      images: `localhost:5000/${name}`,
      'tag-template': TAG,
      platforms: PLATFORMS,
      'build-args': `BASE_IMAGE=${BASE_IMAGE}`,
      'verify-command': 'sleep 3600',
      'verify-timeout': '5'
    })
    expect([theError(run)]).toEqual([
      '::error::input "verify-command" failed on 2 of 2 platform(s), so no tag moved: linux/amd64, linux/arm64: the verify command did not finish within 5 s and was killed (input "verify-timeout"): make it end sooner, or raise "verify-timeout"'
    ])
    expect(seconds).toBeLessThan(3 * 60)
    expect(run.post?.exitCode).toBe(0)
    const { stdout } = await docker(['ps', '--all', '--filter', 'name=go-build-action-verify-', '--format', '{{.Names}} {{.Image}}'])
    expect(stdout.split('\n').filter(l => l.includes(name))).toEqual([])
    expect((await registryTags(`localhost:5000/${name}`)).filter(t => t === TAG || t.startsWith(`${TAG}-`))).toEqual([])
  }, 5 * MINUTES)

  // The runner cancels a job with SIGINT, then SIGTERM 7.5 s later, then kills the step: ending within those 7.5 s is
  // what a cancel must do here (nothing slow is left to do: the running command is killed, the report written).
  const RUNNER_SIGTERM_AFTER_SECONDS = 7.5

  it('a cancelled job during the tag moves (SIGINT while the registry holds the first tag PUT): its client closes the held connection, the step ends within the runner\'s 7.5 s, no process of the run is left, and the summary and outputs say what moved', async () => {
    const name = fresh('cancel')
    const repository = `${proxy.host}/${name}`
    const marker = stepMarker()
    const logged = proxy.log.length
    const [run, cancel] = await proxy.during([failNthTagMove(1, HANG)], () =>
      Promise.all([
        runOnPath(builderPath, {
          cwd: copyOnly,
          env: { [MARKER_VARIABLE]: marker },
          inputs: { images: repository, 'tag-template': TAG, platforms: PLATFORMS, 'if-tag-exists': 'overwrite', provenance: 'false' }
        }),
        // the first tag move never gets an answer: the run is in the middle of moving when the job is cancelled
        interruptWhen(marker, () => heldSince(logged).length > 0)
      ])
    )
    // the step had a command of its own running (the one whose PUT the registry held), and it ended in time
    expect(cancel.atSignal.filter(p => p.ppid !== process.pid).length).toBeGreaterThan(0)
    expect((cancel.endedAt - cancel.signalledAt) / 1000).toBeLessThan(RUNNER_SIGTERM_AFTER_SECONDS)
    // the client that sent the held PUT closed its connection after the signal: it was killed (the proxy did not stop)
    const held = proxy.log.slice(logged).filter(l => l.status === 'hang')
    expect(held).toHaveLength(1)
    expect(held[0]!.closed).toBeGreaterThanOrEqual(cancel.signalledAt)
    // nothing the run started is left, after its post step either
    expect(processesWith(marker)).toEqual([])
    expect(theError(run)).toMatch(/^::error::the job was cancelled \(SIGINT\) during the run/)
    expect(run.summary).toContain('go-build-action failed')
    const moves = JSON.parse(run.outputs.moves!) as Array<{ reference: string; outcome: string }>
    expect(moves.map(m => m.reference).sort()).toEqual([`${repository}:${TAG}`, `${repository}:${TAG}-amd64`, `${repository}:${TAG}-arm64`])
    // the cancel's last read says whether a move had landed (the hung one never did)
    expect(run.summary).toContain(moves.some(m => m.outcome !== 'not-moved') ? 'The run failed while moving tags' : 'No tag a user pulls was moved.')
    expect(run.post?.exitCode).toBe(0)
  }, 5 * MINUTES)

  it('a cancelled job during the verify command (SIGINT while its container runs): the container is gone, the step ends within the runner\'s 7.5 s, no process of the run is left, nothing is published', async () => {
    const name = fresh('cancel-verify')
    const marker = stepMarker()
    let container = ''
    const [run, cancel] = await Promise.all([
      runOnPath(builderPath, {
        cwd: busybox,
        env: { [MARKER_VARIABLE]: marker },
        inputs: {
          images: `localhost:5000/${name}`,
          'tag-template': TAG,
          platforms: PLATFORMS,
          'build-args': `BASE_IMAGE=${BASE_IMAGE}`,
          'verify-command': 'sleep 3600',
          'verify-timeout': '3600'
        }
      }),
      // the verify command's container is named after the step's process (verify.ts): cancel once one runs
      interruptWhen(marker, async step => {
        const { stdout } = await docker(['ps', '--filter', `name=go-build-action-verify-${step.pid}-`, '--filter', 'status=running', '--format', '{{.Names}}'])
        container = stdout.split('\n').find(n => n.startsWith(`go-build-action-verify-${step.pid}-`)) ?? ''
        return container !== ''
      })
    ])
    expect(container).toMatch(/^go-build-action-verify-\d+-/)
    expect((cancel.endedAt - cancel.signalledAt) / 1000).toBeLessThan(RUNNER_SIGTERM_AFTER_SECONDS)
    // the container is gone, running or not (killing the docker CLI alone would leave it running)
    const { stdout } = await docker(['ps', '--all', '--filter', `name=${container}`, '--format', '{{.Names}}'])
    expect(stdout.split('\n').filter(n => n === container)).toEqual([])
    expect(processesWith(marker)).toEqual([])
    expect(theError(run)).toMatch(/^::error::the job was cancelled \(SIGINT\) during the run/)
    expect(run.post?.exitCode).toBe(0)
    expect((await registryTags(`localhost:5000/${name}`)).filter(t => t === TAG || t.startsWith(`${TAG}-`))).toEqual([])
  }, 5 * MINUTES)

  it('a run with the defaults still publishes (the bounds do not cut a normal run short)', async () => {
    const name = fresh('normal')
    const run = await runOnPath(builderPath, {
      cwd: copyOnly,
      inputs: { images: `localhost:5000/${name}`, 'tag-template': TAG, platforms: PLATFORMS, provenance: 'false' }
    })
    expectSucceeded(run)
  }, 5 * MINUTES)
})
