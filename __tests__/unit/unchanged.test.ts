import { describe, expect, it, jest } from '@jest/globals'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { FakeDocker } from '../../__fixtures__/fake-docker.js'
import { fixture } from '../../__fixtures__/fixtures.js'
import { FINGERPRINT_ANNOTATION } from '../../src/tags/fingerprint.js'
import { parsePlatform } from '../../src/core/platform.js'
import { sha256Digest } from '../../src/core/registry.js'
import { NO_RETRY } from '../../src/core/retry.js'
import type { TagPlan } from '../../src/tags/tags.js'
import { checkSignatures, checkUnchanged, fingerprintOrWarn, fingerprintRequest, skipUnchangedDecision, type UnchangedAnswer, type UnchangedRequest } from '../../src/publish/unchanged.js'
import { GITHUB_OIDC_ISSUER, prepareSigner, readSignSettings, type Signer } from '../../src/publish/sign.js'
import { NO_BUILD_OPTIONS } from '../../src/build/build-options.js'

const IMAGE = 'localhost:5000/go-build'
const MIRROR = 'localhost:5001/mirror/go-build'
const TAG = '1.25.4-llvm18.1.8-k8s1.34.1'
const FP = `sha256:${'f'.repeat(64)}`
const FOUR = ['linux/amd64', 'linux/arm64', 'linux/ppc64le', 'linux/s390x'].map(p => parsePlatform(p))

/** The captured index (four platforms, four attestations), carrying `fingerprint`. */
function indexWith(fingerprint?: string, drop?: string): string {
  const index = JSON.parse(fixture('index-with-attestations.json')) as { manifests: Array<{ platform?: { architecture: string } }>; annotations?: Record<string, string> }
  if (fingerprint) index.annotations = { ...index.annotations, [FINGERPRINT_ANNOTATION]: fingerprint }
  if (drop) index.manifests = index.manifests.filter(m => m.platform?.architecture !== drop)
  return JSON.stringify(index, null, 2)
}

function plan(over: Partial<TagPlan> = {}): TagPlan {
  return {
    tag: `${TAG}-2`,
    indexTags: [`${TAG}-2`],
    platformTags: Object.fromEntries(FOUR.map(p => [`${p.os}/${p.architecture}`, `${TAG}-2-${p.architecture}`])),
    push: true,
    build: true,
    why: 'a schedule run publishes',
    seen: {},
    labels: {},
    annotations: {},
    previous: { tag: `${TAG}-1`, reference: `${IMAGE}:${TAG}-1`, manifest: indexWith(FP) },
    ...over
  }
}

/** A registry that serves `manifests` by reference, the attestation manifests by digest, and nothing else. */
function registry(manifests: Record<string, string> = {}): FakeDocker {
  return new FakeDocker().on(['buildx', 'imagetools', 'inspect', '--raw'], args => {
    const ref = args[4] ?? ''
    if (manifests[ref] !== undefined) return { stdout: manifests[ref] }
    if (ref.includes('@sha256:')) return { stdout: fixture('attestation-manifest.json') }
    return { exitCode: 1, stderr: `ERROR: ${ref}: not found\n` }
  })
}

const request = (over: Partial<UnchangedRequest> = {}): UnchangedRequest => ({
  repositories: [IMAGE],
  fingerprint: FP,
  platforms: FOUR,
  plan: plan(),
  rebuild: 'suffix',
  ...over
})

