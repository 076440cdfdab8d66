/**
 * Checks, before any tag a user pulls moves, that what was built and staged is what was asked for.
 */
import { trackContainer, type Docker } from '../core/docker.js'
import { errorMessage } from '../core/errors.js'
import { forEachLimited, mapLimited, REGISTRY_CONCURRENCY } from '../core/limit.js'
import { formatPlatform, parsePlatform, platformKey, samePlatform, type Platform } from '../core/platform.js'
import { inspectIndex, isAttestation, platformDigests, readJustWritten, type ImageIndex, type RegistryIndex } from '../core/registry.js'
import { layerTransferTimeout, NO_RETRY, type RetryPolicy } from '../core/retry.js'

export interface IndexCheck {
  missing: string[]
  unexpected: string[]
  attestations: number
}

/** Compares the image entries of an index with the requested platforms; attestations are counted apart. */
export function checkIndexPlatforms(index: ImageIndex, requested: readonly Platform[]): IndexCheck {
  const present = Object.keys(platformDigests(index)).map(p => parsePlatform(p))
  return {
    missing: requested.filter(r => !present.some(p => samePlatform(p, r))).map(formatPlatform),
    unexpected: present.filter(p => !requested.some(r => samePlatform(p, r))).map(formatPlatform),
    attestations: index.manifests.filter(isAttestation).length
  }
}

export function describeIndexCheck(reference: string, check: IndexCheck): string | undefined {
  if (check.missing.length === 0 && check.unexpected.length === 0) return undefined
  const parts = [
    check.missing.length ? `missing ${check.missing.join(', ')}` : '',
    check.unexpected.length ? `not requested ${check.unexpected.join(', ')}` : ''
  ].filter(Boolean)
  return `${reference} does not list exactly the requested platforms: ${parts.join('; ')}`
}

/** An image config as `imagetools inspect --format '{{json .Image}}'` prints it (the fields checked here). */
export interface ImageConfig {
  os?: string
  architecture?: string
  variant?: string
}

/**
 * `imagetools inspect --format '{{json .Image}}'` prints a map platform → config for an index of several
 * images, but the bare config when the index holds one image (attestations aside): key that one by its platform.
 */
export function configsByPlatform(printed: unknown, index: ImageIndex): Record<string, ImageConfig> {
  const record = (printed ?? {}) as Record<string, unknown>
  if (typeof record.architecture === 'string' || typeof record.os === 'string') {
    const [only] = Object.keys(platformDigests(index))
    return only ? { [only]: record as ImageConfig } : {}
  }
  return record as Record<string, ImageConfig>
}

/** Platforms whose config does not say the os/architecture/variant its index entry says. */
export function checkConfigs(configs: Record<string, ImageConfig>, requested: readonly Platform[]): string[] {
  const problems: string[] = []
  for (const platform of requested) {
    const key = Object.keys(configs).find(k => samePlatform(parsePlatform(k), platform))
    const config = key ? configs[key] : undefined
    if (!config) {
      problems.push(`${formatPlatform(platform)}: no image config`)
      continue
    }
    const actual: Platform = config.variant
      ? { os: config.os ?? '', architecture: config.architecture ?? '', variant: config.variant }
      : { os: config.os ?? '', architecture: config.architecture ?? '' }
    if (!samePlatform(actual, platform)) {
      problems.push(`${formatPlatform(platform)}: its image config says ${actual.os}/${actual.architecture}${actual.variant ? `/${actual.variant}` : ''}`)
    }
  }
  return problems
}

export interface PlatformReport {
  platform: string
  digest: string
  /** Bytes of the manifest, its config and its layers (compressed), as the registry stores them. */
  size: number
}

/** An attestation manifest in the index (provenance, SBOM), and the platform image it is about. */
export interface AttestationReport {
  digest: string
  /** The platform of the image it attests (`vnd.docker.reference.digest`), or '' when that is not in the index. */
  platform: string
  /** The in-toto predicate types it carries, e.g. `https://slsa.dev/provenance/v0.2`, `https://spdx.dev/Document`. */
  predicateTypes: string[]
}

export interface VerifiedIndex {
  index: RegistryIndex
  platforms: PlatformReport[]
  attestations: AttestationReport[]
}

interface ImageManifest {
  config?: { size?: number }
  layers?: Array<{ size?: number; annotations?: Record<string, string> }>
}

