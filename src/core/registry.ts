/**
 * Reading what a registry holds, through `docker buildx imagetools inspect --raw`.
 */
import { createHash } from 'node:crypto'
import { DockerCommandError, lastLines, timeoutSentence, type CommandResult, type Docker } from './docker.js'
import { registryOf } from './reference.js'
import { classifyFailure, retryDelayMs, type RetryPolicy } from './retry.js'
import { platformKey, type Platform } from './platform.js'

export interface Descriptor {
  mediaType: string
  digest: string
  size: number
  platform?: Platform & { 'os.version'?: string }
  annotations?: Record<string, string>
}

/** An OCI image index or Docker manifest list. */
export interface ImageIndex {
  schemaVersion: number
  mediaType?: string
  manifests: Descriptor[]
  annotations?: Record<string, string>
}

export interface RegistryIndex {
  reference: string
  /** The digest of the bytes the registry serves for the reference. */
  digest: string
  /** The manifest exactly as the registry serves it. */
  raw: string
  index: ImageIndex
}

const INDEX_MEDIA_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json'
]

export function sha256Digest(bytes: string): string {
  return `sha256:${createHash('sha256').update(bytes, 'utf8').digest('hex')}`
}

/** Parses raw manifest bytes as an index; an image manifest (single platform) is an error here. */
export function parseIndex(raw: string, reference: string): ImageIndex {
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch {
    throw new Error(`the registry answered for ${reference} with something that is not JSON`)
  }
  const index = parsed as Partial<ImageIndex>
  if (!Array.isArray(index.manifests) || (index.mediaType && !INDEX_MEDIA_TYPES.includes(index.mediaType))) {
    throw new Error(`${reference} is a single-platform manifest (${index.mediaType ?? 'no media type'}), not a multi-arch index`)
  }
  return index as ImageIndex
}

/** Attestation manifests (provenance, SBOM) sit in the index as `unknown/unknown` entries. */
export function isAttestation(descriptor: Descriptor): boolean {
  return (
    descriptor.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest' ||
    (descriptor.platform?.os === 'unknown' && descriptor.platform?.architecture === 'unknown')
  )
}

/**
 * Platform (`linux/arm64`) → manifest digest, for the image entries of an index (attestations left out), keyed by
 * the normalized spelling (an entry written `arm64/v8` is `linux/arm64`).
 */
export function platformDigests(index: ImageIndex): Record<string, string> {
  const digests: Record<string, string> = {}
  for (const descriptor of index.manifests) {
    if (isAttestation(descriptor) || !descriptor.platform) continue
    digests[platformKey(descriptor.platform)] = descriptor.digest
  }
  return digests
}

export async function inspectIndex(docker: Docker, reference: string, retry?: RetryPolicy): Promise<RegistryIndex> {
  const { stdout } = await docker.run(['buildx', 'imagetools', 'inspect', '--raw', reference], retry ? { silent: true, retry } : { silent: true })
  return { reference, digest: sha256Digest(stdout), raw: stdout, index: parseIndex(stdout, reference) }
}

/**
 * Whether buildx's output for a failed `imagetools inspect` says the registry has no such manifest (buildx 0.13:
 * `ERROR: host/repo:tag: not found`; registries: `manifest unknown`, `MANIFEST_UNKNOWN`, `NAME_UNKNOWN`), as
 * opposed to a registry that could not be reached or refused to answer. The same classification that decides
 * retries (retry.ts), so "not found" means one thing everywhere.
 */
export function isNotFound(output: string): boolean {
  return classifyFailure(output).kind === 'not-found'
}

/** The registry could not be asked (unreachable, unauthorized, …): never read as "the tag is free". */
export class RegistryQueryError extends Error {
  override name = 'RegistryQueryError'
}

/** Asks the registry whether `reference` exists, with a real `imagetools inspect`. */
export async function referenceExists(docker: Docker, reference: string, retry?: RetryPolicy): Promise<boolean> {
  return (await inspectIfExists(docker, reference, retry)) !== undefined
}

/**
 * The digest of what `reference` holds now ('' when the registry has no such tag), from the bytes
 * `imagetools inspect --raw` serves. A registry that cannot be asked is an error, never taken for "no such tag".
 */
