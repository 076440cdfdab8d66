/**
 * The emulation advisor and the architecture check, through the bundled action against the real engine, buildx,
 * QEMU and local registry.
 *
 * examples/qemu-compile is the accidental emulated compile (its build stage has no --platform). What its runs here
 * prove, honestly: the advisor reads the Dockerfile and flags the RUN line for the emulated platforms, and with
 * `qemu-compile-check: error` nothing is built or pushed. Whether QEMU would actually have run the compiler depends on the
 * Go image: the only one on this machine, localhost:5000/base/golang, is amd64-only, so BuildKit uses it for every
 * platform and `go build` runs natively and builds amd64 binaries into the arm64 image. That is the real failure
 * the architecture check exists for (and on an amd64 runner the wrong image even "runs": the verify command
 * passes), so the `warn` run shows both: the warning on the line, then the check failing linux/arm64 before any
 * tag moves.
 */
import { beforeAll, expect, it } from '@jest/globals'
import * as path from 'node:path'
import { repoRoot, type ActionRun } from '../../scripts/run-action.mjs'
import {
  BASE_IMAGE,
  FOUR_PLATFORMS,
  GO_IMAGE,
  HELLO_CONTEXT,
  expectSucceeded,
  freshRepository,
  MINUTES,
  registryManifest,
  registryTags,
  requireEnvironment
} from './support/environment.js'
import { describeEachPath, runOnPath, stagingTags } from './support/paths.js'

const QEMU_CONTEXT = path.join('examples', 'qemu-compile')
const BUILD_ARGS = `GO_IMAGE=${GO_IMAGE}\nBASE_IMAGE=${BASE_IMAGE}`
// @actions/core writes the annotation's properties in this order (title, file, line)
const ANNOTATION = 'title=Compiles under QEMU,file=examples/qemu-compile/Dockerfile,line=10::Stage "build" runs go build under QEMU for'

beforeAll(requireEnvironment, MINUTES)

describeEachPath('examples/qemu-compile with qemu-compile-check: error', builderPath => {
  const repository = freshRepository('qemu-error')
  let run: ActionRun

  beforeAll(async () => {
    run = await runOnPath(builderPath, {
      cwd: repoRoot,
      inputs: { context: QEMU_CONTEXT, images: repository, 'tag-template': 'qemu', 'build-args': BUILD_ARGS, 'qemu-compile-check': 'error' }
    })
  }, 10 * MINUTES)

  it('annotates the go build line as an error, naming the emulated platforms and the FROM to pin', () => {
    expect(run.main.exitCode).toBe(1)
    expect(run.main.log).toContain(
      `::error ${ANNOTATION} linux/arm64, linux/ppc64le and linux/s390x, typically 5–20× slower`
    )
    expect(run.main.log).toContain('change line 7 to FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build')
  })

  it('stops before building, with one error naming the input and the fix', () => {
    expect(run.main.log).toContain(
      '::error::input "qemu-compile-check": is error and examples/qemu-compile/Dockerfile compiles under QEMU at line 10 (stage build), so nothing was built'
    )
    expect(run.main.log).not.toMatch(/::group::Build \d platforms/)
    expect(run.post?.exitCode).toBe(0)
  })

  it('pushes nothing', async () => {
    expect(await registryTags(repository)).toEqual([])
  })
})

