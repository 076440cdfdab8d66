import { describe, expect, it } from '@jest/globals'
import { readFileSync, writeFileSync } from 'node:fs'
import { mkdtemp, readdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { fixture } from '../../__fixtures__/fixtures.js'
import { FakeDocker } from '../../__fixtures__/fake-docker.js'
import {
  cosignSignArgs,
  cosignSignBlobArgs,
  cosignVerifyArgs,
  cosignVerifyBlobArgs,
  DEFAULT_FULCIO_URL,
  DEFAULT_REKOR_URL,
  explainCosignFailure,
  GITHUB_OIDC_ISSUER,
  insecureRegistries,
  keylessIdentity,
  prepareSigner,
  readSignSettings,
  signAndVerify,
  signaturesJson,
  signingTargets,
  statementSigner,
  verifyCommandLine,
  verifyPublishedSignatures,
  type Signer,
  type SignSettings
} from '../../src/publish/sign.js'
import { DockerCommandError } from '../../src/core/docker.js'
import { parseIndex } from '../../src/core/registry.js'
import { NO_RETRY } from '../../src/core/retry.js'
import { signingHtml } from '../../src/report/summary.js'

const reader =
  (inputs: Record<string, string>) =>
  (name: string): string =>
    inputs[name] ?? ''

const KEY = '-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\neyJrZGYiOnsibmFtZSI6InNjcnlwdCJ9\nc2VjcmV0LWtleS1saW5lLXR3bw==\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----'
const PUBLIC = '-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n'
const INDEX = parseIndex(fixture('index-with-attestations.json'), 'fixture')
const INDEX_DIGEST = 'sha256:1111111111111111111111111111111111111111111111111111111111111111'
const AMD64 = 'sha256:ab94ddee36d85e0549dbb976cdadc7cdad7b370db5cd8694495ce75094e71af7'
const AMD64_ATTESTATION = 'sha256:4ebcaaae8b0fb56b63a421c1c2d9dcc3a4ac398d2d6aa8b5211c5014fdecec51'

const keySettings = (inputs: Record<string, string> = {}): SignSettings =>
  readSignSettings(reader({ sign: 'true', 'sign-key': KEY, 'sign-key-password': 'pw', ...inputs }))

/** A JWT as GitHub issues it for a job (the signature part is not read). */
function githubToken(claims: Record<string, unknown>): string {
  const part = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url')
  return `${part({ alg: 'RS256' })}.${part(claims)}.c2ln`
}

describe('readSignSettings', () => {
  it('is off by default, keyless with the public Sigstore when on without a key', () => {
    expect(readSignSettings(reader({})).enabled).toBe(false)
    const keyless = readSignSettings(reader({ sign: 'true' }))
    expect(keyless).toMatchObject({ enabled: true, key: undefined, attestations: false, transparencyLog: true, fulcioUrl: DEFAULT_FULCIO_URL, rekorUrl: DEFAULT_REKOR_URL })
    expect(keyless.cosign).toEqual({ version: '2.5.0', downloadUrl: 'https://github.com/sigstore/cosign/releases/download/v{version}/cosign-{os}-{arch}' })
  })

  it('masks every line of the key and the password before checking anything', () => {
    const masked: string[] = []
    readSignSettings(reader({ sign: 'true', 'sign-key': KEY, 'sign-key-password': 'pw' }), s => masked.push(s))
    expect(masked).toEqual(['eyJrZGYiOnsibmFtZSI6InNjcnlwdCJ9', 'c2VjcmV0LWtleS1saW5lLXR3bw==', 'pw'])
    const early: string[] = []
    expect(() => readSignSettings(reader({ 'sign-key': 'not-a-key-but-secret', 'sign-key-password': 'pw' }), s => early.push(s))).toThrow(
      'input "sign-key": is set, but "sign" is not true'
    )
    expect(early).toEqual(['not-a-key-but-secret', 'pw'])
  })

  it.each([
    [{ sign: 'true', 'sign-key': './cosign.key' }, 'input "sign-key": is not a private key in PEM form'],
    [{ sign: 'true', 'sign-transparency-log': 'false' }, 'input "sign-transparency-log": is false, but a keyless signature'],
    [{ sign: 'true', 'sign-rekor-url': 'rekor' }, 'input "sign-rekor-url": "rekor" is not a URL'],
    [{ sign: 'true', 'sign-fulcio-url': 'ftp://fulcio' }, 'input "sign-fulcio-url": "ftp://fulcio" is not an http(s) URL'],
    [{ sign: 'true', 'cosign-version': 'latest' }, 'input "cosign-version": "latest" is not a cosign release version']
  ])('%j is an error naming the input', (inputs, message) => {
    expect(() => readSignSettings(reader(inputs))).toThrow(message)
  })
})

describe('signingTargets', () => {
  it('signs the index and every platform manifest in every repository, not the attestation manifests', () => {
    const targets = signingTargets(['localhost:5000/a', 'ghcr.io/o/b'], INDEX_DIGEST, INDEX, false)
    expect(targets).toHaveLength(10)
    expect(targets.filter(t => t.signed === 'attestation')).toEqual([])
    expect(targets.slice(0, 5)).toEqual([
      { repository: 'localhost:5000/a', digest: INDEX_DIGEST, signed: 'index' },
      { repository: 'localhost:5000/a', digest: AMD64, signed: 'platform', platform: 'linux/amd64' },
      { repository: 'localhost:5000/a', digest: 'sha256:d91a515e246349fd229d2bd255ebbdd4112eb433c45833525c725f8d3dff2448', signed: 'platform', platform: 'linux/arm64' },
      { repository: 'localhost:5000/a', digest: 'sha256:4d85601230af3cda67071bd29c243b429d5a4450280ec6da9ef57db270b2a610', signed: 'platform', platform: 'linux/ppc64le' },
      { repository: 'localhost:5000/a', digest: 'sha256:0dea037805db7b2721b3fbb317dc4595b0e5fd6150c59ea56fe125e7a069abad', signed: 'platform', platform: 'linux/s390x' }
    ])
    expect(targets.slice(5).map(t => t.repository)).toEqual(Array(5).fill('ghcr.io/o/b'))
  })

  it('adds the attestation manifests, each with the platform it attests, when asked', () => {
    const targets = signingTargets(['localhost:5000/a'], INDEX_DIGEST, INDEX, true)
    expect(targets).toHaveLength(9)
    expect(targets.filter(t => t.signed === 'attestation').map(t => t.platform)).toEqual(['linux/amd64', 'linux/arm64', 'linux/ppc64le', 'linux/s390x'])
    expect(targets.find(t => t.signed === 'attestation')).toEqual({ repository: 'localhost:5000/a', digest: AMD64_ATTESTATION, signed: 'attestation', platform: 'linux/amd64' })
  })
})

describe('cosign argv and the printed verify commands', () => {
  const refs = ['localhost:5000/a@sha256:1', 'localhost:5000/a@sha256:2']

  it('signs with the key file, never a secret on the command line', () => {
    expect(cosignSignArgs(keySettings({ 'sign-transparency-log': 'false' }), refs, '/tmp/k/cosign.key', false)).toEqual([
      'sign', '--yes', '--key', '/tmp/k/cosign.key', '--tlog-upload=false', ...refs
    ])
    expect(cosignSignArgs(keySettings(), refs, '/tmp/k/cosign.key', true)).toEqual([
      'sign', '--yes', '--key', '/tmp/k/cosign.key', '--tlog-upload=true', '--rekor-url', DEFAULT_REKOR_URL, '--allow-insecure-registry', '--allow-http-registry', ...refs
    ])
  })

  it('signs keyless through Fulcio and Rekor (a private Sigstore by URL)', () => {
    const settings = readSignSettings(reader({ sign: 'true', 'sign-fulcio-url': 'https://fulcio.example/', 'sign-rekor-url': 'https://rekor.example' }))
    expect(cosignSignArgs(settings, refs, undefined, false)).toEqual([
      'sign', '--yes', '--fulcio-url', 'https://fulcio.example', '--tlog-upload=true', '--rekor-url', 'https://rekor.example', ...refs
    ])
    const verifier = { kind: 'keyless' as const, identity: 'https://github.com/o/r/.github/workflows/release.yml@refs/heads/main', issuer: GITHUB_OIDC_ISSUER }
    expect(cosignVerifyArgs(settings, verifier, refs, false)).toEqual([
      'verify', '--certificate-identity', verifier.identity, '--certificate-oidc-issuer', GITHUB_OIDC_ISSUER, '--rekor-url', 'https://rekor.example', ...refs
    ])
  })

  it('prints the command a user runs for the index: --key, or the certificate identity and issuer', () => {
    const index = `ghcr.io/o/go@${INDEX_DIGEST}`
    expect(verifyCommandLine(keySettings({ 'sign-transparency-log': 'false' }), { kind: 'key', publicKeyFile: '/tmp/w/cosign.pub' }, index, false)).toBe(
      `cosign verify --key cosign.pub --insecure-ignore-tlog=true ghcr.io/o/go@${INDEX_DIGEST}`
    )
    expect(verifyCommandLine(keySettings(), { kind: 'key', publicKeyFile: '/tmp/w/cosign.pub' }, index, false)).toBe(`cosign verify --key cosign.pub ${index}`)
    const { identity, issuer } = keylessIdentity(githubToken({ iss: GITHUB_OIDC_ISSUER, job_workflow_ref: 'o/r/.github/workflows/release.yml@refs/tags/v1' }))
    expect(verifyCommandLine(readSignSettings(reader({ sign: 'true' })), { kind: 'keyless', identity, issuer }, index, false)).toBe(
      `cosign verify --certificate-identity https://github.com/o/r/.github/workflows/release.yml@refs/tags/v1 --certificate-oidc-issuer https://token.actions.githubusercontent.com ${index}`
    )
  })

  it('reads the identity Fulcio certifies from the token: the workflow (a reusable one where it runs), on this server', () => {
    const token = githubToken({ iss: 'https://token.actions.example.ghe.com', job_workflow_ref: 'org/shared/.github/workflows/publish.yml@refs/heads/main' })
    expect(keylessIdentity(token, 'https://example.ghe.com/')).toEqual({
      identity: 'https://example.ghe.com/org/shared/.github/workflows/publish.yml@refs/heads/main',
      issuer: 'https://token.actions.example.ghe.com'
    })
    expect(() => keylessIdentity('not-a-jwt')).toThrow('not a JWT')
  })
})

describe('insecureRegistries', () => {
  it('asks for --allow-insecure-registry only where the engine is configured to reach a registry without TLS', async () => {
    const docker = new FakeDocker().on(['info'], { stdout: '{"docker.io":{"Secure":true},"registry.lan:5000":{"Secure":false}}' })
    expect(await insecureRegistries(docker, ['registry.lan:5000/go@sha256:1'])).toBe(true)
    expect(await insecureRegistries(docker, ['ghcr.io/o/go@sha256:1', 'localhost:5000/go@sha256:1'])).toBe(false)
    expect(docker.calls[0]!.args).toEqual(['info', '--format', '{{json .RegistryConfig.IndexConfigs}}'])
    expect(await insecureRegistries(new FakeDocker().on(['info'], { exitCode: 1 }), ['registry.lan:5000/go@sha256:1'])).toBe(false)
  })
})

describe('explainCosignFailure', () => {
  const failed = (stderr: string, exitCode = 1) => new DockerCommandError(['sign', '--yes'], { exitCode, stdout: '', stderr })

  it('says a wrong password is the password input', () => {
    const error = explainCosignFailure(failed('Error: getting signer: reading key: decrypt: encrypted: decryption failed\nerror during command execution: x'), 'sign')
    expect(error.message).toBe('input "sign-key-password": does not decrypt "sign-key" (cosign: Error: getting signer: reading key: decrypt: encrypted: decryption failed): give the password the key was made with; no tag moved')
  })

  it('says where signatures are written when the registry refuses', () => {
    const error = explainCosignFailure(failed('Error: signing [x]: PUT http://localhost:5000/v2/a/manifests/sha256-1.sig: DENIED: 403 Forbidden'), 'sign 10 digest(s)')
    expect(error.message).toMatch(/^cosign could not sign 10 digest\(s\) \(exit 1: .*403 Forbidden\): the registry refused; .*sha256-<digest>\.sig tags; no tag moved$/)
  })
})

describe('signAndVerify with a fake cosign', () => {
  it('keeps the password in the environment of the cosign commands that read the key, and the key file only while they run', async () => {
    const workDir = await mkdtemp(path.join(tmpdir(), 'sign-test-'))
    const docker = new FakeDocker().on(['info'], { stdout: '{"docker.io":{"Secure":true}}' })
    const cosign = new FakeDocker()
      .on(['version'], { stdout: '{"gitVersion":"v2.5.2"}' })
      .on(['public-key'], { stdout: PUBLIC })
      .on(['sign'], {})
      .on(['verify'], { stdout: '[]' })
      .on(['triangulate'], args => ({ stdout: `${args.at(-1)!.replace('@sha256:', ':sha256-')}.sig\n` }))
    const settings = keySettings({ 'sign-transparency-log': 'false' })
    const signer = await prepareSigner(settings, workDir, () => cosign)
    const targets = signingTargets(['localhost:5000/a', 'localhost:5000/b'], INDEX_DIGEST, INDEX, false)
    const report = await signAndVerify(docker, signer, targets, NO_RETRY)

    const withPassword = cosign.calls.filter(c => c.options.env?.COSIGN_PASSWORD === 'pw').map(c => c.args[0])
    expect(withPassword).toEqual(['public-key', 'sign'])
    expect(cosign.calls.filter(c => c.options.env && !['public-key', 'sign'].includes(c.args[0]!))).toEqual([])
    expect(cosign.calls.flatMap(c => c.args).some(a => a.includes('pw') || a.includes('PRIVATE'))).toBe(false)
    expect(await readdir(workDir)).toEqual(['cosign.pub'])
    const sign = cosign.calls.find(c => c.args[0] === 'sign')!
    expect(sign.args.slice(-10)).toEqual(targets.map(t => `${t.repository}@${t.digest}`))
    expect(cosign.calls.find(c => c.args[0] === 'verify')!.args).toEqual([
      'verify', '--key', path.join(workDir, 'cosign.pub'), '--insecure-ignore-tlog=true', ...targets.map(t => `${t.repository}@${t.digest}`)
    ])
    expect(report.verifyCommand).toBe(`cosign verify --key cosign.pub --insecure-ignore-tlog=true localhost:5000/a@${INDEX_DIGEST}`)
    expect(report.signedNow).toBe(10)
    expect(JSON.parse(signaturesJson(report.signatures))[1]).toEqual({
      repository: 'localhost:5000/a',
      digest: AMD64,
      signed: 'platform',
      platform: 'linux/amd64',
      signature: `localhost:5000/a:sha256-${AMD64.slice(7)}.sig`
    })
    const html = signingHtml(report)
    expect(html).toContain(`<pre>cosign verify --key cosign.pub --insecure-ignore-tlog=true localhost:5000/a@${INDEX_DIGEST}</pre>`)
    expect(html).toContain('<p>Signed the index and 4 platform manifest(s) in each of 2 repositories: 10 signature(s), by the key given as &quot;sign-key&quot;')
    expect(html).not.toContain('pw')
  })

  const IDENTITY = 'https://github.com/o/r/.github/workflows/release.yml@refs/heads/main'
  /** A keyless signer (the job's token names the workflow) whose cosign refuses to verify `lacking`, alone or among others. */
  async function keylessSigner(lacking: readonly string[] = []): Promise<{ signer: Signer; cosign: FakeDocker; token: string }> {
    const token = githubToken({ iss: GITHUB_OIDC_ISSUER, job_workflow_ref: 'o/r/.github/workflows/release.yml@refs/heads/main' })
    const cosign = new FakeDocker()
      .on(['version'], { stdout: '{"gitVersion":"v2.6.1"}' })
      .on(['sign'], {})
      .on(['verify'], args => ({ exitCode: args.some(a => lacking.includes(a)) ? 1 : 0 }))
      .on(['triangulate'], { stdout: 'x.sig' })
    const env = { ACTIONS_ID_TOKEN_REQUEST_URL: 'https://token', ACTIONS_ID_TOKEN_REQUEST_TOKEN: 't' }
    const signer = await prepareSigner(readSignSettings(reader({ sign: 'true' })), tmpdir(), () => cosign, () => Promise.resolve(token), env)
    return { signer, cosign, token }
  }

  it('keyless: the token reaches cosign sign alone (SIGSTORE_ID_TOKEN); cosign verify checks the identity and issuer the token names', async () => {
    const { signer, cosign, token } = await keylessSigner()
    const targets = signingTargets(['localhost:5000/a'], INDEX_DIGEST, INDEX, false)
    const report = await signAndVerify(new FakeDocker().on(['info'], { exitCode: 1 }), signer, targets, NO_RETRY)
    const sign = cosign.calls.filter(c => c.args[0] === 'sign')
    expect(sign.map(c => c.args.slice(-5))).toEqual([targets.map(t => `${t.repository}@${t.digest}`)])
    expect(sign[0]!.options.env).toEqual({ SIGSTORE_ID_TOKEN: token })
    expect(cosign.calls.filter(c => c.options.env).length).toBe(1)
    expect(cosign.calls.find(c => c.args[0] === 'verify')!.args.slice(0, 5)).toEqual(['verify', '--certificate-identity', IDENTITY, '--certificate-oidc-issuer', GITHUB_OIDC_ISSUER])
    expect(report.signedNow).toBe(5)
    expect(report.identity).toBe(`keyless: certificate identity ${IDENTITY}, issuer https://token.actions.githubusercontent.com`)
  })

  it('published digests (skip-unchanged): one cosign verify of all for the identity the token names; signs nothing', async () => {
    const { signer, cosign } = await keylessSigner()
    const targets = signingTargets(['localhost:5000/a'], INDEX_DIGEST, INDEX, false)
    const checked = await verifyPublishedSignatures(new FakeDocker().on(['info'], { exitCode: 1 }), signer, targets)
    if (!checked.signed) throw new Error('expected every digest signed')
    expect(checked.report.signedNow).toBe(0)
    expect(checked.report.signatures).toHaveLength(5)
    expect(cosign.calls.filter(c => c.args[0] === 'verify').map(c => c.args)).toEqual([
      ['verify', '--certificate-identity', IDENTITY, '--certificate-oidc-issuer', GITHUB_OIDC_ISSUER, ...targets.map(t => `${t.repository}@${t.digest}`)]
    ])
    expect(cosign.calls.filter(c => c.args[0] === 'sign' || c.options.env)).toEqual([])
  })

  it('published digests (skip-unchanged): when cosign verify refuses, one verify per digest names those without a signature by the identity; signs nothing', async () => {
    const lacking = 'localhost:5000/a@sha256:d91a515e246349fd229d2bd255ebbdd4112eb433c45833525c725f8d3dff2448'
    const { signer, cosign } = await keylessSigner([lacking])
    const targets = signingTargets(['localhost:5000/a'], INDEX_DIGEST, INDEX, false)
    const checked = await verifyPublishedSignatures(new FakeDocker().on(['info'], { exitCode: 1 }), signer, targets)
    expect(checked).toEqual({ signed: false, identity: `keyless: certificate identity ${IDENTITY}, issuer ${GITHUB_OIDC_ISSUER}`, unsigned: [targets[2]] })
    expect(targets[2]).toMatchObject({ signed: 'platform', platform: 'linux/arm64' })
    // one of all, then one per digest
    expect(cosign.calls.filter(c => c.args[0] === 'verify').map(c => c.args.length)).toEqual([10, 6, 6, 6, 6, 6])
    expect(cosign.calls.filter(c => c.args[0] === 'sign' || c.args[0] === 'triangulate' || c.options.env)).toEqual([])
  })

  it('statements (a leg\'s record): keyless sign-blob gets the token alone, verify-blob the identity and issuer the token names; the files exist only while cosign runs', async () => {
    const { signer, cosign, token } = await keylessSigner()
    const workDir = await mkdtemp(path.join(tmpdir(), 'sign-blob-test-'))
    const statements = await statementSigner({ ...signer, workDir }, NO_RETRY)
    expect(statements.identity).toBe(`keyless: certificate identity ${IDENTITY}, issuer ${GITHUB_OIDC_ISSUER}`)
    const written: string[] = []
    cosign.on(['sign-blob'], args => {
      written.push(readFileSync(args.at(-1)!, 'utf8'))
      writeFileSync(args[args.indexOf('--bundle') + 1]!, '{"base64Signature":"MEUC","cert":"LS0t"}')
      return {}
    })
    cosign.on(['verify-blob'], args => ({ exitCode: readFileSync(args.at(-1)!, 'utf8') === 'the statement' ? 0 : 1, stderr: 'Error: invalid signature when validating ASN.1 encoded signature\nerror during command execution: invalid signature' }))
    const signature = await statements.sign('the statement')
    expect(Buffer.from(signature, 'base64').toString('utf8')).toEqual('{"base64Signature":"MEUC","cert":"LS0t"}')
    expect(written).toEqual(['the statement'])
    const signBlob = cosign.calls.find(c => c.args[0] === 'sign-blob')!
    expect(signBlob.args.slice(0, 7)).toEqual(['sign-blob', '--yes', '--fulcio-url', DEFAULT_FULCIO_URL, '--tlog-upload=true', '--rekor-url', DEFAULT_REKOR_URL])
    expect(signBlob.options.env).toEqual({ SIGSTORE_ID_TOKEN: token })
    expect(await statements.verify('the statement', signature)).toBeUndefined()
    expect(await statements.verify('another statement', signature)).toBe('Error: invalid signature when validating ASN.1 encoded signature')
    const verifyBlob = cosign.calls.filter(c => c.args[0] === 'verify-blob')
    expect(verifyBlob.map(c => c.args.slice(0, 5))).toEqual(Array(2).fill(['verify-blob', '--certificate-identity', IDENTITY, '--certificate-oidc-issuer', GITHUB_OIDC_ISSUER]))
    expect(verifyBlob.every(c => c.options.env === undefined)).toBe(true)
    expect(await readdir(workDir)).toEqual([])
  })

  it('statements with a key: sign-blob with the key file and COSIGN_PASSWORD, verify-blob with the public key, no log when sign-transparency-log is false', () => {
    const settings = keySettings({ 'sign-transparency-log': 'false' })
    expect(cosignSignBlobArgs(settings, '/w/statement.json', '/w/bundle.json', '/w/k/cosign.key')).toEqual([
      'sign-blob', '--yes', '--key', '/w/k/cosign.key', '--tlog-upload=false', '--bundle', '/w/bundle.json', '/w/statement.json'
    ])
    expect(cosignVerifyBlobArgs(settings, { kind: 'key', publicKeyFile: '/w/cosign.pub' }, '/w/statement.json', '/w/bundle.json')).toEqual([
      'verify-blob', '--key', '/w/cosign.pub', '--insecure-ignore-tlog=true', '--bundle', '/w/bundle.json', '/w/statement.json'
    ])
  })

  it('keyless without an OIDC token is an error naming the permission', async () => {
    const cosign = new FakeDocker().on(['version'], { stdout: '{"gitVersion":"v2.5.0"}' })
    await expect(prepareSigner(readSignSettings(reader({ sign: 'true' })), tmpdir(), () => cosign, () => Promise.reject(new Error('x')), {})).rejects.toThrow(
      'this job has none (ACTIONS_ID_TOKEN_REQUEST_URL is not set): give the job "permissions: id-token: write"'
    )
  })
})
