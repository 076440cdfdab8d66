import { describe, expect, it } from '@jest/globals'
import { CONSISTENCY_ATTEMPTS, inspectIndex, isAttestation, parseIndex, platformDigests, readJustWritten, sha256Digest } from '../../src/core/registry.js'
import { FakeDocker } from '../../__fixtures__/fake-docker.js'
import { fixture } from '../../__fixtures__/fixtures.js'

const raw = fixture('index-with-attestations.json')

describe('parseIndex / platformDigests', () => {
  it('maps each platform to its manifest and leaves attestations out', () => {
    const index = parseIndex(raw, 'x')
    expect(index.manifests).toHaveLength(8)
    expect(index.manifests.filter(isAttestation)).toHaveLength(4)
    expect(platformDigests(index)).toEqual({
      'linux/amd64': 'sha256:ab94ddee36d85e0549dbb976cdadc7cdad7b370db5cd8694495ce75094e71af7',
      'linux/arm64': 'sha256:d91a515e246349fd229d2bd255ebbdd4112eb433c45833525c725f8d3dff2448',
      'linux/ppc64le': 'sha256:4d85601230af3cda67071bd29c243b429d5a4450280ec6da9ef57db270b2a610',
      'linux/s390x': 'sha256:0dea037805db7b2721b3fbb317dc4595b0e5fd6150c59ea56fe125e7a069abad'
    })
  })

  it('refuses a single-platform manifest', () => {
    expect(() => parseIndex(fixture('image-manifest.json'), 'r:1')).toThrow(/r:1 is a single-platform manifest/)
  })

  it('refuses something that is not JSON', () => {
    expect(() => parseIndex('<html>', 'r:1')).toThrow(/not JSON/)
  })
})

describe('inspectIndex', () => {
  it('computes the digest of exactly the bytes the registry served', async () => {
    const docker = new FakeDocker().on(['buildx', 'imagetools', 'inspect'], { stdout: raw })
    const published = await inspectIndex(docker, 'localhost:5000/demo/hello:t1')
    // The registry's Docker-Content-Digest for this fixture, read with curl when it was captured.
    expect(published.digest).toBe('sha256:c39e1aeb496060cf14795820b1f7316db7891ee3052bfcdcbbf8d1b10808b875')
    expect(published.digest).toBe(sha256Digest(raw))
    expect(docker.calls[0]?.args).toEqual(['buildx', 'imagetools', 'inspect', '--raw', 'localhost:5000/demo/hello:t1'])
    expect(docker.calls[0]?.options.silent).toBe(true)
  })
})

describe('readJustWritten', () => {
  it('reads again while the registry does not serve a manifest just pushed yet, then gives up', async () => {
    let reads = 0
    const docker = new FakeDocker().on(['buildx', 'imagetools', 'inspect', '--raw'], () =>
      ++reads < 3 ? { exitCode: 1, stderr: 'ERROR: r@sha256:ab: MANIFEST_UNKNOWN: manifest unknown' } : { stdout: '{"manifests":[]}' }
    )
    const pauses: number[] = []
    const sleep = async (ms: number): Promise<void> => void pauses.push(ms)
    const policy = { attempts: 1, baseDelayMs: 100, maxDelayMs: 60_000 }
    const index = await readJustWritten(() => inspectIndex(docker, 'r@sha256:ab', policy), policy, sleep)
    expect(index.index.manifests).toEqual([])
    expect(pauses).toEqual([100, 200])
    const never = new FakeDocker().on(['buildx', 'imagetools', 'inspect', '--raw'], { exitCode: 1, stderr: 'MANIFEST_UNKNOWN' })
    await expect(readJustWritten(() => inspectIndex(never, 'r@sha256:ab', policy), policy, sleep)).rejects.toThrow(/MANIFEST_UNKNOWN/)
    expect(never.calls).toHaveLength(CONSISTENCY_ATTEMPTS)
    // bounded pauses: at most 5 s each
    expect(Math.max(...pauses)).toBeLessThanOrEqual(5000)
    // other failures are not this function's to retry
    const refused = new FakeDocker().on(['buildx', 'imagetools', 'inspect', '--raw'], { exitCode: 1, stderr: 'unauthorized' })
    await expect(readJustWritten(() => inspectIndex(refused, 'r@sha256:ab', policy), policy, sleep)).rejects.toThrow(/unauthorized/)
    expect(refused.calls).toHaveLength(1)
  })
})
