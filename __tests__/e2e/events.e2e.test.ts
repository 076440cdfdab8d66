/**
 * The event table (scripts/event-table.mjs), sampled for real on both runner paths: one run per event family (a
 * release, a tag push, a branch push, a dispatch, a schedule, a pull request, the merge queue), each the bundled
 * action with the row's event, ref, payload and inputs, on a context that builds with no RUN step (two platforms,
 * nothing to emulate). What the row says is read from the registry: exactly the row's tags exist, each per-platform
 * tag serves its platform's manifest of the index the main tag serves, and the event tags and `latest` serve that
 * index too; a row that does not push leaves the repository empty.
 *
 * And the release family end to end: `released` publishes the release's tag (not `sha-…`); `published` of the
 * same release afterwards ends `unchanged` (never `v1.2.3-1`); `created` builds nothing and says why; published
 * again after the content changed, it publishes `v1.2.3-1` with its own per-platform tags and leaves `v1.2.3` and
 * its per-platform tags together on the first build (every index tag and the per-platform tags derived from it
 * name one build).
 */
import { beforeAll, describe, expect, it } from '@jest/globals'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import type { ActionRun } from '../../scripts/run-action.mjs'
import { ARCHES, ROWS, SHA, VERSIONS, type EventRow } from '../../scripts/event-table.mjs'
import { expectSucceeded, freshRepository, MINUTES, registryManifest, registryTags, requireEnvironment, splitStaging } from './support/environment.js'
import { describeEachPath, runOnPath, type BuilderPath } from './support/paths.js'

const PLATFORMS = ARCHES.map(arch => `linux/${arch}`).join(',')

beforeAll(requireEnvironment, MINUTES)

const rowOf = (id: string): EventRow => {
  const row = ROWS.find(r => r.id === id)
  if (!row) throw new Error(`no row ${id} in the event table`)
  return row
}

/** A context with no RUN step; the versioned image's has a versions file. */
async function contextFor(image: EventRow['image'], variant = 'first'): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'go-build-action-events-'))
  await writeFile(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /\n')
  await writeFile(path.join(dir, 'hello.txt'), `${variant}\n`)
  if (image === 'versioned') {
    await writeFile(path.join(dir, 'versions.yaml'), Object.entries(VERSIONS).map(([name, version]) => `${name}: ${version}\n`).join(''))
  }
  return dir
}

/** Runs the bundled action as the row's event would start it. */
async function runRow(builderPath: BuilderPath, row: EventRow, repository: string, cwd: string): Promise<ActionRun> {
  const dir = await mkdtemp(path.join(tmpdir(), 'go-build-action-event-'))
  const event = path.join(dir, 'event.json')
  await writeFile(event, JSON.stringify(row.event.payload))
  return runOnPath(builderPath, {
    cwd,
    inputs: { images: repository, platforms: PLATFORMS, ...row.inputs },
    env: { GITHUB_EVENT_NAME: row.event.event, GITHUB_REF: row.event.ref, GITHUB_SHA: SHA, GITHUB_EVENT_PATH: event }
  })
}

interface Index {
  manifests: Array<{ digest: string; platform: { os: string; architecture: string } }>
}

/** What the row says the registry holds after the run: exactly its tags, each serving this run's index or platform. */
async function expectRegistryAsRowSays(row: EventRow, repository: string, run: ActionRun): Promise<void> {
  const expected = row.expect
  if ('fails' in expected) throw new Error(`${row.id} fails: not a sample`)
  const { published } = splitStaging(await registryTags(repository))
  if (!expected.push) {
    expect({ row: row.id, published }).toEqual({ row: row.id, published: [] })
    return
  }
  const indexTags = [expected.tag, ...expected.eventTags, ...(expected.latest ? ['latest'] : [])]
  expect({ row: row.id, published }).toEqual({ row: row.id, published: [...indexTags, ...Object.values(expected.platformTags)].sort() })
  for (const tag of indexTags) expect({ tag, digest: (await registryManifest(`${repository}:${tag}`)).digest }).toEqual({ tag, digest: run.outputs.digest })
  const index = JSON.parse((await registryManifest(`${repository}@${run.outputs.digest}`)).body) as Index
  for (const [platform, tag] of Object.entries(expected.platformTags)) {
    const entry = index.manifests.find(m => `${m.platform.os}/${m.platform.architecture}` === platform)
    expect({ tag, digest: (await registryManifest(`${repository}:${tag}`)).digest }).toEqual({ tag, digest: entry?.digest })
  }
}

