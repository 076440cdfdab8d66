/**
 * A go-build-style image for four platforms, published to two registries (one behind htpasswd auth, logged in
 * by the action): TAG and four TAG-ARCH tags in each, outputs that match the registries byte for byte, a job
 * summary, and the password nowhere in what the run printed or saved.
 */
import { beforeAll, describe, expect, it } from '@jest/globals'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import type { ActionRun } from '../../scripts/run-action.mjs'
import {
  AUTH,
  AUTH_REGISTRY,
  BASE_IMAGE,
  expectSucceeded,
  FOUR_PLATFORMS,
  leaks,
  MINUTES,
  REGISTRY,
  docker,
  freshRepository,
  goBuildStyleContext,
  registryManifest,
  registryTags,
  splitStaging,
  requireEnvironment
} from './support/environment.js'
import { PUBLISH_PHASE } from '../../src/core/phases.js'
import { describeEachPath, runOnPath, stagingTags } from './support/paths.js'

const TAG = '1.25.4-llvm18.1.8-k8s1.34.1'
const ARCHES = ['amd64', 'arm64', 'ppc64le', 's390x']

beforeAll(requireEnvironment, MINUTES)

describeEachPath('publishing to several registries', builderPath => {
  describe('publishing to two registries', () => {
    const open = freshRepository('go-build', REGISTRY)
    const authed = freshRepository('go-build', AUTH_REGISTRY)
    let run: ActionRun

    // The run logs in and out: give it a docker config of its own, so this machine's stays as it was.
    let dockerConfig: string

    beforeAll(async () => {
      const context = await goBuildStyleContext()
      dockerConfig = await mkdtemp(path.join(tmpdir(), 'go-build-action-docker-config-'))
      run = await runOnPath(builderPath, {
        cwd: context,
        env: { DOCKER_CONFIG: dockerConfig },
        inputs: {
          images: `${open}\n${authed}`,
          'build-args': `BASE_IMAGE=${BASE_IMAGE}`,
          registry: AUTH_REGISTRY,
          username: AUTH.user,
          password: AUTH.password,
          'verify-command': 'cat /etc/go-build/versions'
        }
      })
    }, 15 * MINUTES)

    it('succeeds', () => {
      expectSucceeded(run)
    })

    it('puts TAG and the four TAG-ARCH tags in each registry; the first also holds the staging tag', async () => {
      const published = [TAG, ...ARCHES.map(a => `${TAG}-${a}`)]
      // The docker driver cannot push by digest: the index reaches the first repository through the staging tag,
      // and the second gets a copy by digest, with no tag.
      expect(splitStaging(await registryTags(open))).toEqual({ published: [...published].sort(), staging: stagingTags(builderPath) })
      expect(await registryTags(authed, AUTH)).toEqual(published.sort())
    })

    it('points TAG at the index the outputs describe, byte for byte, in both registries', async () => {
      for (const [repository, auth] of [[open, undefined], [authed, AUTH]] as const) {
        const served = await registryManifest(`${repository}:${TAG}`, auth)
        expect(served.digest).toBe(run.outputs.digest)
        expect(served.body).toBe(run.outputs.manifest)
      }
      expect(run.outputs.tag).toBe(TAG)
      expect(JSON.parse(run.outputs.versions ?? '{}')).toEqual({ go: '1.25.4', llvm: '18.1.8', k8s: '1.34.1' })
      expect(run.outputs.references?.split('\n')).toEqual([`${open}@${run.outputs.digest}`, `${authed}@${run.outputs.digest}`])
      expect(run.outputs.images?.split('\n')).toEqual([open, authed])
      expect(run.outputs.tags?.split('\n').sort()).toEqual(
        [open, authed].flatMap(r => [`${r}:${TAG}`, ...ARCHES.map(a => `${r}:${TAG}-${a}`)]).sort()
      )
    })

    it('points each TAG-ARCH at that platform manifest itself, with its digest in the index', async () => {
      const digests = JSON.parse(run.outputs['platform-digests'] ?? '{}') as Record<string, string>
      expect(Object.keys(digests).sort()).toEqual([...FOUR_PLATFORMS].sort())
      for (const [repository, auth] of [[open, undefined], [authed, AUTH]] as const) {
        for (const arch of ARCHES) {
          const served = await registryManifest(`${repository}:${TAG}-${arch}`, auth)
          expect({ arch, digest: served.digest }).toEqual({ arch, digest: digests[`linux/${arch}`] })
          expect(JSON.parse(served.body).mediaType).toBe('application/vnd.oci.image.manifest.v1+json')
        }
      }
    })

    it('reports the provenance attestations (provenance: mode=min by default) apart from the platforms', async () => {
      const attestations = JSON.parse(run.outputs.attestations ?? '[]') as Array<{ digest: string; platform: string; predicateTypes: string[] }>
      expect(attestations.map(a => a.platform).sort()).toEqual([...FOUR_PLATFORMS].sort())
      for (const a of attestations) expect(a.predicateTypes).toEqual(['https://slsa.dev/provenance/v0.2'])
      const index = JSON.parse(run.outputs.manifest ?? '{}') as { manifests: Array<{ digest: string; platform: { os: string } }> }
      expect(index.manifests.filter(m => m.platform.os === 'unknown').map(m => m.digest).sort()).toEqual(attestations.map(a => a.digest).sort())
      expect(run.summary).toContain('4 attestation manifest(s)')
    })

    it.each(ARCHES)('runs TAG-%s on this amd64 host and it was built on that architecture', async arch => {
      const { stdout } = await docker(['run', '--rm', '--pull', 'always', `${open}:${TAG}-${arch}`])
      const machine = { amd64: 'x86_64', arm64: 'aarch64', ppc64le: 'ppc64le', s390x: 's390x' }[arch]
      expect(stdout).toBe(`go=1.25.4 llvm=18.1.8 k8s=1.34.1\n${machine}\n`)
    }, 5 * MINUTES)

    it('ran the verify command on every platform, each time before the tag moves began', () => {
      const moves = run.main.log.indexOf(`::group::${PUBLISH_PHASE}`)
      expect(moves).toBeGreaterThan(-1)
      for (const platform of FOUR_PLATFORMS) {
        // where each docker run of the verify command on this platform starts (@actions/exec echoes each); the
        // action awaits each before the next phase, so the last one starting before the moves ended before them
        const starts = [...run.main.log.matchAll(new RegExp(`^\\[command\\].* --platform ${platform} --entrypoint cat .*$`, 'gm'))].map(m => m.index)
        expect({ platform, runs: starts.length > 0, after: starts.filter(i => i > moves).length }).toEqual({ platform, runs: true, after: 0 })
      }
      // the verify command's output (the versions file) printed for each platform, also before the moves
      expect(run.main.log.slice(0, moves).match(/go=1\.25\.4 llvm=18\.1\.8 k8s=1\.34\.1/g)?.length).toBeGreaterThanOrEqual(FOUR_PLATFORMS.length)
    })

    it('writes a job summary: the image and tag, the pull command, the tags per repository, a platform table and the phase timings', () => {
      expect(run.summary.startsWith(`<h2>Published ${open}:${TAG} and 1 other repository</h2>\n\n\`\`\`sh\ndocker pull ${open}:${TAG}\n\`\`\``)).toBe(true)
      for (const platform of FOUR_PLATFORMS) {
        expect(run.summary).toMatch(new RegExp(`<td>${platform}</td><td><code title="sha256:[0-9a-f]{64}">sha256:[0-9a-f]{12}</code></td><td>[0-9.]+ (B|KiB|MiB)</td><td>this runner: `))
      }
      for (const repository of [open, authed]) {
        expect(run.summary).toContain(`<tr><td><code>${repository}</code></td><td><code>${TAG}</code>`)
      }
      expect(run.summary).toContain(`<code>${TAG}-s390x</code>`)
      expect(run.summary).toMatch(/<details><summary>Timeline \((?:[0-9.]+ s|\d+ min \d+ s)\)<\/summary>/)
      expect(run.summary).toContain('```mermaid\ngantt')
      for (const phase of ['Log in', 'Build 4 platforms', 'Push', 'Verify what the registries hold', 'Move tags']) {
        expect(run.summary).toContain(phase)
      }
    })

    it('never lets the password reach the log, the outputs, the state or the summary', async () => {
      // `::add-mask::` is the command that tells the runner to mask the value; the runner consumes it and never
      // shows it. Everything else the runner would show or keep must be free of the password.
      expect(run.main.log.split('\n')).toContain(`::add-mask::${AUTH.password}`)
      expect(leaks(run, AUTH.password)).toEqual([])
      expect(await readFile(path.join(run.runnerDir, 'state'), 'utf8')).not.toContain(AUTH.password)
    })

    it('logs in only in the job\'s own docker config, which the post step removes: the runner\'s config gets no config.json', () => {
      expect(run.post?.log).toContain(`logged out of ${AUTH_REGISTRY} (its login was in the job's docker config only, now removed)`)
      expect(run.state.dockerConfig).toMatch(/\/go-build-action-[0-9a-f]{32}\/docker-config$/)
      expect(existsSync(run.state.dockerConfig ?? '')).toBe(false)
      expect(existsSync(path.join(dockerConfig, 'config.json'))).toBe(false)
    })
  })
})
