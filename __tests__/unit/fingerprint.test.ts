import { afterAll, describe, expect, it } from '@jest/globals'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { promisify } from 'node:util'
import {
  baseImageReferences,
  computeFingerprint,
  contextDigest,
  contextListing,
  expandVariables,
  FINGERPRINT_ANNOTATION,
  fingerprintAnnotationArg,
  fingerprintBuild,
  gitCommitPinned,
  gitRunner,
  isGitUrl,
  readFingerprint,
  resolveBaseImages,
  UnpinnedInputError,
  unpinnedSources,
  type FingerprintIngredients,
  type FingerprintRequest
} from '../../src/tags/fingerprint.js'
import { parsePlatform } from '../../src/core/platform.js'
import { familiarName } from '../../src/core/reference.js'
import { sha256Digest } from '../../src/core/registry.js'
import { FakeDocker } from '../../__fixtures__/fake-docker.js'

const BASE: FingerprintIngredients = {
  context: sha256Digest('context'),
  dockerfile: 'FROM busybox\nRUN true\n',
  buildArgs: [{ name: 'GO_VERSION', value: '1.25.4' }],
  platforms: ['linux/amd64', 'linux/arm64'],
  versions: { go: '1.25.4', llvm: '18.1.8' },
  target: '',
  baseImages: { busybox: `sha256:${'b'.repeat(64)}` },
  options: { provenance: 'mode=min', sbom: 'false', labels: [], annotations: [] }
}

const dirs: string[] = []
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'go-build-action-fingerprint-'))
  dirs.push(dir)
  return dir
}
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true })
})

describe('computeFingerprint', () => {
  it('is a sha256 digest, the same for the same ingredients', () => {
    expect(computeFingerprint(BASE)).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(computeFingerprint(structuredClone(BASE))).toBe(computeFingerprint(BASE))
  })

  it.each<[string, Partial<FingerprintIngredients>]>([
    ['a context file', { context: sha256Digest('other context') }],
    ['the Dockerfile', { dockerfile: 'FROM busybox\nRUN false\n' }],
    ['a build arg value', { buildArgs: [{ name: 'GO_VERSION', value: '1.25.5' }] }],
    ['a further build arg', { buildArgs: [...BASE.buildArgs, { name: 'EXTRA', value: '' }] }],
    ['the platforms', { platforms: ['linux/amd64', 'linux/arm64', 'linux/s390x'] }],
    ['a version', { versions: { go: '1.25.4', llvm: '18.1.9' } }],
    ['the target', { target: 'runtime' }],
    ['a base image digest', { baseImages: { busybox: `sha256:${'c'.repeat(64)}` } }],
    ['provenance', { options: { ...BASE.options, provenance: 'mode=max' } }],
    ['sbom', { options: { ...BASE.options, sbom: 'true' } }],
    ['a label', { options: { ...BASE.options, labels: ['team=go'] } }],
    ['an annotation', { options: { ...BASE.options, annotations: ['index:team=go'] } }],
    ['a build input that changes the image (a named context, the network)', { options: { ...BASE.options, build: ['network=none'] } }]
  ])('changes when %s changes', (_, change) => {
    expect(computeFingerprint({ ...BASE, ...change })).not.toBe(computeFingerprint(BASE))
  })

  it('is the same as before the build inputs existed when none is given', () => {
    expect(computeFingerprint({ ...BASE, options: { ...BASE.options, build: [] } })).toBe(computeFingerprint(BASE))
  })

  it('does not depend on the order of platforms, versions or base images', () => {
    const reordered: FingerprintIngredients = {
      ...BASE,
      platforms: [...BASE.platforms].reverse(),
      versions: { llvm: '18.1.8', go: '1.25.4' },
      baseImages: { ...BASE.baseImages }
    }
    expect(computeFingerprint(reordered)).toBe(computeFingerprint(BASE))
  })

  it('keeps the order of build args (a later one wins in buildx)', () => {
    const a = { ...BASE, buildArgs: [{ name: 'X', value: '1' }, { name: 'X', value: '2' }] }
    const b = { ...BASE, buildArgs: [{ name: 'X', value: '2' }, { name: 'X', value: '1' }] }
    expect(computeFingerprint(a)).not.toBe(computeFingerprint(b))
  })
})

