import { describe, expect, it } from '@jest/globals'
import { FakeDocker } from '../../__fixtures__/fake-docker.js'
import { fixture } from '../../__fixtures__/fixtures.js'
import { parsePlatform } from '../../src/core/platform.js'
import { runWithRetries, type RunOptions } from '../../src/core/docker.js'
import { isNotFound, referenceExists, RegistryQueryError, sha256Digest } from '../../src/core/registry.js'
import { InputError } from '../../src/core/input.js'
import { readSettings } from '../../src/settings.js'
import {
  buildTime,
  firstRunTag,
  isPrerelease,
  latestDecision,
  latestGoesBack,
  parseTemplate,
  publishingEvent,
  whyNotPushing,
  planTags,
  readGitHubContext,
  readTagSettings,
  renderTemplate,
  sanitizeTag,
  shouldPush,
  type GitHubContext,
  type PlanSettings,
  type TagSettings
} from '../../src/tags/tags.js'
import { compareVersions, type Versions } from '../../src/tags/versions.js'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'

const NOW = new Date('2025-11-23T07:21:00.000Z')
const IMAGE = 'localhost:5000/go-build'
const FOUR = ['linux/amd64', 'linux/arm64', 'linux/ppc64le', 'linux/s390x'].map(p => parsePlatform(p))

function versionsOf(values: Record<string, string>): Versions {
  const args: Record<string, string> = { go: 'GO_VERSION', llvm: 'LLVM_VERSION', k8s: 'K8S_VERSION' }
  return {
    args,
    resolved: Object.fromEntries(Object.entries(values).map(([k, value]) => [k, { value, source: `test (${k})` }])),
    searched: Object.fromEntries(
      Object.keys(args).map(k => [k, [`input "${k}-version"`, 'versions.yaml (…)', `the default of ARG ${args[k]} in Dockerfile`]])
    )
  }
}

const V = versionsOf({ go: '1.25.4', llvm: '18.1.8', k8s: '1.34.1' })

const dispatch: GitHubContext = {
  eventName: 'workflow_dispatch',
  ref: 'refs/heads/main',
  sha: '0123456789abcdef0123456789abcdef01234567',
  repositoryUrl: 'https://github.com/org/go-build',
  defaultBranch: 'main'
}

function tagging(over: Partial<TagSettings> = {}): TagSettings {
  // a template given here is one the user wrote
  return { ...readTagSettings(() => ''), ...(over.template !== undefined ? { templateGiven: true } : {}), ...over }
}

function settings(over: Partial<TagSettings> = {}, images = [IMAGE], platforms = FOUR): PlanSettings {
  return { images, platforms, tagging: tagging(over) }
}

/** A registry that holds exactly the given references; every other tag is "not found" as buildx 0.13 says it. */
function registryHolding(...references: string[]): FakeDocker {
  return new FakeDocker().on(['buildx', 'imagetools', 'inspect', '--raw'], args => {
    const ref = args[4] ?? ''
    return references.includes(ref)
      ? { stdout: fixture('index-with-attestations.json') }
      : { exitCode: 1, stderr: `ERROR: ${ref}: not found\n` }
  })
}

const inspected = (docker: FakeDocker): string[] => docker.calls.map(c => c.args[4] ?? '')

