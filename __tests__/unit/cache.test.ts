import { describe, expect, it } from '@jest/globals'
import { FakeDocker } from '../../__fixtures__/fake-docker.js'
import {
  cacheExportFailure,
  ghaScope,
  ignoringErrors,
  planCache,
  readCacheSettings,
  resolveCache,
  runnerHasCacheService,
  type CacheContext,
  type CacheSettings
} from '../../src/build/cache.js'
import { cacheKeyOf } from '../../src/tags/configuration.js'
import { parsePlatform } from '../../src/core/platform.js'

const REPO = 'localhost:5000/go-build'
const KEY = '0123456789ab'
const CACHE_TAG = `go-build-action-cache-${KEY}`
const FOUR = ['linux/amd64', 'linux/arm64', 'linux/ppc64le', 'linux/s390x'].map(p => parsePlatform(p))
const RUNNER_CACHE = { ACTIONS_RUNTIME_TOKEN: 't', ACTIONS_RESULTS_URL: 'https://results.example/' }

const settings = (over: Partial<CacheSettings> = {}): CacheSettings => ({ mode: 'auto', ref: '', from: [], to: [], ...over })
const context = (over: Partial<CacheContext> = {}): CacheContext => ({
  driver: 'docker-container',
  containerdStore: true,
  bookkeepingRepository: REPO,
  cacheKey: KEY,
  platforms: FOUR,
  noCache: false,
  env: {},
  ...over
})

describe('readCacheSettings', () => {
  const reader = (values: Record<string, string>) => (name: string) => values[name] ?? ''

  it('defaults to auto', () => {
    expect(readCacheSettings(reader({}), [], [])).toEqual({ mode: 'auto', ref: '', from: [], to: [] })
  })

  it('names the input and the choices for a bad mode', () => {
    expect(() => readCacheSettings(reader({ cache: 'local' }), [], [])).toThrow('input "cache": "local" is not valid: write one of auto, gha, registry, inline, none')
  })

  it('takes cache-ref only with cache: registry', () => {
    expect(readCacheSettings(reader({ cache: 'registry', 'cache-ref': 'ghcr.io/o/c:x' }), [], []).ref).toBe('ghcr.io/o/c:x')
    expect(() => readCacheSettings(reader({ cache: 'gha', 'cache-ref': 'ghcr.io/o/c:x' }), [], [])).toThrow(/input "cache-ref": only applies to "cache: registry"/)
  })
})

describe('runnerHasCacheService', () => {
  it.each([
    [{}, false],
    [{ ACTIONS_RUNTIME_TOKEN: 't' }, false],
    [{ ACTIONS_CACHE_URL: 'https://cache.example/' }, false],
    [{ ACTIONS_RUNTIME_TOKEN: 't', ACTIONS_CACHE_URL: 'https://cache.example/' }, true],
    [RUNNER_CACHE, true]
  ])('%j → %s', (env, expected) => expect(runnerHasCacheService(env)).toBe(expected))
})