/** The predicate types an attestation manifest's layers declare. */
export function predicateTypes(manifest: ImageManifest): string[] {
  return [...new Set((manifest.layers ?? []).map(l => l.annotations?.['in-toto.io/predicate-type']).filter((t): t is string => !!t))]
}

/**
 * Reads the staged index back from the first repository by digest: it must list exactly the requested platforms,
 * each platform's config must name that platform, and each platform manifest must be served. Every other
 * repository must serve the same digest.
 */
export async function verifyStagedIndex(
  docker: Docker,
  repositories: readonly string[],
  digest: string,
  requested: readonly Platform[],
  retry: RetryPolicy
): Promise<VerifiedIndex> {
  const [first, ...others] = repositories
  if (!first) throw new Error('no repository to verify')
  // everything read here was just pushed: a registry that does not serve it yet is asked again (eventual consistency)
  const fresh = <T>(read: () => Promise<T>): Promise<T> => readJustWritten(read, retry)
  const index = await fresh(() => inspectIndex(docker, `${first}@${digest}`, retry))
  if (index.digest !== digest) throw new Error(`${first} serves ${index.digest} for ${digest}`)
  const check = checkIndexPlatforms(index.index, requested)
  const indexProblem = describeIndexCheck(`${first}@${digest}`, check)
  if (indexProblem) throw new Error(indexProblem)

  // Independent reads, a few at a time: the image configs, every platform and attestation manifest, and the copy
  // in every further repository.
  const descriptors = index.index.manifests.filter(d => d.platform || isAttestation(d))
  const [configs, manifests] = await Promise.all([
    fresh(() => docker.run(['buildx', 'imagetools', 'inspect', '--format', '{{json .Image}}', `${first}@${digest}`], { silent: true, retry })),
    mapLimited(descriptors, REGISTRY_CONCURRENCY, async descriptor => {
      const raw = await fresh(() => docker.run(['buildx', 'imagetools', 'inspect', '--raw', `${first}@${descriptor.digest}`], { silent: true, retry }))
      return JSON.parse(raw.stdout) as ImageManifest
    }),
    forEachLimited(others, REGISTRY_CONCURRENCY, async repository => {
      const copy = await fresh(() => inspectIndex(docker, `${repository}@${digest}`, retry))
      if (copy.digest !== digest) throw new Error(`${repository} serves ${copy.digest} for ${digest}`)
    })
  ])
  const configProblems = checkConfigs(configsByPlatform(JSON.parse(configs.stdout), index.index), requested)
  if (configProblems.length > 0) throw new Error(`wrong image config: ${configProblems.join('; ')}`)

  const platforms: PlatformReport[] = []
  const attestations: AttestationReport[] = []
  const byDigest = Object.fromEntries(Object.entries(platformDigests(index.index)).map(([platform, d]) => [d, platform]))
  descriptors.forEach((descriptor, i) => {
    const manifest = manifests[i] as ImageManifest
    if (isAttestation(descriptor)) {
      const about = descriptor.annotations?.['vnd.docker.reference.digest'] ?? ''
      attestations.push({ digest: descriptor.digest, platform: byDigest[about] ?? '', predicateTypes: predicateTypes(manifest) })
      return
    }
    const size = descriptor.size + (manifest.config?.size ?? 0) + (manifest.layers ?? []).reduce((sum, l) => sum + (l.size ?? 0), 0)
    platforms.push({ platform: platformKey(descriptor.platform!), digest: descriptor.digest, size })
  })
  return { index, platforms, attestations }
}

/**
 * argv that runs the verify command in one platform's image, whatever the image's entrypoint, without network,
 * as a container named `name` (so one that runs past its bound can be removed: killing the CLI leaves it running).
 */
export function verifyCommandArgs(image: string, platform: Platform, command: readonly string[], name: string): string[] {
  const [program, ...rest] = command
  if (!program) throw new Error('empty verify command')
  // --quiet: a pull's progress would bury the command's own output in a failure message.
  return ['run', '--rm', '--quiet', '--name', name, '--pull', 'never', '--network', 'none', '--platform', formatPlatform(platform), '--entrypoint', program, image, ...rest]
}

/** Lines docker itself adds to a failed `docker run`, which say nothing about the cause. */
const DOCKER_RUN_NOISE = /^Run 'docker run --help' for more information$/