describe('planTags: real-world tags', () => {
  it.each([
    [{ go: '1.25.4', llvm: '18.1.8', k8s: '1.34.1' }, '1.25.4-llvm18.1.8-k8s1.34.1'],
    [{ go: '1.26.5', llvm: '21.1.8', k8s: '1.37.0-beta.0' }, '1.26.5-llvm21.1.8-k8s1.37.0-beta.0'],
    [{ go: '1.24.10', llvm: '19.10.12', k8s: '1.33.11' }, '1.24.10-llvm19.10.12-k8s1.33.11'],
    [{ go: '1.25.4', llvm: '21.10', k8s: '1.34.1' }, '1.25.4-llvm21.10-k8s1.34.1']
  ])('%j → %s, per-platform tags, and labels', async (values, tag) => {
    const docker = registryHolding()
    const plan = await planTags(docker, settings(), versionsOf(values), dispatch, NOW)
    expect(plan).toEqual({
      tag,
      indexTags: [tag],
      platformTags: {
        'linux/amd64': `${tag}-amd64`,
        'linux/arm64': `${tag}-arm64`,
        'linux/ppc64le': `${tag}-ppc64le`,
        'linux/s390x': `${tag}-s390x`
      },
      push: true,
      build: true,
      why: 'a workflow_dispatch run publishes',
      seen: { [`localhost:5000/go-build:${tag}`]: '' },
      labels: {
        'org.opencontainers.image.version': tag,
        'org.opencontainers.image.created': '2025-11-23T07:21:00.000Z',
        'org.opencontainers.image.revision': dispatch.sha,
        'org.opencontainers.image.source': 'https://github.com/org/go-build',
        'io.go-build.golang.version': values.go,
        'io.go-build.llvm.version': values.llvm,
        'io.go-build.kubernetes.version': values.k8s
      },
      annotations: plan.labels
    })
    expect(inspected(docker)).toEqual([`${IMAGE}:${tag}`])
  })

  it('names variant platforms unambiguously and can switch per-platform tags off', async () => {
    const platforms = ['linux/amd64', 'linux/arm/v7', 'linux/arm64'].map(p => parsePlatform(p))
    const plan = await planTags(registryHolding(), settings({}, [IMAGE], platforms), V, dispatch, NOW)
    expect(plan.platformTags).toEqual({
      'linux/amd64': '1.25.4-llvm18.1.8-k8s1.34.1-amd64',
      'linux/arm/v7': '1.25.4-llvm18.1.8-k8s1.34.1-arm-v7',
      'linux/arm64': '1.25.4-llvm18.1.8-k8s1.34.1-arm64'
    })
    expect((await planTags(registryHolding(), settings({ platformTags: false }), V, dispatch, NOW)).platformTags).toEqual({})
  })

  it('wraps the main and extra tags in tag-prefix / tag-suffix, templates the extra tags, and leaves latest alone', async () => {
    const plan = await planTags(
      registryHolding(),
      settings({ prefix: 'go', suffix: '-bookworm', extraTags: ['{go}', 'llvm{llvm}'], latest: 'always' }),
      V,
      dispatch,
      NOW
    )
    expect(plan.tag).toBe('go1.25.4-llvm18.1.8-k8s1.34.1-bookworm')
    expect(plan.indexTags).toEqual(['go1.25.4-llvm18.1.8-k8s1.34.1-bookworm', 'latest', 'go1.25.4-bookworm', 'gollvm18.1.8-bookworm'])
    expect(plan.platformTags['linux/s390x']).toBe('go1.25.4-llvm18.1.8-k8s1.34.1-bookworm-s390x')
  })

  it('uses a custom template and a version mapped through version-args', async () => {
    const versions = versionsOf({ go: '1.25.4' })
    versions.args.protoc = 'PROTOC_VERSION'
    versions.resolved.protoc = { value: '33.1', source: 'test' }
    versions.searched.protoc = []
    const plan = await planTags(registryHolding(), settings({ template: 'go{go}-protoc{protoc}' }), versions, dispatch, NOW)
    expect(plan.tag).toBe('go1.25.4-protoc33.1')
    expect(plan.labels['io.go-build.protoc.version']).toBe('33.1')
  })
})

describe('planTags: GitHub events (the event table walks every event: event-table.test.ts)', () => {
  const TAG = '1.25.4-llvm18.1.8-k8s1.34.1'

  it.each<[string, Partial<GitHubContext>, Partial<TagSettings>, string[], boolean]>([
    ['a release named release/2025.11', { eventName: 'release', releaseAction: 'published', releaseTag: 'release/2025.11' }, {}, [TAG, 'release-2025.11'], true],
    ['a pull request with push: true', { eventName: 'pull_request', ref: 'refs/pull/7/merge' }, { push: 'true' }, [TAG], true],
    ['a release that is not going out, with push: true', { eventName: 'release', releaseAction: 'edited', releaseTag: 'v1.2.3' }, { push: 'true' }, [TAG, 'v1.2.3'], true],
    ['workflow_dispatch with push: false', {}, { push: 'false' }, [TAG], false]
  ])('%s', async (_name, event, over, indexTags, push) => {
    const docker = registryHolding(`${IMAGE}:${TAG}`)
    const plan = await planTags(docker, settings({ rebuild: 'overwrite', ...over }), V, { ...dispatch, ...event }, NOW)
    expect({ indexTags: plan.indexTags, push: plan.push, build: plan.build }).toEqual({ indexTags, push, build: true })
  })

  it('builds a pull request without pushing and without asking the registry, even though TAG exists', async () => {
    const docker = registryHolding(`${IMAGE}:${TAG}`)
    const plan = await planTags(docker, settings(), V, { ...dispatch, eventName: 'pull_request' }, NOW)
    expect(plan.push).toBe(false)
    expect(plan.tag).toBe(TAG)
    expect(docker.calls).toEqual([])
  })
})