describe('planCache', () => {
  it('auto: gha, scoped by the platforms, where the runner provides its cache service', () => {
    const plan = planCache(settings(), context({ env: RUNNER_CACHE }))
    const scope = `go-build-action-${KEY}-amd64-arm64-ppc64le-s390x`
    expect(plan).toEqual({
      from: [`type=gha,scope=${scope}`],
      to: [`type=gha,scope=${scope},mode=max,ignore-error=true`],
      env: RUNNER_CACHE,
      note: `cache: auto → gha (the runner provides its cache service) (scope ${scope})`
    })
  })

  it('auto: nothing elsewhere', () => {
    expect(planCache(settings(), context())).toEqual({ from: [], to: [], env: {}, note: 'cache: auto → none (no cache service on this runner)' })
  })

  it("gives the build the runner's cache variables only when it uses a gha cache, and only those", () => {
    const runner = { ...RUNNER_CACHE, ACTIONS_CACHE_SERVICE_V2: 'True', ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'oidc', ACTIONS_RUNTIME_URL: 'https://runtime.example/', GITHUB_ENV: '/env' }
    expect(planCache(settings({ mode: 'gha' }), context({ env: runner })).env).toEqual({ ...RUNNER_CACHE, ACTIONS_CACHE_SERVICE_V2: 'True' })
    expect(planCache(settings({ mode: 'registry' }), context({ env: runner })).env).toEqual({})
    expect(planCache(settings({ mode: 'none' }), context({ env: runner })).env).toEqual({})
    // a gha cache named in cache-from or cache-to, in any place of its options
    expect(planCache(settings({ mode: 'none', from: ['scope=x,type=gha'] }), context({ env: runner })).env).toEqual({ ...RUNNER_CACHE, ACTIONS_CACHE_SERVICE_V2: 'True' })
    expect(planCache(settings({ mode: 'registry', to: ['type=gha,scope=x'] }), context({ env: runner })).env).toMatchObject(RUNNER_CACHE)
    // no-cache: the export alone still needs them
    expect(planCache(settings({ mode: 'gha' }), context({ env: runner, noCache: true })).env).toMatchObject(RUNNER_CACHE)
  })

  it('gives each image and build definition, and each set of platforms (each leg), a scope of its own', () => {
    expect(ghaScope(KEY, [parsePlatform('linux/arm/v7')])).toBe(`go-build-action-${KEY}-arm-v7`)
    expect(ghaScope(KEY, FOUR.slice(0, 1))).not.toBe(ghaScope(KEY, FOUR.slice(1, 2)))
    const first = cacheKeyOf({ images: [REPO], context: 'images/a', file: 'images/a/Dockerfile', target: '' })
    const second = cacheKeyOf({ images: [`${REPO}-second`], context: 'images/a', file: 'images/a/Dockerfile', target: '' })
    const otherFile = cacheKeyOf({ images: [REPO], context: 'images/a', file: 'images/a/Dockerfile.debug', target: '' })
    expect(new Set([first, second, otherFile]).size).toBe(3)
    expect(ghaScope(first, FOUR)).not.toBe(ghaScope(second, FOUR))
    expect(cacheKeyOf({ images: [REPO], context: 'images/a/', file: './images/a/Dockerfile', target: '' })).toBe(first)
  })

  it('registry: the cache tag of the image and build definition in the bookkeeping repository, or the ref given', () => {
    expect(planCache(settings({ mode: 'registry' }), context())).toMatchObject({
      from: [`type=registry,ref=${REPO}:${CACHE_TAG}`],
      to: [`type=registry,ref=${REPO}:${CACHE_TAG},mode=max,oci-mediatypes=true,image-manifest=true,ignore-error=true`]
    })
    expect(planCache(settings({ mode: 'registry', ref: 'ghcr.io/o/c:x' }), context()).from).toEqual(['type=registry,ref=ghcr.io/o/c:x'])
    expect(planCache(settings({ mode: 'registry' }), context({ bookkeepingRepository: 'localhost:5000/state' })).from).toEqual([
      `type=registry,ref=localhost:5000/state:${CACHE_TAG}`
    ])
  })

  it("registry, a build split over nodes: each builder's part its own cache tag (the part's platforms after it), so no part's export replaces another's", () => {
    expect(planCache(settings({ mode: 'registry' }), context({ part: 'arm64-s390x' }))).toMatchObject({
      from: [`type=registry,ref=${REPO}:${CACHE_TAG}-arm64-s390x`],
      to: [`type=registry,ref=${REPO}:${CACHE_TAG}-arm64-s390x,mode=max,oci-mediatypes=true,image-manifest=true,ignore-error=true`]
    })
    expect(planCache(settings({ mode: 'registry', ref: 'localhost:5000/o/c:x' }), context({ part: 'amd64' })).from).toEqual(['type=registry,ref=localhost:5000/o/c:x-amd64'])
    expect(planCache(settings({ mode: 'registry', ref: 'localhost:5000/o/c' }), context({ part: 'amd64' })).from).toEqual(['type=registry,ref=localhost:5000/o/c:amd64'])
  })

  it('inline: exported in the image, read from the newest published tag', () => {
    expect(planCache(settings({ mode: 'inline' }), context({ previousReference: `${REPO}:v1` }))).toMatchObject({
      from: [`type=registry,ref=${REPO}:v1`],
      to: ['type=inline,ignore-error=true']
    })
    expect(planCache(settings({ mode: 'inline' }), context()).from).toEqual([])
  })

  it('none: nothing, even with the runner cache service', () => {
    expect(planCache(settings({ mode: 'none' }), context({ env: RUNNER_CACHE }))).toMatchObject({ from: [], to: [] })
  })

  it('explicit cache-from / cache-to win, each for its direction; their exports get ignore-error=true', () => {
    const plan = planCache(settings({ mode: 'registry', to: ['type=local,dest=/tmp/c', 'type=inline,ignore-error=false'] }), context())
    expect(plan.from).toEqual([`type=registry,ref=${REPO}:${CACHE_TAG}`])
    expect(plan.to).toEqual(['type=local,dest=/tmp/c,ignore-error=true', 'type=inline,ignore-error=false'])
  })

  it('no-cache: nothing is read, the export refreshes the cache', () => {
    expect(planCache(settings({ mode: 'registry' }), context({ noCache: true }))).toMatchObject({ from: [], to: [expect.stringContaining('type=registry')] })
  })

  it('the docker driver without the containerd store: the export is left out with a warning, the import stays', () => {
    const plan = planCache(settings({ mode: 'registry' }), context({ driver: 'docker', containerdStore: false }))
    expect(plan.from).toHaveLength(1)
    expect(plan.to).toEqual([])
    expect(plan.warning).toMatch(/containerd image store.*"driver: docker-container"/)
  })

  it('ignoringErrors leaves an explicit ignore-error alone', () => {
    expect(ignoringErrors('type=gha,ignore-error=false')).toBe('type=gha,ignore-error=false')
  })
})

