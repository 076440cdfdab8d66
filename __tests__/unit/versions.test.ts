import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { InputError } from '../../src/core/input.js'
import {
  checkVersion,
  dockerfileArgDefaults,
  parseVersionsFile,
  readVersionSettings,
  resolveVersions,
  SourceFileError,
  versionValues,
  withVersionBuildArgs,
  type VersionSettings
} from '../../src/tags/versions.js'

const reader =
  (inputs: Record<string, string>) =>
  (name: string): string =>
    inputs[name] ?? ''

const NAMES = ['go', 'llvm', 'k8s']

/** The established versions file: nested, with checksums per architecture that must not be read as versions. */
const ESTABLISHED = `# versions of the toolchains in this image
golang:
  version: 1.25.4
  checksum:
    sha256:
      amd64: 9fa5ffeda4170de60f67f3aa0f824e426421ba724c21e133c1e35d6159ca1bec
      arm64: a68e86d4b72c2c2fecf7dfed667680b6c2a071221bbdb6913cf83ce3f80d9ff0
llvm:
  version: 18.1.8
kubernetes:
  version: 1.34.1
`

const values = (found: Record<string, { value?: string } | { error: Error }>): Record<string, string> =>
  Object.fromEntries(Object.entries(found).map(([k, v]) => [k, 'error' in v ? `error: ${v.error.message}` : String(v.value)]))

describe('checkVersion', () => {
  it.each([
    ['1.25.4', '1.25.4'],
    ['1.37.0-beta.0', '1.37.0-beta.0'],
    ['21.1.10', '21.1.10'],
    ['v1.34.1', '1.34.1'],
    ['1.26rc1', '1.26rc1']
  ])('accepts %s as %s', (raw, value) => expect(checkVersion(raw)).toEqual({ value }))

  it.each([
    ['', /is empty/],
    ['1.25 .4', /whitespace/],
    ['go1.25.4', /starts with "go": write 1.25.4/],
    ['latest', /does not start with a digit/],
    ['1.25.4+build', /contains "\+"/],
    ['1'.repeat(65), /at most 64/]
  ])('rejects %j', (raw, problem) => {
    const checked = checkVersion(raw)
    expect('problem' in checked && checked.problem).toMatch(problem)
  })
})

describe('readVersionSettings', () => {
  it('maps go, llvm and k8s to GO_VERSION, LLVM_VERSION and K8S_VERSION by default', () => {
    expect(readVersionSettings(reader({}))).toEqual({
      args: { go: 'GO_VERSION', llvm: 'LLVM_VERSION', k8s: 'K8S_VERSION' },
      inputs: {}
    })
  })

  it('lets version-args rename an ARG and add a version; strips a leading v from inputs', () => {
    const settings = readVersionSettings(
      reader({ 'version-args': 'go=GOLANG_VERSION, protoc=PROTOC_VERSION', 'k8s-version': 'v1.34.1', 'versions-file': 'v.yaml' })
    )
    expect(settings).toEqual({
      args: { go: 'GOLANG_VERSION', llvm: 'LLVM_VERSION', k8s: 'K8S_VERSION', protoc: 'PROTOC_VERSION' },
      inputs: { k8s: '1.34.1' },
      file: 'v.yaml'
    })
  })
})

