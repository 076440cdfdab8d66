import { describe, expect, it } from '@jest/globals'
import {
  DEFAULT_BUILDX_DOWNLOAD_URL,
  parseBuildxVersion,
  readBuildxInstallSettings,
  releasePlatform,
  sameVersion
} from '../../src/setup/buildx-install.js'
import { checksumsUrl, parseChecksums, releaseUrl } from '../../src/setup/release-download.js'

const reader =
  (inputs: Record<string, string>) =>
  (name: string): string =>
    inputs[name] ?? ''

describe('releaseUrl and checksumsUrl', () => {
  it.each([
    [
      DEFAULT_BUILDX_DOWNLOAD_URL, '0.13.1', 'linux', 'amd64',
      'https://github.com/docker/buildx/releases/download/v0.13.1/buildx-v0.13.1.linux-amd64',
      'https://github.com/docker/buildx/releases/download/v0.13.1/checksums.txt'
    ],
    [
      DEFAULT_BUILDX_DOWNLOAD_URL, '0.13.1', 'linux', 'arm-v7',
      'https://github.com/docker/buildx/releases/download/v0.13.1/buildx-v0.13.1.linux-arm-v7',
      'https://github.com/docker/buildx/releases/download/v0.13.1/checksums.txt'
    ],
    [
      DEFAULT_BUILDX_DOWNLOAD_URL, '0.13.1', 'windows', 'amd64',
      'https://github.com/docker/buildx/releases/download/v0.13.1/buildx-v0.13.1.windows-amd64.exe',
      'https://github.com/docker/buildx/releases/download/v0.13.1/checksums.txt'
    ],
    [
      'http://127.0.0.1:8080/mirror/{version}/{os}/{arch}/docker-buildx?token=x', '0.12.0', 'linux', 's390x',
      'http://127.0.0.1:8080/mirror/0.12.0/linux/s390x/docker-buildx?token=x',
      'http://127.0.0.1:8080/mirror/0.12.0/linux/s390x/checksums.txt'
    ]
  ])('%s for %s %s/%s', (template, version, os, arch, url, sums) => {
    expect(releaseUrl(template, version, os, arch)).toBe(url)
    expect(checksumsUrl(url)).toBe(sums)
  })
})

describe('parseChecksums', () => {
  it('reads sha256sum lines, binary (*) or text', () => {
    const a = 'a'.repeat(64)
    const b = 'B'.repeat(64)
    const sums = parseChecksums(`${a} *buildx-v0.13.1.linux-amd64\n${b}  buildx-v0.13.1.linux-arm64\n\nnot a line\n`)
    expect([...sums]).toEqual([
      ['buildx-v0.13.1.linux-amd64', a],
      ['buildx-v0.13.1.linux-arm64', 'b'.repeat(64)]
    ])
  })
})

describe('versions', () => {
  it.each([
    ['github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3', '0.13.1+ds1'],
    ['github.com/docker/buildx v0.13.1 788433953af10f2a698f5c07611dddce2e08c7a0', '0.13.1'],
    ['github.com/docker/buildx v0.14.0-rc1 abc', '0.14.0-rc1'],
    ['docker: \'buildx\' is not a docker command.', undefined]
  ])('reads %s as %s', (output, version) => {
    expect(parseBuildxVersion(output)).toBe(version)
  })
  it.each([
    ['0.13.1+ds1', '0.13.1', true],
    ['0.13.1', 'v0.13.1', true],
    ['0.13.1', '0.13.2', false],
    ['0.14.0-rc1', '0.14.0', false],
    [undefined, '0.13.1', false]
  ])('%s is %s: %s', (installed, wanted, same) => {
    expect(sameVersion(installed, wanted)).toBe(same)
  })
})

describe('releasePlatform', () => {
  it.each([
    ['linux', 'x64', 'linux', 'amd64'],
    ['linux', 'arm64', 'linux', 'arm64'],
    ['linux', 'arm', 'linux', 'arm-v7'],
    ['linux', 'ppc64', 'linux', 'ppc64le'],
    ['darwin', 'arm64', 'darwin', 'arm64'],
    ['win32', 'x64', 'windows', 'amd64']
  ])('%s/%s is %s-%s', (platform, arch, os, releaseArch) => {
    expect(releasePlatform(platform, arch)).toEqual({ os, arch: releaseArch })
  })
})

describe('readBuildxInstallSettings', () => {
  it('is off by default, with the GitHub release layout', () => {
    expect(readBuildxInstallSettings(reader({}))).toEqual({ version: undefined, downloadUrl: DEFAULT_BUILDX_DOWNLOAD_URL })
  })
  it('drops a leading v', () => {
    expect(readBuildxInstallSettings(reader({ 'buildx-version': 'v0.13.1' })).version).toBe('0.13.1')
  })
  it.each([
    [{ 'buildx-version': 'latest' }, /input "buildx-version": "latest" is not a buildx release version/],
    [{ 'buildx-download-url': 'https://mirror/buildx' }, /input "buildx-download-url": has no \{version\} placeholder/],
    [{ 'buildx-download-url': 'mirror/{version}' }, /input "buildx-download-url": "mirror\/\{version\}" is not a URL template/]
  ])('rejects %j', (inputs, message) => {
    expect(() => readBuildxInstallSettings(reader(inputs))).toThrow(message)
  })
})