export async function currentDigest(docker: Docker, reference: string, retry?: RetryPolicy): Promise<string> {
  const raw = await inspectIfExists(docker, reference, retry)
  return raw === undefined ? '' : sha256Digest(raw)
}

/**
 * The manifest the registry serves for `reference`, exactly as served; undefined when the registry has no such
 * manifest. A registry that cannot be asked is a {@link RegistryQueryError}, never taken for "not there".
 */
export async function inspectIfExists(docker: Docker, reference: string, retry?: RetryPolicy): Promise<string | undefined> {
  const args = ['buildx', 'imagetools', 'inspect', '--raw', reference]
  let result: CommandResult
  let attempts = 1
  if (retry) {
    // transient faults (5xx, 429, resets, refused connections) are retried; anything else answers the question
    try {
      result = await docker.run(args, { silent: true, retry })
    } catch (error) {
      if (!(error instanceof DockerCommandError)) throw error
      result = error.result
      attempts = error.attempts
    }
  } else {
    result = await docker.run(args, { silent: true, allowFailure: true })
  }
  if (result.exitCode === 0) return result.stdout
  const output = `${result.stderr}\n${result.stdout}`
  if (isNotFound(output)) return undefined
  const cause = output
    .split('\n')
    .map(l => l.trim().replace(/^ERROR:\s*/, ''))
    .filter(l => l !== '')
    .slice(-1)[0]
  const unauthorized = classifyFailure(output).kind === 'auth'
  const fix = unauthorized
    ? 'log in to the registry before this step (e.g. docker/login-action) with a token that may read it; a repository that does not exist yet may also be refused this way: create it, or publish the first time with if-tag-exists: overwrite'
    : 'check the registry address in input "images" and that the registry is up'
  const tries = attempts > 1 ? ` after ${attempts} attempts` : ''
  throw new RegistryQueryError(`cannot tell whether ${reference} exists${tries} (${cause ?? 'no output'}): ${fix}`)
}

/**
 * How many times a manifest this run just wrote is read before its absence is believed: registries are eventually
 * consistent, and a read right after a push can answer MANIFEST_UNKNOWN (docker's toolkit retries it up to 15 times).
 */
export const CONSISTENCY_ATTEMPTS = 8
/** The longest pause between two such reads. */
const CONSISTENCY_MAX_DELAY_MS = 5000

/**
 * Runs `read` (of something this run just wrote) again while the registry answers "not found", a bounded number
 * of times with a growing pause (the retry policy's, at most 5 s); any other failure is thrown as it is.
 */
export async function readJustWritten<T>(
  read: () => Promise<T>,
  retry: RetryPolicy,
  sleep: (ms: number) => Promise<void> = ms => new Promise(resolve => setTimeout(resolve, ms))
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await read()
    } catch (error) {
      if (!(error instanceof DockerCommandError) || error.failure.kind !== 'not-found' || attempt >= CONSISTENCY_ATTEMPTS) throw error
      await sleep(Math.min(CONSISTENCY_MAX_DELAY_MS, retryDelayMs(retry, attempt, { kind: 'transient', cause: 'not yet served' })))
    }
  }
}

/** Turns a failed registry operation into one message that names the registry, the input and the fix. */
export function explainRegistryFailure(error: unknown, repository: string): unknown {
  if (!(error instanceof DockerCommandError)) return error
  const registry = registryOf(repository)
  const detail = lastLines(error.result.stderr || error.result.stdout, 1)
  if (error.result.timedOut) {
    return new Error(`${registry} did not take ${repository} (${error.attempts} attempt(s)): ${timeoutSentence(error.args, error.result.timedOut)}`, {
      cause: error
    })
  }
  switch (error.failure.kind) {
    case 'auth':
      return new Error(
        `${registry} refused ${repository} (${detail}): log in with the "registry", "username" and "password" inputs (or "logins"), or give the token push access to ${repository}`,
        { cause: error }
      )
    case 'transient':
    case 'rate-limited':
      return new Error(
        `${registry} did not accept ${repository} after ${error.attempts} attempt(s) (${error.failure.cause}: ${detail}): check the registry address in input "images" and that the runner can reach it, or raise "retry-attempts"`,
        { cause: error }
      )
    default:
      return error
  }
}
