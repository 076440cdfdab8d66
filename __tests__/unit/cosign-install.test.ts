import { describe, expect, it } from '@jest/globals'
import { tmpdir } from 'node:os'
import { FakeDocker } from '../../__fixtures__/fake-docker.js'
import {
  cosignPlatform,
  DEFAULT_COSIGN_DOWNLOAD_URL,
  parseCosignVersion,
  resolveCosign,
  satisfies
} from '../../src/setup/cosign-install.js'
import { checksumsUrl, releaseUrl } from '../../src/setup/release-download.js'

describe('cosign release names', () => {
  it.each([
    ['linux', 'x64', 'https://github.com/sigstore/cosign/releases/download/v2.5.0/cosign-linux-amd64'],
    ['linux', 'arm64', 'https://github.com/sigstore/cosign/releases/download/v2.5.0/cosign-linux-arm64'],
    ['linux', 'arm', 'https://github.com/sigstore/cosign/releases/download/v2.5.0/cosign-linux-arm'],
    ['win32', 'x64', 'https://github.com/sigstore/cosign/releases/download/v2.5.0/cosign-windows-amd64.exe']
  ])('%s/%s: %s, checksums beside it', (platform, arch, url) => {
    const names = cosignPlatform(platform, arch)
    expect(releaseUrl(DEFAULT_COSIGN_DOWNLOAD_URL, '2.5.0', names.os, names.arch)).toBe(url)
    expect(checksumsUrl(url, 'cosign_checksums.txt')).toBe('https://github.com/sigstore/cosign/releases/download/v2.5.0/cosign_checksums.txt')
  })
})

describe('which cosign on PATH will do', () => {
  it.each([
    ['2.5.0', true],
    ['2.5.3', true],
    ['2.6.0', true],
    ['2.4.9', false],
    ['3.0.1', false],
    [undefined, false]
  ])('%s for 2.5.0: %s', (installed, ok) => {
    expect(satisfies(installed, '2.5.0')).toBe(ok)
  })

  it('reads the version cosign reports; a build that reports none ("devel") has none', () => {
    expect(parseCosignVersion('{"gitVersion":"v2.5.3","gitCommit":"x"}')).toBe('2.5.3')
    expect(parseCosignVersion('{"gitVersion":"devel"}')).toBeUndefined()
    expect(parseCosignVersion('not json')).toBeUndefined()
  })

  it('uses the cosign on PATH when it is the pinned version or newer, or when told to use it as it is', async () => {
    const newer = new FakeDocker().on(['version'], { stdout: '{"gitVersion":"v2.6.1"}' })
    expect(await resolveCosign({ version: '2.5.0', downloadUrl: DEFAULT_COSIGN_DOWNLOAD_URL }, tmpdir(), () => newer)).toEqual({ path: 'cosign', version: '2.6.1', source: 'path' })
    const devel = new FakeDocker().on(['version'], { stdout: '{"gitVersion":"devel"}' })
    expect(await resolveCosign({ version: 'installed', downloadUrl: DEFAULT_COSIGN_DOWNLOAD_URL }, tmpdir(), () => devel)).toEqual({ path: 'cosign', version: '', source: 'path' })
    const none = new FakeDocker().on(['version'], { exitCode: 127 })
    await expect(resolveCosign({ version: 'installed', downloadUrl: DEFAULT_COSIGN_DOWNLOAD_URL }, tmpdir(), () => none)).rejects.toThrow('no cosign runs from PATH')
  })
})
