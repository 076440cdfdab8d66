import { describe, expect, it, jest } from '@jest/globals'
import { InputError, splitList } from '../../src/core/input.js'
import { validateRepository, validateTag } from '../../src/core/reference.js'
import { readSettings } from '../../src/settings.js'
import { formatPlatform } from '../../src/core/platform.js'

const reader =
  (inputs: Record<string, string>) =>
  (name: string): string =>
    inputs[name] ?? ''

const minimal = { images: 'localhost:5000/go-build' }

describe('readSettings', () => {
  it('fills the documented defaults', () => {
    const settings = readSettings(reader(minimal))
    expect(settings).toMatchObject({
      mode: 'all',
      context: '.',
      file: 'Dockerfile',
      images: ['localhost:5000/go-build'],
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64' },
        { os: 'linux', architecture: 'ppc64le' },
        { os: 'linux', architecture: 's390x' }
      ],
      buildArgs: [],
      versions: { args: { go: 'GO_VERSION', llvm: 'LLVM_VERSION', k8s: 'K8S_VERSION' }, inputs: {} },
      tagging: {
        template: '{go}-llvm{llvm}-k8s{k8s}',
        extraTags: [],
        prefix: '',
        suffix: '',
        platformTags: true,
        rebuild: 'suffix',
        latest: 'false',
        push: 'auto'
      },
      logins: { logins: [], problem: undefined, githubToken: '' },
      retry: { attempts: 4, baseDelayMs: 2000, maxDelayMs: 60_000 },
      verifyCommand: [],
      provenance: 'mode=min',
      sbom: 'false',
      labels: [],
      annotations: [],
      target: '',
      secrets: [],
      cache: { mode: 'auto', ref: '', from: [], to: [] },
      noCache: false,
      pull: false,
      skipUnchanged: 'auto'
    })
  })

  it('reads a merge\'s secret and ssh inputs by name alone (it builds nothing, so it needs no secret), a leg\'s in full', () => {
    const inputs = { ...minimal, 'secret-envs': 'token=E2E_UNIT_NOT_SET_ANYWHERE', 'secret-files': 'pem=./no-such-file', ssh: 'default' }
    const merge = readSettings(reader({ ...inputs, mode: 'merge' }))
    expect(merge.buildOptions.secretEnvs).toEqual([{ id: 'token', env: 'E2E_UNIT_NOT_SET_ANYWHERE' }])
    expect(merge.buildOptions.secretFiles.map(s => s.id)).toEqual(['pem'])
    expect(() => readSettings(reader({ ...inputs, mode: 'leg' }))).toThrow(InputError)
  })

  it('reads mode: all, leg or merge, and names the choices otherwise', () => {
    expect(readSettings(reader({ ...minimal, mode: 'Leg' })).mode).toBe('leg')
    expect(readSettings(reader({ ...minimal, mode: 'merge' })).mode).toBe('merge')
    expect(() => readSettings(reader({ ...minimal, mode: 'legs' }))).toThrow('input "mode": "legs" is not valid: write one of all, leg, merge')
  })

  it('reads skip-unchanged', () => {
    expect(readSettings(reader({ ...minimal, 'skip-unchanged': 'true' })).skipUnchanged).toBe('true')
    expect(readSettings(reader({ ...minimal, 'skip-unchanged': 'FALSE' })).skipUnchanged).toBe('false')
    expect(readSettings(reader({ ...minimal, 'skip-unchanged': 'false' })).skipUnchanged).toBe('false')
    expect(readSettings(reader(minimal)).skipUnchanged).toBe('auto')
    expect(() => readSettings(reader({ ...minimal, 'skip-unchanged': 'sometimes' }))).toThrow('input "skip-unchanged": "sometimes" is not valid: write one of auto, true, false')
  })

  it('lowercases repository names (an owner MyOrg from github.repository_owner), with a notice', () => {
    const write = jest.spyOn(process.stdout, 'write').mockImplementation(() => true)
    try {
      expect(readSettings(reader({ images: 'ghcr.io/MyOrg/Tool, localhost:5000/a' })).images).toEqual(['ghcr.io/myorg/tool', 'localhost:5000/a'])
      expect(write.mock.calls.map(c => String(c[0])).join('')).toContain('::notice::images: "ghcr.io/MyOrg/Tool" is published as "ghcr.io/myorg/tool"')
    } finally {
      write.mockRestore()
    }
  })

  it('puts the default Dockerfile in the context', () => {
    expect(readSettings(reader({ ...minimal, context: 'images/go' })).file).toBe('images/go/Dockerfile')
  })

  it('reads lists separated by newlines and commas, without duplicates', () => {
    const settings = readSettings(
      reader({
        images: 'localhost:5000/a\nlocalhost:5001/b, localhost:5000/a',
        tags: 'x,y\n# a comment\ny',
        platforms: 'linux/arm64\nlinux/amd64'
      })
    )
    expect(settings.images).toEqual(['localhost:5000/a', 'localhost:5001/b'])
    expect(settings.tagging.extraTags).toEqual(['x', 'y'])
    expect(settings.platforms.map(p => p.architecture)).toEqual(['arm64', 'amd64'])
  })

  it('normalizes platforms the way containerd does', () => {
    const settings = readSettings(reader({ ...minimal, platforms: 'linux/amd64/v1,linux/aarch64/v8,linux/arm,armel,linux/ppc64el' }))
    expect(settings.platforms.map(formatPlatform)).toEqual(['linux/amd64', 'linux/arm64', 'linux/arm/v7', 'linux/arm/v6', 'linux/ppc64le'])
  })

  it.each([
    ['linux/arm64,linux/arm64/v8', /^input "platforms": "linux\/arm64" and "linux\/arm64\/v8" both name linux\/arm64: give each platform once$/],
    ['linux/arm,linux/arm/v7', /"linux\/arm" and "linux\/arm\/v7" both name linux\/arm\/v7/],
    ['linux/amd64,x86_64', /"linux\/amd64" and "x86_64" both name linux\/amd64/],
    ['linux/s390x,linux/s390x', /"linux\/s390x" is given twice: give each platform once/]
  ])('refuses %s: one platform spelled twice', (platforms, message) => {
    expect(() => readSettings(reader({ ...minimal, platforms }))).toThrow(message)
  })

  it('reads build args one per line, values may hold = and spaces', () => {
    const settings = readSettings(reader({ ...minimal, 'build-args': 'GO_IMAGE=localhost:5000/base/golang\nFLAGS=-a -b=c\n' }))
    expect(settings.buildArgs).toEqual([
      { name: 'GO_IMAGE', value: 'localhost:5000/base/golang' },
      { name: 'FLAGS', value: '-a -b=c' }
    ])
  })

  it.each([
    [{ images: '' }, 'images', /is empty/],
    [{ images: 'localhost:5000/go-build:1.0' }, 'images', /without a tag/],
    [{ images: 'localhost:5000/go-build@sha256:abc' }, 'images', /without a digest/],
    [{ images: 'localhost:5000/go build' }, 'images', /not a valid repository/],
    [{ platforms: 'linux/amd64,linux/sparc' }, 'platforms', /linux\/sparc/],
    [{ push: 'maybe' }, 'push', /is not valid: write one of auto, true, false$/],
    [{ 'build-args': 'JUSTANAME' }, 'build-args', /not NAME=value/],
    [{ 'build-args': '1BAD=x' }, 'build-args', /not NAME=value: write one NAME=value per line/],
    [{ images: 'localhost:5000/go-build:1.0' }, 'images', /without a tag \(tags come from "tag-template" and "tags"\)/],
    [{ platforms: 'linux/sparc' }, 'platforms', /"linux\/sparc" is not a known platform: write linux\/ARCHITECTURE, e.g. linux\/arm64; known architectures: /],
    [{ secrets: 'justavalue' }, 'secrets', /^input "secrets": line 1 is not id=value: write one secret per line as id=value/],
    [{ 'retry-attempts': '0' }, 'retry-attempts', /"0" is not a number from 1 to 10: write one in that range/],
    [{ 'retry-attempts': '2.5' }, 'retry-attempts', /"2.5" is not a whole number: write how many times to try, from 1 to 10/],
    [{ sbom: 'yes please' }, 'sbom', /write false, true or generator=IMAGE/],
    [{ labels: 'novalue' }, 'labels', /"novalue" is not key=value: write one key=value per line/],
    [{ annotations: '=x' }, 'annotations', /"=x" is not key=value: write one key=value per line/]
  ])('rejects %j naming input %s', (override, input, message) => {
    const read = reader({ ...minimal, ...override })
    let caught: unknown
    try {
      readSettings(read)
    } catch (error) {
      caught = error
    }
    expect(caught).toBeInstanceOf(InputError)
    expect((caught as InputError).input).toBe(input)
    expect((caught as Error).message).toMatch(new RegExp(`^input "${input}": `))
    expect((caught as Error).message).toMatch(message)
  })
})

describe('splitList', () => {
  it('drops blanks and comment lines', () => {
    expect(splitList('a\n\n  # no\n b ,, c')).toEqual(['a', 'b', 'c'])
  })
})

describe('validateRepository', () => {
  it.each(['go-build', 'calico/go-build', 'ghcr.io/org/go-build', 'localhost:5000/base/busybox', '[::1]:5000/x', 'a.b_c__d-e/f'])(
    'accepts %s',
    image => expect(validateRepository(image)).toBeUndefined()
  )
})

describe('validateTag', () => {
  it.each(['1.25.4-llvm18.1.8-k8s1.34.1', '1.26.5-llvm21.1.8-k8s1.37.0-beta.0', '_x', 'x'.repeat(128)])('accepts %s', tag =>
    expect(validateTag(tag)).toBeUndefined()
  )
})