describe('planTags: rebuilds', () => {
  const TAG = '1.25.4-llvm18.1.8-k8s1.34.1'

  it('suffix: publishes TAG-2 when TAG and TAG-1 exist', async () => {
    const docker = registryHolding(`${IMAGE}:${TAG}`, `${IMAGE}:${TAG}-1`)
    const plan = await planTags(docker, settings({ rebuild: 'suffix' }), V, dispatch, NOW)
    expect(plan.tag).toBe(`${TAG}-2`)
    expect(plan.indexTags).toEqual([`${TAG}-2`])
    expect(plan.platformTags['linux/arm64']).toBe(`${TAG}-2-arm64`)
    expect(plan.labels['org.opencontainers.image.version']).toBe(`${TAG}-2`)
    expect(inspected(docker)).toEqual([`${IMAGE}:${TAG}`, `${IMAGE}:${TAG}-1`, `${IMAGE}:${TAG}-2`])
    expect(docker.calls.every(c => c.options.allowFailure && c.options.silent)).toBe(true)
  })

  it('suffix: keeps the newest published tag and its manifest, for a rerun to compare with', async () => {
    const docker = registryHolding(`${IMAGE}:${TAG}`, `${IMAGE}:${TAG}-1`)
    const plan = await planTags(docker, settings({ rebuild: 'suffix' }), V, dispatch, NOW)
    expect(plan.previous).toEqual({ tag: `${TAG}-1`, reference: `${IMAGE}:${TAG}-1`, manifest: fixture('index-with-attestations.json') })
    expect((await planTags(registryHolding(), settings(), V, dispatch, NOW)).previous).toBeUndefined()
  })

  it('suffix: picks a number free in every repository', async () => {
    const other = 'localhost:5001/mirror/go-build'
    const docker = registryHolding(`${IMAGE}:${TAG}`, `${other}:${TAG}-1`)
    const plan = await planTags(docker, settings({ rebuild: 'suffix' }, [IMAGE, other]), V, dispatch, NOW)
    expect(plan.tag).toBe(`${TAG}-2`)
    expect(plan.seen).toEqual({ [`${IMAGE}:${TAG}-2`]: '', [`${other}:${TAG}-2`]: '' })
  })

  it('a tag this workflow run decided (legs, merge) is used as it is, without asking the registry', async () => {
    const docker = registryHolding(`${IMAGE}:${TAG}`)
    const plan = await planTags(docker, { ...settings({ rebuild: 'suffix' }), decidedTag: `${TAG}-1` }, V, dispatch, NOW)
    expect(plan.tag).toBe(`${TAG}-1`)
    expect(plan.platformTags['linux/s390x']).toBe(`${TAG}-1-s390x`)
    expect(plan.seen).toEqual({ [`${IMAGE}:${TAG}-1`]: '' })
    expect(docker.calls).toEqual([])
  })

  it('suffix: keeps TAG when it is new', async () => {
    expect((await planTags(registryHolding(), settings(), V, dispatch, NOW)).tag).toBe(TAG)
  })

  it('overwrite: moves TAG without asking the registry', async () => {
    const docker = registryHolding(`${IMAGE}:${TAG}`)
    expect((await planTags(docker, settings({ rebuild: 'overwrite' }), V, dispatch, NOW)).tag).toBe(TAG)
    expect(docker.calls).toEqual([])
  })

  it('fail: stops when TAG exists, naming the reference and the other choices', async () => {
    await expect(planTags(registryHolding(`${IMAGE}:${TAG}`), settings({ rebuild: 'fail' }), V, dispatch, NOW)).rejects.toThrow(
      `input "if-tag-exists": ${IMAGE}:${TAG} already exists and if-tag-exists is "fail": set if-tag-exists: suffix to publish ${TAG}-1, or overwrite to move ${TAG}`
    )
  })

  it.each([
    ['imagetools-inspect-connection-refused.txt', /cannot tell whether .* exists \(.*connection refused\): check the registry address in input "images"/],
    ['imagetools-inspect-unauthorized.txt', /cannot tell whether .* exists \(pull access denied.*\): log in to the registry/],
    ['imagetools-inspect-bad-credentials.txt', /cannot tell whether .* exists \(.*401 Unauthorized\): log in to the registry/]
  ])('never takes a registry that answers like %s for a free tag', async (file, message) => {
    const docker = new FakeDocker().on(['buildx', 'imagetools', 'inspect'], { exitCode: 1, stderr: fixture(file) })
    const planned = planTags(docker, settings(), V, dispatch, NOW)
    await expect(planned).rejects.toThrow(RegistryQueryError)
    await expect(planTags(docker, settings(), V, dispatch, NOW)).rejects.toThrow(message)
  })
})

