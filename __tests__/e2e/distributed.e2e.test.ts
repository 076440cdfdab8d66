/**
 * Distributed builds, on both runner paths: four `mode: leg` runs (one platform each, separate processes and
 * builders, started together, one workflow run id) hand off through the registry, then one `mode: merge` publishes
 * what `mode: all` would. Missing legs, legs of another run, and re-run legs. Every job builds the busybox base
 * alone: the hand-off is under test, not a compile. Everything is checked from the registry's side; nothing about
 * docker is mocked.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import type { ActionRun } from '../../scripts/run-action.mjs'
import { LEG_TAG_PREFIX, MERGE_TAG_PREFIX } from '../../src/publish/handoff.js'
import { FaultProxy, type FaultRule } from './support/fault-proxy.js'
import {
  BASE_IMAGE,
  MINUTES,
  REGISTRY,
  FOUR_PLATFORMS,
  docker,
  expectSucceeded,
  freshRepository,
  registryManifest,
  registryTags,
  splitStaging,
  requireEnvironment,
  type RegistryManifest
} from './support/environment.js'
import { builderLeftovers, describeEachPath, runOnPath, type BuilderPath } from './support/paths.js'

const TAG = 'dist'
const arch = (platform: string): string => platform.split('/')[1] ?? ''

beforeAll(async () => {
  await requireEnvironment()
  baseContext = await mkdtemp(path.join(tmpdir(), 'go-build-action-dist-base-'))
  await writeFile(path.join(baseContext, 'Dockerfile'), 'ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n')
}, MINUTES)

/** A workflow run id no other test uses. */
function freshRunId(): string {
  return String(Date.now()) + String(Math.floor(Math.random() * 1000)).padStart(3, '0')
}

interface Job {
  mode: 'leg' | 'merge'
  platforms: readonly string[]
  runId: string
  attempt?: number
  /** Inputs of this pipeline besides the common ones. */
  inputs?: Record<string, string>
}

/** The user's index annotation every job is given (the merge must put it on the index it creates). */
const DESCRIPTION = 'hello from the legs'

/**
 * What every job builds: the busybox base and nothing else (made once, so that every job has the same
 * configuration). The hand-off is what these tests are about; a compile would only cost time (on the hosted path
 * each leg starts a BuildKit of its own with an empty cache). The verify command prints the machine it ran on.
 */
let baseContext: string
/** What `uname -m` prints on each platform (under QEMU for the foreign ones). */
const MACHINE: Record<string, string> = { 'linux/amd64': 'x86_64', 'linux/arm64': 'aarch64', 'linux/ppc64le': 'ppc64le', 'linux/s390x': 's390x' }

function runJob(builderPath: BuilderPath, repository: string, job: Job): Promise<ActionRun> {
  return runOnPath(builderPath, {
    cwd: baseContext,
    inputs: {
      mode: job.mode,
      images: repository,
      platforms: job.platforms.join(','),
      'tag-template': TAG,
      'build-args': `BASE_IMAGE=${BASE_IMAGE}`,
      'verify-command': 'uname -m',
      annotations: `index:org.opencontainers.image.description=${DESCRIPTION}`,
      ...job.inputs
    },
    env: {
      GITHUB_RUN_ID: job.runId,
      GITHUB_RUN_ATTEMPT: String(job.attempt ?? 1),
      RUNNER_NAME: `${job.mode}-${job.platforms.length === 1 ? arch(job.platforms[0] ?? '') : 'all'}`
    }
  })
}

/** The configuration id in the action's own tag names (configuration.ts), as `CONFIG`: the ids differ per test. */
const withoutId = (tag: string): string => (tag.startsWith('go-build-action-') ? tag.replace(/-[0-9a-f]{12}(?=-|$)/, '-CONFIG') : tag)

/** The repository's tags, without the engine path's staging tag (publish.ts), configuration ids as `CONFIG`. */
async function tagsOf(repository: string): Promise<string[]> {
  return splitStaging(await registryTags(repository)).published.map(withoutId).sort()
}