describe('resolveCache', () => {
  const info = (store: boolean): FakeDocker =>
    new FakeDocker().on(['info'], { stdout: store ? '[["driver-type","io.containerd.snapshotter.v1"]]\n' : '[["Backing Filesystem","extfs"]]\n' })

  it('asks the engine about its image store only for a docker-driver export', async () => {
    const docker = info(false)
    expect((await resolveCache(docker, settings({ mode: 'registry' }), { ...context(), driver: 'docker' })).to).toEqual([])
    expect((await resolveCache(info(true), settings({ mode: 'registry' }), { ...context(), driver: 'docker' })).to).toHaveLength(1)
    const untouched = info(true)
    await resolveCache(untouched, settings({ mode: 'registry' }), context())
    await resolveCache(untouched, settings({ mode: 'none' }), { ...context(), driver: 'docker' })
    expect(untouched.calls).toEqual([])
  })
})

describe('cacheExportFailure', () => {
  it('finds the error of the cache export step, not of other steps', () => {
    const output = [
      '#6 [linux/amd64 2/2] RUN echo hi > /x',
      '#6 ERROR: a retried step',
      '#7 exporting cache to registry',
      '#7 preparing build cache for export done',
      '#7 ERROR: error writing layer blob: failed to do request: dial tcp 127.0.0.1:5999: connect: connection refused',
      '------'
    ].join('\n')
    expect(cacheExportFailure(output)).toBe('error writing layer blob: failed to do request: dial tcp 127.0.0.1:5999: connect: connection refused')
    expect(cacheExportFailure('#7 exporting cache to registry\n#7 DONE 0.2s\n')).toBeUndefined()
  })
})
