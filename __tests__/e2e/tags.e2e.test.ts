/**
 * Naming, end to end: the bundled action reads examples/go-build/versions.yaml, tags the image from the
 * versions, passes them as build args, and handles rebuilds and events against the real local registry (malformed
 * versions and templates: bad-inputs.e2e.test.ts). Everything is checked from the registry's side (and by running
 * the image).
 *
 * Per-platform tags (`TAG-amd64`, …) follow the main tag, rebuild suffix included (`TAG-1-amd64`), and each
 * points at its platform's manifest in the index. `latest` follows the newest versions, never back to an older
 * line. An image with no version (as examples/hello) and default inputs is tagged with its release; a push to a
 * work branch publishes nothing and says why.
 */
import { beforeAll, describe, expect, it } from '@jest/globals'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { repoRoot, type ActionRun } from '../../scripts/run-action.mjs'
import {
  AUTH_REGISTRY,
  BASE_IMAGE,
  copyOnlyContext,
  FOUR_PLATFORMS,
  docker,
  expectSucceeded,
  freshRepository,
  httpGet,
  MINUTES,
  registryManifest,
  requireEnvironment,
  theError
} from './support/environment.js'
import { describeEachPath, runOnPath } from './support/paths.js'

const EXAMPLE = path.join(repoRoot, 'examples', 'go-build')
const TAG = '1.25.4-llvm18.1.8-k8s1.34.1'
const VERSIONS = { go: '1.25.4', llvm: '18.1.8', k8s: '1.34.1' }
const BUILD_ARGS = `BASE_IMAGE=${BASE_IMAGE}`
const ARCHES = ['amd64', 'arm64', 'ppc64le', 's390x']

/** The `tags` output: the index tags, then one per platform. */
function published(repository: string, tag: string, ...indexTags: string[]): string {
  return [tag, ...indexTags, ...ARCHES.map(a => `${tag}-${a}`)].map(t => `${repository}:${t}`).join('\n')
}

/** Every TAG-ARCH serves the manifest its platform has in the index TAG serves. */
async function expectPlatformTags(repository: string, tag: string): Promise<void> {
  const { index } = await indexOf(`${repository}:${tag}`)
  for (const arch of ARCHES) {
    const entry = index.manifests.find(m => m.platform.os === 'linux' && m.platform.architecture === arch)
    const served = await registryManifest(`${repository}:${tag}-${arch}`)
    expect({ tag: `${tag}-${arch}`, digest: served.digest }).toEqual({ tag: `${tag}-${arch}`, digest: entry?.digest })
  }
}

beforeAll(requireEnvironment, MINUTES)

interface Index {
  manifests: Array<{ digest: string; platform: { os: string; architecture: string } }>
  annotations?: Record<string, string>
}

async function indexOf(reference: string): Promise<{ digest: string | null; index: Index }> {
  const served = await registryManifest(reference)
  expect({ reference, status: served.status }).toEqual({ reference, status: 200 })
  return { digest: served.digest, index: JSON.parse(served.body) as Index }
}

/** The image config's labels of one platform's image, read from the registry's blob store. */
async function configLabels(repository: string, manifestDigest: string): Promise<Record<string, string>> {
  const manifest = JSON.parse((await registryManifest(`${repository}@${manifestDigest}`)).body) as { config: { digest: string } }
  const [host, ...rest] = repository.split('/')
  const response = await httpGet(`http://127.0.0.1:${host!.split(':')[1]}/v2/${rest.join('/')}/blobs/${manifest.config.digest}`)
  const config = JSON.parse(response.body) as { config: { Labels?: Record<string, string> } }
  return config.config.Labels ?? {}
}