describe('parseVersionsFile', () => {
  it('reads the established nested form and ignores the checksums', () => {
    expect(parseVersionsFile(ESTABLISHED, 'versions.yaml', NAMES)).toEqual({
      go: { value: '1.25.4', source: 'versions.yaml:3 (golang.version)' },
      llvm: { value: '18.1.8', source: 'versions.yaml:9 (llvm.version)' },
      k8s: { value: '1.34.1', source: 'versions.yaml:11 (kubernetes.version)' }
    })
  })

  it.each([
    ['go: 1.25.4\nllvm: 18.1.8\nk8s: 1.34.1\n', { go: '1.25.4', llvm: '18.1.8', k8s: '1.34.1' }],
    // YAML would read 21.10 as the number 21.1; versions are read as text
    ['go: 1.26.5\nllvm: 21.10\nk8s: v1.37.0-beta.0\n', { go: '1.26.5', llvm: '21.10', k8s: '1.37.0-beta.0' }],
    ['golang:\n  version: "1.25.4"\nllvm: 21.1.10\n', { go: '1.25.4', llvm: '21.1.10' }],
    ['golang:\n  checksum:\n    sha256:\n      amd64: abc\n', {}],
    ['', {}]
  ])('reads %j', (text, expected) => {
    expect(values(parseVersionsFile(text, 'v.yaml', NAMES))).toEqual(expected)
  })

  it('names the file and line of a YAML syntax error', () => {
    expect(() => parseVersionsFile('golang:\n  version: [1.25.4\n', 'images/go/versions.yaml', NAMES)).toThrow(
      /^images\/go\/versions\.yaml:\d+: not valid YAML .*expected form/
    )
  })

  it('throws a SourceFileError that carries the file and line', () => {
    let caught: unknown
    try {
      parseVersionsFile('go: [\n', 'v.yaml', NAMES)
    } catch (error) {
      caught = error
    }
    expect(caught).toBeInstanceOf(SourceFileError)
    expect({ file: (caught as SourceFileError).file, line: (caught as SourceFileError).line }).toEqual({ file: 'v.yaml', line: 2 })
  })

  it('rejects a top level that is not a mapping', () => {
    expect(() => parseVersionsFile('- 1.25.4\n', 'v.yaml', NAMES)).toThrow(/^v\.yaml:1: expected a mapping/)
  })

  it('keeps a bad entry as an error for the resolver (only thrown when that version is needed)', () => {
    const found = parseVersionsFile('golang:\n  version: 1.25 .4\nllvm:\n  version:\n    - 18\ngo: 1.24.0\n', 'v.yaml', NAMES)
    expect(values(found)).toEqual({
      go: 'error: v.yaml:2: golang.version: "1.25 .4" contains whitespace: write one word such as 1.25.4',
      llvm: 'error: v.yaml:5: llvm.version must be a version such as 1.25.4 (found a list)'
    })
  })

  it('rejects two spellings that disagree', () => {
    expect(values(parseVersionsFile('golang:\n  version: 1.25.4\ngo: 1.24.0\n', 'v.yaml', ['go']))).toEqual({
      go: 'error: v.yaml:3: go (1.24.0) and golang.version (1.25.4) disagree: keep one of them'
    })
  })
})

describe('dockerfileArgDefaults', () => {
  const dockerfile = [
    'ARG GO_VERSION=1.25.4',
    'ARG LLVM_VERSION="18.1.8" K8S_VERSION=1.34.1',
    'FROM busybox',
    'ARG GO_VERSION',
    'ARG OTHER=${GO_VERSION}-x',
    ''
  ].join('\n')

  it('reads ARG defaults with their lines (quotes removed; a re-declaration without default changes nothing)', () => {
    expect(dockerfileArgDefaults(dockerfile, 'Dockerfile', ['GO_VERSION', 'LLVM_VERSION', 'K8S_VERSION', 'NONE'])).toEqual({
      GO_VERSION: { value: '1.25.4', source: 'Dockerfile:1 (ARG GO_VERSION)' },
      LLVM_VERSION: { value: '18.1.8', source: 'Dockerfile:2 (ARG LLVM_VERSION)' },
      K8S_VERSION: { value: '1.34.1', source: 'Dockerfile:2 (ARG K8S_VERSION)' }
    })
  })

  it.each([
    ['ARG GO_VERSION=${BASE}\n', /Dockerfile:1: the default of ARG GO_VERSION \("\$\{BASE\}"\) refers to a variable/],
    ['ARG GO_VERSION=1.25.4\nFROM x\nARG GO_VERSION=1.24.0\n', /Dockerfile:3: ARG GO_VERSION defaults to 1.24.0 here but to 1.25.4 on line 1/],
    ['ARG GO_VERSION=latest\n', /Dockerfile:1: ARG GO_VERSION: "latest" does not start with a digit/]
  ])('keeps %j as an error', (text, message) => {
    const found = dockerfileArgDefaults(text, 'Dockerfile', ['GO_VERSION'])
    expect(values(found).GO_VERSION).toMatch(message)
  })
})

