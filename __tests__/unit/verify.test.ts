import { describe, expect, it } from '@jest/globals'
import { cancelCommands, resetCancelForTests } from '../../src/core/docker.js'
import {
  checkConfigs,
  checkIndexPlatforms,
  configsByPlatform,
  describeVerifyFailure,
  runVerifyCommand,
  verifyCommandArgs,
  verifyStagedIndex
} from '../../src/verify/verify.js'
import { parsePlatform } from '../../src/core/platform.js'
import { parseIndex, sha256Digest } from '../../src/core/registry.js'
import { NO_RETRY } from '../../src/core/retry.js'
import { FakeDocker } from '../../__fixtures__/fake-docker.js'
import { fixture } from '../../__fixtures__/fixtures.js'

const raw = fixture('index-with-attestations.json')
const digest = sha256Digest(raw)
const four = ['linux/amd64', 'linux/arm64', 'linux/ppc64le', 'linux/s390x'].map(parsePlatform)

const attestationDigests = new Set(
  (JSON.parse(raw) as { manifests: Array<{ digest: string; platform: { os: string } }> }).manifests
    .filter(m => m.platform.os === 'unknown')
    .map(m => m.digest)
)

/** Serves the fixtures: the index, its image configs, image manifests and attestation manifests. */
function registry(): FakeDocker {
  return new FakeDocker()
    .on(['buildx', 'imagetools', 'inspect', '--format'], { stdout: fixture('image-configs.json') })
    .on(['buildx', 'imagetools', 'inspect', '--raw'], args => {
      const reference = args.at(-1) ?? ''
      if (reference.endsWith(digest)) return { stdout: raw }
      const attestation = [...attestationDigests].some(d => reference.endsWith(d))
      return { stdout: fixture(attestation ? 'attestation-manifest.json' : 'image-manifest.json') }
    })
}

describe('checkIndexPlatforms', () => {
  it('finds nothing wrong when the index lists exactly the requested platforms', () => {
    expect(checkIndexPlatforms(parseIndex(raw, 'x'), four)).toEqual({ missing: [], unexpected: [], attestations: 4 })
  })

  it('reports missing and unexpected platforms, never counting attestations as platforms', () => {
    const requested = ['linux/amd64', 'linux/arm64', 'linux/arm/v7'].map(parsePlatform)
    expect(checkIndexPlatforms(parseIndex(raw, 'x'), requested)).toEqual({
      missing: ['linux/arm/v7'],
      unexpected: ['linux/ppc64le', 'linux/s390x'],
      attestations: 4
    })
  })
})

describe('checkConfigs', () => {
  const configs = JSON.parse(fixture('image-configs.json')) as Record<string, { os: string; architecture: string }>

  it('accepts configs that name their platform', () => {
    expect(checkConfigs(configs, four)).toEqual([])
  })

  it('names a platform whose config says another architecture', () => {
    const wrong = { ...configs, 'linux/s390x': { ...configs['linux/s390x']!, architecture: 'amd64' } }
    expect(checkConfigs(wrong, four)).toEqual(['linux/s390x: its image config says linux/amd64'])
  })

  it('names a platform with no config', () => {
    expect(checkConfigs({}, [parsePlatform('linux/arm64')])).toEqual(['linux/arm64: no image config'])
  })
})

describe('configsByPlatform', () => {
  it('keys the bare config buildx prints for a one-image index by that image\'s platform', () => {
    const index = parseIndex(raw, 'x')
    const one = { ...index, manifests: index.manifests.filter(m => m.platform?.architecture === 's390x') }
    expect(configsByPlatform({ os: 'linux', architecture: 's390x', created: 'x' }, one)).toEqual({
      'linux/s390x': { os: 'linux', architecture: 's390x', created: 'x' }
    })
  })

  it('passes a platform map through', () => {
    const configs = JSON.parse(fixture('image-configs.json'))
    expect(configsByPlatform(configs, parseIndex(raw, 'x'))).toBe(configs)
  })
})

