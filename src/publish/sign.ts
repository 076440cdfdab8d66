/**
 * Signing (`sign: true`), with cosign: the index and every platform manifest (the attestation manifests only with
 * `sign-attestations`) in every repository, after verification and before any tag moves; then every signature is
 * verified as a user would verify it (`cosign verify`). cosign stores each signature under its tag scheme
 * (`repo:sha256-<digest>.sig`), where `cosign verify` and policy controllers look.
 *
 * The identity signs only what this run built and verified: a run that would skip as unchanged verifies the
 * identity's signatures on the published digests instead of signing them (unchanged.ts), and a leg signs the record
 * it hands to the merge as a statement (`cosign sign-blob`), which the merge verifies before it uses the record
 * (handoff.ts).
 *
 * Two identities: a key (`sign-key`, `sign-key-password`), written to a 0600 file only while cosign runs, its
 * password only in that cosign's environment (COSIGN_PASSWORD); or keyless, the job's OIDC token (audience
 * `sigstore`) given to that cosign alone as SIGSTORE_ID_TOKEN, for a Fulcio certificate, logged in Rekor.
 */
import * as core from '@actions/core'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import * as path from 'node:path'
import { readCosignInstallSettings, resolveCosign, type CosignInstallSettings, type CosignTool } from '../setup/cosign-install.js'
import { createDocker, DockerCommandError, lastLines, type Docker, type RunOptions } from '../core/docker.js'
import { errorMessage } from '../core/errors.js'
import { InputError, readBoolean, type InputReader } from '../core/input.js'
import { mapLimited, REGISTRY_CONCURRENCY } from '../core/limit.js'
import { registryOf } from '../core/reference.js'
import { isAttestation, platformDigests, type ImageIndex } from '../core/registry.js'
import { layerTransferTimeout, type RetryPolicy } from '../core/retry.js'
import { withSecretFiles } from '../core/secret-files.js'
import * as log from '../core/log.js'

export const DEFAULT_FULCIO_URL = 'https://fulcio.sigstore.dev'
export const DEFAULT_REKOR_URL = 'https://rekor.sigstore.dev'
/** The issuer of GitHub Actions' OIDC tokens, as Fulcio writes it into the certificate. */
export const GITHUB_OIDC_ISSUER = 'https://token.actions.githubusercontent.com'

export interface SignSettings {
  /** `sign`. */
  enabled: boolean
  /** `sign-key`: the private key's contents (PEM), masked; undefined: keyless. */
  key?: string
  /** `sign-key-password`, masked. */
  keyPassword: string
  /** `sign-attestations`: also sign the attestation manifests (provenance, SBOM). */
  attestations: boolean
  /** `sign-transparency-log`: record every signature in Rekor (always, keyless). */
  transparencyLog: boolean
  /** `sign-fulcio-url`, `sign-rekor-url`: a private Sigstore's services. */
  fulcioUrl: string
  rekorUrl: string
  /** `cosign-version`, `cosign-download-url`. */
  cosign: CosignInstallSettings
}

/** Reads the signing inputs; the key (every line) and its password are given to `mask` before anything checks them. */
export function readSignSettings(read: InputReader, mask: (secret: string) => void = () => undefined): SignSettings {
  const key = read('sign-key').trim()
  const keyPassword = read('sign-key-password')
  for (const line of key.split('\n').map(l => l.trim())) if (line && !line.startsWith('-----')) mask(line)
  if (keyPassword) mask(keyPassword)
  const enabled = readBoolean(read, 'sign', false)
  const settings: SignSettings = {
    enabled,
    key: key ? `${key}\n` : undefined,
    keyPassword,
    attestations: readBoolean(read, 'sign-attestations', false),
    transparencyLog: readBoolean(read, 'sign-transparency-log', true),
    fulcioUrl: readServiceUrl(read, 'sign-fulcio-url', DEFAULT_FULCIO_URL),
    rekorUrl: readServiceUrl(read, 'sign-rekor-url', DEFAULT_REKOR_URL),
    cosign: readCosignInstallSettings(read)
  }
  if (!enabled && (key || keyPassword)) {
    throw new InputError(key ? 'sign-key' : 'sign-key-password', 'is set, but "sign" is not true: set sign: true to sign with it, or drop it')
  }
  if (key && !/^-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----$/m.test(key)) {
    throw new InputError(
      'sign-key',
      'is not a private key in PEM form: give the contents of the cosign.key that "cosign generate-key-pair" wrote (e.g. ${{ secrets.COSIGN_PRIVATE_KEY }}), not its path'
    )
  }
  if (enabled && !key && !settings.transparencyLog) {
    throw new InputError(
      'sign-transparency-log',
      'is false, but a keyless signature (no "sign-key") is verified through its transparency log entry: keep it true, or sign with "sign-key"'
    )
  }
  return settings
}