describe('planTags: completing an unfinished publish of the same build', () => {
  const TAG = '1.25.4-llvm18.1.8-k8s1.34.1'
  const F = `sha256:${'f'.repeat(64)}`
  const amd64 = `sha256:${'1'.repeat(64)}`
  const arm64 = `sha256:${'2'.repeat(64)}`
  const index = (fingerprint: string): string =>
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: amd64, size: 1, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: arm64, size: 1, platform: { os: 'linux', architecture: 'arm64' } }
      ],
      annotations: { 'io.go-build.fingerprint': fingerprint }
    })
  const other = 'localhost:5001/mirror/go-build'
  const TWO = ['linux/amd64', 'linux/arm64'].map(p => parsePlatform(p))

  /** The first repository holds TAG (an index with `fingerprint`) and, per `archTags`, its TAG-ARCH; the other nothing. */
  function halfPublished(fingerprint: string, archTags: Record<string, string>): FakeDocker {
    const raw = index(fingerprint)
    const digest = sha256Digest(raw)
    return new FakeDocker().on(['buildx', 'imagetools', 'inspect', '--raw'], args => {
      const ref = args[4] ?? ''
      if (ref === `${IMAGE}:${TAG}` || ref === `${IMAGE}@${digest}`) return { stdout: raw }
      const arch = /-(amd64|arm64)$/.exec(ref)?.[1]
      if (ref.startsWith(`${IMAGE}:`) && arch && archTags[arch]) return { stdout: archTags[arch] }
      return { exitCode: 1, stderr: `ERROR: ${ref}: not found\n` }
    })
  }

  it('suffix: TAG whose index carries this fingerprint, missing in a repository, is completed, not skipped for TAG-1', async () => {
    const docker = halfPublished(F, {})
    const plan = await planTags(docker, { ...settings({ rebuild: 'suffix' }, [IMAGE, other], TWO), fingerprint: F }, V, dispatch, NOW)
    expect(plan.tag).toBe(TAG)
    expect(plan.seen).toEqual({ [`${IMAGE}:${TAG}`]: sha256Digest(index(F)), [`${other}:${TAG}`]: '' })
  })

  it('suffix: a TAG of another build (another fingerprint) is skipped for TAG-1', async () => {
    const docker = halfPublished(`sha256:${'e'.repeat(64)}`, {})
    const plan = await planTags(docker, { ...settings({ rebuild: 'suffix' }, [IMAGE, other], TWO), fingerprint: F }, V, dispatch, NOW)
    expect(plan.tag).toBe(`${TAG}-1`)
  })

  it('fail: an unfinished publish of this build is completed rather than refused', async () => {
    const docker = halfPublished(F, {})
    const plan = await planTags(docker, { ...settings({ rebuild: 'fail' }, [IMAGE, other], TWO), fingerprint: F }, V, dispatch, NOW)
    expect(plan.tag).toBe(TAG)
  })

  it('a complete publish of this build (every repository, every TAG-ARCH) is not taken over', async () => {
    const docker = halfPublished(F, {})
    const plan = await planTags(docker, { ...settings({ rebuild: 'suffix', platformTags: false }, [IMAGE], TWO), fingerprint: F }, V, dispatch, NOW)
    expect(plan.tag).toBe(`${TAG}-1`)
  })
})

describe('isNotFound / referenceExists (buildx 0.13 output captured against localhost:5000/5001)', () => {
  it.each([
    ['imagetools-inspect-not-found.txt', true],
    ['imagetools-inspect-repository-not-found.txt', true],
    ['imagetools-inspect-connection-refused.txt', false],
    ['imagetools-inspect-unauthorized.txt', false],
    ['imagetools-inspect-bad-credentials.txt', false]
  ])('%s → not found: %s', (file, notFound) => expect(isNotFound(fixture(file))).toBe(notFound))

  it.each(['ERROR: failed to resolve: manifest unknown', 'MANIFEST_UNKNOWN: manifest unknown', 'NAME_UNKNOWN: repository name not known'])(
    'reads registry wording %j as not found',
    text => expect(isNotFound(text)).toBe(true)
  )

  it('retries a registry it cannot reach as often as the retry policy says, then names input "images"', async () => {
    const calls: string[][] = []
    const refused = fixture('imagetools-inspect-connection-refused.txt')
    const docker = {
      run: (args: readonly string[], options: RunOptions = {}) =>
        runWithRetries(
          async a => {
            calls.push([...a])
            return { exitCode: 1, stdout: '', stderr: refused }
          },
          args,
          options,
          async () => {}
        )
    }
    await expect(referenceExists(docker, `${IMAGE}:a`, { attempts: 2, baseDelayMs: 1, maxDelayMs: 1 })).rejects.toThrow(
      new RegExp(`^cannot tell whether ${IMAGE}:a exists after 2 attempts \\(.*connection refused\\): check the registry address in input "images"`)
    )
    expect(calls).toHaveLength(2)
  })

  it('does not retry a registry that says "not found": the tag is free', async () => {
    const docker = new FakeDocker().on(['buildx', 'imagetools', 'inspect'], { exitCode: 1, stderr: fixture('imagetools-inspect-not-found.txt') })
    expect(await referenceExists(docker, `${IMAGE}:a`, { attempts: 3, baseDelayMs: 1, maxDelayMs: 1 })).toBe(false)
    expect(docker.calls).toHaveLength(1)
  })

  it('answers true for a reference the registry serves, false for one it does not have', async () => {
    const docker = registryHolding(`${IMAGE}:a`)
    expect(await referenceExists(docker, `${IMAGE}:a`)).toBe(true)
    expect(await referenceExists(docker, `${IMAGE}:b`)).toBe(false)
  })
})

describe('templates', () => {
  it('splits text and placeholders', () => {
    expect(parseTemplate('{go}-llvm{llvm}', 't')).toEqual([{ placeholder: 'go' }, { text: '-llvm' }, { placeholder: 'llvm' }])
    expect(parseTemplate('fixed', 't')).toEqual([{ text: 'fixed' }])
  })

  it('names every place looked in for a placeholder with no source', () => {
    expect(() => renderTemplate('{go}-llvm{llvm}', 'tag-template', versionsOf({ go: '1.25.4' }))).toThrow(
      'input "tag-template": "{go}-llvm{llvm}": {llvm} has no value; looked in input "llvm-version", versions.yaml (…), the default of ARG LLVM_VERSION in Dockerfile. Set "llvm-version", the versions file or an ARG default, or write the tag into tag-template'
    )
  })
})

