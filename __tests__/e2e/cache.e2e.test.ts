/**
 * `cache: registry`, end to end on both runner paths: the path's own builder exports the cache to the
 * `go-build-action-cache-KEY` tag of the `state-repository` (none of the action's tags lands in the image
 * repository); a docker-container builder this test creates, its local cache pruned, then rebuilds with every RUN
 * step served from that registry cache. Only the test's own builder is ever pruned, never the shared engine's cache.
 *
 * "Served from the cache" is read from the images, not from BuildKit's progress: each RUN step writes a fresh
 * random UUID, so a step that ran again gives another layer, and a rebuild served from the cache has, platform by
 * platform, exactly the layers of the first build. (BuildKit's plain progress does not always print CACHED for a
 * step it took from the registry cache: when the export needs the step's blobs, it can show the blob downloads
 * and DONE instead. A test that looked for CACHED failed on about one run in three.)
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals'
import { execFile } from 'node:child_process'
import path from 'node:path'
import { promisify } from 'node:util'
import type { ActionRun } from '../../scripts/run-action.mjs'
import { REGISTRY_CACHE_TAG_PREFIX } from '../../src/build/cache.js'
import { BASE_IMAGE, expectSucceeded, freshRepository, MINUTES, registryManifest, registryTags, requireEnvironment } from './support/environment.js'
import { describeEachPath, HOSTED_PATH, runOnPath } from './support/paths.js'

const execFileAsync = promisify(execFile)
const ARCHES = ['amd64', 'arm64', 'ppc64le', 's390x']

beforeAll(requireEnvironment, MINUTES)

/**
 * A context of this test's own (`name` and the time in its RUN steps, so no earlier run's cache on the shared engine
 * can answer for it), whose two RUN steps each write a fresh random UUID: a step that runs again gives a new layer.
 */
async function uuidContext(name: string): Promise<string> {
  const { mkdtemp, writeFile } = await import('node:fs/promises')
  const { tmpdir } = await import('node:os')
  const dir = await mkdtemp(path.join(tmpdir(), 'go-build-action-cache-'))
  const nonce = `${name}-${Date.now().toString(36)}`
  await writeFile(
    path.join(dir, 'Dockerfile'),
    [
      'ARG BASE_IMAGE',
      'FROM ${BASE_IMAGE}',
      `RUN mkdir -p /etc/go-build && echo ${nonce} > /etc/go-build/run && cat /proc/sys/kernel/random/uuid > /etc/go-build/first`,
      'RUN uname -m > /etc/go-build/built-on && cat /proc/sys/kernel/random/uuid > /etc/go-build/second',
      ''
    ].join('\n')
  )
  return dir
}

/** Each platform's layer digests in the index `repository@digest`. */
async function layersByPlatform(repository: string, digest: string): Promise<Record<string, string[]>> {
  const index = JSON.parse((await registryManifest(`${repository}@${digest}`)).body) as {
    manifests: Array<{ digest: string; platform: { os: string; architecture: string } }>
  }
  const layers: Record<string, string[]> = {}
  for (const entry of index.manifests.filter(m => m.platform.os !== 'unknown')) {
    const manifest = JSON.parse((await registryManifest(`${repository}@${entry.digest}`)).body) as { layers: Array<{ digest: string }> }
    layers[entry.platform.architecture] = manifest.layers.map(l => l.digest)
  }
  return layers
}

describeEachPath('cache: registry', builderPath => {
  const repository = freshRepository(`cache-${builderPath.name}`)
  const state = freshRepository(`cache-state-${builderPath.name}`)
  const builder = `go-build-action-e2e-cache-${builderPath.name}-${Date.now().toString(36)}`
  let env: Record<string, string>
  let context: string
  let exported: ActionRun
  let rebuilt: ActionRun
  const buildx = (args: string[]) => execFileAsync('docker', ['buildx', ...args], { env: { ...process.env, ...env } })

  beforeAll(async () => {
    env = await builderPath.env()
    context = await uuidContext(`cache-${builderPath.name}`)
    const inputs = { images: repository, 'build-args': `BASE_IMAGE=${BASE_IMAGE}`, cache: 'registry', 'state-repository': state }
    exported = await runOnPath(builderPath, { cwd: context, env, inputs })
    // a builder of this test's own, its local cache pruned: whatever it finds cached comes from the registry
    const image = HOSTED_PATH.inputs['buildkit-image'] ?? ''
    await buildx(['create', '--name', builder, '--driver', 'docker-container', '--driver-opt', `image=${image}`, '--driver-opt', 'network=host', '--bootstrap'])
    await buildx(['prune', '--builder', builder, '--all', '--force'])
    rebuilt = await runOnPath(builderPath, { cwd: context, env, inputs: { ...inputs, builder, 'skip-unchanged': 'false' } })
  }, 15 * MINUTES)

  afterAll(async () => {
    await buildx(['rm', builder]).catch(() => undefined)
  }, MINUTES)

  it('exports the cache to the cache tag of the image in the state repository; the image repository holds only release tags', async () => {
    expectSucceeded(exported)
    expect(exported.main.log).toMatch(new RegExp(`cache: registry \\(${state}:${REGISTRY_CACHE_TAG_PREFIX}-[0-9a-f]{12}\\)`))
    const stateTags = await registryTags(state)
    expect(stateTags).toEqual(
      [expect.stringMatching(new RegExp(`^${REGISTRY_CACHE_TAG_PREFIX}-[0-9a-f]{12}$`)), ...(builderPath.driver === 'docker' ? [expect.stringMatching(/^go-build-action-staging-[0-9a-f]{12}-amd64-arm64-ppc64le-s390x$/)] : [])]
    )
    expect((await registryTags(repository)).filter(t => t.startsWith('go-build-action-'))).toEqual([])
  })

  it('rebuilds on a pruned builder with every RUN step served from the registry cache: each platform has exactly the layers of the first build', async () => {
    expectSucceeded(rebuilt)
    expect(rebuilt.main.log).toMatch(new RegExp(`importing cache manifest from ${state}:${REGISTRY_CACHE_TAG_PREFIX}-[0-9a-f]{12}`))
    const first = await layersByPlatform(repository, exported.outputs.digest ?? '')
    const again = await layersByPlatform(repository, rebuilt.outputs.digest ?? '')
    expect(Object.keys(first).sort()).toEqual([...ARCHES].sort())
    // the base image's layer and one layer per RUN step
    for (const arch of ARCHES) expect({ arch, layers: first[arch]!.length }).toEqual({ arch, layers: 3 })
    expect(again).toEqual(first)
    // and the job summary says so: no foreign platform's RUN step counted as run under QEMU
    expect(rebuilt.summary.match(/no RUN step ran under QEMU/g)?.length).toBe(ARCHES.length - 1)
  })
})
