import { describe, expect, it } from '@jest/globals'
import { checkIndexPlatforms, verifyPublished } from '../../src/verify.js'
import { parsePlatform } from '../../src/platform.js'
import { parseIndex } from '../../src/registry.js'
import { FakeDocker } from '../../__fixtures__/fake-docker.js'
import { fixture } from '../../__fixtures__/fixtures.js'

const raw = fixture('index-with-attestations.json')
const four = ['linux/amd64', 'linux/arm64', 'linux/ppc64le', 'linux/s390x'].map(parsePlatform)

describe('checkIndexPlatforms', () => {
  it('finds nothing wrong when the index lists exactly the requested platforms', () => {
    expect(checkIndexPlatforms(parseIndex(raw, 'x'), four)).toEqual({ missing: [], unexpected: [], attestations: 4 })
  })

  it('reports missing and unexpected platforms', () => {
    const requested = ['linux/amd64', 'linux/arm64', 'linux/arm/v7'].map(parsePlatform)
    expect(checkIndexPlatforms(parseIndex(raw, 'x'), requested)).toEqual({
      missing: ['linux/arm/v7'],
      unexpected: ['linux/ppc64le', 'linux/s390x'],
      attestations: 4
    })
  })
})

describe('verifyPublished', () => {
  it('reads every reference back and returns the index', async () => {
    const docker = new FakeDocker().on(['buildx', 'imagetools', 'inspect'], { stdout: raw })
    const published = await verifyPublished(docker, ['localhost:5000/a:1', 'localhost:5001/a:1'], four)
    expect(published.reference).toBe('localhost:5000/a:1')
    expect(docker.calls.map(c => c.args.at(-1))).toEqual(['localhost:5000/a:1', 'localhost:5001/a:1'])
  })

  it('fails when the index lacks a requested platform', async () => {
    const docker = new FakeDocker().on(['buildx', 'imagetools', 'inspect'], { stdout: raw })
    await expect(verifyPublished(docker, ['r:1'], [...four, parsePlatform('linux/riscv64')])).rejects.toThrow(
      'r:1 does not list exactly the requested platforms: missing linux/riscv64'
    )
  })

  it('fails when two references serve different indexes', async () => {
    const other = raw.replace('"size": 673', '"size": 674')
    const docker = new FakeDocker().on(['buildx', 'imagetools', 'inspect'], args => ({
      stdout: args.at(-1) === 'r:1' ? raw : other
    }))
    await expect(verifyPublished(docker, ['r:1', 's:1'], four)).rejects.toThrow(/^s:1 serves sha256:\w+, but r:1 serves/)
  })
})