describe('sanitizeTag / shouldPush', () => {
  it.each([
    ['v1.2.3', 'v1.2.3'],
    ['release/2025.11', 'release-2025.11'],
    ['.hidden', 'hidden'],
    ['v2+build.7', 'v2-build.7'],
    ['x'.repeat(200), 'x'.repeat(128)]
  ])('%s → %s', (name, tag) => expect(sanitizeTag(name)).toBe(tag))

  it.each([
    ['auto', 'pull_request', false],
    ['auto', 'pull_request_target', false],
    ['auto', 'push', true],
    ['auto', 'issue_comment', false],
    ['auto', 'workflow_run', false],
    ['auto', '', false],
    ['auto', 'merge_group', false],
    ['auto', 'schedule', true],
    // a release payload that names no action is no release going out
    ['auto', 'release', false],
    ['true', 'pull_request', true],
    ['false', 'push', false]
  ] as const)('push: %s on %s → %s', (mode, eventName, push) => expect(shouldPush(mode, { ...dispatch, eventName })).toBe(push))
})

describe('readGitHubContext', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'github-context-'))
  const payload = (name: string, body: unknown): string => {
    const file = path.join(dir, name)
    writeFileSync(file, JSON.stringify(body))
    return file
  }
  const base = { GITHUB_SHA: 'abc', GITHUB_SERVER_URL: 'https://github.com', GITHUB_REPOSITORY: 'org/repo' }

  it('reads a published release, its action and the default branch from the payload', () => {
    const file = payload('release.json', { action: 'published', release: { tag_name: 'v1.2.3' }, repository: { default_branch: 'main' } })
    expect(readGitHubContext({ ...base, GITHUB_EVENT_NAME: 'release', GITHUB_REF: 'refs/tags/v1.2.3', GITHUB_EVENT_PATH: file })).toEqual({
      eventName: 'release',
      ref: 'refs/tags/v1.2.3',
      sha: 'abc',
      repositoryUrl: 'https://github.com/org/repo',
      defaultBranch: 'main',
      releaseAction: 'published',
      releaseTag: 'v1.2.3'
    })
  })

  it('reads a prerelease from the release payload', () => {
    const file = payload('prerelease.json', { action: 'published', release: { tag_name: 'v2.0.0-rc.1', prerelease: true } })
    expect(readGitHubContext({ GITHUB_EVENT_NAME: 'release', GITHUB_EVENT_PATH: file })).toMatchObject({ releaseTag: 'v2.0.0-rc.1', prerelease: true })
  })

  it('a release going out must name its tag; one that is only created or deleted may not; a missing payload file is no payload', () => {
    const out = payload('released.json', { action: 'released', release: {} })
    expect(() => readGitHubContext({ GITHUB_EVENT_NAME: 'release', GITHUB_EVENT_PATH: out })).toThrow(/has no release\.tag_name/)
    const deleted = payload('deleted.json', { action: 'deleted', release: {} })
    expect(readGitHubContext({ GITHUB_EVENT_NAME: 'release', GITHUB_EVENT_PATH: deleted })).toMatchObject({ releaseAction: 'deleted' })
    expect(readGitHubContext({ GITHUB_EVENT_NAME: 'push', GITHUB_EVENT_PATH: path.join(dir, 'none.json') })).toEqual({
      eventName: 'push',
      ref: '',
      sha: '',
      repositoryUrl: ''
    })
  })

  it.each<[string, Partial<GitHubContext>, boolean]>([
    ['a tag push of v1.3.0-rc.1', { eventName: 'push', ref: 'refs/tags/v1.3.0-rc.1' }, true],
    ['a tag push of 2.0.0-beta', { eventName: 'push', ref: 'refs/tags/2.0.0-beta' }, true],
    ['a module tag hello/v1.3.0-alpha.2', { eventName: 'push', ref: 'refs/tags/hello/v1.3.0-alpha.2' }, true],
    ['a release v1.0.0-rc.1 not marked a prerelease', { eventName: 'release', releaseAction: 'published', releaseTag: 'v1.0.0-rc.1' }, true],
    ['a dispatch from tag v1.3.0-rc.1', { eventName: 'workflow_dispatch', ref: 'refs/tags/v1.3.0-rc.1' }, true],
    ['a tag push of v1.2.3', { eventName: 'push', ref: 'refs/tags/v1.2.3' }, false],
    ['a tag push of v1.2.3+build.5', { eventName: 'push', ref: 'refs/tags/v1.2.3+build.5' }, false],
    ['a tag push of release-2025-11 (not SemVer)', { eventName: 'push', ref: 'refs/tags/release-2025-11' }, false],
    ['a branch named v1.3.0-rc.1', { eventName: 'push', ref: 'refs/heads/v1.3.0-rc.1' }, false]
  ])('isPrerelease: %s → %s', (_name, event, prerelease) => {
    expect(isPrerelease({ ...dispatch, ...event })).toBe(prerelease)
  })
})

/**
 * Malformed inputs: each ends in one message that names the input (or file) and the rule, before anything is
 * built or pushed (the FakeDocker below answers nothing, so any docker call would fail the test differently).
 */
