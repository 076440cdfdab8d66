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
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { existsSync } from 'node:fs'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import * as path from 'node:path'
import { repoRoot, runPostStep, type ActionRun } from '../../scripts/run-action.mjs'
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

describeEachPath('a runner that keeps its layer cache (one tool cache for four runs)', builderPath => {
  const repositories = { first: freshRepository('arch-kept-first'), again: freshRepository('arch-kept-again'), wrong: freshRepository('arch-kept-wrong'), pr: freshRepository('arch-kept-pr') }
  const runs: Record<keyof typeof repositories, ActionRun | undefined> = { first: undefined, again: undefined, wrong: undefined, pr: undefined }
  let toolCache: string
  let prLayoutAfterMain: boolean | undefined
  const publish = (repository: string, file?: string, env: Record<string, string> = {}, post = true): Promise<ActionRun> =>
    runOnPath(builderPath, {
      post,
      cwd: HELLO_CONTEXT,
      env: { RUNNER_TOOL_CACHE: toolCache, ...env },
      inputs: {
        images: repository,
        ...(file ? { file } : {}),
        platforms: 'linux/amd64,linux/arm64',
        'tag-template': 'v1',
        'build-args': `GO_IMAGE=${GO_IMAGE}\nBASE_IMAGE=${BASE_IMAGE}`
      }
    })

  beforeAll(async () => {
    toolCache = await mkdtemp(path.join(tmpdir(), 'arch-kept-tool-cache-'))
    runs.first = await publish(repositories.first)
    runs.again = await publish(repositories.again)
    runs.wrong = await publish(repositories.wrong, path.join(repoRoot, '__fixtures__', 'layered-arch', 'Dockerfile'))
    // the post step removes the whole work directory: whether the main step removed its export is looked at before it
    const pr = await publish(repositories.pr, path.join(repoRoot, '__fixtures__', 'layered-arch', 'Dockerfile'), { GITHUB_EVENT_NAME: 'pull_request', GITHUB_REF: 'refs/pull/8/merge' }, false)
    prLayoutAfterMain = existsSync(path.join(pr.state.workDir ?? '', 'layout'))
    runs.pr = { ...pr, post: await runPostStep(pr) }
  }, 15 * MINUTES)

  afterAll(async () => {
    if (toolCache) await rm(toolCache, { recursive: true, force: true })
  })

  it('the first publish (an empty layer cache) reads its export as it streams', () => {
    expectSucceeded(runs.first!)
    expect(runs.first!.main.log).toMatch(/read the build's export as it streamed: /)
  })

  it('publishing the same image again leaves the layers the cache knows out of its local export: it holds less than the image\'s layers (on the engine, whose build cache keeps every layer, under 64 KiB and no layer decompressed)', async () => {
    expectSucceeded(runs.again!)
    expect(runs.again!.main.log).toMatch(/--output type=oci,dest=\S+\/layout,tar=false/)
    const line = /read the build's local export \(([\d.]+) (B|KiB|MiB) written, the \d+ layer\(s\) the layer cache knew left out of it\): (\d+) layer\(s\) decompressed, (\d+) checked in earlier runs/.exec(runs.again!.main.log)
    expect(line?.[0]).toEqual(expect.any(String))
    const written = Number(line![1]) * { B: 1, KiB: 1024, MiB: 1024 ** 2 }[line![2] as 'B']
    const [decompressed, checked] = [Number(line![3]), Number(line![4])]
    // the layers a full export holds: the image's, as the registry has them
    const index = await registryManifest(`${repositories.again}:v1`)
    expect(index.digest).toBe(runs.again!.outputs.digest)
    let layerBytes = 0
    for (const m of (JSON.parse(index.body) as { manifests: Array<{ digest: string; platform?: { os: string } }> }).manifests.filter(m => m.platform?.os === 'linux')) {
      const manifest = JSON.parse((await registryManifest(`${repositories.again}@${m.digest}`)).body) as { layers: Array<{ size: number }> }
      layerBytes += manifest.layers.reduce((sum, l) => sum + l.size, 0)
    }
    // the base image's layers are the same in both publishes; on a new builder (hosted) the layer of the binary is made anew
    expect({ checked: checked > 0, leftOut: written < layerBytes }).toEqual({ checked: true, leftOut: true })
    if (builderPath.driver === 'docker') expect({ decompressed, small: written < 64 * 1024 }).toEqual({ decompressed: 0, small: true })
  })

  it('a later image that adds an x86-64 binary over the known base layers still fails linux/arm64 for it, the known layers answered by the cache and the new ones read, and moves no tag', async () => {
    expect(runs.wrong!.main.exitCode).toBe(1)
    expect(runs.wrong!.main.log).toMatch(/::error::linux\/arm64: \/usr\/bin\/wrong is an x86-64 executable, statically linked, but linux\/arm64 runs aarch64 executables\. Cause:/)
    expect(runs.wrong!.main.log).toMatch(/read the build's local export \(.*? left out of it\): [1-9]\d* layer\(s\) decompressed, [1-9]\d* checked in earlier runs/)
    expect(splitStaging(await registryTags(repositories.wrong)).published).toEqual([])
  })

  it('a pull request of that image (nothing pushed, no verify command) checks the same local export and fails linux/arm64 for the binary; its main step removes the export', async () => {
    expect(runs.pr!.main.exitCode).toBe(1)
    expect(runs.pr!.main.log).toMatch(/::error::linux\/arm64: \/usr\/bin\/wrong is an x86-64 executable/)
    expect(runs.pr!.main.log).toMatch(/read the build's local export \(.*? left out of it\): \d+ layer\(s\) decompressed, [1-9]\d* checked in earlier runs/)
    expect(runs.pr!.main.log).not.toMatch(/Verify locally/)
    expect(await registryTags(repositories.pr)).toEqual([])
    expect(runs.pr!.state.workDir).toEqual(expect.any(String))
    expect(prLayoutAfterMain).toBe(false)
    expect(runs.pr!.post?.exitCode).toBe(0)
  })
})
