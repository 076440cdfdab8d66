/**
 * `mode: check`'s rewrite and tag: the versions file rewritten in place (only the changed scalars; comments, blank
 * lines, indentation, quoting, key order and every other key as they were), the Dockerfile's ARG defaults, where
 * each version lives, and the tag the new versions render to.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { fixture } from '../../__fixtures__/fixtures.js'
import { checkSummaryRows, goChecksumKeys, loadYaml, locateVersions, rewriteDockerfileArgs, rewriteVersionsFile } from '../../src/check/check.js'
import { parsePlatform } from '../../src/core/platform.js'
import { readSettings } from '../../src/settings.js'
import { mainTagOf, readTagSettings } from '../../src/tags/tags.js'
import { parseVersionsFile, readVersionSettings, resolveVersions, SourceFileError } from '../../src/tags/versions.js'

const FILE = 'versions.yaml'
const original = fixture('releases/versions.yaml')
const SUMS = { amd64: 'a'.repeat(64), arm64: 'b'.repeat(64), ppc64le: 'c'.repeat(64), s390x: 'd'.repeat(64) }
const reader =
  (inputs: Record<string, string>) =>
  (name: string): string =>
    inputs[name] ?? ''
const platforms = (...names: string[]) => names.map(n => parsePlatform(n))

describe('rewriteVersionsFile', () => {
  it('changes the versions and the checksums, and not one other byte', () => {
    const yaml = loadYaml(original, FILE)
    const text = rewriteVersionsFile(yaml, [
      { name: 'go', from: '1.25.4', to: '1.25.5', checksums: SUMS },
      { name: 'k8s', from: '1.34.1', to: '1.34.3' }
    ])
    const expected = original
      .replace('version: 1.25.4 # https', 'version: 1.25.5 # https')
      .replace('amd64: 9fa5ffeda4170de60f67f3aa0f824e426421ba724c21e133c1e35d6159ca1bec', `amd64: ${SUMS.amd64}`)
      .replace('arm64: "a68e86d4b72c2c2fecf7dfed667680b6c2a071221bbdb6913cf83ce3f80d9ff0"', `arm64: "${SUMS.arm64}"`)
      .replace('ppc64le: 1a2e4bb4fbb9da8b5dee5c1ac3b7a0f4a4d6a3d8c3e5b7a1d2c4f6e8a0b2c4d6', `ppc64le: ${SUMS.ppc64le}`)
      .replace('s390x: 3c5e7a9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c', `s390x: ${SUMS.s390x}`)
      .replace('version: v1.34.1', 'version: v1.34.3')
    expect(expected).not.toBe(original)
    expect(text).toBe(expected)
    // and it reads back as the new versions, the way a publish reads it
    expect(parseVersionsFile(text, FILE, ['go', 'k8s', 'llvm'])).toMatchObject({
      go: { value: '1.25.5' },
      k8s: { value: '1.34.3' },
      llvm: { value: '18.1.8' }
    })
  })

  it('a file without a change reads back byte for byte', () => {
    const yaml = loadYaml(original, FILE)
    expect(rewriteVersionsFile(yaml, [])).toBe(original)
  })

  it('updates both keys of a file that holds a version twice, in the flat form too, keeping the quotes', () => {
    const text = "go: '1.25.4'\ngolang:\n  version: \"1.25.4\"\nk8s: v1.34.1 # marker\n"
    expect(rewriteVersionsFile(loadYaml(text, FILE), [
      { name: 'go', from: '1.25.4', to: '1.25.5' },
      { name: 'k8s', from: '1.34.1', to: '1.35.0' }
    ])).toBe("go: '1.25.5'\ngolang:\n  version: \"1.25.5\"\nk8s: v1.35.0 # marker\n")
  })

  it('adds the checksum of a platform built that the file does not list yet, laid out as the others', () => {
    const yaml = loadYaml(original, FILE)
    const keys = goChecksumKeys(yaml.doc, platforms('linux/amd64', 'linux/arm64/v8', 'linux/riscv64', 'linux/arm/v7'))
    expect(keys).toEqual(['amd64', 'arm64', 'ppc64le', 's390x', 'riscv64', 'armv6l'])
    const text = rewriteVersionsFile(yaml, [{ name: 'go', from: '1.25.4', to: '1.25.5', checksums: { ...SUMS, riscv64: 'e'.repeat(64), armv6l: 'f'.repeat(64) } }])
    expect(text).toContain(`      s390x: ${SUMS.s390x}\n      riscv64: ${'e'.repeat(64)}\n      armv6l: ${'f'.repeat(64)}\n\n    # keep the patch releases`)
  })

  it('a flat file keeps no checksums: none are asked for', () => {
    expect(goChecksumKeys(loadYaml('go: 1.25.4\n', FILE).doc, platforms('linux/amd64'))).toEqual([])
  })

  it('refuses a file that no longer holds the version it was read with', () => {
    expect(() => rewriteVersionsFile(loadYaml('go: 1.25.3\n', FILE), [{ name: 'go', from: '1.25.4', to: '1.25.5' }])).toThrow(SourceFileError)
  })

  it('a broken file is the error a publish gives, with file and line', () => {
    expect(() => loadYaml('golang:\n  version: [1.25\n', FILE)).toThrow(/^versions\.yaml:\d+: not valid YAML/)
  })
})

describe('rewriteDockerfileArgs', () => {
  const dockerfile = [
    '# syntax=docker/dockerfile:1',
    'ARG GO_VERSION=1.25.4',
    'FROM golang:${GO_VERSION} AS go',
    '# again, in the stage',
    'ARG GO_VERSION=1.25.4',
    'ARG K8S_VERSION="v1.34.1"',
    'ARG LLVM_VERSION=18.1.8',
    'RUN echo 1.25.4 stays',
    ''
  ].join('\n')

  it('changes every default of the ARG, keeping quotes and v, and nothing else', () => {
    const text = rewriteDockerfileArgs(dockerfile, 'Dockerfile', [
      { arg: 'GO_VERSION', from: '1.25.4', to: '1.25.5' },
      { arg: 'K8S_VERSION', from: '1.34.1', to: '1.34.3' }
    ])
    expect(text).toBe(
      dockerfile
        .replaceAll('ARG GO_VERSION=1.25.4\n', 'ARG GO_VERSION=1.25.5\n')
        .replace('"v1.34.1"', '"v1.34.3"')
    )
    expect(text).toContain('RUN echo 1.25.4 stays')
  })

  it('an ARG without a default is an error naming the file', () => {
    expect(() => rewriteDockerfileArgs('FROM scratch\nARG GO_VERSION\n', 'Dockerfile', [{ arg: 'GO_VERSION', from: '1.25.4', to: '1.25.5' }])).toThrow(
      'Dockerfile: has no ARG GO_VERSION with a default to rewrite'
    )
  })
})

describe('locateVersions and the tag', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'check-unit-'))
    await writeFile(path.join(dir, 'Dockerfile'), 'ARG LLVM_VERSION=18.1.7\nARG GO_VERSION=1.24.0\nFROM scratch\n')
    await writeFile(path.join(dir, 'versions.yaml'), 'golang:\n  version: 1.25.4\nkubernetes:\n  version: 1.34.1\n')
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('knows where each version lives: an input, the versions file, an ARG default', async () => {
    const versions = readVersionSettings(reader({ 'k8s-version': 'v1.33.2' }))
    const located = await locateVersions({ versions, file: path.join(dir, 'Dockerfile') })
    expect(located.tracked).toEqual([
      { name: 'go', current: '1.25.4', home: { kind: 'file', file: path.join(dir, 'versions.yaml') } },
      { name: 'llvm', current: '18.1.7', home: { kind: 'arg', file: path.join(dir, 'Dockerfile'), arg: 'LLVM_VERSION' } },
      { name: 'k8s', current: '1.33.2', home: { kind: 'input', input: 'k8s-version' } }
    ])
  })

  it('renders the new versions with tag-template, tag-prefix and tag-suffix, as a publish names the tag (mainTagOf)', async () => {
    const versions = await resolveVersions(readVersionSettings(reader({})), path.join(dir, 'Dockerfile'))
    const next = { ...versions, resolved: { ...versions.resolved, go: { value: '1.25.5', source: 'x' }, k8s: { value: '1.34.3', source: 'x' } } }
    const github = { eventName: 'schedule', ref: 'refs/heads/main', sha: '0123456789abcdef0123456789abcdef01234567', repositoryUrl: '' }
    expect(mainTagOf(readTagSettings(reader({})), next, github)).toBe('1.25.5-llvm18.1.7-k8s1.34.3')
    expect(mainTagOf(readTagSettings(reader({ 'tag-template': 'go{go}', 'tag-prefix': 'tools-', 'tag-suffix': '-bookworm' })), next, github)).toBe('tools-go1.25.5-bookworm')
    // an image with only a Go version (calico's tinygo): the first-run tag, as a publish falls back to it
    const goOnly = { ...next, resolved: { go: next.resolved.go! } }
    expect(mainTagOf(readTagSettings(reader({})), goOnly, github)).toBe('sha-0123456')
  })

  it('the summary row of each version: in use, newest allowed or current, the URL asked', () => {
    expect(checkSummaryRows([
      { name: 'go', current: '1.25.4', newer: '1.25.5', source: 'https://go.dev/dl/?mode=json&include=all' },
      { name: 'k8s', current: '1.34.3', source: 'https://dl.k8s.io/release/stable-1.34.txt' }
    ])).toEqual([
      ['go', '<code>1.25.4</code>', '<code>1.25.5</code>', '<code>https://go.dev/dl/?mode=json&amp;include=all</code>'],
      ['k8s', '<code>1.34.3</code>', 'current', '<code>https://dl.k8s.io/release/stable-1.34.txt</code>']
    ])
  })
})

describe('readSettings in mode: check', () => {
  it('needs no images (nothing is published), and reads the check inputs', () => {
    const settings = readSettings(reader({ mode: 'check', update: 'minor', 'llvm-releases-url': 'https://mirror.example/llvm.json' }))
    expect(settings.mode).toBe('check')
    expect(settings.images).toEqual([])
    expect(settings.check).toEqual({
      policy: 'minor',
      updateVersions: true,
      goUrl: 'https://go.dev/dl/?mode=json&include=all',
      k8sUrl: 'https://dl.k8s.io/release',
      llvmUrl: 'https://mirror.example/llvm.json'
    })
  })

  it('every other mode still needs images', () => {
    expect(() => readSettings(reader({ mode: 'all' }))).toThrow('input "images": is empty')
  })
})
