/**
 * Distributed builds, on both runner paths: four `mode: leg` runs (one platform each, separate processes and
 * builders, started together, one workflow run id) hand off through the registry, then one `mode: merge` publishes
 * what `mode: all` would. Missing legs, legs of another run, and re-run legs. Everything is checked from the
 * registry's side; nothing about docker is mocked.
 */
import { beforeAll, describe, expect, it } from '@jest/globals'
import type { ActionRun } from '../../scripts/run-action.mjs'
import { LEG_TAG_PREFIX, MERGE_TAG_PREFIX } from '../../src/handoff.js'
import {
  BASE_IMAGE,
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
}

function runJob(builderPath: BuilderPath, repository: string, job: Job): Promise<ActionRun> {
  return runOnPath(builderPath, {
    cwd: HELLO_CONTEXT,
    inputs: {
      mode: job.mode,
      images: repository,
      platforms: job.platforms.join(','),
      'tag-template': TAG,
      'build-args': `GO_IMAGE=${GO_IMAGE}\nBASE_IMAGE=${BASE_IMAGE}`,
      'verify-command': '/usr/local/bin/hello'
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
        expect(legs[i]?.outputs.tag).toBe(TAG)
        expect(legs[i]?.main.log).toContain(`hello from ${platform}`)
      }
    })

    it('the legs move no tag users pull: the registry holds only the leg records', () => {
      expect(tagsAfterLegs).toEqual(legTags(FOUR_PLATFORMS).sort())
    })

    it('the merge succeeds and publishes TAG and the four TAG-ARCH, as mode: all does', async () => {
      expectSucceeded(merge)
      expect(merge.outputs.tags?.split('\n')).toEqual([`${repository}:${TAG}`, ...FOUR_PLATFORMS.map(p => `${repository}:${TAG}-${arch(p)}`)])
      // the non-user references: one per platform, and the merge's, whatever the number of runs
      expect(await tagsOf(repository)).toEqual([TAG, ...FOUR_PLATFORMS.map(p => `${TAG}-${arch(p)}`), ...legTags(FOUR_PLATFORMS), MERGE_TAG].sort())
    })

    it('reports the digest and the index the registry serves, and the legs\' digests per platform', async () => {
      const served = await registryManifest(`${repository}:${TAG}`)
      expect(merge.outputs.digest).toBe(served.digest)
      expect(merge.outputs.manifest).toBe(served.body)
      const index = JSON.parse(served.body) as { manifests: Array<{ digest: string; platform: { os: string; architecture: string } }> }
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

    it('summarizes the legs: platform, runner, build time, digest', () => {
      expect(merge.summary).toContain('<h3>Legs</h3>')
      for (const platform of FOUR_PLATFORMS) {
        expect(merge.summary).toMatch(new RegExp(`<td>${platform}</td><td>leg-${arch(platform)} \\(Linux/X64\\)</td><td>\\d+ s</td><td><code>sha256:`))
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
      expect(merge.summary).toMatch(/<td>linux\/ppc64le<\/td><td>leg-ppc64le \(Linux\/X64\)<\/td><td>\d+ s<\/td><td><code>sha256:[0-9a-f]{64}<\/code><\/td><td>2<\/td>/)
    }, 15 * MINUTES)
  })
})
