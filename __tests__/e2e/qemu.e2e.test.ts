/**
 * QEMU setup for real: the bundled action registers binfmt handlers in this machine's kernel (host mode from
 * Debian's qemu-user-static, image mode with a test-only binfmt image built from the same binaries), and auto
 * mode installs exactly the missing ones. Only qemu-arm and qemu-riscv64 are ever unregistered (see
 * support/binfmt.ts); each test unregisters what it needs absent, and the file puts both back as it found them.
 * The tests in this file run one after the other (jest runs a file's tests in sequence).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { runAction } from '../../scripts/run-action.mjs'
import { ARM_BUSYBOX, TEST_BINFMT_IMAGE, handler, restoreHandlers, saveHandlers, unregister, type SavedHandler } from './support/binfmt.js'
import { copyOnlyContext, docker, expectSucceeded, freshRepository, MINUTES, registryManifest, requireEnvironment } from './support/environment.js'

/** Whether the action's log shows a container run (@actions/exec echoes every command it runs). */
const ranContainer = (log: string): boolean => /\[command\]\S*docker run\b/.test(log)

let found: SavedHandler[]
beforeAll(async () => {
  await requireEnvironment()
  found = saveHandlers()
}, MINUTES)
afterAll(() => restoreHandlers(found))

describe('qemu: host', () => {
  it('registers qemu-arm from qemu-user-static with F, and the built arm/v7 image runs', async () => {
    unregister('qemu-arm')
    expect(handler('qemu-arm')).toBeUndefined()
    const context = await mkdtemp(path.join(tmpdir(), 'go-build-action-qemu-'))
    await writeFile(path.join(context, 'Dockerfile'), `FROM ${ARM_BUSYBOX}\nRUN uname -m > /built-on\n`)
    const repository = freshRepository('qemu-host')
    const run = await runAction({
      cwd: context,
      inputs: { images: repository, 'tag-template': 'arm', platforms: 'linux/arm/v7', qemu: 'host' }
    })
    expectSucceeded(run)
    const arm = handler('qemu-arm')
    expect(arm).toMatchObject({ enabled: true, interpreter: '/usr/libexec/qemu-binfmt/arm-binfmt-P' })
    expect(arm?.flags).toContain('F')
    expect(run.outputs['qemu-platforms']).toBe('linux/arm/v7')
    expect(ranContainer(run.main.log)).toBe(false)
    // The RUN step ran on arm through QEMU at build time, and the image runs on arm/v7 now.
    const { stdout } = await docker(['run', '--rm', '--pull', 'always', '--platform', 'linux/arm/v7', `${repository}:arm`, 'cat', '/built-on'])
    expect(stdout.trim()).toBe('armv7l')
    const live = await docker(['run', '--rm', '--platform', 'linux/arm/v7', ARM_BUSYBOX, 'uname', '-m'])
    expect(live.stdout.trim()).toBe('armv7l')
  }, 10 * MINUTES)
})

