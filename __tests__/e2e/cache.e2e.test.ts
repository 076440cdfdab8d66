/**
 * `cache: registry`, end to end on both runner paths: the path's own builder exports the cache to the first
 * repository's `buildcache` tag; a docker-container builder this test creates, its local cache pruned, then
 * rebuilds with every RUN step served from that registry cache (BuildKit's output says CACHED). Only the test's
 * own builder is ever pruned, never the shared engine's cache.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import type { ActionRun } from '../../scripts/run-action.mjs'
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
  const builder = `go-build-action-e2e-cache-${builderPath.name}-${Date.now().toString(36)}`
  let env: Record<string, string>
  let context: string
  let exported: ActionRun
  let rebuilt: ActionRun
  const buildx = (args: string[]) => execFileAsync('docker', ['buildx', ...args], { env: { ...process.env, ...env } })

  beforeAll(async () => {
    env = await builderPath.env()
    context = await goBuildStyleContext(`cache-${builderPath.name}`)
    const inputs = { images: repository, 'build-args': `BASE_IMAGE=${BASE_IMAGE}`, cache: 'registry' }
    exported = await runOnPath(builderPath, { cwd: context, env, inputs })
    // a builder of this test's own, its local cache pruned: whatever it finds cached comes from the registry
    const image = HOSTED_PATH.inputs['buildkit-image'] ?? ''
    await buildx(['create', '--name', builder, '--driver', 'docker-container', '--driver-opt', `image=${image}`, '--driver-opt', 'network=host', '--bootstrap'])
    await buildx(['prune', '--builder', builder, '--all', '--force'])
    rebuilt = await runOnPath(builderPath, { cwd: context, env, inputs: { ...inputs, builder, force: 'true' } })
  }, 15 * MINUTES)

  afterAll(async () => {
    await buildx(['rm', builder]).catch(() => undefined)
  }, MINUTES)

  it('exports the cache to the buildcache tag of the first repository', async () => {
    expectSucceeded(exported)
    expect(exported.main.log).toContain(`cache: registry (${repository}:buildcache)`)
    expect(await registryTags(repository)).toContain('buildcache')
  })

  it('rebuilds on a pruned builder with every RUN step served from the registry cache', () => {
    expectSucceeded(rebuilt)
    expect(rebuilt.main.log).toContain(`importing cache manifest from ${repository}:buildcache`)
    const cached = cachedSteps(rebuilt.main.log)
    for (const arch of ARCHES) {
      for (const step of ['RUN mkdir -p /etc/go-build', 'RUN uname -m']) {
        expect({ arch, step, cached: cached.some(title => title.includes(`linux/${arch}`) && title.includes(step)) }).toEqual({ arch, step, cached: true })
      }
    }
  })
})