/** Why a verify run failed, in words a user can act on (the platform is named by the caller). */
export function verifyFailureCause(platform: Platform, output: string, exitCode: number, program = '', timedOutAfter?: number): string {
  if (timedOutAfter !== undefined) {
    return `the verify command did not finish within ${timedOutAfter} s and was killed (input "verify-timeout"): make it end sooner, or raise "verify-timeout"`
  }
  if (/exec format error/i.test(output)) {
    return `the image does not run here (exec format error): no QEMU handler for ${platform.architecture} is registered, or the image holds binaries for another architecture`
  }
  if (/executable file not found|no such file or directory/i.test(output) && /OCI runtime create failed|exec:/i.test(output)) {
    return `${program ? `"${program}"` : 'the command'} is not in the image (executable file not found): install it in the image, or change "verify-command"`
  }
  const last = output
    .trim()
    .split('\n')
    .map(l => l.trim())
    .filter(l => l !== '' && !DOCKER_RUN_NOISE.test(l))
    .slice(-2)
    .join(' | ')
  return `the verify command exited ${exitCode}${last ? `: ${last}` : ''}`
}

/** Why a verify run failed, naming the platform. */
export function describeVerifyFailure(platform: Platform, output: string, exitCode: number, program = ''): string {
  return `${formatPlatform(platform)}: ${verifyFailureCause(platform, output, exitCode, program)}`
}

/**
 * Pulls one platform's image for the verify command, bounded like any transfer (input `registry-timeout`), so
 * `verify-timeout` times the command alone, never the download of a multi-GB image.
 */
async function pullForVerify(docker: Docker, image: string, platform: Platform, retry: RetryPolicy): Promise<void> {
  const timeout = layerTransferTimeout(retry)
  try {
    await docker.run(['pull', '--platform', formatPlatform(platform), image], timeout ? { silent: true, retry, timeout } : { silent: true, retry })
  } catch (error) {
    throw new Error(`cannot pull ${image} for ${formatPlatform(platform)} to run "verify-command" in it, so no tag moved: ${errorMessage(error)}`, { cause: error })
  }
}

/**
 * Runs the verify command once per platform (through QEMU for foreign ones). With `pull`, each platform's image is
 * pulled first, bounded by `registry-timeout`; `timeoutSeconds` (input `verify-timeout`) bounds the command
 * alone. A container still running when the job is cancelled is removed (cancel.ts). All platforms run; the
 * error lists every one that failed.
 */
export async function runVerifyCommand(
  docker: Docker,
  image: string | ((platform: Platform) => string),
  platforms: readonly Platform[],
  command: readonly string[],
  pull: boolean,
  timeoutSeconds: number,
  retry: RetryPolicy = NO_RETRY
): Promise<Record<string, string>> {
  const outputs: Record<string, string> = {}
  // cause → the platforms that failed with it, so the same cause on every platform is said once
  const failures = new Map<string, string[]>()
  for (const platform of platforms) {
    const name = `go-build-action-verify-${process.pid}-${Date.now().toString(36)}`
    const platformImage = typeof image === 'string' ? image : image(platform)
    const args = verifyCommandArgs(platformImage, platform, command, name)
    if (pull) await pullForVerify(docker, platformImage, platform, retry)
    const untrack = trackContainer(name)
    let result
    try {
      result = await docker.run(args, { allowFailure: true, timeout: { seconds: timeoutSeconds, input: 'verify-timeout' } })
      if (result.timedOut) await docker.run(['rm', '--force', name], { silent: true, allowFailure: true })
    } finally {
      untrack()
    }
    const output = `${result.stdout}\n${result.stderr}`
    if (result.exitCode !== 0) {
      const cause = verifyFailureCause(platform, output, result.exitCode, command[0], result.timedOut?.seconds)
      failures.set(cause, [...(failures.get(cause) ?? []), formatPlatform(platform)])
    } else outputs[formatPlatform(platform)] = result.stdout.trim()
  }
  if (failures.size > 0) {
    const failed = [...failures.values()].flat()
    const causes = [...failures].map(([cause, names]) => `${names.join(', ')}: ${cause}`)
    const exited = [...failures.keys()].some(cause => cause.startsWith('the verify command exited'))
    const fix = exited ? '; the command must exit 0 in every platform\'s image: fix the image, or change "verify-command"' : ''
    throw new Error(
      `input "verify-command" failed on ${failed.length} of ${platforms.length} platform(s), so no tag moved: ${causes.join('; ')}${fix}`
    )
  }
  return outputs
}