describe('resolveVersions', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'versions-test-'))
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  const settings = (over: Partial<VersionSettings> = {}): VersionSettings => ({
    args: { go: 'GO_VERSION', llvm: 'LLVM_VERSION', k8s: 'K8S_VERSION' },
    inputs: {},
    ...over
  })

  async function project(name: string, files: Record<string, string>): Promise<string> {
    const root = path.join(dir, name)
    await rm(root, { recursive: true, force: true })
    for (const [file, text] of Object.entries(files)) {
      await import('node:fs/promises').then(fs => fs.mkdir(path.dirname(path.join(root, file)), { recursive: true }))
      await writeFile(path.join(root, file), text)
    }
    return root
  }

  it('takes inputs over the versions file over ARG defaults, and says where each came from', async () => {
    const root = await project('precedence', {
      Dockerfile: 'ARG GO_VERSION=1.20.0\nARG LLVM_VERSION=17.0.6\nARG K8S_VERSION=1.30.0\nFROM x\n',
      'versions.yaml': 'golang:\n  version: 1.25.4\nllvm:\n  version: 18.1.8\n'
    })
    const versions = await resolveVersions(settings({ inputs: { go: '1.26.0' } }), path.join(root, 'Dockerfile'))
    expect(versionValues(versions)).toEqual({ go: '1.26.0', llvm: '18.1.8', k8s: '1.30.0' })
    expect(versions.resolved.go?.source).toBe('input "go-version"')
    expect(versions.resolved.llvm?.source).toBe(`${path.join(root, 'versions.yaml')}:4 (llvm.version)`)
    expect(versions.resolved.k8s?.source).toBe(`${path.join(root, 'Dockerfile')}:3 (ARG K8S_VERSION)`)
  })

  it('does not trip over a bad Dockerfile default that a higher source overrides', async () => {
    const root = await project('overridden', { Dockerfile: 'ARG GO_VERSION=${X}\nFROM x\n' })
    const versions = await resolveVersions(settings({ inputs: { go: '1.25.4' } }), path.join(root, 'Dockerfile'))
    expect(versionValues(versions)).toEqual({ go: '1.25.4' })
  })

  it('lists every place looked in for a version found nowhere', async () => {
    const root = await project('nowhere', { Dockerfile: 'FROM x\n' })
    const versions = await resolveVersions(settings(), path.join(root, 'Dockerfile'))
    expect(versions.resolved).toEqual({})
    expect(versions.searched.llvm).toEqual([
      'input "llvm-version"',
      `a versions file (none given in "versions-file", no ${path.join(root, 'versions.yaml')})`,
      `the default of ARG LLVM_VERSION in ${path.join(root, 'Dockerfile')}`
    ])
  })

  it('throws the error of the source it needs', async () => {
    const root = await project('bad-arg', { Dockerfile: 'ARG GO_VERSION="1.25 4"\nFROM x\n' })
    await expect(resolveVersions(settings(), path.join(root, 'Dockerfile'))).rejects.toThrow(/bad-arg\/Dockerfile:1: ARG GO_VERSION: "1.25 4" contains whitespace/)
  })

  it('names the input for a versions file that does not exist', async () => {
    const root = await project('missing-file', { Dockerfile: 'FROM x\n' })
    await expect(resolveVersions(settings({ file: path.join(root, 'nope.yaml') }), path.join(root, 'Dockerfile'))).rejects.toThrow(
      /^input "versions-file": ".*nope\.yaml" does not exist/
    )
  })

  it('names the input for a Dockerfile that does not exist', async () => {
    await expect(resolveVersions(settings(), path.join(dir, 'no-such', 'Dockerfile'))).rejects.toThrow(
      /^input "file": cannot read the Dockerfile ".*no-such\/Dockerfile" \(ENOENT\)/
    )
  })
})

describe('withVersionBuildArgs', () => {
  const versions = {
    args: { go: 'GO_VERSION', llvm: 'LLVM_VERSION', k8s: 'K8S_VERSION' },
    resolved: { go: { value: '1.25.4', source: 'versions.yaml:2 (golang.version)' } },
    searched: {}
  }

  it('passes each resolved version under its ARG name, after the user build args', () => {
    expect(withVersionBuildArgs([{ name: 'BASE_IMAGE', value: 'b' }], versions)).toEqual([
      { name: 'BASE_IMAGE', value: 'b' },
      { name: 'GO_VERSION', value: '1.25.4' }
    ])
  })

  it('accepts a build arg that agrees, once', () => {
    expect(withVersionBuildArgs([{ name: 'GO_VERSION', value: '1.25.4' }], versions)).toEqual([{ name: 'GO_VERSION', value: '1.25.4' }])
  })

  it('rejects a build arg that disagrees with the version in the tag', () => {
    expect(() => withVersionBuildArgs([{ name: 'GO_VERSION', value: '1.24.0' }], versions)).toThrow(
      new InputError(
        'build-args',
        'GO_VERSION=1.24.0 disagrees with the go version 1.25.4 (from versions.yaml:2 (golang.version)), which names the tag: remove GO_VERSION from build-args and set "go-version" instead'
      )
    )
  })
})
