/**
 * `cache: registry`, end to end on both runner paths: the path's own builder exports the cache to the
 * `go-build-action-cache-KEY` tag of the `state-repository` (none of the action's tags lands in the image
 * repository); a docker-container builder this test creates, its local cache pruned, then rebuilds with every RUN
 * step served from that registry cache (BuildKit's output says CACHED). Only the test's own builder is ever
 * pruned, never the shared engine's cache.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import type { ActionRun } from '../../scripts/run-action.mjs'
import { REGISTRY_CACHE_TAG_PREFIX } from '../../src/build/cache.js'
import { BASE_IMAGE, expectSucceeded, freshRepository, goBuildStyleContext, registryTags, requireEnvironment } from './support/environment.js'
import { describeEachPath, HOSTED_PATH, runOnPath } from './support/paths.js'

const MINUTES = 60_000
const execFileAsync = promisify(execFile)
const ARCHES = ['amd64', 'arm64', 'ppc64le', 's390x']

beforeAll(requireEnvironment, MINUTES)

/** The ids of the steps BuildKit's plain progress output reports CACHED, with each step's title. */
function cachedSteps(log: string): string[] {
  const titles = new Map<string, string>()
  for (const m of log.matchAll(/^#(\d+) (\[.*)$/gm)) if (!titles.has(m[1]!)) titles.set(m[1]!, m[2]!)
  return [...log.matchAll(/^#(\d+) CACHED$/gm)].map(m => titles.get(m[1]!) ?? `#${m[1]}`)
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
    context = await goBuildStyleContext(`cache-${builderPath.name}`)
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

  it('rebuilds on a pruned builder with every RUN step served from the registry cache', () => {
    expectSucceeded(rebuilt)
    expect(rebuilt.main.log).toMatch(new RegExp(`importing cache manifest from ${state}:${REGISTRY_CACHE_TAG_PREFIX}-[0-9a-f]{12}`))
    const cached = cachedSteps(rebuilt.main.log)
    for (const arch of ARCHES) {
      for (const step of ['RUN mkdir -p /etc/go-build', 'RUN uname -m']) {
        expect({ arch, step, cached: cached.some(title => title.includes(`linux/${arch}`) && title.includes(step)) }).toEqual({ arch, step, cached: true })
      }
    }
  })
})