describe('malformed inputs', () => {
  const reader =
    (inputs: Record<string, string>) =>
    (name: string): string =>
      inputs[name] ?? ''

  it.each<[string, Record<string, string>, string, RegExp]>([
    ['bad rebuild value', { 'if-tag-exists': 'bump' }, 'if-tag-exists', /"bump" is not valid: write one of suffix, overwrite, fail$/],
    ['bad push value', { push: 'sometimes' }, 'push', /not valid: write one of auto, true, false$/],
    ['bad latest value', { latest: 'maybe' }, 'latest', /not valid: write one of true, false, always$/],
    ['bad platform-tags value', { 'platform-tags': 'perhaps' }, 'platform-tags', /not valid: write one of true, false$/],
    ['version with spaces', { 'go-version': '1.25 .4' }, 'go-version', /contains whitespace/],
    ['version with go prefix', { 'go-version': 'go1.25.4' }, 'go-version', /write 1.25.4/],
    ['version not starting with a digit', { 'llvm-version': 'latest' }, 'llvm-version', /does not start with a digit/],
    ['version with a +', { 'k8s-version': '1.34.1+k3s1' }, 'k8s-version', /contains "\+"/],
    ['malformed version-args', { 'version-args': 'go:GO_VERSION' }, 'version-args', /not name=ARG_NAME/],
    ['version-args mapping one ARG twice', { 'version-args': 'llvm=GO_VERSION' }, 'version-args', /mapped to both "go" and "llvm"/]
  ])('%s', (_name, inputs, input, message) => {
    expect(() => readSettings(reader({ images: IMAGE, ...inputs }))).toThrow(InputError)
    expect(() => readSettings(reader({ images: IMAGE, ...inputs }))).toThrow(new RegExp(`^input "${input}": .*${message.source}`))
  })

  it.each<[string, Partial<TagSettings>, Versions, string, RegExp]>([
    ['a placeholder with no source', { template: '{go}-llvm{llvm}-k8s{k8s}' }, versionsOf({ go: '1.25.4', llvm: '18.1.8' }), 'tag-template', /\{k8s\} has no value; looked in input "k8s-version"/],
    ['an unknown placeholder', { template: '{go}-{golang}' }, V, 'tag-template', /\{golang\} is not a known placeholder \(known: \{go\}, \{llvm\}, \{k8s\}\)/],
    ['an unclosed brace', { template: '{go}-llvm{llvm' }, V, 'tag-template', /"\{" at position 10 is not closed/],
    ['a stray closing brace', { template: 'go}-{llvm}' }, V, 'tag-template', /"\}" at position 3 closes nothing/],
    ['empty braces', { template: '{go}-{}' }, V, 'tag-template', /"\{\}" is not a placeholder/],
    ['nested braces', { template: '{{go}}' }, V, 'tag-template', /"\{" at position 1 is not closed/],
    ['a tag over 128 characters', { suffix: `-${'x'.repeat(110)}` }, V, 'tag-template', /at most 128 characters \(this one has 138\): shorten it$/],
    ['a template with a space', { template: '{go} llvm{llvm}' }, V, 'tag-template', /"1.25.4 llvm18.1.8" is not a valid tag: a tag is letters/],
    ['an extra tag with a slash', { extraTags: ['feature/x'] }, V, 'tags', /the tag "feature\/x" is not a valid tag: a tag is letters, digits, _ . and -, starts with a letter, digit or _: use only those characters$/],
    ['an extra tag starting with a dash', { extraTags: ['-x'] }, V, 'tags', /starts with a letter, digit or _/],
    ['a tag-prefix starting with a dot', { prefix: '.x' }, V, 'tag-prefix', /would start the tag with "\."/],
    ['a tag-suffix with a colon', { suffix: ':x' }, V, 'tag-suffix', /characters a tag cannot/],
    ['an extra tag that is a per-platform tag', { extraTags: ['{go}-llvm{llvm}-k8s{k8s}-amd64'] }, V, 'tags', /would name both the multi-arch index and the linux\/amd64 image/]
  ])('%s', async (_name, over, versions, input, message) => {
    const docker = registryHolding()
    const planned = planTags(docker, settings(over), versions, dispatch, NOW)
    await expect(planned).rejects.toThrow(InputError)
    await expect(planTags(docker, settings(over), versions, dispatch, NOW)).rejects.toThrow(
      new RegExp(`^input "${input}": .*${message.source}`)
    )
  })
})

describe('buildTime', () => {
  it('takes SOURCE_DATE_EPOCH from the build args first, then the environment', () => {
    expect(buildTime([{ name: 'SOURCE_DATE_EPOCH', value: '0' }], { SOURCE_DATE_EPOCH: '99' }).toISOString()).toBe('1970-01-01T00:00:00.000Z')
    expect(buildTime([], { SOURCE_DATE_EPOCH: '86400' }).toISOString()).toBe('1970-01-02T00:00:00.000Z')
  })

  it('is now without one', () => {
    expect(Math.abs(buildTime([], {}).getTime() - Date.now())).toBeLessThan(5000)
  })

  it('names the build arg when the epoch is not a number', () => {
    expect(() => buildTime([{ name: 'SOURCE_DATE_EPOCH', value: 'yesterday' }], {})).toThrow(/^input "build-args": SOURCE_DATE_EPOCH "yesterday"/)
  })
})

