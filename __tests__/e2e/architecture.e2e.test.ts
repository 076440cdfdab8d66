/**
 * The architecture check on a build that does not push (a pull request), through the bundled action on both runner
 * paths: it reads the build's export as buildx streams it (nothing is in a registry, nothing is written to the
 * runner's disk), applies every layer's files and whiteouts,
 * and fails the one wrong binary that stays, not the ones upper layers replace or delete. The verify command runs
 * in the loaded images first (the engine's load, or on the hosted path a load beside the local export). One run
 * per path.
 */
import { beforeAll, expect, it } from '@jest/globals'
import * as path from 'node:path'
import { repoRoot, type ActionRun } from '../../scripts/run-action.mjs'
import { BASE_IMAGE, GO_IMAGE, HELLO_CONTEXT, docker, freshRepository, registryTags, requireEnvironment } from './support/environment.js'
import { describeEachPath, runOnPath } from './support/paths.js'

const MINUTES = 60_000

beforeAll(requireEnvironment, MINUTES)

describeEachPath('a pull request whose arm64 image keeps an x86-64 binary under binaries an upper layer replaced or deleted', builderPath => {
  const repository = freshRepository('arch-pr')
  let run: ActionRun

  beforeAll(async () => {
    run = await runOnPath(builderPath, {
      cwd: HELLO_CONTEXT,
      env: { GITHUB_EVENT_NAME: 'pull_request', GITHUB_REF: 'refs/pull/7/merge' },
      inputs: {
        images: repository,
        file: path.join(repoRoot, '__fixtures__', 'layered-arch', 'Dockerfile'),
        platforms: 'linux/amd64,linux/arm64',
        'tag-template': 'pr',
        'build-args': `GO_IMAGE=${GO_IMAGE}\nBASE_IMAGE=${BASE_IMAGE}`,
        'verify-command': '/usr/local/bin/hello'
      }
    })
  }, 15 * MINUTES)

  it('runs the verify command in every platform\'s image, though nothing is pushed', () => {
    expect(run.main.log).toContain('hello from linux/amd64')
    expect(run.main.log).toContain('hello from linux/arm64')
    expect(run.main.log).not.toContain('input "verify-command" failed')
  })

  it('fails linux/arm64 for the binary that stays, and only for it', () => {
    expect(run.main.exitCode).toBe(1)
    expect(run.main.log).toMatch(/::error::linux\/arm64: \/usr\/bin\/wrong is an x86-64 executable, statically linked, but linux\/arm64 runs aarch64 executables\. Cause:/)
    // the replaced /usr/local/bin/hello and the deleted /usr/local/bin/removed are not reported, nor is amd64
    expect(run.main.log).not.toMatch(/and \d+ more/)
    expect(run.main.log).not.toMatch(/\/usr\/local\/bin\/(hello|removed) is an/)
    expect(run.main.log).toMatch(/linux\/amd64: \d+ executable\(s\) checked in \d+ layer\(s\) \([^)]+\): all x86-64/)
    expect(run.post?.exitCode).toBe(0)
  })

  it('pushes nothing, reads the export as it streams (no copy on disk), and leaves no local image behind', async () => {
    expect(await registryTags(repository)).toEqual([])
    expect(JSON.parse(run.state.localImages || '[]')).toEqual([])
    expect(run.main.log).toMatch(/read the build's export as it streamed: [\d.]+ (KiB|MiB), [\d.]+ (B|KiB|MiB) of layers decompressed/)
    expect(run.main.log).not.toMatch(/type=oci,dest=(?!-)/)
    const { stdout } = await docker(['image', 'ls', '--format', '{{.Repository}}', '--filter', `reference=${repository}*`])
    expect(stdout.trim()).toBe('')
  })
})
