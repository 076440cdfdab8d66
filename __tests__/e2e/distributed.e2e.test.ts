/**
 * Distributed builds, on both runner paths: four `mode: leg` runs (one platform each, separate processes and
 * builders, started together, one workflow run id) hand off through the registry, then one `mode: merge` publishes
 * what `mode: all` would. Missing legs, legs of another run, and re-run legs. Everything is checked from the
 * registry's side; nothing about docker is mocked.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import type { ActionRun } from '../../scripts/run-action.mjs'
import { LEG_TAG_PREFIX, MERGE_TAG_PREFIX } from '../../src/publish/handoff.js'
import { FaultProxy, type FaultRule } from './support/fault-proxy.js'
import {
  BASE_IMAGE,
  REGISTRY,
  FOUR_PLATFORMS,
  GO_IMAGE,
  HELLO_CONTEXT,
  docker,
  expectSucceeded,
  freshRepository,
  registryManifest,
  registryTags,
  splitStaging,
  requireEnvironment
} from './support/environment.js'
import { builderLeftovers, describeEachPath, runOnPath, type BuilderPath } from './support/paths.js'

const MINUTES = 60_000
const TAG = 'dist'
const arch = (platform: string): string => platform.split('/')[1] ?? ''

beforeAll(requireEnvironment, MINUTES)

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

function runJob(builderPath: BuilderPath, repository: string, job: Job): Promise<ActionRun> {
  return runOnPath(builderPath, {
    cwd: HELLO_CONTEXT,
    inputs: {
      mode: job.mode,
      images: repository,
      platforms: job.platforms.join(','),
      'tag-template': TAG,
      'build-args': `GO_IMAGE=${GO_IMAGE}\nBASE_IMAGE=${BASE_IMAGE}`,
      'verify-command': '/usr/local/bin/hello',
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

    beforeAll(async () => {
      legs = await Promise.all(FOUR_PLATFORMS.map(platform => runJob(builderPath, repository, { mode: 'leg', platforms: [platform], runId })))
      tagsAfterLegs = await tagsOf(repository)
      merge = await runJob(builderPath, repository, { mode: 'merge', platforms: FOUR_PLATFORMS, runId })
    }, 20 * MINUTES)

    it('every leg succeeds, ran the verify command on its platform and computed the same tag', () => {
      for (const leg of legs) expectSucceeded(leg)
      for (const [i, platform] of FOUR_PLATFORMS.entries()) {
        expect(legs[i]?.outputs).toMatchObject({ result: 'leg', pushed: 'true', tags: '', platforms: JSON.stringify([platform]), images: repository })
        expect(legs[i]?.outputs.digest).toMatch(/^sha256:[0-9a-f]{64}$/)
        // the leg's summary says where its record is
        expect(legs[i]?.summary).toMatch(new RegExp(`<code>${repository}:${LEG_TAG_PREFIX}-[0-9a-f]{12}-${arch(platform)}</code> \\(<code title="sha256:[0-9a-f]{64}">sha256:[0-9a-f]{12}</code>\\)`))
        expect(legs[i]?.outputs.tag).toBe(TAG)
        expect(legs[i]?.main.log).toContain(`hello from ${platform}`)
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

    it('reports the digest and the index the registry serves, and the legs\' digests per platform', async () => {
      const served = await registryManifest(`${repository}:${TAG}`)
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
      const served = await registryManifest(`${repository}:${TAG}`)
      const entry = (JSON.parse(served.body) as { manifests: Array<{ digest: string; platform: { architecture: string } }> }).manifests.find(
        m => m.platform.architecture === arch(platform)
      )
      const perArch = await registryManifest(`${repository}:${TAG}-${arch(platform)}`)
      expect(perArch.digest).toBe(entry?.digest)
      expect((await registryManifest(`${repository}@${entry?.digest}`)).body).toBe(perArch.body)
      const { stdout } = await docker(['run', '--rm', '--pull', 'always', '--platform', platform, `${repository}:${TAG}-${arch(platform)}`])
      expect(stdout).toContain(`hello from ${platform} `)
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

    it('a re-run of the merge (attempt 2) ends consistent: the same index under the same tags', async () => {
      const again = await runJob(builderPath, repository, { mode: 'merge', platforms: FOUR_PLATFORMS, runId, attempt: 2 })
      expectSucceeded(again)
      expect(again.outputs.tag).toBe(TAG)
      expect(again.outputs.digest).toBe(merge.outputs.digest)
      expect((await registryManifest(`${repository}:${TAG}`)).digest).toBe(merge.outputs.digest)
      expect(again.main.log).toContain('using the leg of attempt 1 of this run')
    }, 10 * MINUTES)

    it('a re-run of one leg after the publish, then of the merge (attempt 3), ends consistent: the same TAG, not TAG-1', async () => {
      const rerun = await runJob(builderPath, repository, { mode: 'leg', platforms: ['linux/s390x'], runId, attempt: 3 })
      expectSucceeded(rerun)
      expect(rerun.outputs.tag).toBe(TAG)
      expect(rerun.main.log).toContain(`attempt 3: linux/s390x's leg of attempt 1 decided the main tag ${TAG}`)
      const again = await runJob(builderPath, repository, { mode: 'merge', platforms: FOUR_PLATFORMS, runId, attempt: 3 })
      expectSucceeded(again)
      expect(again.main.log).toContain('published by an earlier attempt of this run: it moves again')
      const s390x = JSON.parse(rerun.outputs['platform-digests'] ?? '{}')['linux/s390x'] as string
      expect(JSON.parse(again.outputs['platform-digests'] ?? '{}')['linux/s390x']).toBe(s390x)
      expect((await registryManifest(`${repository}:${TAG}-s390x`)).digest).toBe(s390x)
      const served = await registryManifest(`${repository}:${TAG}`)
      expect(served.digest).toBe(again.outputs.digest)
      for (const platform of FOUR_PLATFORMS) {
        expect((await registryManifest(`${repository}:${TAG}-${arch(platform)}`)).digest).toBe(JSON.parse(again.outputs['platform-digests'] ?? '{}')[platform])
      }
      expect(await tagsOf(repository)).toEqual([TAG, ...FOUR_PLATFORMS.map(p => `${TAG}-${arch(p)}`), ...legTags(FOUR_PLATFORMS), MERGE_TAG].sort())
    }, 10 * MINUTES)

    it('leaves no builder behind after the legs\' post steps', async () => {
      for (const leg of legs) expect(await builderLeftovers(leg)).toEqual([])
    })
  })

  describe('missing legs, legs of another run, a re-run leg', () => {
    const repository = freshRepository('dist-missing')
    const platforms = ['linux/amd64', 'linux/arm64', 'linux/ppc64le']
    const runId = freshRunId()

    beforeAll(async () => {
      const legs = await Promise.all(platforms.slice(0, 2).map(platform => runJob(builderPath, repository, { mode: 'leg', platforms: [platform], runId })))
      for (const leg of legs) expectSucceeded(leg)
    }, 15 * MINUTES)

    it('a missing leg: the merge fails naming the platform, and no tag moved', async () => {
      const merge = await runJob(builderPath, repository, { mode: 'merge', platforms, runId })
      expect(merge.main.exitCode).toBe(1)
      expect(merge.main.log).toContain('::error::cannot merge; no tag moved:')
      expect(merge.outputs).toMatchObject({ result: 'failed', pushed: 'false', digest: '', tags: '' })
      expect(merge.main.log).toMatch(new RegExp(`linux/ppc64le: no leg of this configuration recorded \\(${repository}:${LEG_TAG_PREFIX}-[0-9a-f]{12}-ppc64le does not exist\\)`))
      expect(merge.main.log).not.toMatch(/linux\/(amd64|arm64): no leg/)
      expect(merge.post?.exitCode).toBe(0)
      expect(await tagsOf(repository)).toEqual(legTags(platforms.slice(0, 2)).sort())
    }, 10 * MINUTES)

    it('a leg of another run is not picked up: the merge fails naming the platform and the run it found', async () => {
      const otherRun = freshRunId()
      expectSucceeded(await runJob(builderPath, repository, { mode: 'leg', platforms: ['linux/ppc64le'], runId: otherRun }))
      const merge = await runJob(builderPath, repository, { mode: 'merge', platforms, runId })
      expect(merge.main.exitCode).toBe(1)
      expect(merge.main.log).toMatch(new RegExp(`linux/ppc64le: the leg recorded under ${repository}:${LEG_TAG_PREFIX}-[0-9a-f]{12}-ppc64le is from run ${otherRun} \\(attempt 1\\), not this run ${runId}`))
      expect(await tagsOf(repository)).toEqual(legTags(platforms).sort())
    }, 10 * MINUTES)

    it('the leg re-run (attempt 2) replaces that platform; the merge reports the legs kept from attempt 1', async () => {
      const rerun = await runJob(builderPath, repository, { mode: 'leg', platforms: ['linux/ppc64le'], runId, attempt: 2 })
      expectSucceeded(rerun)
      const merge = await runJob(builderPath, repository, { mode: 'merge', platforms, runId, attempt: 2 })
      expectSucceeded(merge)
      expect(JSON.parse(merge.outputs['platform-digests'] ?? '{}')['linux/ppc64le']).toBe(JSON.parse(rerun.outputs['platform-digests'] ?? '{}')['linux/ppc64le'])
      expect((await registryManifest(`${repository}:${TAG}-ppc64le`)).digest).toBe(JSON.parse(rerun.outputs['platform-digests'] ?? '{}')['linux/ppc64le'])
      for (const kept of ['linux/amd64', 'linux/arm64']) expect(merge.main.log).toContain(`::notice::${kept}: using the leg of attempt 1 of this run`)
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