describe('qemu: image', () => {
  it('runs the binfmt image, pinned by digest, with --install arm,riscv64 and verifies both handlers', async () => {
    unregister('qemu-arm')
    unregister('qemu-riscv64')
    const image = `${TEST_BINFMT_IMAGE}@${(await registryManifest(`${TEST_BINFMT_IMAGE}:latest`)).digest}`
    const run = await runAction({
      cwd: await copyOnlyContext(),
      inputs: {
        images: freshRepository('qemu-image'),
        'tag-template': 'x',
        push: 'false',
        platforms: 'linux/amd64,linux/arm/v7,linux/riscv64',
        qemu: 'image',
        'binfmt-image': image
      }
    })
    expectSucceeded(run)
    expect(run.main.log).toContain(`docker run --rm --privileged ${image} --install arm,riscv64`)
    expect(run.main.log).not.toContain('::warning::binfmt-image')
    for (const name of ['qemu-arm', 'qemu-riscv64']) {
      expect(handler(name)).toMatchObject({ enabled: true, flags: 'F', interpreter: `/usr/bin/${name}-static` })
    }
    expect(run.outputs['qemu-platforms']).toBe('linux/arm/v7,linux/riscv64')
    // The handler outlives the installer container (F): a foreign binary runs.
    const { stdout } = await docker(['run', '--rm', '--platform', 'linux/arm/v7', ARM_BUSYBOX, 'uname', '-m'])
    expect(stdout.trim()).toBe('armv7l')
  }, 10 * MINUTES)

  it('warns that a binfmt image named by tag alone is not pinned, and fails naming binfmt-image when the image cannot be run', async () => {
    unregister('qemu-riscv64')
    const run = await runAction({
      cwd: await copyOnlyContext(),
      inputs: {
        images: freshRepository('qemu-image-missing'),
        'tag-template': 'x',
        push: 'false',
        platforms: 'linux/riscv64',
        qemu: 'image',
        'binfmt-image': 'localhost:5000/test/no-such-binfmt:never'
      }
    })
    expect(run.main.exitCode).toBe(1)
    expect(run.main.log).toContain('::warning::binfmt-image "localhost:5000/test/no-such-binfmt:never" names no digest: the privileged container (root on this runner) runs whatever')
    expect(run.main.log).toMatch(/::error::input "binfmt-image": running localhost:5000\/test\/no-such-binfmt:never --install riscv64 failed/)
    expect(run.post?.exitCode).toBe(0)
  }, 5 * MINUTES)
})

describe('qemu: auto', () => {
  it('does nothing, and says why, when every platform is native or already registered', async () => {
    // linux/arm64 is registered by the environment (and never touched here).
    expect(handler('qemu-aarch64')?.enabled).toBe(true)
    const run = await runAction({
      cwd: await copyOnlyContext(),
      inputs: { images: freshRepository('qemu-auto-none'), 'tag-template': 'x', push: 'false', platforms: 'linux/amd64,linux/arm64' }
    })
    expectSucceeded(run)
    expect(run.main.log).toContain('nothing to install: every foreign platform already has an enabled binfmt handler')
    expect(run.main.log).toMatch(/native: linux\/amd64; emulated already: linux\/arm64; missing a handler: none/)
    expect(ranContainer(run.main.log)).toBe(false)
    expect(run.outputs['qemu-platforms']).toBe('linux/arm64')
  }, 5 * MINUTES)

  it('says every platform is native when none is foreign', async () => {
    const run = await runAction({
      cwd: await copyOnlyContext(),
      inputs: { images: freshRepository('qemu-auto-native'), 'tag-template': 'x', push: 'false', platforms: 'linux/amd64' }
    })
    expectSucceeded(run)
    expect(run.main.log).toContain('nothing to install: every requested platform runs natively on this runner')
    expect(ranContainer(run.main.log)).toBe(false)
  }, 5 * MINUTES)

  it('registers exactly the missing handlers (arm, riscv64) and leaves the registered one alone', async () => {
    unregister('qemu-arm')
    unregister('qemu-riscv64')
    const aarch64Before = handler('qemu-aarch64')?.text
    const run = await runAction({
      cwd: await copyOnlyContext(),
      inputs: {
        images: freshRepository('qemu-auto-missing'),
        'tag-template': 'x',
        push: 'false',
        platforms: 'linux/amd64,linux/arm64,linux/arm/v7,linux/riscv64'
      }
    })
    expectSucceeded(run)
    expect(run.main.log).toMatch(/missing a handler: linux\/arm\/v7, linux\/riscv64/)
    expect(run.main.log).toContain("qemu: auto: using the host's qemu-user-static for linux/arm/v7, linux/riscv64")
    const registered = [...run.main.log.matchAll(/registering (qemu-\S+) for/g)].map(m => m[1])
    expect(registered).toEqual(['qemu-arm', 'qemu-riscv64'])
    expect(handler('qemu-arm')?.enabled).toBe(true)
    expect(handler('qemu-riscv64')?.enabled).toBe(true)
    expect(handler('qemu-aarch64')?.text).toBe(aarch64Before)
    expect(ranContainer(run.main.log)).toBe(false)
    expect(run.outputs['qemu-platforms']).toBe('linux/arm64,linux/arm/v7,linux/riscv64')
  }, 5 * MINUTES)
})