describeEachPath('tags', builderPath => {
  describe('examples/go-build: versions file → tag, then rebuilds with if-tag-exists: suffix', () => {
    const repository = freshRepository('go-build')
    const runs: ActionRun[] = []
    const digests: Array<string | null> = []

    const OLDER = '1.24.11-llvm18.1.8-k8s1.34.1'
    let older: ActionRun

    beforeAll(async () => {
      const inputs = { images: repository, 'build-args': BUILD_ARGS, 'if-tag-exists': 'suffix', latest: 'true' }
      for (let i = 0; i < 3; i++) {
        // skip-unchanged: false: the same build again is skipped as unchanged otherwise (unchanged.e2e.test.ts)
        runs.push(await runOnPath(builderPath, { cwd: EXAMPLE, inputs: { ...inputs, 'skip-unchanged': 'false' } }))
        digests.push((await registryManifest(`${repository}:${TAG}`)).digest)
      }
      // a patch release of the older go1.24 line, after go1.25 is published: latest stays on go1.25
      older = await runOnPath(builderPath, { cwd: EXAMPLE, inputs: { ...inputs, 'go-version': '1.24.11' } })
    }, 20 * MINUTES)

    it('the first run publishes TAG from versions.yaml and reports tag, tags and versions', async () => {
      expectSucceeded(runs[0]!)
      expect(runs[0]!.outputs.tag).toBe(TAG)
      expect(runs[0]!.outputs.tags).toBe(published(repository, TAG, 'latest'))
      expect(JSON.parse(runs[0]!.outputs.versions ?? '')).toEqual(VERSIONS)
      const { digest, index } = await indexOf(`${repository}:${TAG}`)
      expect(runs[0]!.outputs.digest).toBe(digest)
      expect(index.manifests.filter(m => m.platform.os !== 'unknown').map(m => `${m.platform.os}/${m.platform.architecture}`).sort()).toEqual(
        [...FOUR_PLATFORMS].sort()
      )
    })

    it('the first run publishes TAG-amd64, TAG-arm64, TAG-ppc64le and TAG-s390x at the right platform manifests', async () => {
      await expectPlatformTags(repository, TAG)
    })

    it('the rebuild publishes TAG-1-ARCH at its own platform manifests; TAG-ARCH still serve the first run', async () => {
      await expectPlatformTags(repository, `${TAG}-1`)
      await expectPlatformTags(repository, TAG)
    })

    it('the first run names the source of each version in the log', () => {
      expect(runs[0]!.main.log).toContain('go 1.25.4 (from versions.yaml:5 (golang.version))')
      expect(runs[0]!.main.log).toContain('k8s 1.34.1 (from versions.yaml:15 (kubernetes.version))')
    })

    it('annotates the index and labels every image with the tag, the source, the revision and the versions', async () => {
      const { index } = await indexOf(`${repository}:${TAG}`)
      const expected = {
        'org.opencontainers.image.version': TAG,
        'org.opencontainers.image.revision': '0000000000000000000000000000000000000000',
        'org.opencontainers.image.source': 'https://github.com/example/go-build-action-e2e',
        'io.go-build.golang.version': '1.25.4',
        'io.go-build.llvm.version': '18.1.8',
        'io.go-build.kubernetes.version': '1.34.1'
      }
      expect(index.annotations).toMatchObject(expected)
      expect(Date.parse(index.annotations?.['org.opencontainers.image.created'] ?? '')).not.toBeNaN()
      for (const entry of index.manifests.filter(m => m.platform.os !== 'unknown')) {
        expect(await configLabels(repository, entry.digest)).toMatchObject(expected)
      }
    })

    it.each(['linux/amd64', 'linux/s390x'])('builds with the versions as build args (image on %s records them)', async platform => {
      const { stdout } = await docker(['run', '--rm', '--pull', 'always', '--platform', platform, `${repository}:${TAG}`])
      expect(stdout).toBe(`go=1.25.4\nllvm=18.1.8\nk8s=1.34.1\nplatform=${platform}\n`)
    }, 5 * MINUTES)

    it('the second run publishes TAG-1 and leaves TAG untouched', async () => {
      expectSucceeded(runs[1]!)
      expect(runs[1]!.outputs.tag).toBe(`${TAG}-1`)
      expect(runs[1]!.outputs.tags).toBe(published(repository, `${TAG}-1`, 'latest'))
      expect(runs[1]!.main.log).toContain(`${repository}:${TAG} exists; this rebuild publishes ${TAG}-1`)
      const rebuilt = await indexOf(`${repository}:${TAG}-1`)
      expect(runs[1]!.outputs.digest).toBe(rebuilt.digest)
      expect(rebuilt.index.annotations?.['org.opencontainers.image.version']).toBe(`${TAG}-1`)
      expect(digests[0]).toMatch(/^sha256:/)
      expect(digests[1]).toBe(digests[0])
    })

    it('the third run publishes TAG-2; TAG and TAG-1 still serve what they served', async () => {
      expectSucceeded(runs[2]!)
      expect(runs[2]!.outputs.tag).toBe(`${TAG}-2`)
      expect((await indexOf(`${repository}:${TAG}-2`)).digest).toBe(runs[2]!.outputs.digest)
      expect(digests[2]).toBe(digests[0])
      expect((await indexOf(`${repository}:${TAG}-1`)).digest).toBe(runs[1]!.outputs.digest)
    })

    it('latest follows rebuilds of the same versions, and never moves back to an older line\'s patch release', async () => {
      expectSucceeded(older)
      expect(older.outputs.tag).toBe(OLDER)
      expect(older.outputs.tags).toBe(published(repository, OLDER))
      expect(older.main.log).toContain(
        `::notice::latest: true asked for, but latest does not move: ${repository}:latest holds go 1.25.4, newer than this build's 1.24.11: latest never moves backwards`
      )
      expect((await indexOf(`${repository}:${OLDER}`)).digest).toBe(older.outputs.digest)
      expect((await indexOf(`${repository}:latest`)).digest).toBe(runs[2]!.outputs.digest)
    })
  })

  describe('events', () => {
    async function eventFile(payload: unknown): Promise<string> {
      const file = path.join(await mkdtemp(path.join(tmpdir(), 'go-build-action-event-')), 'event.json')
      await writeFile(file, JSON.stringify(payload))
      return file
    }
    const release = async (tag: string): Promise<Record<string, string>> => ({
      GITHUB_EVENT_NAME: 'release',
      GITHUB_REF: `refs/tags/${tag}`,
      GITHUB_EVENT_PATH: await eventFile({ action: 'published', release: { tag_name: tag, prerelease: false }, repository: { default_branch: 'main' } })
    })

    it('an image with no version, default inputs: a release publishes its tag (owner in capitals lowercased), latest stays on the newer release', async () => {
      const repository = freshRepository('hello-release')
      // as `ghcr.io/${{ github.repository_owner }}/hello` gives it for an owner MyOrg
      const written = repository.replace('/e2e/', '/E2E/')
      expect(written).not.toBe(repository)
      // no version ARG, no versions file, as examples/hello (whose compile would add minutes on the hosted path)
      const first = await runOnPath(builderPath, {
        cwd: await copyOnlyContext(),
        inputs: { images: written, latest: 'true' },
        env: await release('v1.3.0')
      })
      expectSucceeded(first)
      expect(first.main.log).toContain(`::notice::images: "${written}" is published as "${repository}"`)
      expect(first.main.log).toMatch(/::notice::the image carries no \{go\}, \{llvm\}, \{k8s\} version, .*: the main tag is the release tag v1\.3\.0/)
      expect(first.outputs.tag).toBe('v1.3.0')
      expect(first.outputs.tags).toBe(published(repository, 'v1.3.0', 'latest'))
      expect((await indexOf(`${repository}:v1.3.0`)).digest).toBe(first.outputs.digest)
      expect((await indexOf(`${repository}:latest`)).digest).toBe(first.outputs.digest)
      await expectPlatformTags(repository, 'v1.3.0')

      // a patch release of the older 1.2 line: published under its tag, latest stays on v1.3.0 (what latest holds
      // decides, not what is built: a context without a compile keeps this run short)
      const patch = await runOnPath(builderPath, {
        cwd: await copyOnlyContext(),
        inputs: { images: written, latest: 'true', platforms: 'linux/amd64,linux/arm64' },
        env: await release('v1.2.9')
      })
      expectSucceeded(patch)
      expect(patch.outputs.tag).toBe('v1.2.9')
      expect(patch.main.log).toContain(`latest does not move: ${repository}:latest holds v1.3.0, newer than this build's v1.2.9`)
      expect((await indexOf(`${repository}:v1.2.9`)).digest).toBe(patch.outputs.digest)
      expect((await indexOf(`${repository}:latest`)).digest).toBe(first.outputs.digest)
    }, 15 * MINUTES)

    it('a push to a work branch builds every platform, publishes nothing and says why', async () => {
      const repository = freshRepository('work-branch')
      const run = await runOnPath(builderPath, {
        cwd: EXAMPLE,
        inputs: { images: repository, 'build-args': BUILD_ARGS },
        env: {
          GITHUB_EVENT_NAME: 'push',
          GITHUB_REF: 'refs/heads/bump-go',
          GITHUB_SHA: 'c0ffee0123456789abcdef0123456789abcdef01',
          GITHUB_EVENT_PATH: await eventFile({ ref: 'refs/heads/bump-go', repository: { default_branch: 'main' } })
        }
      })
      expectSucceeded(run)
      expect(run.outputs.tag).toBe(TAG)
      expect(run.main.log).toContain('a push to branch "bump-go", not the default branch "main", is work not yet reviewed')
      for (const platform of FOUR_PLATFORMS) expect(run.main.log).toContain(platform)
      const tags = await httpGet(`http://127.0.0.1:5000/v2/${repository.replace(/^[^/]+\//, '')}/tags/list`)
      expect(tags.status).toBe(404)
    }, 10 * MINUTES)

    it('a published release v1.2.3 also tags v1.2.3, pointing at the same index', async () => {
      const repository = freshRepository('go-build-release')
      const dir = await mkdtemp(path.join(tmpdir(), 'go-build-action-event-'))
      const event = path.join(dir, 'event.json')
      await writeFile(event, JSON.stringify({ action: 'published', release: { tag_name: 'v1.2.3' }, repository: { default_branch: 'main' } }))
      const run = await runOnPath(builderPath, {
        cwd: EXAMPLE,
        inputs: { images: repository, 'build-args': BUILD_ARGS },
        env: { GITHUB_EVENT_NAME: 'release', GITHUB_REF: 'refs/tags/v1.2.3', GITHUB_EVENT_PATH: event }
      })
      expectSucceeded(run)
      expect(run.outputs.tags).toBe(published(repository, TAG, 'v1.2.3'))
      const main = await indexOf(`${repository}:${TAG}`)
      expect((await indexOf(`${repository}:v1.2.3`)).digest).toBe(main.digest)
    }, 10 * MINUTES)

    it('a pull request builds every platform and pushes nothing (push: auto)', async () => {
      const repository = freshRepository('go-build-pr')
      const run = await runOnPath(builderPath, {
        cwd: EXAMPLE,
        inputs: { images: repository, 'build-args': BUILD_ARGS },
        env: { GITHUB_EVENT_NAME: 'pull_request', GITHUB_REF: 'refs/pull/7/merge' }
      })
      expectSucceeded(run)
      expect(run.outputs.tag).toBe(TAG)
      expect(run.main.log).toContain('not pushing (push: auto, event pull_request)')
      for (const platform of FOUR_PLATFORMS) expect(run.main.log).toContain(platform)
      expect((await registryManifest(`${repository}:${TAG}`)).status).toBe(404)
    }, 10 * MINUTES)
  })

  describe('a run that must push nothing', () => {
    it('a registry that refuses the rebuild check (no login on the htpasswd registry) is an error, not a free tag', async () => {
      const repository = freshRepository('go-build-unauthorized', AUTH_REGISTRY)
      // an empty docker config: no credentials, whatever other runs on this machine logged in to
      const dockerConfig = await mkdtemp(path.join(tmpdir(), 'go-build-action-no-login-'))
      const run = await runOnPath(builderPath, {
        cwd: EXAMPLE,
        inputs: { images: repository, 'build-args': BUILD_ARGS },
        env: { DOCKER_CONFIG: dockerConfig }
      })
      expect(theError(run)).toMatch(
        new RegExp(`^::error::cannot tell whether ${repository}:${TAG} exists \\(.*(authorization|Unauthorized).*\\): log in to the registry`)
      )
      expect(run.main.log).not.toMatch(/\[internal\] load build definition/)
    }, 5 * MINUTES)
  })
})