describeEachPath('events', builderPath => {
  describe.each([
    // item 2: a SemVer prerelease tag never moves latest; a versioned image's tag push publishes the git tag too
    'tag-push-prerelease/versioned/latest-true/suffix/empty',
    'push-branch/program/latest-true/suffix/empty',
    'dispatch-branch/program/latest-true/suffix/empty',
    'schedule/versioned/latest-always/suffix/empty',
    'pull-request-fork/program/latest-false/suffix/empty',
    'merge-group/versioned/latest-false/suffix/empty'
  ])('%s', id => {
    const row = rowOf(id)
    const repository = freshRepository(`events-${row.event.id}`)
    let run: ActionRun

    beforeAll(async () => {
      run = await runRow(builderPath, row, repository, await contextFor(row.image))
    }, 10 * MINUTES)

    it('publishes exactly the tags the row names, each at this run\'s build (or nothing, where it does not push)', async () => {
      expectSucceeded(run)
      if ('fails' in row.expect) throw new Error('not a sample')
      expect({ result: run.outputs.result, tag: run.outputs.tag }).toEqual({ result: row.expect.push ? 'published' : 'built', tag: row.expect.tag })
      await expectRegistryAsRowSays(row, repository, run)
      if (!row.expect.push) expect(run.main.log).toContain(row.expect.why)
      if (row.expect.latestWhy) expect(run.main.log).toContain(`latest does not move: ${row.expect.latestWhy}`)
    })
  })

  describe('a release: released, then published, then created (what a bare on: release starts)', () => {
    const released = rowOf('release-released/program/latest-true/suffix/empty')
    const published = rowOf('release-published/program/latest-true/suffix/empty')
    const created = rowOf('release-created/program/latest-true/suffix/empty')
    const repository = freshRepository('events-release')
    const runs: ActionRun[] = []
    let before: Array<{ tag: string; digest: string | null }>

    beforeAll(async () => {
      const context = await contextFor('program')
      runs.push(await runRow(builderPath, released, repository, context))
      before = await Promise.all((await registryTags(repository)).map(async tag => ({ tag, digest: (await registryManifest(`${repository}:${tag}`)).digest })))
      runs.push(await runRow(builderPath, published, repository, context))
      runs.push(await runRow(builderPath, created, repository, context))
    }, 15 * MINUTES)

    it('"released" publishes the release\'s tag v1.2.3 with its per-platform tags and latest (item 1: not sha-…)', async () => {
      expectSucceeded(runs[0]!)
      expect({ result: runs[0]!.outputs.result, tag: runs[0]!.outputs.tag }).toEqual({ result: 'published', tag: 'v1.2.3' })
      await expectRegistryAsRowSays(released, repository, runs[0]!)
    })

    it('"published" of the same release ends unchanged: no v1.2.3-1, every tag where it was', async () => {
      expectSucceeded(runs[1]!)
      expect({ result: runs[1]!.outputs.result, tag: runs[1]!.outputs.tag }).toEqual({ result: 'unchanged', tag: 'v1.2.3' })
      const after = await Promise.all((await registryTags(repository)).map(async tag => ({ tag, digest: (await registryManifest(`${repository}:${tag}`)).digest })))
      expect(after).toEqual(before)
    })

    it('"created" builds nothing, pushes nothing, and a notice says why', () => {
      expectSucceeded(runs[2]!)
      expect({ result: runs[2]!.outputs.result, pushed: runs[2]!.outputs.pushed, tag: runs[2]!.outputs.tag }).toEqual({ result: 'skipped', pushed: 'false', tag: 'v1.2.3' })
      expect(runs[2]!.main.log).toContain(
        '::notice::nothing built or pushed: release v1.2.3 is not going out ("created"); only "published", "released", "prereleased" publish; set push: true to publish from this event'
      )
      expect(runs[2]!.main.log).not.toMatch(/Set up the builder|docker buildx build|buildx create/)
    })

    describe('then published again with other content', () => {
      // after the three runs above have been checked
      beforeAll(async () => {
        runs.push(await runRow(builderPath, published, repository, await contextFor('program', 'second')))
      }, 10 * MINUTES)

      it('if-tag-exists: suffix: v1.2.3-1 and its per-platform tags name the new build, v1.2.3 and its per-platform tags the first (item 3)', async () => {
        expectSucceeded(runs[3]!)
        expect({ result: runs[3]!.outputs.result, tag: runs[3]!.outputs.tag }).toEqual({ result: 'published', tag: 'v1.2.3-1' })
        const { published: tags } = splitStaging(await registryTags(repository))
        expect(tags).toEqual(['latest', 'v1.2.3', 'v1.2.3-1', 'v1.2.3-1-amd64', 'v1.2.3-1-arm64', 'v1.2.3-amd64', 'v1.2.3-arm64'])
        // each index tag and its per-platform tags: one build
        for (const [tag, digest] of [['v1.2.3', runs[0]!.outputs.digest], ['v1.2.3-1', runs[3]!.outputs.digest]] as const) {
          expect({ tag, digest: (await registryManifest(`${repository}:${tag}`)).digest }).toEqual({ tag, digest })
          const index = JSON.parse((await registryManifest(`${repository}@${digest}`)).body) as Index
          for (const arch of ARCHES) {
            const entry = index.manifests.find(m => m.platform.os === 'linux' && m.platform.architecture === arch)
            expect({ tag: `${tag}-${arch}`, digest: (await registryManifest(`${repository}:${tag}-${arch}`)).digest }).toEqual({ tag: `${tag}-${arch}`, digest: entry?.digest })
          }
        }
        expect(runs[3]!.outputs.digest).not.toBe(runs[0]!.outputs.digest)
        expect((await registryManifest(`${repository}:latest`)).digest).toBe(runs[3]!.outputs.digest)
      })
    })
  })
})