function readServiceUrl(read: InputReader, name: string, fallback: string): string {
  const value = read(name).trim() || fallback
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new InputError(name, `"${value}" is not a URL: write one like ${fallback}`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new InputError(name, `"${value}" is not an http(s) URL: write one like ${fallback}`)
  return value.replace(/\/+$/, '')
}

/** What one signature covers. */
export type SignedKind = 'index' | 'platform' | 'attestation'

export interface SignTarget {
  repository: string
  digest: string
  signed: SignedKind
  /** The platform of a platform manifest, or the one an attestation manifest attests. */
  platform?: string
}

/** A signature written and verified: the `signatures` output. */
export interface SignatureRecord extends SignTarget {
  /** Where cosign stored it: `repo:sha256-<hex>.sig`. */
  signature: string
}

/** What the summary and outputs say about signing. */
export interface SigningReport {
  signatures: SignatureRecord[]
  /** The `cosign verify` command for the index in the first repository, with the identity flags a user needs. */
  verifyCommand: string
  /** Who signed: the key, or the certificate identity and issuer. */
  identity: string
  /** The public key (key signing), for the summary. */
  publicKey?: string
  /** How many of the signatures this run wrote: all of them, or none (a skipped run found every published digest signed by its identity). */
  signedNow: number
}

/**
 * The digests to sign in every repository: the index, each platform manifest, and (`attestations`) each
 * attestation manifest. Listed rather than `cosign sign --recursive`, which would sign the attestations too.
 */
export function signingTargets(repositories: readonly string[], indexDigest: string, index: ImageIndex, attestations: boolean): SignTarget[] {
  const platforms = platformDigests(index)
  const platformOf = Object.fromEntries(Object.entries(platforms).map(([platform, digest]) => [digest, platform]))
  const attestationTargets = attestations
    ? index.manifests
        .filter(isAttestation)
        .map(d => ({ digest: d.digest, platform: platformOf[d.annotations?.['vnd.docker.reference.digest'] ?? ''] }))
    : []
  return repositories.flatMap(repository => [
    { repository, digest: indexDigest, signed: 'index' as const },
    ...Object.entries(platforms).map(([platform, digest]) => ({ repository, digest, signed: 'platform' as const, platform })),
    ...attestationTargets.map(a => ({ repository, digest: a.digest, signed: 'attestation' as const, ...(a.platform ? { platform: a.platform } : {}) }))
  ])
}

export const referenceOf = (target: SignTarget): string => `${target.repository}@${target.digest}`

/** How signatures are checked: against the public key, or the certificate's identity and issuer. */
export type Verifier = { kind: 'key'; publicKeyFile: string } | { kind: 'keyless'; identity: string; issuer: string }

/** Flags for registries the docker engine is configured to reach insecurely (loopback needs none: cosign uses HTTP there). */
const INSECURE_FLAGS = ['--allow-insecure-registry', '--allow-http-registry']

/** The identity and log flags of `cosign sign` and `cosign sign-blob`: the key file, or keyless through Fulcio; Rekor unless turned off. */
function signerFlags(settings: SignSettings, keyFile: string | undefined): string[] {
  return [
    ...(keyFile ? ['--key', keyFile] : ['--fulcio-url', settings.fulcioUrl]),
    `--tlog-upload=${settings.transparencyLog}`,
    ...(settings.transparencyLog ? ['--rekor-url', settings.rekorUrl] : [])
  ]
}

/** `cosign sign` of every reference in one process (keyless: one certificate for all). */
export function cosignSignArgs(settings: SignSettings, references: readonly string[], keyFile: string | undefined, insecure: boolean): string[] {
  return ['sign', '--yes', ...signerFlags(settings, keyFile), ...(insecure ? INSECURE_FLAGS : []), ...references]
}

/** The identity and log flags of `cosign verify` and `cosign verify-blob`: the public key, or the certificate's identity and issuer. */
function verifierFlags(settings: SignSettings, verifier: Verifier, publicKey: string): string[] {
  const identity =
    verifier.kind === 'key' ? ['--key', publicKey] : ['--certificate-identity', verifier.identity, '--certificate-oidc-issuer', verifier.issuer]
  const tlog = !settings.transparencyLog ? ['--insecure-ignore-tlog=true'] : settings.rekorUrl !== DEFAULT_REKOR_URL ? ['--rekor-url', settings.rekorUrl] : []
  return [...identity, ...tlog]
}

/** `cosign verify`, as a user runs it; `publicKey` is what `--key` names (the file here, `cosign.pub` for the user). */
export function cosignVerifyArgs(
  settings: SignSettings,
  verifier: Verifier,
  references: readonly string[],
  insecure: boolean,
  publicKey = verifier.kind === 'key' ? verifier.publicKeyFile : ''
): string[] {
  return ['verify', ...verifierFlags(settings, verifier, publicKey), ...(insecure ? INSECURE_FLAGS : []), ...references]
}

/** `cosign sign-blob` of the file `blob`, the signature (and keyless: certificate, log entry) written to the bundle file. */
export function cosignSignBlobArgs(settings: SignSettings, blob: string, bundle: string, keyFile: string | undefined): string[] {
  return ['sign-blob', '--yes', ...signerFlags(settings, keyFile), '--bundle', bundle, blob]
}

/** `cosign verify-blob` of the file `blob` against the bundle {@link cosignSignBlobArgs} wrote, for the verifier's identity. */
export function cosignVerifyBlobArgs(settings: SignSettings, verifier: Verifier, blob: string, bundle: string): string[] {
  return ['verify-blob', ...verifierFlags(settings, verifier, verifier.kind === 'key' ? verifier.publicKeyFile : ''), '--bundle', bundle, blob]
}

/** A word as a POSIX shell reads it: quoted only when it has to be. */
export function shellWord(word: string): string {
  return /^[A-Za-z0-9_./:@=%+,-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`
}

/** The command a user runs to verify the index (`cosign.pub` is the public key beside the key the run signed with). */
export function verifyCommandLine(settings: SignSettings, verifier: Verifier, reference: string, insecure: boolean): string {
  return ['cosign', ...cosignVerifyArgs(settings, verifier, [reference], insecure, 'cosign.pub')].map(shellWord).join(' ')
}

/** The certificate identity and issuer Fulcio writes for a GitHub Actions OIDC token (its `job_workflow_ref`, `iss`). */
export function keylessIdentity(token: string, serverUrl = process.env.GITHUB_SERVER_URL || 'https://github.com'): { identity: string; issuer: string } {
  let claims: Record<string, unknown>
  try {
    claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>
  } catch {
    throw new Error('the OIDC token GitHub gave this job is not a JWT: cannot tell which identity Fulcio will certify')
  }
  const issuer = typeof claims.iss === 'string' ? claims.iss : GITHUB_OIDC_ISSUER
  const workflow = typeof claims.job_workflow_ref === 'string' ? claims.job_workflow_ref : ''
  const identity = workflow ? `${serverUrl.replace(/\/+$/, '')}/${workflow}` : typeof claims.email === 'string' ? claims.email : String(claims.sub ?? '')
  return { identity, issuer }
}

/** Everything signing needs, ready before the build: cosign, and the identity checked (key decrypts, token available). */
export interface Signer {
  settings: SignSettings
  cosign: CosignTool
  /** Runs cosign (the one exec wrapper, on the cosign binary). */
  runner: Docker
  workDir: string
  /** Key signing: the public key, derived from the private key with its password (which checks the password). */
  publicKey?: { file: string; pem: string }
  /** Keyless: the job's OIDC token for Sigstore. */
  idToken: () => Promise<string>
}

/** What the job needs for a keyless signature, named in the error when its token is missing. */
export const ID_TOKEN_PERMISSION_FIX =
  'give the job "permissions: id-token: write" (with "contents: read" and "packages: write" where it pushes to ghcr.io), or sign with a key ("sign-key", "sign-key-password")'

export async function prepareSigner(
  settings: SignSettings,
  workDir: string,
  runnerFor: (binary: string) => Docker = createDocker,
  idToken: () => Promise<string> = () => core.getIDToken('sigstore'),
  env: NodeJS.ProcessEnv = process.env
): Promise<Signer> {
  const cosign = await resolveCosign(settings.cosign, workDir, runnerFor)
  const runner = runnerFor(cosign.path)
  const signer: Signer = { settings, cosign, runner, workDir, idToken }
  if (settings.key) {
    const pem = await withKeyFile(signer, keyFile =>
      runCosign(signer, ['public-key', '--key', keyFile], { silent: true, env: { COSIGN_PASSWORD: settings.keyPassword } }, 'read the public key of "sign-key"')
    )
    const file = path.join(workDir, 'cosign.pub')
    await writeFile(file, pem.stdout)
    log.info(`signing with the key whose public key is:\n${pem.stdout.trim()}`)
    return { ...signer, publicKey: { file, pem: pem.stdout } }
  }
  if (!env.ACTIONS_ID_TOKEN_REQUEST_URL || !env.ACTIONS_ID_TOKEN_REQUEST_TOKEN) {
    throw new Error(`sign: true without "sign-key" signs keyless, with the job's OIDC token, but this job has none (ACTIONS_ID_TOKEN_REQUEST_URL is not set): ${ID_TOKEN_PERMISSION_FIX}`)
  }
  log.info(`signing keyless: a certificate from ${settings.fulcioUrl} for this job's OIDC identity, logged in ${settings.rekorUrl}`)
  return signer
}

/** The private key in a file of its own (0600, in a 0700 directory) only while `body` runs, however it ends (secret-files.ts). */
function withKeyFile<T>(signer: Signer, body: (file: string) => Promise<T>): Promise<T> {
  return withSecretFiles(signer.workDir, [{ name: 'cosign.key', content: signer.settings.key ?? '' }], ([file]) => body(file ?? ''))
}

/** Runs cosign; a failure becomes one message saying what could not be done and why, and that no tag moved. */
async function runCosign(signer: Signer, args: string[], options: RunOptions, what: string) {
  try {
    return await signer.runner.run(args, options)
  } catch (error) {
    throw explainCosignFailure(error, what)
  }
}

/** A failed cosign command, in words: a wrong key password, a refused signature write, or cosign's own cause. */
export function explainCosignFailure(error: unknown, what: string): Error {
  if (!(error instanceof DockerCommandError)) return error instanceof Error ? error : new Error(errorMessage(error))
  const output = `${error.result.stderr}\n${error.result.stdout}`
  const cause = lastLines(output.replace(/^error during command execution:.*$/gm, ''), 1)
  if (/decrypt|decryption failed|incorrect passphrase/i.test(output)) {
    return new InputError('sign-key-password', `does not decrypt "sign-key" (cosign: ${cause}): give the password the key was made with; no tag moved`)
  }
  const tries = error.attempts > 1 ? ` after ${error.attempts} attempts` : ''
  if (error.result.timedOut) return new Error(`cosign could not ${what}${tries}: it ran past ${error.result.timedOut.seconds} s; no tag moved`, { cause: error })
  const fix =
    error.failure.kind === 'auth'
      ? ': the registry refused; the credentials need push access to the repository, where cosign stores signatures as sha256-<digest>.sig tags'
      : ''
  return new Error(`cosign could not ${what}${tries} (exit ${error.result.exitCode}: ${cause})${fix}; no tag moved`, { cause: error })
}

/** Registries of `references` that the docker engine is configured to reach without TLS (`insecure-registries`). */
export async function insecureRegistries(docker: Docker, references: readonly string[]): Promise<boolean> {
  const result = await docker.run(['info', '--format', '{{json .RegistryConfig.IndexConfigs}}'], { silent: true, allowFailure: true })
  if (result.exitCode !== 0) return false
  let configs: Record<string, { Secure?: boolean }>
  try {
    configs = JSON.parse(result.stdout) as Record<string, { Secure?: boolean }>
  } catch {
    return false
  }
  return references.some(r => configs[registryOf(r)]?.Secure === false)
}

/** The verifier for the signer's identity (keyless: from the token's claims). */
function verifierFor(signer: Signer, token: string | undefined): Verifier {
  if (signer.publicKey) return { kind: 'key', publicKeyFile: signer.publicKey.file }
  return { kind: 'keyless', ...keylessIdentity(token ?? '') }
}

/** The run options of a cosign command that writes to registries (and Fulcio, Rekor). */
function writeOptions(retry: RetryPolicy, env: Record<string, string>): RunOptions {
  const timeout = layerTransferTimeout(retry)
  return { retry, env, ...(timeout ? { timeout } : {}) }
}

/** Signs `targets` (one cosign process for all), each secret only in that process's environment. */
async function signTargets(signer: Signer, targets: readonly SignTarget[], token: string | undefined, insecure: boolean, retry: RetryPolicy): Promise<void> {
  const references = targets.map(referenceOf)
  const what = `sign ${references.length} digest(s)`
  if (signer.settings.key) {
    await withKeyFile(signer, keyFile =>
      runCosign(signer, cosignSignArgs(signer.settings, references, keyFile, insecure), writeOptions(retry, { COSIGN_PASSWORD: signer.settings.keyPassword }), what)
    )
  } else {
    await runCosign(signer, cosignSignArgs(signer.settings, references, undefined, insecure), writeOptions(retry, { SIGSTORE_ID_TOKEN: token ?? '' }), what)
  }
}

/** `cosign verify` of every target, as a user verifies; a signature it does not accept fails the publish. */
async function verifyTargets(signer: Signer, verifier: Verifier, targets: readonly SignTarget[], insecure: boolean, retry: RetryPolicy): Promise<void> {
  const args = cosignVerifyArgs(signer.settings, verifier, targets.map(referenceOf), insecure)
  log.info(`cosign ${args.join(' ')}`)
  await runCosign(signer, args, { silent: true, retry }, `verify the signatures it wrote (${targets.length})`)
  log.info(`cosign verify accepts the signature of all ${targets.length} digest(s)`)
}

/** Whether one target already carries a signature the verifier accepts. */
async function hasValidSignature(signer: Signer, verifier: Verifier, target: SignTarget, insecure: boolean): Promise<boolean> {
  const result = await signer.runner.run(cosignVerifyArgs(signer.settings, verifier, [referenceOf(target)], insecure), { silent: true, allowFailure: true })
  return result.exitCode === 0
}

/** Where cosign stores each target's signature (`cosign triangulate`). */
async function signatureReferences(signer: Signer, targets: readonly SignTarget[], insecure: boolean): Promise<SignatureRecord[]> {
  return mapLimited(targets, REGISTRY_CONCURRENCY, async target => {
    const result = await runCosign(signer, ['triangulate', ...(insecure ? INSECURE_FLAGS : []), referenceOf(target)], { silent: true }, `name the signature of ${referenceOf(target)}`)
    return { ...target, signature: result.stdout.trim() }
  })
}

async function keylessToken(signer: Signer): Promise<string | undefined> {
  if (signer.settings.key) return undefined
  try {
    return await signer.idToken()
  } catch (error) {
    throw new Error(`cannot get this job's OIDC token for a keyless signature (${errorMessage(error)}): ${ID_TOKEN_PERMISSION_FIX}`, { cause: error })
  }
}

/** What a run's cosign commands share: the identity (keyless: the job's token and what Fulcio certifies) and the registries' transport. */
interface SigningContext {
  token: string | undefined
  verifier: Verifier
  insecure: boolean
}

async function signingContext(docker: Docker, signer: Signer, targets: readonly SignTarget[]): Promise<SigningContext> {
  const token = await keylessToken(signer)
  return { token, verifier: verifierFor(signer, token), insecure: await insecureRegistries(docker, targets.map(referenceOf)) }
}

/** Who signs, in words: the key, or the certificate identity and issuer. */
function identityOf(verifier: Verifier): string {
  return verifier.kind === 'key' ? 'the key given as "sign-key"' : `keyless: certificate identity ${verifier.identity}, issuer ${verifier.issuer}`
}

/** The report of `targets`, all verified: where each signature is, and the command that verifies the index. */
async function signingReport(signer: Signer, context: SigningContext, targets: readonly SignTarget[], signedNow: number): Promise<SigningReport> {
  const signatures = await signatureReferences(signer, targets, context.insecure)
  const index = targets.find(t => t.signed === 'index')
  return {
    signatures,
    verifyCommand: index ? verifyCommandLine(signer.settings, context.verifier, referenceOf(index), context.insecure) : '',
    identity: identityOf(context.verifier),
    ...(signer.publicKey ? { publicKey: signer.publicKey.pem } : {}),
    signedNow
  }
}

/** Signs every target (this run built and verified them), then verifies every signature as a user would. */
export async function signAndVerify(docker: Docker, signer: Signer, targets: readonly SignTarget[], retry: RetryPolicy): Promise<SigningReport> {
  const context = await signingContext(docker, signer, targets)
  await signTargets(signer, targets, context.token, context.insecure, retry)
  await verifyTargets(signer, context.verifier, targets, context.insecure, retry)
  return signingReport(signer, context, targets, targets.length)
}

/** Published digests checked for this run's identity: all signed by it (the report), or those that are not. */
export type PublishedSignatures = { signed: true; report: SigningReport } | { signed: false; identity: string; unsigned: SignTarget[] }

/**
 * Whether every target (published digests a run would skip onto) already carries a signature by the signer's
 * identity that `cosign verify` accepts. Signs nothing: content this run did not build is never signed by it. One
 * `cosign verify` of them all first (the usual answer, one process); when it refuses, one per target names those
 * without such a signature. A registry cosign cannot read counts as no signature.
 */
export async function verifyPublishedSignatures(docker: Docker, signer: Signer, targets: readonly SignTarget[]): Promise<PublishedSignatures> {
  const context = await signingContext(docker, signer, targets)
  const all = await signer.runner.run(cosignVerifyArgs(signer.settings, context.verifier, targets.map(referenceOf), context.insecure), { silent: true, allowFailure: true })
  if (all.exitCode !== 0) {
    const valid = await mapLimited(targets, REGISTRY_CONCURRENCY, t => hasValidSignature(signer, context.verifier, t, context.insecure))
    const unsigned = targets.filter((_, i) => !valid[i])
    if (unsigned.length > 0) return { signed: false, identity: identityOf(context.verifier), unsigned }
  }
  log.info(`cosign verify accepts a signature by ${identityOf(context.verifier)} on all ${targets.length} published digest(s): nothing to sign`)
  return { signed: true, report: await signingReport(signer, context, targets, 0) }
}

/**
 * Signs and verifies statements (blobs) with the signer's identity, through `cosign sign-blob` and `verify-blob`:
 * how a leg binds the record it hands to the merge, and how the merge checks it (handoff.ts). A signature is the
 * cosign bundle (the signature; keyless: the certificate and the log entry too), base64, so that an annotation
 * can carry it; the statement and the bundle are files only while cosign reads or writes them.
 */
export interface StatementSigner {
  /** Who signs, in words. */
  identity: string
  /** A signature of `statement` by the identity. */
  sign(statement: string): Promise<string>
  /** Why `signature` is not a signature of `statement` by the identity (cosign's words), or undefined when `cosign verify-blob` accepts it. */
  verify(statement: string, signature: string): Promise<string | undefined>
}

export async function statementSigner(signer: Signer, retry: RetryPolicy): Promise<StatementSigner> {
  const token = await keylessToken(signer)
  const verifier = verifierFor(signer, token)
  const withFiles = async <T>(statement: string, body: (blob: string, bundle: string) => Promise<T>): Promise<T> => {
    const dir = await mkdtemp(path.join(signer.workDir, 'cosign-blob-'))
    try {
      const blob = path.join(dir, 'statement.json')
      await writeFile(blob, statement)
      return await body(blob, path.join(dir, 'bundle.json'))
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }
  const what = 'sign the record it hands to the merge'
  return {
    identity: identityOf(verifier),
    sign: statement =>
      withFiles(statement, async (blob, bundle) => {
        if (signer.settings.key) {
          const env = { COSIGN_PASSWORD: signer.settings.keyPassword }
          await withKeyFile(signer, keyFile => runCosign(signer, cosignSignBlobArgs(signer.settings, blob, bundle, keyFile), writeOptions(retry, env), what))
        } else {
          await runCosign(signer, cosignSignBlobArgs(signer.settings, blob, bundle, undefined), writeOptions(retry, { SIGSTORE_ID_TOKEN: token ?? '' }), what)
        }
        return (await readFile(bundle)).toString('base64')
      }),
    verify: (statement, signature) =>
      withFiles(statement, async (blob, bundle) => {
        await writeFile(bundle, Buffer.from(signature, 'base64'))
        const result = await signer.runner.run(cosignVerifyBlobArgs(signer.settings, verifier, blob, bundle), { silent: true, allowFailure: true })
        return result.exitCode === 0 ? undefined : lastLines(`${result.stderr}\n${result.stdout}`.replace(/^(error during command execution|WARNING):.*$/gm, ''), 1)
      })
  }
}

/** A target in words, as the summary's signature table names it: `index`, `linux/arm64 manifest`, `attestation of linux/arm64`. */
export function describeTarget(target: SignTarget): string {
  if (target.signed === 'index') return 'index'
  return target.signed === 'platform' ? `${target.platform ?? ''} manifest` : `attestation of ${target.platform ?? 'unknown'}`
}

/** The `signatures` output: repository, digest, what was signed, and where the signature is. */
export function signaturesJson(signatures: readonly SignatureRecord[]): string {
  return JSON.stringify(
    signatures.map(s => ({ repository: s.repository, digest: s.digest, signed: s.signed, ...(s.platform ? { platform: s.platform } : {}), signature: s.signature }))
  )
}
