import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { Cleanup, removeLocalImages } from '../../src/core/cleanup.js'
import { FakeDocker } from '../../__fixtures__/fake-docker.js'
import type { Docker } from '../../src/core/docker.js'

describe('Cleanup', () => {
  let dir: string
  let stateFile: string
  const saved = process.env.GITHUB_STATE
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'cleanup-test-'))
    stateFile = path.join(dir, 'state')
    await writeFile(stateFile, '')
    process.env.GITHUB_STATE = stateFile
  })
  afterEach(async () => {
    process.env.GITHUB_STATE = saved
    await rm(dir, { recursive: true, force: true })
  })
  /** The last value saved for localImages (the one the post step sees). */
  const localImages = async (): Promise<string[]> => {
    const values = [...(await readFile(stateFile, 'utf8')).matchAll(/localImages<<(\S+)\n(.*)\n\1/g)].map(m => m[2]!)
    return JSON.parse(values.at(-1) ?? '[]') as string[]
  }

  it('removes what the run created in one docker image rm, and leaves the post step nothing', async () => {
    const docker = new FakeDocker().on(['image', 'rm'], {})
    const cleanup = new Cleanup(docker)
    cleanup.created(['r:staging', 'r:t-arm64'])
    expect(await localImages()).toEqual(['r:staging', 'r:t-arm64'])
    // a name the run did not create is never removed
    cleanup.removeImages(['r:staging', 'r:t-arm64', 'someone:else'])
    await cleanup.settle()
    expect(docker.calls.map(c => c.args)).toEqual([['image', 'rm', 'r:staging', 'r:t-arm64']])
    expect(await localImages()).toEqual([])
  })

  it('removes each group in its own docker image rm, every group started before any ended', async () => {
    const started: string[][] = []
    let release!: () => void
    const gate = new Promise<void>(resolve => (release = resolve))
    const docker: Docker = {
      run: async args => {
        started.push([...args])
        await gate
        return { exitCode: 0, stdout: '', stderr: '' }
      }
    }
    const cleanup = new Cleanup(docker)
    cleanup.created(['r@sha256:a', 'r:t-amd64', 'r@sha256:b', 'r:t-arm64'])
    cleanup.removeImageGroups([['r@sha256:a', 'r:t-amd64'], ['r@sha256:b', 'r:t-arm64', 'someone:else']])
    const settled = cleanup.settle()
    // both commands are running while neither has ended
    await new Promise(resolve => setImmediate(resolve))
    expect(started).toEqual([
      ['image', 'rm', 'r@sha256:a', 'r:t-amd64'],
      ['image', 'rm', 'r@sha256:b', 'r:t-arm64']
    ])
    release()
    await settled
    expect(await localImages()).toEqual([])
  })

  it('keeps a name it could not remove for the post step, with a warning, and never rejects', async () => {
    const docker = new FakeDocker().on(['image', 'rm'], { exitCode: 1, stderr: 'Error response from daemon: conflict: image is being used by running container' })
    const cleanup = new Cleanup(docker)
    cleanup.created(['r:staging'])
    cleanup.removeImages(['r:staging'])
    await expect(cleanup.settle()).resolves.toBeUndefined()
    expect(await localImages()).toEqual(['r:staging'])
  })

  it('removes a directory in the background', async () => {
    const layout = path.join(dir, 'layout')
    await mkdir(path.join(layout, 'blobs'), { recursive: true })
    const cleanup = new Cleanup(new FakeDocker())
    cleanup.removeDirectory(layout)
    await cleanup.settle()
    expect(existsSync(layout)).toBe(false)
  })
})

const NAMES = ['r:staging', 'r:t-amd64', 'r:t-arm64']

describe('removeLocalImages', () => {
  it('removes every name in one docker image rm', async () => {
    const docker = new FakeDocker().on(['image', 'rm'], { stdout: 'Untagged: r:staging\nUntagged: r:t-amd64\nUntagged: r:t-arm64\n' })
    expect(await removeLocalImages(docker, NAMES)).toEqual(NAMES.map(n => `removed the local image name ${n}`))
    expect(docker.calls.map(c => c.args)).toEqual([['image', 'rm', ...NAMES]])
  })

  it('takes a name already gone for removed work, and does not claim to have removed it', async () => {
    const docker = new FakeDocker().on(['image', 'rm'], { exitCode: 1, stdout: 'Untagged: r:staging\n', stderr: 'Error response from daemon: No such image: r:t-amd64\nError response from daemon: No such image: r:t-arm64\n' })
    expect(await removeLocalImages(docker, NAMES)).toEqual(['removed the local image name r:staging'])
  })

  it('fails with what the engine said for any other refusal', async () => {
    const docker = new FakeDocker().on(['image', 'rm'], { exitCode: 1, stderr: 'Error response from daemon: conflict: unable to remove repository reference "r:staging" (must force) - container 1234 is using its referenced image\n' })
    await expect(removeLocalImages(docker, NAMES)).rejects.toThrow(/container 1234 is using/)
  })
})
