/**
 * Skip unchanged, end to end on both runner paths: a rerun with nothing changed builds and pushes nothing and
 * reports what the registry holds; a change only `.dockerignore` hides is no change; `force: true` builds; a base
 * image that now resolves to another digest means a rebuild. Checked from the registry's side.
 */
import { beforeAll, expect, it } from '@jest/globals'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import type { ActionRun } from '../../scripts/run-action.mjs'
import { BASE_IMAGE, docker, expectSucceeded, freshRepository, registryManifest, registryTags, requireEnvironment } from './support/environment.js'
import { describeEachPath, runOnPath } from './support/paths.js'

const MINUTES = 60_000
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

describeEachPath('skip unchanged', builderPath => {
  const repository = freshRepository(`unchanged-${builderPath.name}`)
  const base = `${freshRepository(`unchanged-base-${builderPath.name}`)}:1`
  let context: string
  const publish = (inputs: Record<string, string> = {}): Promise<ActionRun> =>
    runOnPath(builderPath, { cwd: context, inputs: { images: repository, 'tag-template': 'v1', ...inputs } })
  let first: ActionRun

  beforeAll(async () => {
    // a base image of this test's own, so that it can change under the test
    await docker(['buildx', 'imagetools', 'create', '--tag', base, `${BASE_IMAGE}:latest`])
    context = await contextOn(base)
    first = await publish()
  }, 10 * MINUTES)

  it('publishes the first run with its fingerprint on the index', async () => {
    expectSucceeded(first)
    const index = JSON.parse((await registryManifest(`${repository}:v1`)).body) as { annotations?: Record<string, string> }
    expect(index.annotations?.[FINGERPRINT_ANNOTATION]).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(first.main.log).toContain(`fingerprint ${index.annotations?.[FINGERPRINT_ANNOTATION]}`)
  })

  it('skips a rerun with nothing changed (an ignored file aside), and reports what the registry holds', async () => {
    await writeFile(path.join(context, 'build.log'), 'second\n')
    const tagsBefore = await registryTags(repository)
    const rerun = await publish()
    expectSucceeded(rerun)
    expect(rerun.main.log).toContain('skipped: unchanged: v1 already holds')
    expect(rerun.main.log).not.toMatch(/buildx build|buildx create|context create/)
    expect(rerun.summary).toContain('skipped: unchanged')
    expect(tagsBefore).toEqual(expect.arrayContaining(['v1', ...ARCHES.map(a => `v1-${a}`)]))
    expect(await registryTags(repository)).toEqual(tagsBefore)
    for (const output of ['digest', 'tag', 'tags', 'images', 'platform-digests', 'manifest', 'attestations']) {
      expect({ output, value: rerun.outputs[output] }).toEqual({ output, value: first.outputs[output] })
    }
  }, 5 * MINUTES)

  it('builds with force: true', async () => {
    const forced = await publish({ force: 'true' })
    expectSucceeded(forced)
    expect(forced.main.log).toContain('force: true: building')
    expect(forced.outputs.tag).toBe('v1-1')
  }, 5 * MINUTES)

  it('builds when the base image now resolves to another digest', async () => {
    // the same platform images in another order: another index, another digest
    const index = JSON.parse((await registryManifest(`${BASE_IMAGE}:latest`)).body) as { manifests: Array<{ digest: string }> }
    await docker(['buildx', 'imagetools', 'create', '--tag', base, ...index.manifests.reverse().map(m => `${BASE_IMAGE}@${m.digest}`)])
    const rebuilt = await publish()
    expectSucceeded(rebuilt)
    expect(rebuilt.main.log).toMatch(/building: .*:v1-1 holds fingerprint sha256:[0-9a-f]{64}; this build's is/)
    expect(rebuilt.outputs.tag).toBe('v1-2')
  }, 5 * MINUTES)
})