/** Every tag of the repository and the digest it holds, to show that a run moved none. */
async function tagDigests(repository: string): Promise<Record<string, string | null>> {
  const tags = await registryTags(repository)
  return Object.fromEntries(await Promise.all(tags.map(async tag => [tag, (await registryManifest(`${repository}:${tag}`)).digest] as const)))
}

const legTags = (platforms: readonly string[]): string[] => platforms.map(p => `${LEG_TAG_PREFIX}-CONFIG-${arch(p)}`)
const MERGE_TAG = `${MERGE_TAG_PREFIX}-CONFIG`

/**
 * A registry with immutable tags, as ECR, Artifactory or Harbor can be set up: the proxy refuses every write of a
 * tag that was written before (through it: the repositories behind it are fresh), and lets digests through.
 */
function immutableTags(): FaultRule & { refused: string[] } {
  const written = new Set<string>()
  const refused: string[] = []
  return {
    refused,
    method: 'PUT',
    path: /\/manifests\//,
    times: Infinity,
    fault: { status: 400 },
    select: (method, path) => {
      const match = /^\/v2\/(.+)\/manifests\/([^/?]+)$/.exec(path)
      if (!match || match[2]!.startsWith('sha256:')) return false
      const reference = `${match[1]}:${match[2]}`
      if (!written.has(reference)) {
        written.add(reference)
        return false
      }
      refused.push(reference)
      return true
    }
  }
}