describe('push: auto, by event and ref (every event: event-table.test.ts)', () => {
  it('a push whose payload names no default branch does not publish, and the log says how to publish from it', () => {
    const github = { ...dispatch, eventName: 'push', ref: 'refs/heads/main', defaultBranch: undefined }
    expect(publishingEvent(github)).toEqual({ publishes: false, builds: true, reason: expect.stringMatching(/does not name the default branch/) })
    expect(shouldPush('auto', github)).toBe(false)
    expect(whyNotPushing('auto', github)).toMatch(/^push is auto and .*set push: true to publish from this event\)$/)
  })
})

describe('latest', () => {
  it.each<[string, 'true' | 'always', boolean, Partial<GitHubContext>, boolean, RegExp | undefined]>([
    ['true on a release', 'true', true, { eventName: 'release', releaseAction: 'published', releaseTag: 'v1.2.3' }, true, undefined],
    ['true on a prerelease', 'true', true, { eventName: 'release', releaseAction: 'published', releaseTag: 'v1.3.0-rc.1', prerelease: true }, false, /release v1.3.0-rc.1 is marked a prerelease/],
    ['always on a prerelease', 'always', true, { eventName: 'release', releaseAction: 'published', releaseTag: 'v2-rc', prerelease: true }, false, /prerelease/],
    ['true on workflow_dispatch from the default branch', 'true', true, {}, true, undefined],
    ['true on workflow_dispatch from another branch', 'true', true, { ref: 'refs/heads/try' }, false, /on branch "try", not the default branch "main"/],
    ['true on repository_dispatch', 'true', true, { eventName: 'repository_dispatch' }, true, undefined],
    ['true on a default-branch push', 'true', true, { eventName: 'push' }, true, undefined],
    ['true on a work-branch push with push: true', 'true', true, { eventName: 'push', ref: 'refs/heads/dev' }, false, /not the default branch.*latest: always/],
    ['always on a work-branch push with push: true', 'always', true, { eventName: 'push', ref: 'refs/heads/dev' }, true, undefined],
    ['true on a run that does not push', 'true', false, { eventName: 'pull_request' }, false, /does not push/]
  ])('%s', (_name, mode, push, event, apply, reason) => {
    const decision = latestDecision(mode, push, { ...dispatch, ...event })
    expect(decision.apply).toBe(apply)
    if (reason) expect(decision.reason).toMatch(reason)
  })

  /** A registry whose `latest` carries the given annotations; every other tag is free. */
  const latestHolding = (annotations: Record<string, string>): FakeDocker =>
    new FakeDocker().on(['buildx', 'imagetools', 'inspect', '--raw'], args =>
      args[4] === `${IMAGE}:latest`
        ? { stdout: JSON.stringify({ ...JSON.parse(fixture('index-with-attestations.json')), annotations }) }
        : { exitCode: 1, stderr: `ERROR: ${args[4] ?? ''}: not found\n` }
    )
  const onGo125 = { 'io.go-build.golang.version': '1.25.4', 'io.go-build.llvm.version': '18.1.8', 'io.go-build.kubernetes.version': '1.34.1', 'org.opencontainers.image.version': '1.25.4-llvm18.1.8-k8s1.34.1' }

  it('never moves latest backwards: a go1.24 patch after go1.25 leaves it, and says so', async () => {
    const older = versionsOf({ go: '1.24.11', llvm: '18.1.8', k8s: '1.34.1' })
    const plan = await planTags(latestHolding(onGo125), settings({ latest: 'true' }), older, dispatch, NOW)
    expect(plan.indexTags).toEqual(['1.24.11-llvm18.1.8-k8s1.34.1'])
    const reason = await latestGoesBack(latestHolding(onGo125), [IMAGE], older, plan.tag, '')
    expect(reason).toBe(`${IMAGE}:latest holds go 1.25.4, newer than this build's 1.24.11: latest never moves backwards`)
  })

  it.each<[string, Record<string, string>, boolean]>([
    ['a newer go', { go: '1.25.5', llvm: '18.1.8', k8s: '1.34.1' }, true],
    ['the same versions (a rebuild)', { go: '1.25.4', llvm: '18.1.8', k8s: '1.34.1' }, true],
    ['a newer llvm on the same go', { go: '1.25.4', llvm: '19.1.0', k8s: '1.34.1' }, true],
    ['an older k8s on the same go and llvm', { go: '1.25.4', llvm: '18.1.8', k8s: '1.33.9' }, false],
    ['a newer go with an older llvm (go decides first)', { go: '1.26.0', llvm: '17.0.0', k8s: '1.34.1' }, true]
  ])('compares versions name by name: %s → moves %s', async (_name, values, moves) => {
    const plan = await planTags(latestHolding(onGo125), settings({ latest: 'true' }), versionsOf(values), dispatch, NOW)
    expect(plan.indexTags.includes('latest')).toBe(moves)
  })

  it('follows a rebuild of the same versions, whatever rebuild number latest carries', async () => {
    const rebuilt = { ...onGo125, 'org.opencontainers.image.version': '1.25.4-llvm18.1.8-k8s1.34.1-1' }
    const plan = await planTags(latestHolding(rebuilt), settings({ latest: 'true' }), V, dispatch, NOW)
    expect(plan.indexTags).toEqual(['1.25.4-llvm18.1.8-k8s1.34.1', 'latest'])
    const release = { ...dispatch, eventName: 'release', ref: 'refs/tags/v1.2.9', releaseAction: 'published', releaseTag: 'v1.2.9' }
    const again = await planTags(latestHolding({ 'org.opencontainers.image.version': 'v1.2.9-2' }), settings({ latest: 'true' }), versionsOf({}), release, NOW)
    expect(again.indexTags).toEqual(['v1.2.9', 'latest'])
  })

  it('without versions, compares the main tags where both read as versions; sha tags and a free latest move', async () => {
    const none = versionsOf({})
    const release = { ...dispatch, eventName: 'release', ref: 'refs/tags/v1.2.9', releaseAction: 'published', releaseTag: 'v1.2.9' }
    const older = await planTags(latestHolding({ 'org.opencontainers.image.version': 'v1.3.0' }), settings({ latest: 'true' }), none, release, NOW)
    expect(older.indexTags).toEqual(['v1.2.9'])
    const newer = await planTags(latestHolding({ 'org.opencontainers.image.version': 'v1.2.8' }), settings({ latest: 'true' }), none, release, NOW)
    expect(newer.indexTags).toEqual(['v1.2.9', 'latest'])
    const sha = await planTags(latestHolding({ 'org.opencontainers.image.version': 'v1.3.0' }), settings({ latest: 'true' }), none, dispatch, NOW)
    expect(sha.indexTags).toEqual(['sha-0123456', 'latest'])
    const free = await planTags(registryHolding(), settings({ latest: 'true' }), V, dispatch, NOW)
    expect(free.indexTags).toEqual(['1.25.4-llvm18.1.8-k8s1.34.1', 'latest'])
  })
})

