/**
 * The bundled action, run as the runner runs it, publishing examples/hello for four platforms to the real local
 * registry, on both runner paths (support/paths.ts); everything is checked from the registry's side. Nothing about
 * docker is mocked.
 */
import { beforeAll, describe, expect, it } from '@jest/globals'
import { existsSync } from 'node:fs'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import type { ActionRun } from '../../scripts/run-action.mjs'
import {
  BASE_IMAGE,
  errorLines,
  expectSucceeded,
  FOUR_PLATFORMS,
  GO_IMAGE,
  HELLO_CONTEXT,
  docker,
  freshRepository,
  MINUTES,
  registryManifest,
  requireEnvironment
} from './support/environment.js'
import { builderLeftovers, builderUsed, describeEachPath, runOnPath } from './support/paths.js'

beforeAll(requireEnvironment, MINUTES)

describeEachPath('publishing', builderPath => {
  describe('publishing examples/hello for four platforms', () => {
    const repository = freshRepository('hello')
    const reference = `${repository}:skeleton`
    let run: ActionRun
    const inputs = {
      images: repository,
      'tag-template': 'skeleton',
      'build-args': `GO_IMAGE=${GO_IMAGE}\nBASE_IMAGE=${BASE_IMAGE}`,
      'verify-command': '/usr/local/bin/hello'
    }

    beforeAll(async () => {
      run = await runOnPath(builderPath, { cwd: HELLO_CONTEXT, inputs })
    }, 15 * MINUTES)

    it('succeeds in the main and the post step', () => {
      expectSucceeded(run)
      expect(errorLines(run.main)).toEqual([])
    })

    it('removes every local image it made or pulled (the build, tags, platform manifests, the verify pull) in the main step', async () => {
      expect(run.main.log.match(/hello from linux\//g)?.length).toBeGreaterThanOrEqual(4)
      expect(JSON.parse(run.state.localImages || '[]')).toEqual([])
      expect(run.post?.log).not.toContain('removed the local image name')
      const { stdout } = await docker(['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}', '--filter', `reference=${repository}*`])
      expect(stdout.trim()).toBe('')
    })

    it('reports the digest the registry serves for the tag, and the index byte for byte', async () => {
      const served = await registryManifest(reference)
      expect(served.status).toBe(200)
      expect(run.outputs.digest).toMatch(/^sha256:[0-9a-f]{64}$/)
      expect(run.outputs.digest).toBe(served.digest)
      expect(run.outputs.manifest).toBe(served.body)
      expect(run.outputs.tags?.split('\n')).toEqual([reference, ...['amd64', 'arm64', 'ppc64le', 's390x'].map(a => `${reference}-${a}`)])
    })

    it('says what it did in outputs a workflow can branch on: result, pushed, platforms, images, references, json', () => {
      expect(run.outputs).toMatchObject({
        result: 'published',
        pushed: 'true',
        platforms: JSON.stringify(FOUR_PLATFORMS),
        images: repository,
        references: `${repository}@${run.outputs.digest}`
      })
      expect(run.outputs.builder).toMatch(/^go-build-action-/)
      const json = JSON.parse(run.outputs.json ?? '{}') as {
        result: string
        digest: string
        tags: { index: string[]; platforms: Record<string, string[]> }
        platforms: Array<{ platform: string; arch: string; digest: string; tags: string[] }>
        rebuild: { tag: string; reason: string }
      }
      expect(json.result).toBe('published')
      expect(json.digest).toBe(run.outputs.digest)
      expect(json.tags.index).toEqual([reference])
      expect(json.platforms.map(p => p.platform)).toEqual(FOUR_PLATFORMS)
      for (const p of json.platforms) {
        expect(p.tags).toEqual([`${reference}-${p.arch}`])
        expect(p.digest).toBe(JSON.parse(run.outputs['platform-digests'] ?? '{}')[p.platform])
      }
      expect(json.rebuild).toEqual({ tag: 'skeleton', reason: 'skeleton was free in every repository' })
    })

    it('reports unchanged on a rerun (pushed false, the published digest) and built without push (no digest), with every output name set', async () => {
      // the runner's event here is workflow_dispatch, which always builds with skip-unchanged: auto
      const rerun = await runOnPath(builderPath, { cwd: HELLO_CONTEXT, inputs: { ...inputs, 'skip-unchanged': 'true' } })
      const built = await runOnPath(builderPath, { cwd: HELLO_CONTEXT, inputs: { ...inputs, push: 'false', platforms: 'linux/amd64' } })
      for (const r of [rerun, built]) expectSucceeded(r)
      expect(rerun.outputs).toMatchObject({ result: 'unchanged', pushed: 'false', digest: run.outputs.digest, builder: '', metadata: '', 'qemu-platforms': '' })
      expect(built.outputs).toMatchObject({ result: 'built', pushed: 'false', digest: '', references: '', tags: '', platforms: '["linux/amd64"]' })
      expect(JSON.parse(built.outputs.json ?? '{}')).toMatchObject({ result: 'built', pushed: false, digest: '' })
      for (const name of ['result', 'pushed', 'platforms', 'json', 'digest', 'tag', 'tags', 'images', 'references', 'versions', 'platform-digests', 'manifest', 'metadata', 'attestations', 'moves', 'qemu-platforms', 'builder', 'builder-platforms']) {
        expect({ name, set: name in rerun.outputs && name in built.outputs }).toEqual({ name, set: true })
      }
    }, 10 * MINUTES)

    it('publishes an index that lists exactly the four platforms, as platform-digests says', async () => {
      const index = JSON.parse((await registryManifest(reference)).body) as {
        manifests: Array<{ digest: string; platform: { os: string; architecture: string } }>
      }
      const images = index.manifests.filter(m => m.platform.os !== 'unknown')
      const platforms = images.map(m => `${m.platform.os}/${m.platform.architecture}`)
      expect([...platforms].sort()).toEqual([...FOUR_PLATFORMS].sort())
      expect(JSON.parse(run.outputs['platform-digests'] ?? '{}')).toEqual(
        Object.fromEntries(images.map(m => [`${m.platform.os}/${m.platform.architecture}`, m.digest]))
      )
    })

    it.each(FOUR_PLATFORMS)('runs on %s (foreign platforms through QEMU) and prints that platform', async platform => {
      const { stdout } = await docker(['run', '--rm', '--pull', 'always', '--platform', platform, reference])
      expect(stdout).toContain(`hello from ${platform} `)
    }, 5 * MINUTES)

    it('writes a job summary naming the index and every platform', () => {
      expect(run.summary).toContain(run.outputs.digest)
      for (const platform of FOUR_PLATFORMS) expect(run.summary).toContain(platform)
    })

    it(`builds with the path's driver and buildx`, () => {
      expect(builderUsed(run)).toEqual({ driver: builderPath.driver, buildx: builderPath.name === 'hosted' ? '0.30.1' : '0.13.1+ds1' })
    })

    it('leaves no work directory, builder container, volume or docker context behind after the post step', async () => {
      expect(run.state.workDir).toBeTruthy()
      expect(existsSync(run.state.workDir!)).toBe(false)
      expect(run.state.builder || run.state.dockerContext).toBeTruthy()
      expect(await builderLeftovers(run)).toEqual([])
    })
  })

  describe('a platform that fails to build', () => {
    it('fails the step naming the platform, and pushes nothing', async () => {
      const context = await mkdtemp(path.join(tmpdir(), 'go-build-action-e2e-'))
      await writeFile(
        path.join(context, 'Dockerfile'),
        `ARG BASE_IMAGE\nFROM \${BASE_IMAGE}\nARG TARGETARCH\nRUN echo "building for $TARGETARCH" && [ "$TARGETARCH" != s390x ]\n`
      )
      const repository = freshRepository('fails-on-s390x')
      const run = await runOnPath(builderPath, {
        cwd: context,
        inputs: { images: repository, 'tag-template': 'never', 'build-args': `BASE_IMAGE=${BASE_IMAGE}` }
      })
      expect(run.main.exitCode).toBe(1)
      expect(run.main.log).toMatch(/::error::the build failed for linux\/s390x at `RUN echo "building for s390x"/)
      expect(run.outputs).toMatchObject({ result: 'failed', pushed: 'false', digest: '' })
      expect(JSON.parse(run.outputs.json ?? '{}')).toMatchObject({ result: 'failed', error: expect.stringContaining('the build failed for linux/s390x') })
      expect(run.post?.exitCode).toBe(0)
      expect((await registryManifest(`${repository}:never`)).status).toBe(404)
      expect(run.summary).toContain('<h2>go-build-action failed</h2>')
      expect(run.summary).toContain('the build failed for linux/s390x')
      expect(run.summary).toContain('No tag a user pulls was moved.')
      expect(run.summary).toMatch(/Build 4 platforms<\/td><td>[0-9.]+ s \(failed\)/)
      expect(await builderLeftovers(run)).toEqual([])
    }, 10 * MINUTES)
  })
})