describe('verifyStagedIndex', () => {
  it('checks the index, the configs and every platform manifest, and every other repository', async () => {
    const docker = registry()
    const verified = await verifyStagedIndex(docker, ['localhost:5000/a', 'localhost:5001/b'], digest, four, NO_RETRY)
    expect(verified.attestations).toHaveLength(4)
    expect(verified.attestations.map(a => a.platform)).toEqual(['linux/amd64', 'linux/arm64', 'linux/ppc64le', 'linux/s390x'])
    expect(verified.attestations[0]?.predicateTypes).toEqual(['https://slsa.dev/provenance/v0.2'])
    expect(verified.platforms.map(p => p.platform)).toEqual(['linux/amd64', 'linux/arm64', 'linux/ppc64le', 'linux/s390x'])
    // manifest (673) + config + layers of the image-manifest fixture
    const manifest = JSON.parse(fixture('image-manifest.json')) as { config: { size: number }; layers: Array<{ size: number }> }
    expect(verified.platforms[0]?.size).toBe(673 + manifest.config.size + manifest.layers.reduce((s, l) => s + l.size, 0))
    expect(docker.calls.map(c => c.args.at(-1))).toContain(`localhost:5001/b@${digest}`)
  })

  it('fails before any tag moves when a requested platform is missing', async () => {
    await expect(verifyStagedIndex(registry(), ['r'], digest, [...four, parsePlatform('linux/riscv64')], NO_RETRY)).rejects.toThrow(
      `r@${digest} does not list exactly the requested platforms: missing linux/riscv64`
    )
  })

  it('fails when the registry serves other bytes for the digest', async () => {
    const docker = new FakeDocker().on(['buildx', 'imagetools', 'inspect', '--raw'], { stdout: raw })
    await expect(verifyStagedIndex(docker, ['r'], `sha256:${'0'.repeat(64)}`, four, NO_RETRY)).rejects.toThrow(`r serves ${digest} for sha256:000`)
  })
})

