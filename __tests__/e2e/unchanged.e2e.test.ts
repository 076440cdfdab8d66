/**
 * Skip unchanged, end to end on both runner paths: a rerun with nothing changed (a schedule: an automatic event)
 * builds and pushes nothing and reports what the registry holds; a change only `.dockerignore` hides is no change;
 * a workflow_dispatch run rebuilds unchanged content as `TAG-1` (`skip-unchanged: auto`); a skipped run whose
 * `TAG-ARCH` are missing (platform tags turned on) completes them; a base image that now resolves to another
 * digest means a rebuild. Checked from the registry's side. On one path (the fingerprint does not depend on it):
 * a `FROM ctx` whose `ctx` is a `docker-image://` build context is fingerprinted by that image, so a rerun skips
 * while it is unchanged and rebuilds once it changes under the same tag.
 *
 * Each test has a repository and a base image of its own (the first two read one publish, which the second must
 * leave as it is), so the tests pass in any order and alone.
 */
import { beforeAll, describe, expect, it } from '@jest/globals'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import type { ActionRun } from '../../scripts/run-action.mjs'
import { BASE_IMAGE, docker, expectSucceeded, freshRepository, MINUTES, registryManifest, registryTags, requireEnvironment } from './support/environment.js'
import { describeEachPath, ENGINE_PATH, runOnPath } from './support/paths.js'

const FINGERPRINT_ANNOTATION = 'io.go-build.fingerprint'
const ARCHES = ['amd64', 'arm64', 'ppc64le', 's390x']

beforeAll(requireEnvironment, MINUTES)

/** A context whose only base image is `base` (no RUN step: nothing to emulate), with a file .dockerignore hides. */
async function contextOn(base: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'go-build-action-unchanged-'))
  await writeFile(path.join(dir, 'Dockerfile'), `FROM ${base}\nCOPY . /app/\n`)
  await writeFile(path.join(dir, 'hello.txt'), 'hello\n')
  await writeFile(path.join(dir, '.dockerignore'), '*.log\n')
  await writeFile(path.join(dir, 'build.log'), 'first\n')
  return dir
}

interface Published {
  repository: string
  /** The test's own base image (a copy of the busybox base), so that it can change under the test. */
  base: string
  context: string
  /** Runs the action on `context` into `repository` (a schedule: an automatic event, on which skip-unchanged: auto skips). */
  publish(inputs?: Record<string, string>, event?: string): Promise<ActionRun>
  /** The first run, which published `v1`. */
  first: ActionRun
}