describe('checkUnchanged', () => {
  it('skips when the newest published tag holds the fingerprint and every platform; outputs come from the registry', async () => {
    const docker = registry()
    const answer = await checkUnchanged(docker, request(), NO_RETRY)
    if (!answer.unchanged) throw new Error(answer.reason)
    const digest = sha256Digest(indexWith(FP))
    expect(answer.tag).toBe(`${TAG}-1`)
    expect(answer.extraTags).toEqual([])
    expect(answer.result.digest).toBe(digest)
    expect(answer.result.manifest).toBe(indexWith(FP))
    expect(answer.result.pinned).toEqual([`${IMAGE}@${digest}`])
    expect(answer.result.references).toEqual([`${IMAGE}:${TAG}-1`, ...['amd64', 'arm64', 'ppc64le', 's390x'].map(a => `${IMAGE}:${TAG}-1-${a}`)])
    expect(Object.keys(answer.result.platformDigests)).toEqual(['linux/amd64', 'linux/arm64', 'linux/ppc64le', 'linux/s390x'])
    expect(answer.result.attestations).toHaveLength(4)
    expect(answer.result.attestations[0]?.platform).toBe('linux/amd64')
    // the tag's manifest was read when the tags were planned: only the attestation manifests and TAG-ARCH are read now
    const perPlatform = ['amd64', 'arm64', 'ppc64le', 's390x'].map(a => `${IMAGE}:${TAG}-1-${a}`)
    expect(docker.calls.every(c => (c.args[4] ?? '').startsWith(`${IMAGE}@sha256:`) || perPlatform.includes(c.args[4] ?? ''))).toBe(true)
    // the registry serves none of the per-platform tags: the skipped run completes every one
    expect(answer.missingPlatformTags).toEqual(Object.fromEntries(FOUR.map(p => [`linux/${p.architecture}`, `${TAG}-1-${p.architecture}`])))
  })

  it('names the TAG-ARCH a repository lacks or serves elsewhere, for the skipped run to complete', async () => {
    // an index whose platform manifests are texts this registry serves, so their digests can match
    const manifestOf = (arch: string): string => JSON.stringify({ schemaVersion: 2, arch })
    const index = JSON.parse(indexWith(FP)) as { manifests: Array<{ digest: string; platform?: { architecture: string }; annotations?: Record<string, string> }> }
    const renamed: Record<string, string> = {}
    for (const m of index.manifests) {
      if (m.platform && m.platform.architecture !== 'unknown') {
        renamed[m.digest] = sha256Digest(manifestOf(m.platform.architecture))
        m.digest = renamed[m.digest]!
      }
    }
    for (const m of index.manifests) {
      const about = m.annotations?.['vnd.docker.reference.digest']
      if (about && renamed[about]) m.annotations!['vnd.docker.reference.digest'] = renamed[about]
    }
    const published = JSON.stringify(index)
    const served = (archs: string[], repository = IMAGE): Record<string, string> => Object.fromEntries(archs.map(a => [`${repository}:${TAG}-1-${a}`, manifestOf(a)]))
    const withPrevious = plan({ previous: { tag: `${TAG}-1`, reference: `${IMAGE}:${TAG}-1`, manifest: published } })
    const complete = await checkUnchanged(registry(served(['amd64', 'arm64', 'ppc64le', 's390x'])), request({ plan: withPrevious }), NO_RETRY)
    expect(complete.unchanged && complete.missingPlatformTags).toEqual({})
    // arm64 lost (a restore), s390x pointing at amd64's manifest
    const broken = { ...served(['amd64', 'ppc64le']), [`${IMAGE}:${TAG}-1-s390x`]: manifestOf('amd64') }
    const answer = await checkUnchanged(registry(broken), request({ plan: withPrevious }), NO_RETRY)
    expect(answer.unchanged && answer.missingPlatformTags).toEqual({ 'linux/arm64': `${TAG}-1-arm64`, 'linux/s390x': `${TAG}-1-s390x` })
    // a mirror that lacks one is completed in every repository
    const mirrored = { ...served(['amd64', 'arm64', 'ppc64le', 's390x']), ...served(['amd64', 'arm64', 'ppc64le'], MIRROR), [`${MIRROR}:${TAG}-1`]: published }
    const mirror = await checkUnchanged(registry(mirrored), request({ plan: withPrevious, repositories: [IMAGE, MIRROR] }), NO_RETRY)
    expect(mirror.unchanged && mirror.missingPlatformTags).toEqual({ 'linux/s390x': `${TAG}-1-s390x` })
    // platform-tags: false plans none, so none is missing
    const off = await checkUnchanged(registry(), request({ plan: plan({ ...withPrevious, platformTags: {} }) }), NO_RETRY)
    expect(off.unchanged && off.missingPlatformTags).toEqual({})
  })

  it('builds when the published index has another fingerprint, or none', async () => {
    const other = await checkUnchanged(registry(), request({ fingerprint: `sha256:${'e'.repeat(64)}` }), NO_RETRY)
    expect(other).toEqual({ unchanged: false, reason: expect.stringContaining(`holds fingerprint ${FP}`) })
    const none = await checkUnchanged(registry(), request({ plan: plan({ previous: { tag: TAG, reference: `${IMAGE}:${TAG}`, manifest: indexWith() } }) }), NO_RETRY)
    expect(none).toEqual({ unchanged: false, reason: expect.stringContaining('holds no fingerprint') })
  })

  it('builds when a platform is missing from the published index', async () => {
    const answer = await checkUnchanged(registry(), request({ plan: plan({ previous: { tag: TAG, reference: `${IMAGE}:${TAG}`, manifest: indexWith(FP, 's390x') } }) }), NO_RETRY)
    expect(answer).toEqual({ unchanged: false, reason: expect.stringContaining('missing linux/s390x') })
  })

  it('builds when nothing is published yet, without asking the registry again what the tag plan asked', async () => {
    const docker = registry()
    const answer = await checkUnchanged(docker, request({ plan: plan({ previous: undefined, tag: TAG }) }), NO_RETRY)
    expect(answer).toEqual({ unchanged: false, reason: `${TAG} is not published yet` })
    expect(docker.calls).toEqual([])
  })

  it('with if-tag-exists: overwrite (no previous tag planned), compares with the tag itself', async () => {
    const docker = registry({ [`${IMAGE}:${TAG}`]: indexWith(FP) })
    const answer = await checkUnchanged(docker, request({ plan: plan({ previous: undefined, tag: TAG }), rebuild: 'overwrite' }), NO_RETRY)
    expect(answer.unchanged && answer.tag).toBe(TAG)
  })

  it('builds when another repository does not serve the same index under the tag', async () => {
    const missing = await checkUnchanged(registry(), request({ repositories: [IMAGE, MIRROR] }), NO_RETRY)
    expect(missing).toEqual({ unchanged: false, reason: expect.stringContaining(`${MIRROR}:${TAG}-1 is not the index`) })
    const same = await checkUnchanged(registry({ [`${MIRROR}:${TAG}-1`]: indexWith(FP) }), request({ repositories: [IMAGE, MIRROR] }), NO_RETRY)
    expect(same.unchanged && same.result.pinned).toEqual([`${IMAGE}@${sha256Digest(indexWith(FP))}`, `${MIRROR}@${sha256Digest(indexWith(FP))}`])
  })

  it('names the further index tags (release tag, latest) that still have to point at the published index', async () => {
    const answer = await checkUnchanged(registry(), request({ plan: plan({ indexTags: [`${TAG}-2`, 'latest'] }) }), NO_RETRY)
    expect(answer.unchanged && answer.extraTags).toEqual(['latest'])
    expect(answer.unchanged && answer.result.references.slice(0, 2)).toEqual([`${IMAGE}:${TAG}-1`, `${IMAGE}:latest`])
  })

  it('builds when the registry cannot be read, instead of failing the run', async () => {
    const docker = new FakeDocker().on(['buildx', 'imagetools', 'inspect'], { exitCode: 1, stderr: 'ERROR: dial tcp 127.0.0.1:5999: connect: connection refused\n' })
    const answer = await checkUnchanged(docker, request({ plan: plan({ previous: undefined, tag: TAG }), rebuild: 'overwrite' }), NO_RETRY)
    expect(answer).toEqual({ unchanged: false, reason: expect.stringMatching(/^cannot read what the registry holds: .*connection refused/) })
  })
})

