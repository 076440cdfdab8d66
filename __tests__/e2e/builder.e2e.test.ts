/**
 * The builder's lifecycle for real: a docker-driver builder on a docker context the action creates and its post
 * step removes; a pre-existing builder that survives; a platform the builder lacks failing before any build; and
 * the docker-container driver failing to boot here (its BuildKit image cannot be pulled offline).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { runAction } from '../../scripts/run-action.mjs'
import { copyOnlyContext, docker, freshRepository, requireEnvironment } from './support/environment.js'

const MINUTES = 60_000

async function exists(args: string[]): Promise<boolean> {
  return docker(args).then(
    () => true,
    () => false
  )
}
const contextExists = (name: string): Promise<boolean> => exists(['context', 'inspect', name])
const builderExists = (name: string): Promise<boolean> => exists(['buildx', 'inspect', name])

beforeAll(requireEnvironment, MINUTES)

describe('a builder the action creates (docker driver, the default outside GitHub)', () => {
  it('builds on it, reports it, and the post step removes its docker context', async () => {
    const run = await runAction({
      cwd: await copyOnlyContext(),
      inputs: { images: freshRepository('builder-created'), 'tag-template': 'x', push: 'false', platforms: 'linux/amd64,linux/arm64' }
    })
    expect({ main: run.main.exitCode, log: run.main.exitCode === 0 ? '' : run.main.log }).toEqual({ main: 0, log: '' })
    const name = run.outputs.builder ?? ''
    expect(name).toMatch(/^go-build-action-[0-9a-f]{8}$/)
    expect(run.state.dockerContext).toBe(name)
    expect(run.state.builder ?? '').toBe('')
    expect(run.outputs['builder-platforms']?.split(',')).toEqual(expect.arrayContaining(['linux/amd64', 'linux/arm64']))
    expect(run.main.log).toContain(`docker --context ${name} buildx build --builder ${name} `)
    expect(run.post?.exitCode).toBe(0)
    expect(run.post?.log).toContain(`removed docker context ${name}`)
    expect(await contextExists(name)).toBe(false)
    expect(await builderExists(name)).toBe(false)
  }, 5 * MINUTES)
})

describe('an existing builder passed as "builder"', () => {
  const name = `e2e-existing-${Date.now().toString(36)}`
  beforeAll(async () => {
    await docker(['context', 'create', name, '--docker', 'host=unix:///var/run/docker.sock'])
  })
  afterAll(async () => {
    await docker(['context', 'rm', '--force', name]).catch(() => undefined)
  })

  it('is used and survives the post step', async () => {
    const run = await runAction({
      cwd: await copyOnlyContext(),
      inputs: { images: freshRepository('builder-existing'), 'tag-template': 'x', push: 'false', platforms: 'linux/amd64', builder: name }
    })
    expect({ main: run.main.exitCode, log: run.main.exitCode === 0 ? '' : run.main.log }).toEqual({ main: 0, log: '' })
    expect(run.outputs.builder).toBe(name)
    expect(run.main.log).toContain(`using the existing builder ${name}`)
    expect(run.main.log).toContain(`buildx build --builder ${name} `)
    expect(run.state.dockerContext ?? '').toBe('')
    expect(run.state.builder ?? '').toBe('')
    expect(run.post?.exitCode).toBe(0)
    expect(await builderExists(name)).toBe(true)
    expect(await contextExists(name)).toBe(true)
  }, 5 * MINUTES)

  it('that does not exist fails naming the input', async () => {
    const run = await runAction({
      cwd: await copyOnlyContext(),
      inputs: { images: freshRepository('builder-missing'), 'tag-template': 'x', push: 'false', platforms: 'linux/amd64', builder: 'no-such-builder-e2e' }
    })
    expect(run.main.exitCode).toBe(1)
    expect(run.main.log).toMatch(/::error::input "builder": cannot use the builder "no-such-builder-e2e"/)
    expect(run.post?.exitCode).toBe(0)
  }, 5 * MINUTES)
})

describe('a requested platform the builder lacks', () => {
  it('fails before building, listing the supported platforms, and the post step still cleans up', async () => {
    // qemu: off, and mips64le has no handler on this machine (none of the tests registers qemu-mips64el).
    const run = await runAction({
      cwd: await copyOnlyContext(),
      inputs: { images: freshRepository('builder-lacks'), 'tag-template': 'x', push: 'false', platforms: 'linux/amd64,linux/mips64le', qemu: 'off' }
    })
    expect(run.main.exitCode).toBe(1)
    expect(run.main.log).toMatch(/::error::input "platforms": the docker builder go-build-action-[0-9a-f]{8} cannot build linux\/mips64le; it supports linux\/amd64, /)
    expect(run.main.log).not.toMatch(/buildx build/)
    expect(run.post?.exitCode).toBe(0)
    expect(await contextExists(run.state.dockerContext ?? 'unset')).toBe(false)
  }, 5 * MINUTES)
})

describe('the docker-container driver on this offline machine', () => {
  it('says the BuildKit image could not be pulled and what to set, and the post step removes the half-made builder', async () => {
    const run = await runAction({
      cwd: await copyOnlyContext(),
      inputs: { images: freshRepository('builder-offline'), 'tag-template': 'x', push: 'false', platforms: 'linux/amd64', driver: 'docker-container' }
    })
    expect(run.main.exitCode).toBe(1)
    expect(run.main.log).toMatch(
      /::error::the docker-container builder could not boot: its BuildKit image moby\/buildkit:v0\.26\.3 could not be pulled \(.*\)\. Set "driver: docker" to build with the engine's own BuildKit, or set "buildkit-image" to a BuildKit image in a registry this runner can reach\./
    )
    const name = run.state.builder ?? ''
    expect(name).toMatch(/^go-build-action-[0-9a-f]{8}$/)
    expect(run.post?.exitCode).toBe(0)
    expect(run.post?.log).toContain(`removed builder ${name}`)
    expect(await builderExists(name)).toBe(false)
  }, 5 * MINUTES)
})