describe('the annotation', () => {
  const fingerprint = computeFingerprint(BASE)

  it('is set on the index through --annotation', () => {
    expect(fingerprintAnnotationArg(fingerprint)).toBe(`index:${FINGERPRINT_ANNOTATION}=${fingerprint}`)
  })

  it('is read back from an index manifest', () => {
    const index = { schemaVersion: 2, manifests: [], annotations: { [FINGERPRINT_ANNOTATION]: fingerprint, other: 'x' } }
    expect(readFingerprint(index)).toBe(fingerprint)
    expect(readFingerprint({ schemaVersion: 2, manifests: [] })).toBeUndefined()
    expect(readFingerprint({ schemaVersion: 2, manifests: [], annotations: { [FINGERPRINT_ANNOTATION]: 'garbage' } })).toBeUndefined()
  })
})

describe('contextListing', () => {
  async function context(files: Record<string, string>, ignoreRules?: string): Promise<string> {
    const dir = await tempDir()
    for (const [name, content] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, name)), { recursive: true })
      await writeFile(path.join(dir, name), content)
    }
    if (ignoreRules !== undefined) await writeFile(path.join(dir, '.dockerignore'), ignoreRules)
    return dir
  }
  const paths = async (dir: string, dockerfile = path.join(dir, 'Dockerfile')): Promise<string[]> =>
    (await contextListing(dir, dockerfile)).map(e => `${e.kind} ${e.path}`).sort()

  it('lists files and directories with their content digests and modes', async () => {
    const dir = await context({ 'Dockerfile': 'FROM scratch\n', 'src/main.go': 'package main\n' })
    const listing = await contextListing(dir, path.join(dir, 'Dockerfile'))
    expect(listing.find(e => e.path === 'src/main.go')).toEqual({
      path: 'src/main.go',
      kind: 'file',
      mode: expect.stringMatching(/^[0-7]+$/),
      content: `git-sha1:${createHash('sha1').update('blob 13\0package main\n').digest('hex')}`
    })
    expect(listing.find(e => e.path === 'src')?.kind).toBe('dir')
  })

  it('leaves out what .dockerignore excludes, and keeps what an exception brings back', async () => {
    const dir = await context(
      { 'Dockerfile': '', 'a.md': '', 'keep.md': '', 'build/out': '', 'node_modules/x/y.js': '', 'docs/sub/a.md': '' },
      '# comment\n*.md\n!keep.md\nbuild\nnode_modules\n'
    )
    expect(await paths(dir)).toEqual([
      'dir docs',
      'dir docs/sub',
      'file .dockerignore',
      'file Dockerfile',
      'file docs/sub/a.md',
      'file keep.md'
    ])
  })

  it('re-includes a file under an excluded directory when an exception names it', async () => {
    const dir = await context({ 'vendor/a': '', 'vendor/keep': '' }, 'vendor\n!vendor/keep\n')
    expect(await paths(dir)).toEqual(['file .dockerignore', 'file vendor/keep'])
  })

  it('reads <Dockerfile>.dockerignore before the context\'s .dockerignore', async () => {
    const dir = await context({ 'build.Dockerfile': '', 'a.txt': '', 'b.txt': '' }, 'a.txt\n')
    await writeFile(path.join(dir, 'build.Dockerfile.dockerignore'), 'b.txt\n')
    expect(await paths(dir, path.join(dir, 'build.Dockerfile'))).toEqual([
      'file .dockerignore',
      'file a.txt',
      'file build.Dockerfile',
      'file build.Dockerfile.dockerignore'
    ])
  })

  it('gives a digest that changes with content, mode, symlink target and an ignored file not at all', async () => {
    const dir = await context({ 'a.sh': 'echo a\n', 'ignored.log': '1' }, '*.log\n')
    const digest = async (): Promise<string> => contextDigest(await contextListing(dir, path.join(dir, 'Dockerfile')))
    const first = await digest()
    await writeFile(path.join(dir, 'ignored.log'), '2')
    expect(await digest()).toBe(first)
    await chmod(path.join(dir, 'a.sh'), 0o755)
    const executable = await digest()
    expect(executable).not.toBe(first)
    await writeFile(path.join(dir, 'a.sh'), 'echo b\n')
    const edited = await digest()
    expect(edited).not.toBe(executable)
    await symlink('a.sh', path.join(dir, 'link'))
    const linked = await digest()
    expect(linked).not.toBe(edited)
    await rm(path.join(dir, 'link'))
    await symlink('ignored.log', path.join(dir, 'link'))
    expect(await digest()).not.toBe(linked)
  })
})

