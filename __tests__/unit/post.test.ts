import { describe, expect, it } from '@jest/globals'
import { FakeDocker } from '../../__fixtures__/fake-docker.js'
import { removeLocalImages } from '../../src/post.js'

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
