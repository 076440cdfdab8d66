/**
 * The architecture check on a build that does not push (a pull request), through the bundled action on both runner
 * paths: it reads the build's local export (nothing is in a registry), applies every layer's files and whiteouts,
 * and fails the one wrong binary that stays, not the ones upper layers replace or delete. The verify command runs
 * in the loaded images first (the engine's load, or on the hosted path a load beside the local export). One run
 * per path.
 */
import { beforeAll, expect, it } from '@jest/globals'
import { existsSync } from 'node:fs'
import * as path from 'node:path'
import { repoRoot, type ActionRun } from '../../scripts/run-action.mjs'
import { BASE_IMAGE, GO_IMAGE, HELLO_CONTEXT, docker, freshRepository, MINUTES, registryTags, requireEnvironment } from './support/environment.js'
import { describeEachPath, runOnPath } from './support/paths.js'

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

  // nothing pushed is what push: auto does on a pull_request, whatever the check finds (emulation.e2e shows a failed
  // check moving no tag on a run that pushes)
  it('pushes nothing (a pull request), and leaves neither a local image nor the local export behind', async () => {
    expect(await registryTags(repository)).toEqual([])
    expect(JSON.parse(run.state.localImages || '[]')).toEqual([])
    expect(existsSync(path.join(run.state.workDir ?? '', 'layout'))).toBe(false)
    const { stdout } = await docker(['image', 'ls', '--format', '{{.Repository}}', '--filter', `reference=${repository}*`])
    expect(stdout.trim()).toBe('')
  })
})