describeEachPath('skip unchanged', builderPath => {
  /** A repository, base image and context of the caller's own, and its first publish (checked: it succeeded). */
  async function publishedOnce(name: string): Promise<Published> {
    const repository = freshRepository(`unchanged-${name}-${builderPath.name}`)
    const base = `${freshRepository(`unchanged-base-${name}-${builderPath.name}`)}:1`
    await docker(['buildx', 'imagetools', 'create', '--tag', base, `${BASE_IMAGE}:latest`])
    const context = await contextOn(base)
    const publish = (inputs: Record<string, string> = {}, event = 'schedule'): Promise<ActionRun> =>
      runOnPath(builderPath, { cwd: context, inputs: { images: repository, 'tag-template': 'v1', ...inputs }, env: { GITHUB_EVENT_NAME: event } })
    const first = await publish()
    expectSucceeded(first)
    return { repository, base, context, publish, first }
  }

  // the first publish that the first two tests read (the second reruns it and changes nothing in the registry)
  let shared: Published

  beforeAll(async () => {
    shared = await publishedOnce('rerun')
  }, 10 * MINUTES)

  it('publishes the first run with its fingerprint on the index', async () => {
    const { first, repository } = shared
    const index = JSON.parse((await registryManifest(`${repository}:v1`)).body) as { annotations?: Record<string, string> }
    expect(index.annotations?.[FINGERPRINT_ANNOTATION]).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(first.main.log).toContain(`fingerprint ${index.annotations?.[FINGERPRINT_ANNOTATION]}`)
  })

  it('skips a rerun with nothing changed (an ignored file aside), and reports what the registry holds', async () => {
    const { context, first, publish, repository } = shared
    await writeFile(path.join(context, 'build.log'), 'second\n')
    const tagsBefore = await registryTags(repository)
    const rerun = await publish()
    expectSucceeded(rerun)
    expect(rerun.main.log).toContain('skipped: unchanged: v1 already holds')
    expect(rerun.main.log).not.toMatch(/buildx build|buildx create|context create/)
    expect(rerun.summary).toContain('skipped: unchanged')
    expect(rerun.summary.startsWith(`<h2>Skipped: unchanged ${repository}:v1</h2>\n\n\`\`\`sh\ndocker pull ${repository}:v1\n\`\`\``)).toBe(true)
    for (const arch of ARCHES) {
      expect(rerun.summary).toMatch(new RegExp(`<td>linux/${arch}</td><td><code title="sha256:[0-9a-f]{64}">sha256:[0-9a-f]{12}</code></td><td>not built: the tag holds it already</td>`))
    }
    expect(rerun.summary).not.toContain('Build time')
    expect(tagsBefore).toEqual(expect.arrayContaining(['v1', ...ARCHES.map(a => `v1-${a}`)]))
    expect(await registryTags(repository)).toEqual(tagsBefore)
    for (const output of ['digest', 'tag', 'tags', 'images', 'platform-digests', 'manifest', 'attestations']) {
      expect({ output, value: rerun.outputs[output] }).toEqual({ output, value: first.outputs[output] })
    }
  }, 5 * MINUTES)

  it('rebuilds unchanged content on workflow_dispatch as TAG-1; a later skipped run completes the TAG-ARCH it lacks', async () => {
    const { publish, repository } = await publishedOnce('dispatch')
    // by hand, and without per-platform tags: v1-1 is published alone
    const dispatched = await publish({ 'platform-tags': 'false' }, 'workflow_dispatch')
    expectSucceeded(dispatched)
    expect(dispatched.main.log).toContain('a workflow_dispatch run is a rebuild asked for by hand: building even if unchanged')
    expect(dispatched.main.log).toContain(`${repository}:v1 exists; this rebuild publishes v1-1`)
    expect(dispatched.outputs.tag).toBe('v1-1')
    // the summary says why the tag has a suffix
    expect(dispatched.summary).toContain(
      `<p><strong>Why this tag:</strong> ${repository}:v1 exists (the newest of its series) with other content, so if-tag-exists: suffix publishes v1-1.</p>`
    )
    const rebuilt = await registryManifest(`${repository}:v1-1`)
    expect(rebuilt.digest).toBe(dispatched.outputs.digest)
    for (const arch of ARCHES) expect((await registryManifest(`${repository}:v1-1-${arch}`)).status).toBe(404)

    // platform tags on again, nothing changed: skipped, and v1-1-ARCH are completed from v1-1's index
    const completed = await publish()
    expectSucceeded(completed)
    expect(completed.main.log).toContain('skipped: unchanged: v1-1 already holds')
    expect(completed.main.log).toContain('are missing or point elsewhere: this run completes them from the published index')
    expect(completed.main.log).not.toMatch(/buildx build|buildx create|context create/)
    expect(completed.outputs.digest).toBe(dispatched.outputs.digest)
    expect((await registryManifest(`${repository}:v1-1`)).digest).toBe(dispatched.outputs.digest)
    const index = JSON.parse(rebuilt.body) as { manifests: Array<{ digest: string; platform: { architecture: string } }> }
    for (const arch of ARCHES) {
      const served = await registryManifest(`${repository}:v1-1-${arch}`)
      expect({ arch, digest: served.digest }).toEqual({ arch, digest: index.manifests.find(m => m.platform.architecture === arch)?.digest })
    }
    expect(completed.outputs.tags?.split('\n')).toEqual([`${repository}:v1-1`, ...ARCHES.map(a => `${repository}:v1-1-${a}`)])
    // the next automatic run finds everything in place: skipped, nothing to complete
    const again = await publish()
    expectSucceeded(again)
    expect(again.main.log).toContain('skipped: unchanged: v1-1 already holds')
    expect(again.main.log).not.toContain('this run completes them')
  }, 15 * MINUTES)

  it('builds when the base image now resolves to another digest: v1 exists with other content, so it publishes v1-1', async () => {
    const { base, publish } = await publishedOnce('base')
    // the same platform images in another order: another index, another digest
    const index = JSON.parse((await registryManifest(`${BASE_IMAGE}:latest`)).body) as { manifests: Array<{ digest: string }> }
    await docker(['buildx', 'imagetools', 'create', '--tag', base, ...index.manifests.reverse().map(m => `${BASE_IMAGE}@${m.digest}`)])
    const rebuilt = await publish()
    expectSucceeded(rebuilt)
    expect(rebuilt.main.log).toMatch(/building: .*:v1 holds fingerprint sha256:[0-9a-f]{64}; this build's is/)
    expect(rebuilt.outputs.tag).toBe('v1-1')
  }, 10 * MINUTES)
})

describe(`${ENGINE_PATH.title} skip unchanged with a named build context`, () => {
  it('fingerprints FROM ctx by the docker-image:// context ctx names (not docker.io/library/ctx): a rerun skips while that image is unchanged, and builds once it changes under the same tag', async () => {
    const repository = freshRepository('unchanged-context')
    const image = `${freshRepository('unchanged-context-base')}:1`
    await docker(['buildx', 'imagetools', 'create', '--tag', image, `${BASE_IMAGE}:latest`])
    const context = await mkdtemp(path.join(tmpdir(), 'go-build-action-unchanged-context-'))
    await writeFile(path.join(context, 'Dockerfile'), 'FROM ctx\nCOPY hello.txt /app/\n')
    await writeFile(path.join(context, 'hello.txt'), 'hello\n')
    const publish = (): Promise<ActionRun> =>
      runOnPath(ENGINE_PATH, {
        cwd: context,
        inputs: { images: repository, 'tag-template': 'v1', platforms: 'linux/amd64,linux/arm64', 'build-contexts': `ctx=docker-image://${image}` },
        env: { GITHUB_EVENT_NAME: 'schedule' }
      })

    const first = await publish()
    expectSucceeded(first)
    const index = JSON.parse((await registryManifest(`${repository}:v1`)).body) as { annotations?: Record<string, string> }
    const fingerprint = index.annotations?.[FINGERPRINT_ANNOTATION]
    expect(fingerprint).toMatch(/^sha256:[0-9a-f]{64}$/)
    // the context's image, resolved now, is what the fingerprint names; ctx is never looked up as an image
    expect(first.main.log).toMatch(new RegExp(`fingerprint ${fingerprint} \\(\\d+ context entries; ${image.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}@sha256:[0-9a-f]{64}\\)`))
    expect(first.main.log).not.toContain('cannot fingerprint')

    const rerun = await publish()
    expectSucceeded(rerun)
    expect(rerun.main.log).toContain('skipped: unchanged: v1 already holds')

    // the same platform images in another order: the tag the context names now holds another index
    const base = JSON.parse((await registryManifest(`${BASE_IMAGE}:latest`)).body) as { manifests: Array<{ digest: string }> }
    await docker(['buildx', 'imagetools', 'create', '--tag', image, ...base.manifests.reverse().map(m => `${BASE_IMAGE}@${m.digest}`)])
    const rebuilt = await publish()
    expectSucceeded(rebuilt)
    expect(rebuilt.main.log).toMatch(new RegExp(`building: .*:v1 holds fingerprint ${fingerprint}; this build's is sha256:[0-9a-f]{64}`))
    expect(rebuilt.main.log).toMatch(/buildx build/)
    expect(rebuilt.outputs.tag).toBe('v1-1')
  }, 15 * MINUTES)
})