describe('skipUnchangedDecision', () => {
  it.each<[string, 'auto' | 'true' | 'false', boolean, string, boolean, RegExp | undefined]>([
    ['auto on a push', 'auto', false, 'push', true, undefined],
    ['auto on a schedule', 'auto', false, 'schedule', true, undefined],
    ['auto on a release', 'auto', false, 'release', true, undefined],
    ['auto on workflow_dispatch', 'auto', false, 'workflow_dispatch', false, /workflow_dispatch run is a rebuild asked for by hand/],
    ['auto with no-cache: true', 'auto', true, 'push', false, /no-cache: true asks for a fresh build/],
    ['true on workflow_dispatch', 'true', false, 'workflow_dispatch', true, undefined],
    ['true with no-cache', 'true', true, 'schedule', true, undefined],
    ['false on a push', 'false', false, 'push', false, /skip-unchanged: false/]
  ])('%s', (_name, mode, noCache, event, compare, reason) => {
    const decision = skipUnchangedDecision(mode, noCache, event)
    expect(decision.compare).toBe(compare)
    if (reason) expect(decision.reason).toMatch(reason)
    else expect(decision.reason).toBeUndefined()
  })
})

describe('checkSignatures: with sign: true, skip only onto digests this run\'s identity signed', () => {
  const KEY = '-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\neyJrZGYiOnsibmFtZSI6InNjcnlwdCJ9\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----'
  const WORKFLOW = 'o/r/.github/workflows/release.yml@refs/heads/main'
  const token = `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.${Buffer.from(JSON.stringify({ iss: GITHUB_OIDC_ISSUER, job_workflow_ref: WORKFLOW })).toString('base64url')}.c2ln`
  const digest = sha256Digest(indexWith(FP))
  const ARM64 = 'sha256:d91a515e246349fd229d2bd255ebbdd4112eb433c45833525c725f8d3dff2448'

  /** A cosign that verifies every reference but `unsigned` (alone or among others), and a signer of `kind` on it. */
  async function signerFor(kind: 'key' | 'keyless', unsigned: readonly string[] = []): Promise<{ signer: Signer; cosign: FakeDocker }> {
    const cosign = new FakeDocker()
      .on(['version'], { stdout: '{"gitVersion":"v2.5.0"}' })
      .on(['public-key'], { stdout: '-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n' })
      .on(['verify'], args => ({ exitCode: args.some(a => unsigned.includes(a)) ? 1 : 0 }))
      .on(['triangulate'], args => ({ stdout: `${args.at(-1)!.replace('@sha256:', ':sha256-')}.sig\n` }))
    const inputs: Record<string, string> = kind === 'key' ? { sign: 'true', 'sign-key': KEY, 'sign-key-password': 'pw' } : { sign: 'true' }
    const env = { ACTIONS_ID_TOKEN_REQUEST_URL: 'https://token', ACTIONS_ID_TOKEN_REQUEST_TOKEN: 't' }
    const workDir = await mkdtemp(path.join(tmpdir(), 'unchanged-sign-'))
    const signer = await prepareSigner(readSignSettings(name => inputs[name] ?? ''), workDir, () => cosign, () => Promise.resolve(token), env)
    return { signer, cosign }
  }

  const unchanged = async (repositories = [IMAGE]): Promise<UnchangedAnswer> => {
    const answer = await checkUnchanged(registry({ [`${MIRROR}:${TAG}-1`]: indexWith(FP) }), request({ repositories }), NO_RETRY)
    expect(answer.unchanged).toBe(true)
    return answer
  }
  const docker = (): FakeDocker => new FakeDocker().on(['info'], { exitCode: 1 })

  it.each(['key', 'keyless'] as const)('%s: the index and every platform manifest verified → skip, signing nothing; the report names every signature', async kind => {
    const { signer, cosign } = await signerFor(kind)
    const answer = await checkSignatures(docker(), await unchanged(), signer, [IMAGE])
    if (!answer.unchanged) throw new Error(answer.reason)
    expect(answer.signing?.signedNow).toBe(0)
    expect(answer.signing?.signatures.map(s => [s.signed, s.platform ?? '', s.digest === digest])).toEqual([
      ['index', '', true],
      ...['amd64', 'arm64', 'ppc64le', 's390x'].map(a => ['platform', `linux/${a}`, false])
    ])
    const verify = cosign.calls.filter(c => c.args[0] === 'verify').map(c => c.args)
    expect(verify).toHaveLength(1)
    expect(verify[0]!.slice(1, kind === 'key' ? 2 : 5)).toEqual(kind === 'key' ? ['--key'] : ['--certificate-identity', `https://github.com/${WORKFLOW}`, '--certificate-oidc-issuer', GITHUB_OIDC_ISSUER])
    expect(verify[0]!.slice(-5)).toEqual([`${IMAGE}@${digest}`, ...Object.values(answer.result.platformDigests).map(d => `${IMAGE}@${d}`)])
    expect(cosign.calls.filter(c => c.args[0] === 'sign')).toEqual([])
  })

  it.each(['key', 'keyless'] as const)('%s: one platform manifest without a signature by the identity → build, naming it and the identity', async kind => {
    const { signer, cosign } = await signerFor(kind, [`${IMAGE}@${ARM64}`])
    const answer = await checkSignatures(docker(), await unchanged(), signer, [IMAGE])
    const identity = kind === 'key' ? 'the key given as "sign-key"' : `keyless: certificate identity https://github.com/${WORKFLOW}, issuer ${GITHUB_OIDC_ISSUER}`
    expect(answer).toEqual({
      unchanged: false,
      reason: `${IMAGE}:${TAG}-1 carries this build's fingerprint, but cosign verify accepts no signature by ${identity} on its linux/arm64 manifest: building, since this run signs only what it built and verified, or found signed by that identity`
    })
    expect(cosign.calls.filter(c => c.args[0] === 'sign')).toEqual([])
  })

  it('every repository counts: a mirror whose index lacks the signature → build, naming the mirror', async () => {
    const { signer } = await signerFor('key', [`${MIRROR}@${digest}`])
    const answer = await checkSignatures(docker(), await unchanged([IMAGE, MIRROR]), signer, [IMAGE, MIRROR])
    expect(answer.unchanged === false && answer.reason).toContain(`on its index in ${MIRROR}: building`)
  })

  it('sign-attestations: the attestation manifests count too', async () => {
    const { signer } = await signerFor('key', ['localhost:5000/go-build@sha256:4ebcaaae8b0fb56b63a421c1c2d9dcc3a4ac398d2d6aa8b5211c5014fdecec51'])
    const attesting = { ...signer, settings: { ...signer.settings, attestations: true } }
    const answer = await checkSignatures(docker(), await unchanged(), attesting, [IMAGE])
    expect(answer.unchanged === false && answer.reason).toContain('on its attestation of linux/amd64: building')
    const { signer: notAttesting } = await signerFor('key', ['localhost:5000/go-build@sha256:4ebcaaae8b0fb56b63a421c1c2d9dcc3a4ac398d2d6aa8b5211c5014fdecec51'])
    expect((await checkSignatures(docker(), await unchanged(), notAttesting, [IMAGE])).unchanged).toBe(true)
  })

  it('sign off (no signer): the unchanged answer stands as it is (skip, as before signatures counted), and nothing more is asked of the registry', async () => {
    const answer = await unchanged()
    const registryCalls = docker()
    expect(await checkSignatures(registryCalls, answer, undefined, [IMAGE])).toBe(answer)
    expect(registryCalls.calls).toEqual([])
  })

  it('a run that builds anyway stays building, without asking cosign', async () => {
    const { signer, cosign } = await signerFor('key')
    const building = { unchanged: false as const, reason: 'x is not published yet' }
    expect(await checkSignatures(docker(), building, signer, [IMAGE])).toBe(building)
    expect(cosign.calls.filter(c => c.args[0] !== 'version' && c.args[0] !== 'public-key')).toEqual([])
  })
})

