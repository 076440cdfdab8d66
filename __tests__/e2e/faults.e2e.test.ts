/**
 * Registry faults, for real: the action publishes through a fault-injecting proxy in front of the local
 * registry. Transient faults are retried and the run publishes the very index a clean run does; a persistent
 * fault fails the run and leaves every tag as it was.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { FaultProxy, manifestUnknownOnceAfterPush } from './support/fault-proxy.js'
import { copyOnlyContext, expectSucceeded, MINUTES, registryManifest, requireEnvironment } from './support/environment.js'
import { describeEachPath, runOnPath } from './support/paths.js'

const TAG = 'faults'

beforeAll(requireEnvironment, MINUTES)

describeEachPath('registry faults', builderPath => {
  describe('registry faults', () => {
    const proxy = new FaultProxy(5000)
    const name = `e2e/faults-${builderPath.name}-${Date.now().toString(36)}`

    let context: string

    /**
     * Reproducible builds (fixed SOURCE_DATE_EPOCH, no provenance) of a context with nothing to compile or emulate
     * (the faults are in the registry): the same inputs give the same index.
     */
    const publish = (repository: string, epoch = '0') =>
      runOnPath(builderPath, {
        cwd: context,
        inputs: {
          images: repository,
          'tag-template': TAG,
          'if-tag-exists': 'overwrite',
          'build-args': `SOURCE_DATE_EPOCH=${epoch}`,
          provenance: 'false',
          'retry-attempts': '4',
          'retry-delay': '0.2'
        }
      })

    let clean: { digest: string; platforms: Record<string, string> }

    beforeAll(async () => {
      await proxy.start()
      context = await copyOnlyContext()
      const run = await publish(`${proxy.host}/${name}-clean`)
      expectSucceeded(run)
      clean = { digest: run.outputs.digest!, platforms: JSON.parse(run.outputs['platform-digests']!) }
    }, 10 * MINUTES)

    afterAll(() => proxy.stop())

    it('retries HTTP 500, 429 and dropped connections and publishes the same index as a clean run', async () => {
      const repository = `${proxy.host}/${name}-transient`
      const manifestPut = { method: 'PUT', path: /\/manifests\//, times: 2, fault: { status: 500 } }
      const uploadReset = { method: 'POST', path: /\/blobs\/uploads\/$/, times: 1, fault: 'reset' as const }
      const inspect429 = { method: 'GET', path: /\/manifests\/sha256:/, times: 1, fault: { status: 429, retryAfter: 1 } }
      const run = await proxy.during([manifestPut, uploadReset, inspect429], () => publish(repository))

      expectSucceeded(run)
      expect(run.outputs.digest).toBe(clean.digest)
      expect(JSON.parse(run.outputs['platform-digests']!)).toEqual(clean.platforms)
      expect(proxy.failed(manifestPut)).toBe(2)
      expect(proxy.failed(uploadReset)).toBe(1)
      expect(proxy.failed(inspect429)).toBe(1)
      // The build pushes on both paths (by digest, or the engine under the staging tag: no verify-command here).
      // BuildKit retries 5xx on its own ("retrying in 1s"); where it gives up first, our retry of the build says so.
      expect(run.main.log).toMatch(/#\d+ [0-9.]+ retrying in \d+s|::warning::docker buildx build: HTTP 500 \(attempt \d of 4\); retrying/)
      // The 429 is served to whichever client asks first (buildx's resolver retries 429s itself); either way the
      // run goes through. Our own handling of 429 and Retry-After is unit-tested in retry.test.ts.
      expect((await registryManifest(`localhost:5000/${name}-transient:${TAG}`)).digest).toBe(clean.digest)
    }, 10 * MINUTES)

    it('a registry that answers MANIFEST_UNKNOWN for a manifest just pushed: read again, and the run publishes', async () => {
      const repository = `${proxy.host}/${name}-consistency`
      const rule = manifestUnknownOnceAfterPush(proxy)
      const run = await proxy.during([rule], () => publish(repository))
      expectSucceeded(run)
      expect(proxy.failed(rule)).toBe(1)
      expect(proxy.log.find(l => l.status === 404 && l.path.includes(`${name}-consistency/manifests/`))).toBeDefined()
      expect(run.outputs.digest).toBe(clean.digest)
      expect((await registryManifest(`localhost:5000/${name}-consistency:${TAG}`)).digest).toBe(clean.digest)
    }, 10 * MINUTES)

    it('fails on a persistent fault and leaves every tag as it was', async () => {
      const repository = `${proxy.host}/${name}-clean`
      const tags = [TAG, ...['amd64', 'arm64', 'ppc64le', 's390x'].map(arch => `${TAG}-${arch}`)]
      const before = await Promise.all(tags.map(async tag => (await registryManifest(`localhost:5000/${name}-clean:${tag}`)).digest))
      // Other content (another SOURCE_DATE_EPOCH), so moving the tags would change them.
      const run = await proxy.during([{ method: 'PUT', path: /\/manifests\//, times: Infinity, fault: { status: 503 } }], () => publish(repository, '1'))

      expect(run.main.exitCode).toBe(1)
      expect(run.main.log).toMatch(
        new RegExp(`::error::${proxy.host.replace('.', '\\.')} did not accept ${repository}.* after 4 attempt\\(s\\) \\(HTTP 503.*raise "retry-attempts"`)
      )
      expect(run.post?.exitCode).toBe(0)
      const after = await Promise.all(tags.map(async tag => (await registryManifest(`localhost:5000/${name}-clean:${tag}`)).digest))
      expect(after).toEqual(before)
      // TAG and every TAG-ARCH still hold the clean run's index and its platform manifests
      expect(before).toEqual([clean.digest, ...['amd64', 'arm64', 'ppc64le', 's390x'].map(arch => clean.platforms[`linux/${arch}`])])
    }, 10 * MINUTES)
  })
})
