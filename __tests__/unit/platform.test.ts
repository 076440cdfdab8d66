import { describe, expect, it } from '@jest/globals'
import { archTagSuffix, formatPlatform, parsePlatform, platformKey, samePlatform } from '../../src/core/platform.js'

describe('parsePlatform', () => {
  it.each([
    ['linux/amd64', 'linux/amd64'],
    ['linux/arm64', 'linux/arm64'],
    ['linux/arm/v7', 'linux/arm/v7'],
    ['arm64', 'linux/arm64'],
    ['aarch64', 'linux/arm64'],
    ['x86_64', 'linux/amd64'],
    ['ppc64el', 'linux/ppc64le'],
    ['linux/armhf', 'linux/arm/v7'],
    [' linux/s390x ', 'linux/s390x'],
    ['linux/arm64/v8', 'linux/arm64'],
    ['linux/aarch64/v8', 'linux/arm64'],
    ['linux/amd64/v1', 'linux/amd64'],
    ['linux/amd64/v3', 'linux/amd64/v3'],
    ['linux/arm', 'linux/arm/v7'],
    ['linux/armel', 'linux/arm/v6'],
    ['i386', 'linux/386']
  ])('%s → %s', (text, expected) => {
    expect(formatPlatform(parsePlatform(text))).toBe(expected)
  })

  it.each([
    ['windows/amd64', /only linux.*\(got os "windows"\): write linux\/ARCHITECTURE, e\.g\. linux\/arm64$/],
    ['linux/sparc', /not a known platform: write linux\/ARCHITECTURE, e\.g\. linux\/arm64; known architectures: .*amd64, arm64/],
    ['linux/arm/v9', /no variant "v9".*v5, v6, v7\): write it without the variant, or with one of those$/],
    ['linux/s390x/v2', /no variant "v2".*none/],
    ['linux/arm64/v8/x', /not a platform/],
    ['/amd64', /not a platform/],
    ['linux/', /not a platform/]
  ])('rejects %s', (text, message) => {
    expect(() => parsePlatform(text)).toThrow(message)
  })
})

describe('archTagSuffix', () => {
  it.each([
    ['linux/amd64', 'amd64'],
    ['linux/arm64', 'arm64'],
    ['linux/ppc64le', 'ppc64le'],
    ['linux/s390x', 's390x'],
    ['linux/arm/v7', 'arm-v7']
  ])('%s → %s', (text, suffix) => {
    expect(archTagSuffix(parsePlatform(text))).toBe(suffix)
  })
})

describe('samePlatform', () => {
  it('treats arm64 and arm64/v8 as one platform', () => {
    expect(samePlatform(parsePlatform('linux/arm64'), parsePlatform('linux/arm64/v8'))).toBe(true)
  })
  it('treats arm and arm/v7, amd64 and amd64/v1 as one platform', () => {
    expect(samePlatform({ os: 'linux', architecture: 'arm' }, parsePlatform('linux/arm/v7'))).toBe(true)
    expect(samePlatform({ os: 'linux', architecture: 'amd64', variant: 'v1' }, parsePlatform('linux/amd64'))).toBe(true)
  })
  it('keys index entries by the normalized spelling', () => {
    expect(platformKey({ os: 'linux', architecture: 'arm64', variant: 'v8' })).toBe('linux/arm64')
  })
  it('tells arm/v6 from arm/v7', () => {
    expect(samePlatform(parsePlatform('linux/arm/v6'), parsePlatform('linux/arm/v7'))).toBe(false)
  })
})
