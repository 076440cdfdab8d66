import { describe, expect, it } from '@jest/globals'
import { readFileSync } from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describeElf, elfArchitecture, expectedMachine, readElfHeader, runsOn } from '../../src/verify/elf.js'
import { parsePlatform } from '../../src/core/platform.js'

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '__fixtures__', 'elf')
const head = (name: string): Uint8Array => new Uint8Array(readFileSync(path.join(dir, name)))

describe('readElfHeader over real Debian binaries (__fixtures__/elf)', () => {
  it.each([
    ['busybox-static-amd64.head', 'amd64', 64, 'little', 'executable', false, 'an x86-64 executable, statically linked'],
    ['busybox-static-arm64.head', 'arm64', 64, 'little', 'executable', false, 'an aarch64 executable, statically linked'],
    ['busybox-static-armhf.head', 'arm', 32, 'little', 'executable', false, 'an arm (32-bit) executable, statically linked'],
    ['busybox-static-ppc64el.head', 'ppc64le', 64, 'little', 'executable', false, 'a ppc64le executable, statically linked'],
    ['busybox-static-s390x.head', 's390x', 64, 'big', 'executable', false, 'an s390x executable, statically linked'],
    ['env-dynamic-amd64.head', 'amd64', 64, 'little', 'shared', true, 'an x86-64 executable (PIE or shared object), dynamically linked'],
    ['env-dynamic-arm64.head', 'arm64', 64, 'little', 'shared', true, 'an aarch64 executable (PIE or shared object), dynamically linked']
  ])('%s is %s (%i-bit %s-endian %s, dynamic: %s)', (file, arch, bits, endian, type, dynamic, words) => {
    const header = readElfHeader(head(file))
    expect(header).toEqual({ bits, endian, type, machine: expect.any(Number), dynamic })
    expect(elfArchitecture(header!)).toBe(arch)
    expect(describeElf(header!)).toBe(words)
  })

  it('reads the machine from the first 20 bytes even when the program headers are cut off (linking unknown)', () => {
    const header = readElfHeader(head('busybox-static-s390x.head').slice(0, 24))
    expect(header).toEqual({ bits: 64, endian: 'big', type: 'executable', machine: 22 })
    expect(describeElf(header!)).toBe('an s390x executable')
  })

  it.each([['entrypoint.sh'], ['truncated.head']])('%s is not ELF', file => {
    expect(readElfHeader(head(file))).toBeUndefined()
  })

  it('is not fooled by the magic with an invalid class', () => {
    const bytes = head('busybox-static-amd64.head').slice(0, 64)
    bytes[4] = 7
    expect(readElfHeader(bytes)).toBeUndefined()
  })
})

describe('runsOn', () => {
  const binaries = {
    amd64: readElfHeader(head('busybox-static-amd64.head'))!,
    arm64: readElfHeader(head('env-dynamic-arm64.head'))!,
    armhf: readElfHeader(head('busybox-static-armhf.head'))!,
    ppc64el: readElfHeader(head('busybox-static-ppc64el.head'))!,
    s390x: readElfHeader(head('busybox-static-s390x.head'))!
  }
  it.each([
    ['amd64', 'linux/amd64', true],
    ['amd64', 'linux/arm64', false],
    ['arm64', 'linux/arm64', true],
    ['arm64', 'linux/arm64/v8', true],
    ['arm64', 'linux/amd64', false],
    ['armhf', 'linux/arm/v7', true],
    ['armhf', 'linux/arm64', false],
    ['ppc64el', 'linux/ppc64le', true],
    ['ppc64el', 'linux/s390x', false],
    ['s390x', 'linux/s390x', true],
    ['s390x', 'linux/ppc64le', false]
  ] as const)('%s binary on %s: %s', (binary, platform, expected) => {
    expect(runsOn(binaries[binary], parsePlatform(platform))).toBe(expected)
  })

  it('a big-endian ppc64 binary does not run on ppc64le', () => {
    expect(runsOn({ ...binaries.ppc64el, endian: 'big' }, parsePlatform('linux/ppc64le'))).toBe(false)
  })

  it('an i386 binary runs in an amd64 image, not the other way round', () => {
    const i386 = { bits: 32, endian: 'little', type: 'executable', machine: 3 } as const
    expect(runsOn(i386, parsePlatform('linux/amd64'))).toBe(true)
    expect(runsOn(binaries.amd64, parsePlatform('linux/386'))).toBe(false)
  })
})

describe('expectedMachine', () => {
  it.each([
    ['linux/amd64', 'x86-64'],
    ['linux/arm64', 'aarch64'],
    ['linux/arm/v7', 'arm (32-bit)'],
    ['linux/ppc64le', 'ppc64le'],
    ['linux/s390x', 's390x']
  ])('%s → %s', (platform, machine) => {
    expect(expectedMachine(parsePlatform(platform))).toBe(machine)
  })
})
