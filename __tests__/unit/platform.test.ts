import { describe, expect, it } from '@jest/globals'
import { archTagSuffix, formatPlatform, parsePlatform, samePlatform } from '../../src/platform.js'

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
    [' linux/s390x ', 'linux/s390x']
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
  it('tells arm/v6 from arm/v7', () => {
    expect(samePlatform(parsePlatform('linux/arm/v6'), parsePlatform('linux/arm/v7'))).toBe(false)
  })
})