describe('contextListing in a git checkout', () => {
  const git = promisify(execFile)
  async function repository(): Promise<string> {
    const dir = await tempDir()
    await mkdir(path.join(dir, 'src'))
    await writeFile(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY . /\n')
    await writeFile(path.join(dir, 'src', 'main.go'), 'package main\n')
    await writeFile(path.join(dir, 'big.bin'), Buffer.alloc(100_000, 7))
    await chmod(path.join(dir, 'Dockerfile'), 0o755)
    await git('git', ['init', '-q', dir])
    await git('git', ['-C', dir, 'add', '-A'])
    return dir
  }

  it('takes unmodified tracked files from git\'s index, and gives the same listing as reading every file', async () => {
    const dir = await repository()
    await writeFile(path.join(dir, 'untracked.txt'), 'new\n')
    const fromGit = await contextListing(dir, path.join(dir, 'Dockerfile'))
    const read = await contextListing(dir, path.join(dir, 'Dockerfile'), false)
    expect(fromGit).toEqual(read)
    expect(fromGit.find(e => e.path === 'big.bin')?.content).toBe(`git-sha1:${(await git('git', ['-C', dir, 'hash-object', 'big.bin'])).stdout.trim()}`)
  })

  it('reads a tracked file only when the worktree modified it', async () => {
    const dir = await repository()
    await writeFile(path.join(dir, 'src', 'main.go'), 'package main // edited\n')
    const calls: string[][] = []
    // git's index says big.bin holds an object it does not: the listing trusts the index, so it never read the file
    const index = (await git('git', ['-C', dir, 'ls-files', '-s', '-z'])).stdout
    const forged = index.replace(/100644 [0-9a-f]{40} 0\tbig\.bin/, `100644 ${'e'.repeat(40)} 0\tbig.bin`)
    expect(forged).not.toBe(index)
    const runner = async (cwd: string, args: readonly string[]): Promise<string> => {
      calls.push([...args])
      return args[0] === 'ls-files' ? forged : (await git('git', ['-C', cwd, ...args])).stdout
    }
    const listing = await contextListing(dir, path.join(dir, 'Dockerfile'), runner)
    expect(listing.find(e => e.path === 'big.bin')?.content).toBe(`git-sha1:${'e'.repeat(40)}`)
    expect(listing.find(e => e.path === 'src/main.go')?.content).toBe(`git-sha1:${createHash('sha1').update('blob 23\0package main // edited\n').digest('hex')}`)
    expect(calls.map(c => c[0]).sort()).toEqual(['diff', 'ls-files'])
  })

  it('a git that hangs is killed at its bound through the exec wrapper, and every file is read instead', async () => {
    const dir = await repository()
    // a git on PATH that records its pid and sleeps far past the bound
    const bin = await tempDir()
    const pidFile = path.join(bin, 'pid')
    await writeFile(path.join(bin, 'git'), `#!/bin/sh\necho $$ >> ${pidFile}\nexec sleep 60\n`, { mode: 0o755 })
    const savedPath = process.env.PATH
    process.env.PATH = `${bin}:${savedPath}`
    let listing
    try {
      listing = await contextListing(dir, path.join(dir, 'Dockerfile'), gitRunner({ seconds: 1 }))
    } finally {
      process.env.PATH = savedPath
    }
    expect(listing).toEqual(await contextListing(dir, path.join(dir, 'Dockerfile'), false))
    // both git commands ran, and neither is left running
    const pids = (await readFile(pidFile, 'utf8')).trim().split('\n').map(Number)
    expect(pids).toHaveLength(2)
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow(/ESRCH/)
  }, 30_000)

  it('reads every file outside a git checkout', async () => {
    const dir = await tempDir()
    await writeFile(path.join(dir, 'a'), 'a')
    const listing = await contextListing(dir, path.join(dir, 'Dockerfile'), async () => {
      throw new Error('fatal: not a git repository')
    })
    expect(listing).toEqual([{ path: 'a', kind: 'file', mode: expect.any(String), content: `git-sha1:${createHash('sha1').update('blob 1\0a').digest('hex')}` }])
  })
})

describe('expandVariables', () => {
  it('expands the forms a Dockerfile allows', () => {
    const values = { A: 'a', EMPTY: '' }
    expect(expandVariables('$A ${A} ${B} ${B:-dflt} ${A:-dflt} ${A:+alt} ${B:+alt} ${EMPTY:-e}', values)).toBe('a a  dflt a alt  e')
  })
})

describe('baseImageReferences', () => {
  const amd64 = parsePlatform('linux/amd64')
  const arm64 = parsePlatform('linux/arm64')

  it('expands global ARGs, overridden by build args; skips scratch and earlier stages', () => {
    const text = [
      'ARG BASE_IMAGE=localhost:5000/base/busybox',
      'ARG GO_IMAGE=golang:1.25',
      'FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build',
      'FROM build AS test',
      'FROM scratch AS empty',
      'FROM ${BASE_IMAGE}',
      'COPY --from=build /x /x'
    ].join('\n')
    expect(baseImageReferences(text, [], [amd64])).toEqual(['golang:1.25', 'localhost:5000/base/busybox'])
    expect(baseImageReferences(text, [{ name: 'BASE_IMAGE', value: 'other:1' }], [amd64])).toEqual(['golang:1.25', 'other:1'])
  })

  it('counts the frontend image of a "# syntax=" line, or of the BUILDKIT_SYNTAX build arg over it, as an image the build reads', () => {
    const text = ['# syntax=docker/dockerfile:1.7', 'FROM localhost:5000/base/busybox'].join('\n')
    expect(baseImageReferences(text, [], [amd64])).toEqual(['docker/dockerfile:1.7', 'localhost:5000/base/busybox'])
    expect(baseImageReferences(text, [{ name: 'BUILDKIT_SYNTAX', value: 'example.com/frontend:2' }], [amd64])).toEqual(['example.com/frontend:2', 'localhost:5000/base/busybox'])
    expect(baseImageReferences('FROM localhost:5000/base/busybox', [], [amd64])).toEqual(['localhost:5000/base/busybox'])
  })

  it('gives one reference per platform when the FROM names the platform', () => {
    expect(baseImageReferences('FROM base-${TARGETARCH}:1\n', [], [amd64, arm64])).toEqual(['base-amd64:1', 'base-arm64:1'])
  })

  it('adds the images COPY --from and RUN --mount=from name instead of a stage', () => {
    const text = [
      'ARG GO_IMAGE=golang:1.25',
      'ARG TOOLS=localhost:5000/tools',
      'FROM busybox:1.37 AS base',
      'FROM base AS build',
      'COPY --from=${GO_IMAGE} /usr/local/go /usr/local/go',
      'COPY --from=base /etc/passwd /etc/passwd',
      'COPY --from=0 /bin/sh /bin/sh',
      'COPY --from=later /x /x',
      'RUN --mount=type=bind,from=localhost:5000/certs:1,source=/certs,target=/certs --mount=type=cache,target=/root/.cache go version',
      'RUN --mount=type=bind,from=base,target=/b --mount=from=$TOOLS,target=/t true',
      'FROM scratch AS later',
      'COPY --from=scratch / /'
    ].join('\n')
    expect(baseImageReferences(text, [], [parsePlatform('linux/amd64')])).toEqual(['busybox:1.37', 'golang:1.25', 'localhost:5000/certs:1', 'localhost:5000/tools'])
    expect(baseImageReferences(text, [{ name: 'GO_IMAGE', value: 'golang:1.26' }], [parsePlatform('linux/amd64')])).toContain('golang:1.26')
  })

  it('fails when a FROM names no image once expanded', () => {
    expect(() => baseImageReferences('ARG BASE\nFROM ${BASE}\n', [], [amd64])).toThrow(/names no image/)
  })
})

describe('resolveBaseImages', () => {
  it('asks the registry for each reference, and trusts a pinned digest', async () => {
    const pinned = `sha256:${'d'.repeat(64)}`
    const raw = '{"schemaVersion":2,"manifests":[]}'
    const docker = new FakeDocker().on(['buildx', 'imagetools', 'inspect', '--raw', 'busybox:1'], { stdout: raw })
    expect(await resolveBaseImages(docker, ['busybox:1', `golang@${pinned}`])).toEqual({
      'busybox:1': sha256Digest(raw),
      [`golang@${pinned}`]: pinned
    })
    expect(docker.calls).toHaveLength(1)
  })

  it('fails when the registry cannot answer', async () => {
    const docker = new FakeDocker().on(['buildx', 'imagetools', 'inspect'], { exitCode: 1, stderr: 'ERROR: connection refused' })
    await expect(resolveBaseImages(docker, ['busybox:1'])).rejects.toThrow(/connection refused/)
  })
})

describe('fingerprintBuild', () => {
  it('changes when a FROM image now resolves to another digest', async () => {
    const dir = await tempDir()
    await writeFile(path.join(dir, 'Dockerfile'), 'FROM busybox:1\nCOPY . /\n')
    await writeFile(path.join(dir, 'hello.txt'), 'hello\n')
    const request: FingerprintRequest = {
      context: dir,
      file: path.join(dir, 'Dockerfile'),
      buildArgs: [],
      platforms: [parsePlatform('linux/amd64')],
      versions: {}
    }
    let served = '{"v":1}'
    const docker = new FakeDocker().on(['buildx', 'imagetools', 'inspect', '--raw', 'busybox:1'], () => ({ stdout: served }))
    const first = await fingerprintBuild(docker, request)
    expect(first.ingredients.baseImages).toEqual({ 'busybox:1': sha256Digest('{"v":1}') })
    expect(first.contextEntries).toBe(2)
    expect((await fingerprintBuild(docker, request)).value).toBe(first.value)
    served = '{"v":2}'
    expect((await fingerprintBuild(docker, request)).value).not.toBe(first.value)
  })

  it('changes when an image only COPY --from names is rebuilt upstream', async () => {
    const dir = await tempDir()
    await writeFile(path.join(dir, 'Dockerfile'), 'FROM busybox:1\nCOPY --from=golang:1.25 /usr/local/go /usr/local/go\n')
    const request: FingerprintRequest = { context: dir, file: path.join(dir, 'Dockerfile'), buildArgs: [], platforms: [parsePlatform('linux/amd64')], versions: {} }
    let golang = '{"go":1}'
    const docker = new FakeDocker()
      .on(['buildx', 'imagetools', 'inspect', '--raw', 'busybox:1'], { stdout: '{"v":1}' })
      .on(['buildx', 'imagetools', 'inspect', '--raw', 'golang:1.25'], () => ({ stdout: golang }))
    const first = await fingerprintBuild(docker, request)
    expect(first.ingredients.baseImages).toEqual({ 'busybox:1': sha256Digest('{"v":1}'), 'golang:1.25': sha256Digest('{"go":1}') })
    golang = '{"go":2}'
    expect((await fingerprintBuild(docker, request)).value).not.toBe(first.value)
  })
})

describe('named build contexts and remote sources', () => {
  const COMMIT = 'a'.repeat(40)
  /** A context with this Dockerfile, and the request for it with these named contexts. */
  async function requestFor(dockerfile: string, namedContexts: FingerprintRequest['namedContexts'] = []): Promise<FingerprintRequest> {
    const dir = await tempDir()
    await writeFile(path.join(dir, 'Dockerfile'), dockerfile)
    return { context: dir, file: path.join(dir, 'Dockerfile'), buildArgs: [], platforms: [parsePlatform('linux/amd64')], versions: {}, namedContexts }
  }

  it('compares names as BuildKit does (docker.io, library/ and :latest dropped)', () => {
    expect(['alpine', 'alpine:latest', 'docker.io/library/alpine', 'index.docker.io/library/alpine:latest'].map(familiarName)).toEqual(['alpine', 'alpine', 'alpine', 'alpine'])
    expect(['docker.io/foo/bar:1', 'library/alpine:3', 'localhost:5000/library/x', 'ghcr.io/o/r:latest', 'alpine@sha256:' + 'c'.repeat(64)].map(familiarName)).toEqual([
      'foo/bar:1',
      'alpine:3',
      'localhost:5000/library/x',
      'ghcr.io/o/r',
      'alpine@sha256:' + 'c'.repeat(64)
    ])
  })

  it('takes a FROM, COPY --from or mount from that names a named context for that context, not for the Docker Hub image of that name', () => {
    const dockerfile = 'FROM ctx AS a\nFROM docker.io/library/base:latest\nCOPY --from=tools /x /x\nRUN --mount=from=cache,target=/c true\nFROM alpine:3\n'
    expect(baseImageReferences(dockerfile, [], [], ['ctx', 'base', 'tools', 'cache'])).toEqual(['alpine:3'])
    expect(baseImageReferences(dockerfile, [], [])).toEqual(['ctx', 'docker.io/library/base:latest', 'tools', 'cache', 'alpine:3'])
  })

  it('resolves a docker-image:// context\'s image like a FROM image, so an image pushed under the same tag means a rebuild; the name ctx is never looked up', async () => {
    const request = await requestFor('FROM ctx\nCOPY . /\n', [{ name: 'ctx', value: 'docker-image://localhost:5000/base:1' }])
    let served = '{"v":1}'
    // no answer for "ctx": looking it up (as docker.io/library/ctx) fails the test
    const docker = new FakeDocker().on(['buildx', 'imagetools', 'inspect', '--raw', 'localhost:5000/base:1'], () => ({ stdout: served }))
    const first = await fingerprintBuild(docker, request)
    expect(first.ingredients.baseImages).toEqual({ 'localhost:5000/base:1': sha256Digest('{"v":1}') })
    expect(first.ingredients.options.build).toEqual(['build-context=ctx=docker-image://localhost:5000/base:1'])
    expect((await fingerprintBuild(docker, request)).value).toBe(first.value)
    served = '{"v":2}'
    expect((await fingerprintBuild(docker, request)).value).not.toBe(first.value)
  })

  it('reads a local context by its content, an oci-layout:// context by its index.json or digest; a target: context is the Dockerfile\'s', async () => {
    const local = await tempDir()
    await writeFile(path.join(local, 'a.txt'), 'one\n')
    const layout = await tempDir()
    await writeFile(path.join(layout, 'index.json'), '{"manifests":[1]}')
    const pinnedLayout = `oci-layout://${layout}@sha256:${'d'.repeat(64)}`
    const request = await requestFor('FROM scratch\nCOPY --from=src / /\nCOPY --from=layout / /\nCOPY --from=pinned / /\nCOPY --from=stage / /\n', [
      { name: 'src', value: local, dir: local },
      { name: 'layout', value: `oci-layout://${layout}:v1` },
      { name: 'pinned', value: pinnedLayout },
      { name: 'stage', value: 'target:builder' }
    ])
    const docker = new FakeDocker()
    const first = await fingerprintBuild(docker, request)
    expect(docker.calls).toEqual([])
    expect(first.ingredients.options.build).toEqual([
      expect.stringMatching(/^build-context=src=sha256:[0-9a-f]{64}$/),
      `build-context=layout=oci-layout://${layout}:v1@${sha256Digest('{"manifests":[1]}')}`,
      `build-context=pinned=${pinnedLayout}`,
      'build-context=stage=target:builder'
    ])
    await writeFile(path.join(layout, 'index.json'), '{"manifests":[2]}')
    const second = await fingerprintBuild(docker, request)
    await writeFile(path.join(local, 'a.txt'), 'two\n')
    const third = await fingerprintBuild(docker, request)
    expect(new Set([first.value, second.value, third.value]).size).toBe(3)
  })

  it.each([
    ['a URL context (an archive)', [{ name: 'src', value: 'https://example.com/src.tar.gz' }], /the build context src=https:\/\/example\.com\/src\.tar\.gz, a URL/],
    ['a git context at a branch', [{ name: 'src', value: 'https://github.com/o/r.git#main' }], /the build context src=https:\/\/github\.com\/o\/r\.git#main, a git repository at a branch or tag \(give #<commit id> to pin it\)/],
    ['a git context with no ref', [{ name: 'src', value: 'git@github.com:o/r.git' }], /a git repository at a branch or tag/]
  ])('has no fingerprint for %s, and says why', async (_what, contexts, reason) => {
    const request = await requestFor('FROM scratch\nCOPY --from=src / /\n', contexts)
    const docker = new FakeDocker()
    const error = await fingerprintBuild(docker, request).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(UnpinnedInputError)
    expect((error as Error).message).toMatch(reason)
    expect((error as Error).message).toContain('content no digest pins, which can change while its name stays the same')
    expect(docker.calls).toEqual([])
  })

  it('fingerprints a git context pinned to a commit', async () => {
    const request = await requestFor('FROM scratch\nCOPY --from=src / /\n', [{ name: 'src', value: `https://github.com/o/r.git#${COMMIT}:sub` }])
    expect((await fingerprintBuild(new FakeDocker(), request)).ingredients.options.build).toEqual([`build-context=src=https://github.com/o/r.git#${COMMIT}:sub`])
  })

  it('names every ADD of a URL without --checksum and of a git repository without a commit; a build arg can give the commit', () => {
    const dockerfile = [
      'FROM scratch',
      'ARG REF=main',
      'ADD https://example.com/a.tgz /a',
      'ADD --checksum=sha256:' + 'e'.repeat(64) + ' https://example.com/b.tgz /b',
      'ADD ["https://example.com/c.tgz", "/c"]',
      'ADD https://github.com/o/r.git#${REF} /r',
      `ADD git@github.com:o/s.git#${COMMIT} /s`,
      'ADD local.txt /l',
      ''
    ].join('\n')
    expect(unpinnedSources(dockerfile, [])).toEqual([
      'ADD https://example.com/a.tgz (line 3), a URL without --checksum=sha256:…',
      'ADD https://example.com/c.tgz (line 5), a URL without --checksum=sha256:…',
      'ADD https://github.com/o/r.git#main (line 6), a git repository at a branch or tag (give #<commit id>)'
    ])
    expect(unpinnedSources(dockerfile, [{ name: 'REF', value: COMMIT }])).toHaveLength(2)
    // as its stage sees its variables: a global ARG the stage redeclares, an ENV; none carries over to the next stage
    expect(unpinnedSources(`ARG C=${COMMIT}\nFROM scratch\nARG C\nADD https://h/r.git#\${C} /r\nENV D=${COMMIT}\nADD https://h/s.git#\${D} /s\n`, [])).toEqual([])
    expect(unpinnedSources(`ARG C=${COMMIT}\nFROM scratch\nENV D=${COMMIT}\nFROM scratch\nADD https://h/r.git#\${C} /r\nADD https://h/s.git#\${D} /s\n`, [])).toEqual([
      'ADD https://h/r.git# (line 5), a git repository at a branch or tag (give #<commit id>)',
      'ADD https://h/s.git# (line 6), a git repository at a branch or tag (give #<commit id>)'
    ])
  })

  it('has no fingerprint for a Dockerfile that ADDs a URL, before asking any registry', async () => {
    const docker = new FakeDocker()
    await expect(fingerprintBuild(docker, await requestFor('FROM busybox\nADD https://example.com/a.tgz /a\n'))).rejects.toThrow(
      'this build reads ADD https://example.com/a.tgz (line 2), a URL without --checksum=sha256:…: content no digest pins'
    )
    expect(docker.calls).toEqual([])
  })

  it.each([
    ['git@github.com:o/r.git', true],
    ['git://host/r', true],
    ['https://host/o/r.git#v1', true],
    ['https://github.com/o/r', true],
    ['https://example.com/a.tgz', false],
    ['https://github.com/o/r/archive/v1.tar.gz', false]
  ])('%s is a git URL: %s', (url, git) => {
    expect(isGitUrl(url)).toBe(git)
  })

  it('pins a git URL only by a full commit id', () => {
    expect([`x.git#${COMMIT}`, `x.git#${COMMIT}:dir`, 'x.git#v1.2.3', `x.git#${COMMIT.slice(0, 12)}`, 'x.git'].map(gitCommitPinned)).toEqual([true, true, false, false, false])
  })
})