describeEachPath('examples/qemu-compile with qemu-compile-check: warn, and an amd64-only Go image', builderPath => {
  const repository = freshRepository('qemu-warn')
  let run: ActionRun

  beforeAll(async () => {
    run = await runOnPath(builderPath, {
      cwd: repoRoot,
      inputs: {
        context: QEMU_CONTEXT,
        images: repository,
        platforms: 'linux/amd64,linux/arm64',
        'tag-template': 'wrong-arch',
        'build-args': BUILD_ARGS,
        'verify-command': '/usr/local/bin/hello'
      }
    })
  }, 15 * MINUTES)

  it('warns on the go build line for linux/arm64 only, and builds anyway', () => {
    expect(run.main.log).toContain(`::warning ${ANNOTATION} linux/arm64, typically`)
    expect(run.main.log).toMatch(/::group::Build 2 platforms/)
  })

  // Only the engine path runs the verify command on the loaded images before pushing; the hosted path runs it after
  // the architecture check, which fails first (declared on the engine path only: scripts/test.sh fails a run that
  // skips hosted-path tests).
  if (builderPath.driver === 'docker') {
    it('runs the arm64 image here without complaint: its binary is x86-64 and runs natively', () => {
      // the verify command passed on both platforms, and both printed the platform the binary was compiled for
      expect(run.main.log).not.toContain('input "verify-command" failed')
      expect(run.main.log.match(/hello from linux\/amd64/g)?.length).toBeGreaterThanOrEqual(2)
      expect(run.main.log).not.toContain('hello from linux/arm64')
    })
  }

  it('fails linux/arm64 in the architecture check, naming the file, what it is, the cause and the fix', () => {
    expect(run.main.exitCode).toBe(1)
    expect(run.main.log).toMatch(
      /::error::linux\/arm64: \/usr\/local\/bin\/hello is an x86-64 executable, statically linked, but linux\/arm64 runs aarch64 executables\. Cause: it was built for the runner's own architecture \(amd64\): likely a build stage FROM a single-architecture image/
    )
    expect(run.main.log).toContain('linux/amd64: ')
    expect(run.main.log).not.toMatch(/::error::linux\/amd64/)
    expect(run.post?.exitCode).toBe(0)
  })

  it('moves no tag: the registry holds the staged index only', async () => {
    expect(await registryTags(repository)).toEqual(stagingTags(builderPath))
    expect((await registryManifest(`${repository}:wrong-arch`)).status).toBe(404)
    expect(run.summary).toContain('No tag a user pulls was moved.')
  })
})

describeEachPath('examples/hello, which cross-compiles on $BUILDPLATFORM', builderPath => {
  const repository = freshRepository('hello-cross')
  let run: ActionRun

  beforeAll(async () => {
    run = await runOnPath(builderPath, {
      cwd: HELLO_CONTEXT,
      // no cache, so the summary's build times are those of a real compile
      inputs: { images: repository, 'tag-template': 'cross', 'build-args': BUILD_ARGS, 'no-cache': 'true' }
    })
  }, 20 * MINUTES)

  it('is not flagged, passes the architecture check for every platform and publishes', async () => {
    expectSucceeded(run)
    expect(run.main.log).not.toContain('Compiles under QEMU')
    expect(run.main.log).toContain('no stage of Dockerfile compiles under QEMU')
    for (const [platform, machine] of [
      ['linux/amd64', 'x86-64'],
      ['linux/arm64', 'aarch64'],
      ['linux/ppc64le', 'ppc64le'],
      ['linux/s390x', 's390x']
    ]) {
      expect(run.main.log).toMatch(new RegExp(`${platform}: \\d+ executable\\(s\\) checked in \\d+ layer\\(s\\) \\([^)]+\\): all ${machine}`))
    }
    expect((await registryManifest(`${repository}:cross`)).status).toBe(200)
  })

  it('shows per platform in the summary: native or QEMU (which ran no RUN step: the compile is a cross-compile) and its build time', () => {
    expect(run.summary).toContain('<h3>Platforms</h3>')
    for (const platform of FOUR_PLATFORMS) {
      const native = platform === 'linux/amd64'
      const [builtOn, underQemu] = native ? ['native', '–'] : ['emulated \\(QEMU\\)', 'no RUN step ran under QEMU']
      expect(run.summary).toMatch(
        new RegExp(`<td>${platform}</td><td><code title="sha256:[0-9a-f]{64}">sha256:[0-9a-f]{12}</code></td><td>[0-9.]+ (B|KiB|MiB)</td><td>this runner: ${builtOn}</td><td>(?:[0-9.]+ s|\\d+ min \\d+ s)</td><td>${underQemu}</td>`)
      )
    }
  })
})