describe('compareVersions', () => {
  it.each([
    ['1.24.10', '1.25.4', -1],
    ['1.25.10', '1.25.9', 1],
    ['v1.2.3', '1.2.3', 0],
    ['1.25rc1', '1.25.0', -1],
    ['1.25.0', '1.25', 1],
    ['1.37.0-beta.0', '1.37.0', -1],
    ['1.2.3-1', '1.2.3', 1],
    ['21.10', '21.9', 1]
  ] as const)('%s vs %s → %i', (a, b, order) => {
    expect(compareVersions(a, b)).toBe(order)
    expect(compareVersions(b, a)).toBe(-order || 0)
  })
})

describe('the first-run tag (no tag-template, an image without toolchain versions)', () => {
  const none = versionsOf({})
  it.each<[string, Partial<GitHubContext>, Versions, string[]]>([
    ['a release', { eventName: 'release', ref: 'refs/tags/v1.2.3', releaseTag: 'v1.2.3' }, none, ['v1.2.3']],
    ['a tag push', { eventName: 'push', ref: 'refs/tags/release/2.0' }, none, ['release-2.0']],
    ['a default-branch push', { eventName: 'push', ref: 'refs/heads/main' }, none, ['sha-0123456']],
    ['workflow_dispatch', {}, none, ['sha-0123456']],
    ['only a go version (a Go program\'s ARG GO_VERSION)', {}, versionsOf({ go: '1.25.4' }), ['sha-0123456']],
    ['every version: the versioned default stays', { eventName: 'release', releaseTag: 'v9' }, V, ['1.25.4-llvm18.1.8-k8s1.34.1', 'v9']]
  ])('%s', async (_name, event, versions, indexTags) => {
    const plan = await planTags(registryHolding(), settings(), versions, { ...dispatch, ...event }, NOW)
    expect(plan.indexTags).toEqual(indexTags)
    expect(plan.platformTags['linux/arm64']).toBe(`${indexTags[0]}-arm64`)
  })

  it('says why in a notice, and keeps the error for a template the user wrote', () => {
    const first = firstRunTag(tagging(), versionsOf({ go: '1.25.4' }), dispatch)
    expect(first).toEqual({
      tag: 'sha-0123456',
      why: 'the image carries no {llvm}, {k8s} version (only go 1.25.4), so the versioned tag {go}-llvm{llvm}-k8s{k8s} does not apply: the main tag is the commit\'s sha-0123456 (a release or a tag push is tagged with its git tag); set tag-template to name the image otherwise (e.g. "{go}" from the versions, or a fixed name)'
    })
    expect(firstRunTag(tagging({ template: '{go}-llvm{llvm}-k8s{k8s}' }), versionsOf({}), dispatch)).toBeUndefined()
    expect(() => firstRunTag(tagging(), versionsOf({}), { ...dispatch, sha: '' })).toThrow(/input "tag-template": .*GITHUB_SHA \(""\) holds no commit/)
  })
})
