/**
 * The architecture check on a build that does not push (a pull request), through the bundled action on both runner
 * paths: it reads the build's export (nothing is in a registry: on the engine path as buildx streams it beside the
 * load, on the hosted path the local export the verify command loads its images from), applies every layer's files
 * and whiteouts, and fails the one wrong binary that stays, not the ones upper layers replace or delete. The verify
 * command runs in the loaded images first (the engine's load, or on the hosted path each platform loaded from the
 * local export). One run per path.
 *
 * A pull request on the hosted path whose engine keeps the classic image store (a GitHub-hosted runner's as it
 * ships, here a second engine of the test's own): the verify command still runs in every platform's image, each
 * loaded on its own from the build's local export.
 *
 * And an image that ships an x86-64 emulator in every platform on purpose (calico's go-build once did): with the
 * default `architecture-check: error` it can never publish; `architecture-check-skip` naming the emulator's path
 * publishes it, the skipped file reported in the log.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { existsSync } from 'node:fs'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import * as path from 'node:path'
import { repoRoot, type ActionRun } from '../../scripts/run-action.mjs'
import { BASE_IMAGE, GO_IMAGE, HELLO_CONTEXT, copyOnlyContext, docker, expectSucceeded, freshRepository, MINUTES, registryManifest, registryTags, requireEnvironment, splitStaging } from './support/environment.js'
import { startClassicEngine, type ClassicEngine } from './support/classic-engine.js'
import { describeEachPath, HOSTED_PATH, runOnPath } from './support/paths.js'

const execFileAsync = promisify(execFile)

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
  it('pushes nothing (a pull request), and leaves neither a local image nor a local export behind (the engine path reads its export as it streams)', async () => {
    expect(await registryTags(repository)).toEqual([])
    expect(JSON.parse(run.state.localImages || '[]')).toEqual([])
    expect(existsSync(path.join(run.state.workDir ?? '', 'layout'))).toBe(false)
    if (builderPath.driver === 'docker') {
      expect(run.main.log).toMatch(/read the build's export as it streamed: [\d.]+ (KiB|MiB), [\d.]+ (B|KiB|MiB) of layers decompressed/)
      expect(run.main.log).not.toMatch(/type=oci,dest=(?!-)/)
    }
    const { stdout } = await docker(['image', 'ls', '--format', '{{.Repository}}', '--filter', `reference=${repository}*`])
    expect(stdout.trim()).toBe('')
  })
})

const describeHosted = HOSTED_PATH.available ? describe : describe.skip
describeHosted(`${HOSTED_PATH.title} a pull request on an engine with the classic image store (no containerd image store)`, () => {
  const repository = freshRepository('arch-classic-store')
  let engine: ClassicEngine
  let run: ActionRun
  let left: string

  beforeAll(async () => {
    // precondition of the bridge test below: the environment's engine has its bridge
    await execFileAsync('ip', ['link', 'show', 'docker0'])
    engine = await startClassicEngine()
    const context = await mkdtemp(path.join(tmpdir(), 'go-build-action-classic-'))
    await writeFile(path.join(context, 'Dockerfile'), 'ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY hello.txt /\n')
    await writeFile(path.join(context, 'hello.txt'), 'hello\n')
    run = await runOnPath(HOSTED_PATH, {
      cwd: context,
      env: { GITHUB_EVENT_NAME: 'pull_request', GITHUB_REF: 'refs/pull/7/merge', DOCKER_HOST: engine.host },
      inputs: {
        images: repository,
        platforms: 'linux/amd64,linux/arm64',
        'build-args': `BASE_IMAGE=${BASE_IMAGE}`,
        'verify-command': '/bin/sh -c "echo verified on $(uname -m)"'
      }
    })
    left = (await docker(['--host', engine.host, 'image', 'ls', '--format', '{{.Repository}}:{{.Tag}}'])).stdout.trim()
  }, 15 * MINUTES)

  afterAll(async () => {
    await engine?.stop()
  }, 2 * MINUTES)

  it('runs the verify command in every platform\'s image (item 6: it was skipped there), pushes nothing, and leaves no image in the engine', async () => {
    expectSucceeded(run)
    expect(run.main.log).not.toContain('is skipped')
    expect(run.main.log).toContain('verified on x86_64')
    expect(run.main.log).toContain('verified on aarch64')
    expect(run.outputs.result).toBe('built')
    expect(await registryTags(repository)).toEqual([])
    expect(left.split('\n').filter(name => name.includes('arch-classic-store'))).toEqual([])
  })

  it('leaves the environment engine\'s bridge docker0 in place (a second engine started with --bridge none deletes it)', async () => {
    await expect(execFileAsync('ip', ['link', 'show', 'docker0'])).resolves.toBeDefined()
  })
})

describeEachPath('an image with an x86-64 emulator in every platform on purpose (calico\'s qemu-*-static)', builderPath => {
  const repository = freshRepository('arch-on-purpose')
  const runs: ActionRun[] = []
  const publish = async (inputs: Record<string, string>): Promise<ActionRun> =>
    runOnPath(builderPath, {
      cwd: await copyOnlyContext(),
      inputs: {
        images: repository,
        file: path.join(repoRoot, '__fixtures__', 'foreign-on-purpose', 'Dockerfile'),
        platforms: 'linux/amd64,linux/arm64',
        'tag-template': 'v1',
        'build-args': `BASE_IMAGE=${BASE_IMAGE}`,
        ...inputs
      }
    })

  beforeAll(async () => {
    runs.push(await publish({}))
    runs.push(await publish({ 'architecture-check-skip': '/usr/bin/qemu-*-static' }))
  }, 15 * MINUTES)

  it('architecture-check: error (the default) refuses to publish it, naming the file and the input that allows it', async () => {
    expect(runs[0]!.main.exitCode).toBe(1)
    expect(runs[0]!.main.log).toMatch(
      /::error::linux\/arm64: \/usr\/bin\/qemu-aarch64-static is an x86-64 executable, .* If the image holds \/usr\/bin\/qemu-aarch64-static of another architecture on purpose \(an emulator such as qemu-\*-static\), list it in architecture-check-skip/
    )
    expect(runs[0]!.outputs.result).toBe('failed')
  })

  it('architecture-check-skip: /usr/bin/qemu-*-static publishes it, and the log names the file skipped', async () => {
    expectSucceeded(runs[1]!)
    expect(runs[1]!.outputs.result).toBe('published')
    expect(runs[1]!.main.log).toMatch(/linux\/arm64: \d+ executable\(s\) checked in \d+ layer\(s\) \([^)]+\): all aarch64; 1 of another architecture skipped \(architecture-check-skip\): \/usr\/bin\/qemu-aarch64-static \(built for amd64\)/)
    expect(splitStaging(await registryTags(repository)).published).toEqual(['v1', 'v1-amd64', 'v1-arm64'])
    expect((await registryManifest(`${repository}:v1`)).digest).toBe(runs[1]!.outputs.digest)
  })
})