describeEachPath('distributed build', builderPath => {
  describe('four legs in parallel, then one merge', () => {
    const repository = freshRepository('dist')
    const runId = freshRunId()
    let legs: ActionRun[]
    let merge: ActionRun
    let tagsAfterLegs: string[]
    /** What the registry served for TAG right after the merge (the re-run test moves it again). */
    let served: RegistryManifest

    beforeAll(async () => {
      legs = await Promise.all(FOUR_PLATFORMS.map(platform => runJob(builderPath, repository, { mode: 'leg', platforms: [platform], runId })))
      tagsAfterLegs = await tagsOf(repository)
      merge = await runJob(builderPath, repository, { mode: 'merge', platforms: FOUR_PLATFORMS, runId })
      served = await registryManifest(`${repository}:${TAG}`)
    }, 20 * MINUTES)

    it('every leg succeeds, ran the verify command on its platform and computed the same tag', () => {
      for (const leg of legs) expectSucceeded(leg)
      for (const [i, platform] of FOUR_PLATFORMS.entries()) {
        expect(legs[i]?.outputs).toMatchObject({ result: 'leg', pushed: 'true', tags: '', platforms: JSON.stringify([platform]), images: repository })
        expect(legs[i]?.outputs.digest).toMatch(/^sha256:[0-9a-f]{64}$/)
        // the leg's summary says where its record is
        expect(legs[i]?.summary).toMatch(new RegExp(`<code>${repository}:${LEG_TAG_PREFIX}-[0-9a-f]{12}-${arch(platform)}</code> \\(<code title="sha256:[0-9a-f]{64}">sha256:[0-9a-f]{12}</code>\\)`))
        expect(legs[i]?.outputs.tag).toBe(TAG)
        expect(legs[i]?.main.log).toMatch(new RegExp(`^${MACHINE[platform]}$`, 'm'))
      }
    })

    it('the legs move no tag users pull: the registry holds only the leg records', () => {
      expect(tagsAfterLegs).toEqual(legTags(FOUR_PLATFORMS).sort())
    })

    it('the merge succeeds and publishes TAG and the four TAG-ARCH, as mode: all does', async () => {
      expectSucceeded(merge)
      // the same output names as mode: all; what a merge cannot have (it built nothing) is empty
      expect(merge.outputs).toMatchObject({ result: 'published', pushed: 'true', metadata: '', builder: '', 'builder-platforms': '', 'qemu-platforms': '' })
      expect(merge.outputs.references).toBe(`${repository}@${merge.outputs.digest}`)
      const json = JSON.parse(merge.outputs.json ?? '{}') as { mode: string; tags: { index: string[]; platforms: Record<string, string[]> }; rebuild: { reason: string } }
      expect(json.mode).toBe('merge')
      expect(json.tags.index).toEqual([`${repository}:${TAG}`])
      expect(json.tags.platforms['linux/s390x']).toEqual([`${repository}:${TAG}-s390x`])
      expect(json.rebuild.reason).toBe('decided for this workflow run by its legs')
      expect(merge.outputs.tags?.split('\n')).toEqual([`${repository}:${TAG}`, ...FOUR_PLATFORMS.map(p => `${repository}:${TAG}-${arch(p)}`)])
      // the non-user references: one per platform, and the merge's, whatever the number of runs
      expect(await tagsOf(repository)).toEqual([TAG, ...FOUR_PLATFORMS.map(p => `${TAG}-${arch(p)}`), ...legTags(FOUR_PLATFORMS), MERGE_TAG].sort())
    })

    it('reports the digest and the index the registry served, and the legs\' digests per platform', () => {
      expect(served.status).toBe(200)
      expect(merge.outputs.digest).toBe(served.digest)
      expect(merge.outputs.manifest).toBe(served.body)
      const index = JSON.parse(served.body) as {
        manifests: Array<{ digest: string; platform: { os: string; architecture: string } }>
        annotations?: Record<string, string>
      }
      // the user's index: annotation, kept by the merge (GHCR reads the package description from it)
      expect(index.annotations?.['org.opencontainers.image.description']).toBe(DESCRIPTION)
      const entries = Object.fromEntries(
        index.manifests.filter(m => m.platform.os !== 'unknown').map(m => [`${m.platform.os}/${m.platform.architecture}`, m.digest])
      )
      expect(Object.keys(entries).sort()).toEqual([...FOUR_PLATFORMS].sort())
      expect(JSON.parse(merge.outputs['platform-digests'] ?? '{}')).toEqual(entries)
      for (const [i, platform] of FOUR_PLATFORMS.entries()) {
        expect(JSON.parse(legs[i]?.outputs['platform-digests'] ?? '{}')).toEqual({ [platform]: entries[platform] })
      }
    })

    it.each(FOUR_PLATFORMS)('TAG-ARCH of %s is its index entry byte for byte, and runs that architecture', async platform => {
      const now = await registryManifest(`${repository}:${TAG}`)
      const entry = (JSON.parse(now.body) as { manifests: Array<{ digest: string; platform: { architecture: string } }> }).manifests.find(
        m => m.platform.architecture === arch(platform)
      )
      const perArch = await registryManifest(`${repository}:${TAG}-${arch(platform)}`)
      expect(perArch.digest).toBe(entry?.digest)
      expect((await registryManifest(`${repository}@${entry?.digest}`)).body).toBe(perArch.body)
      const { stdout } = await docker(['run', '--rm', '--pull', 'always', '--platform', platform, `${repository}:${TAG}-${arch(platform)}`, 'uname', '-m'])
      expect(stdout.trim()).toBe(MACHINE[platform])
    }, 5 * MINUTES)

    it('summarizes the legs: per platform its digest, the leg\'s runner, native or QEMU there, and the leg\'s build time', () => {
      expect(merge.summary).toContain(`<h2>Published ${repository}:${TAG}</h2>`)
      expect(merge.summary).not.toContain('Why this tag')
      for (const platform of FOUR_PLATFORMS) {
        const how = platform === 'linux/amd64' ? 'native' : 'emulated \\(QEMU\\)'
        expect(merge.summary).toMatch(
          new RegExp(`<td>${platform}</td><td><code title="sha256:[0-9a-f]{64}">sha256:[0-9a-f]{12}</code></td><td>[0-9.]+ (B|KiB|MiB)</td><td>leg-${arch(platform)} \\(Linux/X64\\): ${how}</td><td>(?:[0-9.]+ s|\\d+ min \\d+ s) \\(the leg's build\\)</td>`)
        )
      }
    })

    it('re-runs end consistent: the merge again (attempt 2) gives the same index under the same tags; one leg after the publish, then the merge (attempt 3), the same TAG, not TAG-1', async () => {
      // one story in one test: attempt 3's leg replaces the s390x leg that attempt 2's merge must still find
      const again = await runJob(builderPath, repository, { mode: 'merge', platforms: FOUR_PLATFORMS, runId, attempt: 2 })
      expectSucceeded(again)
      expect(again.outputs.tag).toBe(TAG)
      expect(again.outputs.digest).toBe(merge.outputs.digest)
      expect((await registryManifest(`${repository}:${TAG}`)).digest).toBe(merge.outputs.digest)
      expect(again.main.log).toContain('using the leg of attempt 1 of this run')

      const rerun = await runJob(builderPath, repository, { mode: 'leg', platforms: ['linux/s390x'], runId, attempt: 3 })
      expectSucceeded(rerun)
      expect(rerun.outputs.tag).toBe(TAG)
      expect(rerun.main.log).toContain(`attempt 3: linux/s390x's leg of attempt 1 decided the main tag ${TAG}`)
      const third = await runJob(builderPath, repository, { mode: 'merge', platforms: FOUR_PLATFORMS, runId, attempt: 3 })
      expectSucceeded(third)
      expect(third.main.log).toContain('published by an earlier attempt of this run: it moves again')
      const s390x = JSON.parse(rerun.outputs['platform-digests'] ?? '{}')['linux/s390x'] as string
      expect(JSON.parse(third.outputs['platform-digests'] ?? '{}')['linux/s390x']).toBe(s390x)
      expect((await registryManifest(`${repository}:${TAG}-s390x`)).digest).toBe(s390x)
      expect((await registryManifest(`${repository}:${TAG}`)).digest).toBe(third.outputs.digest)
      for (const platform of FOUR_PLATFORMS) {
        expect((await registryManifest(`${repository}:${TAG}-${arch(platform)}`)).digest).toBe(JSON.parse(third.outputs['platform-digests'] ?? '{}')[platform])
      }
      expect(await tagsOf(repository)).toEqual([TAG, ...FOUR_PLATFORMS.map(p => `${TAG}-${arch(p)}`), ...legTags(FOUR_PLATFORMS), MERGE_TAG].sort())
    }, 20 * MINUTES)

    it('leaves no builder behind after the legs\' post steps', async () => {
      for (const leg of legs) expect(await builderLeftovers(leg)).toEqual([])
    })
  })

  describe('missing legs, legs of another run, a re-run leg', () => {
    // The three tests share this run's amd64 and arm64 legs (attempt 1) and each adds what it is about on a third
    // platform of its own, which no other test here writes: riscv64 is never built (missing), s390x is built by
    // another run, ppc64le is re-run at attempt 2. So each passes in any order and alone.
    const repository = freshRepository('dist-missing')
    const kept = ['linux/amd64', 'linux/arm64']
    const runId = freshRunId()

    beforeAll(async () => {
      const legs = await Promise.all(kept.map(platform => runJob(builderPath, repository, { mode: 'leg', platforms: [platform], runId })))
      for (const leg of legs) expectSucceeded(leg)
    }, 15 * MINUTES)

    it('a missing leg: the merge fails naming the platform, and no tag moved', async () => {
      const before = await tagDigests(repository)
      const merge = await runJob(builderPath, repository, { mode: 'merge', platforms: [...kept, 'linux/riscv64'], runId })
      expect(merge.main.exitCode).toBe(1)
      expect(merge.main.log).toContain('::error::cannot merge; no tag moved:')
      expect(merge.outputs).toMatchObject({ result: 'failed', pushed: 'false', digest: '', tags: '' })
      expect(merge.main.log).toMatch(new RegExp(`linux/riscv64: no leg of this configuration recorded \\(${repository}:${LEG_TAG_PREFIX}-[0-9a-f]{12}-riscv64 does not exist\\)`))
      expect(merge.main.log).not.toMatch(/linux\/(amd64|arm64): no leg/)
      expect(merge.post?.exitCode).toBe(0)
      expect(await tagDigests(repository)).toEqual(before)
    }, 10 * MINUTES)

    it('a leg of another run is not picked up: the merge fails naming the platform and the run it found, and no tag moved', async () => {
      const otherRun = freshRunId()
      expectSucceeded(await runJob(builderPath, repository, { mode: 'leg', platforms: ['linux/s390x'], runId: otherRun }))
      const before = await tagDigests(repository)
      const merge = await runJob(builderPath, repository, { mode: 'merge', platforms: [...kept, 'linux/s390x'], runId })
      expect(merge.main.exitCode).toBe(1)
      expect(merge.main.log).toMatch(new RegExp(`linux/s390x: the leg recorded under ${repository}:${LEG_TAG_PREFIX}-[0-9a-f]{12}-s390x is from run ${otherRun} \\(attempt 1\\), not this run ${runId}`))
      expect(await tagDigests(repository)).toEqual(before)
    }, 10 * MINUTES)

    it('a leg re-run (attempt 2) is taken for its platform; the merge (attempt 2) reports the legs kept from attempt 1', async () => {
      const rerun = await runJob(builderPath, repository, { mode: 'leg', platforms: ['linux/ppc64le'], runId, attempt: 2 })
      expectSucceeded(rerun)
      const merge = await runJob(builderPath, repository, { mode: 'merge', platforms: [...kept, 'linux/ppc64le'], runId, attempt: 2 })
      expectSucceeded(merge)
      expect(JSON.parse(merge.outputs['platform-digests'] ?? '{}')['linux/ppc64le']).toBe(JSON.parse(rerun.outputs['platform-digests'] ?? '{}')['linux/ppc64le'])
      expect((await registryManifest(`${repository}:${TAG}-ppc64le`)).digest).toBe(JSON.parse(rerun.outputs['platform-digests'] ?? '{}')['linux/ppc64le'])
      for (const platform of kept) expect(merge.main.log).toContain(`::notice::${platform}: using the leg of attempt 1 of this run`)
      expect(merge.main.log).not.toContain('linux/ppc64le: using the leg of attempt')
      expect(merge.summary).toMatch(/<td>linux\/ppc64le<\/td><td><code title="sha256:[0-9a-f]{64}">sha256:[0-9a-f]{12}<\/code><\/td><td>[0-9.]+ (B|KiB|MiB)<\/td><td>leg-ppc64le \(Linux\/X64\) \(run attempt 2\): emulated \(QEMU\)<\/td>/)
    }, 15 * MINUTES)
  })

  describe('a matrix of two pipelines in one workflow run, into one repository with immutable tags, through state-repository', () => {
    const proxy = new FaultProxy(5000)
    const immutable = immutableTags()
    const name = `e2e/dist-matrix-${builderPath.name}-${Date.now().toString(36)}`
    const repository = (): string => `${proxy.host}/${name}`
    const state = freshRepository('dist-matrix-state')
    const PIPELINES = ['a', 'b'] as const
    const TWO = ['linux/amd64', 'linux/arm64']
    type Pipeline = (typeof PIPELINES)[number]
    interface Round {
      legs: Record<Pipeline, ActionRun[]>
      merges: Record<Pipeline, ActionRun>
      stateTags: string[]
    }
    const rounds: Round[] = []

    // the two configurations differ in their tag template and a label (so their images differ too)
    const job = (pipeline: Pipeline, mode: 'leg' | 'merge', platforms: readonly string[], runId: string): Promise<ActionRun> =>
      runJob(builderPath, repository(), { mode, platforms, runId, inputs: { 'tag-template': `dist-${pipeline}`, labels: `pipeline=${pipeline}`, 'state-repository': state } })

    /** One workflow run: the four legs of both pipelines at once, then both merges at once. */
    async function round(): Promise<Round> {
      const runId = freshRunId()
      const legRuns = await Promise.all(PIPELINES.flatMap(p => TWO.map(platform => job(p, 'leg', [platform], runId))))
      const [a, b] = await Promise.all(PIPELINES.map(p => job(p, 'merge', TWO, runId)))
      return { legs: { a: legRuns.slice(0, 2), b: legRuns.slice(2) }, merges: { a: a!, b: b! }, stateTags: await registryTags(state) }
    }

    beforeAll(async () => {
      await proxy.start()
      proxy.rules = [immutable]
      // two workflow runs: the second is where fixed tags in the image repository would be refused
      rounds.push(await round())
      rounds.push(await round())
    }, 40 * MINUTES)

    afterAll(() => proxy.stop())

    it('every leg and merge of both runs succeeds; legs report leg, merges published', () => {
      for (const { legs, merges } of rounds) {
        for (const pipeline of PIPELINES) {
          for (const leg of legs[pipeline]) {
            expectSucceeded(leg)
            expect(leg.outputs).toMatchObject({ result: 'leg', pushed: 'true' })
          }
          expectSucceeded(merges[pipeline])
          expect(merges[pipeline].outputs).toMatchObject({ result: 'published', pushed: 'true' })
        }
      }
    })

    it('each merge publishes exactly its own legs, never the other pipeline\'s', async () => {
      for (const [n, { legs, merges }] of rounds.entries()) {
        const own = (pipeline: Pipeline): Record<string, string> =>
          Object.assign({}, ...legs[pipeline].map(l => JSON.parse(l.outputs['platform-digests'] ?? '{}') as Record<string, string>))
        for (const pipeline of PIPELINES) {
          const tag = n === 0 ? `dist-${pipeline}` : `dist-${pipeline}-1`
          expect(merges[pipeline].outputs.tag).toBe(tag)
          expect(JSON.parse(merges[pipeline].outputs['platform-digests'] ?? '{}')).toEqual(own(pipeline))
          for (const platform of TWO) {
            expect((await registryManifest(`${REGISTRY}/${name}:${tag}-${arch(platform)}`)).digest).toBe(own(pipeline)[platform])
          }
          expect((await registryManifest(`${REGISTRY}/${name}:${tag}`)).digest).toBe(merges[pipeline].outputs.digest)
        }
        // the pipelines' images differ, so taking the other's leg could not go unnoticed
        for (const platform of TWO) expect(own('a')[platform]).not.toBe(own('b')[platform])
      }
    })

    it('the image repository holds only the release tags: nothing was refused, no tag of the action is there', async () => {
      const user = (pipeline: Pipeline): string[] => [`dist-${pipeline}`, `dist-${pipeline}-1`].flatMap(t => [t, ...TWO.map(p => `${t}-${arch(p)}`)])
      expect(await registryTags(`${REGISTRY}/${name}`)).toEqual([...user('a'), ...user('b')].sort())
      expect(immutable.refused).toEqual([])
    })

    it('the state repository holds a bounded set: one record per configuration and platform, one merge (and staging) per configuration, the same after the second run', () => {
      const [first, second] = rounds
      const ids = new Set(first!.stateTags.map(t => /-([0-9a-f]{12})(?:-|$)/.exec(t)?.[1]))
      expect(ids.size).toBe(2)
      // the engine path pushes each leg through the staging tag of its configuration and platform
      const staging = builderPath.driver === 'docker' ? TWO.map(p => `go-build-action-staging-CONFIG-${arch(p)}`) : []
      const perConfiguration = [...legTags(TWO), MERGE_TAG, ...staging]
      expect(first!.stateTags.map(withoutId).sort()).toEqual([...perConfiguration, ...perConfiguration].sort())
      expect(second!.stateTags).toEqual(first!.stateTags)
    })
  })
})