describe('a build no fingerprint can pin', () => {
  it('has none, so it is built every run, and says why in the log (not as a warning); the named contexts reach the fingerprint', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'go-build-action-unpinned-'))
    await writeFile(path.join(dir, 'Dockerfile'), 'FROM ctx\nADD https://example.com/a.tgz /a\n')
    const settings = {
      context: dir,
      file: path.join(dir, 'Dockerfile'),
      platforms: [parsePlatform('linux/amd64')],
      target: '',
      provenance: 'false',
      sbom: 'false',
      labels: [],
      annotations: [],
      buildOptions: { ...NO_BUILD_OPTIONS, buildContexts: [{ name: 'ctx', value: 'https://example.com/ctx.tgz' }] }
    }
    const request = fingerprintRequest(settings, [], {})
    expect(request.namedContexts).toEqual([{ name: 'ctx', value: 'https://example.com/ctx.tgz' }])
    const write = jest.spyOn(process.stdout, 'write').mockImplementation(() => true)
    try {
      expect(await fingerprintOrWarn(new FakeDocker(), request, NO_RETRY)).toBeUndefined()
      const log = write.mock.calls.map(c => String(c[0])).join('')
      expect(log).toContain(
        'no fingerprint, so this build is built and published every run (skip-unchanged cannot tell it is unchanged): this build reads the build context ctx=https://example.com/ctx.tgz, a URL; ADD https://example.com/a.tgz (line 2), a URL without --checksum=sha256:…'
      )
      expect(log).not.toContain('::warning::')
    } finally {
      write.mockRestore()
    }
  })
})