describe('the verify command', () => {
  it('pulls each platform first, bounded by registry-timeout, and times only the command with verify-timeout', async () => {
    const docker = new FakeDocker().on(['pull'], {}).on(['run'], { stdout: 'ok\n' })
    const retry = { attempts: 2, baseDelayMs: 0, maxDelayMs: 0, timeoutSeconds: 15 }
    await runVerifyCommand(docker, 'r@sha256:ab', four.slice(0, 2), ['go', 'version'], true, 30, retry)
    expect(docker.calls.map(c => [c.args[0], c.args.includes('linux/arm64') ? 'arm64' : 'amd64', c.options.timeout])).toEqual([
      ['pull', 'amd64', { seconds: 15, input: 'registry-timeout', progress: true }],
      ['run', 'amd64', { seconds: 30, input: 'verify-timeout' }],
      ['pull', 'arm64', { seconds: 15, input: 'registry-timeout', progress: true }],
      ['run', 'arm64', { seconds: 30, input: 'verify-timeout' }]
    ])
    expect(docker.calls[0]?.args).toEqual(['pull', '--platform', 'linux/amd64', 'r@sha256:ab'])
    // the image is there: the run itself never pulls
    expect(docker.calls[1]?.args.slice(docker.calls[1].args.indexOf('--pull'), docker.calls[1].args.indexOf('--pull') + 2)).toEqual(['--pull', 'never'])
  })

  it('a pull that fails is the registry\'s fault, not the command\'s', async () => {
    const docker = new FakeDocker().on(['pull'], { exitCode: 1, stderr: 'Error response from daemon: manifest unknown' }).on(['run'], {})
    await expect(runVerifyCommand(docker, 'r@sha256:ab', four.slice(0, 1), ['true'], true, 30)).rejects.toThrow(
      /^cannot pull r@sha256:ab for linux\/amd64 to run "verify-command" in it, so no tag moved: docker pull failed/
    )
  })

  it('records the running container, so a cancelled job removes it', async () => {
    let during: string[] = []
    const docker = new FakeDocker().on(['run'], () => {
      during = cancelCommands()
      resetCancelForTests()
      return {}
    })
    await runVerifyCommand(docker, 'r:s', four.slice(0, 1), ['true'], false, 30)
    expect(during).toHaveLength(1)
    expect(during[0]).toMatch(/^go-build-action-verify-/)
    expect(docker.calls[0]?.args).toContain(during[0])
    // no longer running: nothing left to remove
    expect(cancelCommands()).toEqual([])
    resetCancelForTests()
  })

  it('overrides the entrypoint so any image can run it', () => {
    expect(verifyCommandArgs('r:staging', parsePlatform('linux/arm64'), ['go', 'version'], 'v1')).toEqual([
      'run', '--rm', '--quiet', '--name', 'v1', '--pull', 'never', '--network', 'none', '--platform', 'linux/arm64', '--entrypoint', 'go', 'r:staging', 'version'
    ])
  })

  it('explains an exec format error as a missing QEMU handler', () => {
    expect(describeVerifyFailure(parsePlatform('linux/s390x'), 'exec /usr/bin/go: exec format error', 1)).toMatch(
      /^linux\/s390x: the image does not run here \(exec format error\): no QEMU handler for s390x/
    )
  })

  it('runs every platform and names each one that failed', async () => {
    const docker = new FakeDocker().on(['run'], args =>
      args.includes('linux/arm64') || args.includes('linux/s390x')
        ? { exitCode: 1, stderr: args.includes('linux/arm64') ? 'exec format error' : 'go: not found' }
        : { stdout: 'go version go1.19.8\n' }
    )
    await expect(runVerifyCommand(docker, 'r:s', four, ['go', 'version'], false, 300)).rejects.toThrow(
      /^input "verify-command" failed on 2 of 4 platform\(s\), so no tag moved: linux\/arm64: the image does not run here.*; linux\/s390x: the verify command exited 1: go: not found; the command must exit 0 in every platform's image: fix the image, or change "verify-command"$/
    )
    expect(docker.calls).toHaveLength(4)
  })

  it('says a cause that every platform shares once, naming the platforms', async () => {
    const docker = new FakeDocker().on(['run'], { exitCode: 1, stderr: "docker: exit status 1\nRun 'docker run --help' for more information\n" })
    await expect(runVerifyCommand(docker, 'r:s', four.slice(0, 2), ['false'], false, 300)).rejects.toThrow(
      /^input "verify-command" failed on 2 of 2 platform\(s\), so no tag moved: linux\/amd64, linux\/arm64: the verify command exited 1: docker: exit status 1; the command/
    )
  })

  it('says which program is not in the image, without docker\'s runtime noise', async () => {
    // what docker 26 prints for `docker run --entrypoint no-such-binary` (captured on the e2e machine)
    const stderr =
      'docker: Error response from daemon: failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "no-such-binary": executable file not found in $PATH: unknown.\n' +
      "Run 'docker run --help' for more information\n"
    const docker = new FakeDocker().on(['run'], { exitCode: 127, stderr })
    await expect(runVerifyCommand(docker, 'r:s', four.slice(0, 2), ['no-such-binary', '--version'], false, 300)).rejects.toThrow(
      'input "verify-command" failed on 2 of 2 platform(s), so no tag moved: linux/amd64, linux/arm64: "no-such-binary" is not in the image (executable file not found): install it in the image, or change "verify-command"'
    )
  })

  it('names the timeout input when the command is killed', async () => {
    const docker = new FakeDocker().on(['run'], { exitCode: 137, timedOut: { seconds: 5, input: 'verify-timeout' } }).on(['rm'], {})
    await expect(runVerifyCommand(docker, 'r:s', four.slice(0, 1), ['sleep', 'infinity'], false, 5)).rejects.toThrow(
      'linux/amd64: the verify command did not finish within 5 s and was killed (input "verify-timeout"): make it end sooner, or raise "verify-timeout"'
    )
    expect(docker.calls[0]?.options.timeout).toEqual({ seconds: 5, input: 'verify-timeout' })
    // killing the CLI leaves the container running: it is removed by name
    expect(docker.calls[1]?.args).toEqual(['rm', '--force', docker.calls[0]?.args[4]])
  })

  it('returns what each platform printed', async () => {
    const docker = new FakeDocker().on(['pull'], {}).on(['run'], args => ({ stdout: `ran ${args[args.indexOf('--platform') + 1]}\n` }))
    await expect(runVerifyCommand(docker, 'r@sha256:x', four.slice(0, 2), ['true'], true, 300)).resolves.toEqual({
      'linux/amd64': 'ran linux/amd64',
      'linux/arm64': 'ran linux/arm64'
    })
    expect(docker.calls.filter(c => c.args[0] === 'run').every(c => c.args.includes('never'))).toBe(true)
  })
})
