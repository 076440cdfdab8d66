/**
 * Skip unchanged: a run whose build would be the one already published skips the build and the push.
 *
 * The tag to compare with is the newest of this run's series (`TAG`, or the highest `TAG-n` with `rebuild:
 * suffix`), as tags.ts read it from the registry. The run is unchanged when that index carries this run's
 * fingerprint (fingerprint.ts), lists exactly the requested platforms, and every repository serves the same index
 * under the tag. Then every output comes from the registry. Per-platform tags (`TAG-amd64`, …) the plan names but
 * the registry lacks (platform tags just turned on, or a restore that lost one) are completed by the skipped run,
 * pointed at the published index's manifests, so the outputs never name a tag that does not exist.
 *
 * With `sign: true` the published digests must also carry this run's identity's signature ({@link checkSignatures}).
 *
 * Whether to compare at all is `skip-unchanged` ({@link skipUnchangedDecision}): `auto` skips on automatic events
 * and always builds on `workflow_dispatch` (someone asked for a rebuild: `if-tag-exists: suffix` publishes `TAG-1`) and
 * with `no-cache: true`.
 */
import * as core from '@actions/core'
import { fingerprintedOptions, type BuildOptions } from '../build/build-options.js'
import type { Docker } from '../core/docker.js'
import { errorMessage } from '../core/errors.js'
import { fingerprintBuild, readFingerprint, UnpinnedInputError, type Fingerprint, type FingerprintRequest } from '../tags/fingerprint.js'
import type { Platform } from '../core/platform.js'
import type { PublishResult } from './result.js'
import { currentDigest, inspectIfExists, isAttestation, parseIndex, platformDigests, sha256Digest, type ImageIndex } from '../core/registry.js'
import type { RetryPolicy } from '../core/retry.js'
import type { BuildArg } from '../core/input.js'
import type { PublishedTag, RebuildMode, TagPlan } from '../tags/tags.js'
import { checkIndexPlatforms, describeIndexCheck, predicateTypes, type AttestationReport } from '../verify/verify.js'
import { describeTarget, signingTargets, verifyPublishedSignatures, type Signer, type SigningReport } from './sign.js'
import * as log from '../core/log.js'

export interface UnchangedRequest {
  repositories: readonly string[]
  /** This run's fingerprint. */
  fingerprint: string
  platforms: readonly Platform[]
  plan: TagPlan
  /** `rebuild`: with `suffix` and `fail` the plan already asked the registry which tags exist. */
  rebuild: RebuildMode
}

/** Why a run builds: no published tag to compare with, or what differs. */
export type UnchangedAnswer =
  | {
      unchanged: true
      /** The published tag that holds this build. */
      tag: string
      /** The plan's further index tags (release tag, `latest`, `tags`), still to point at the published index. */
      extraTags: string[]
      /** Per-platform tags (platform → `TAG-arm64`) some repository lacks or holds elsewhere: the run completes them. */
      missingPlatformTags: Record<string, string>
      result: PublishResult
      /** With `sign: true`: the published digests' signatures by this run's identity, verified ({@link checkSignatures}). */
      signing?: SigningReport
    }
  | { unchanged: false; reason: string }

/** The published tag a rerun compares with: the plan's newest existing tag, or (`if-tag-exists: overwrite`) the tag itself. */
async function publishedTag(docker: Docker, request: UnchangedRequest, retry: RetryPolicy): Promise<PublishedTag | undefined> {
  if (request.plan.previous) return request.plan.previous
  // planTags found no tag of the series; asking again would get the same answer
  if (request.rebuild !== 'overwrite') return undefined
  const [first] = request.repositories
  if (!first) return undefined
  const reference = `${first}:${request.plan.tag}`
  const manifest = await inspectIfExists(docker, reference, retry)
  return manifest === undefined ? undefined : { tag: request.plan.tag, reference, manifest }
}

/**
 * Whether the published index is this run's build: same fingerprint, exactly the platforms, in every repository.
 * A registry that cannot be read is an answer too ("build"): skipping is a saving, never a reason to fail.
 */
export async function checkUnchanged(docker: Docker, request: UnchangedRequest, retry: RetryPolicy): Promise<UnchangedAnswer> {
  try {
    return await compareWithPublished(docker, request, retry)
  } catch (error) {
    return { unchanged: false, reason: `cannot read what the registry holds: ${errorMessage(error)}` }
  }
}

async function compareWithPublished(docker: Docker, request: UnchangedRequest, retry: RetryPolicy): Promise<UnchangedAnswer> {
  const published = await publishedTag(docker, request, retry)
  if (!published) return { unchanged: false, reason: `${request.plan.tag} is not published yet` }
  let index: ImageIndex
  try {
    index = parseIndex(published.manifest, published.reference)
  } catch (error) {
    return { unchanged: false, reason: (error as Error).message }
  }
  const fingerprint = readFingerprint(index)
  if (fingerprint !== request.fingerprint) {
    const had = fingerprint ? `fingerprint ${fingerprint}` : 'no fingerprint'
    return { unchanged: false, reason: `${published.reference} holds ${had}; this build's is ${request.fingerprint}` }
  }
  const platformProblem = describeIndexCheck(published.reference, checkIndexPlatforms(index, request.platforms))
  if (platformProblem) return { unchanged: false, reason: platformProblem }

  const digest = sha256Digest(published.manifest)
  const elsewhere = request.repositories.filter(r => `${r}:${published.tag}` !== published.reference)
  const [served, attestations] = await Promise.all([
    Promise.all(elsewhere.map(async r => ({ repository: r, manifest: await inspectIfExists(docker, `${r}:${published.tag}`, retry) }))),
    attestationReports(docker, published.reference.slice(0, -(published.tag.length + 1)), index, retry)
  ])
  const differing = served.find(s => s.manifest === undefined || sha256Digest(s.manifest) !== digest)
  if (differing) {
    return { unchanged: false, reason: `${differing.repository}:${published.tag} is not the index ${published.reference} serves (${digest})` }
  }
  const extraTags = request.plan.indexTags.filter(t => t !== request.plan.tag)
  const result = publishedResult(request, published, extraTags, index, digest, attestations)
  const missingPlatformTags = await missingPlatformTagsOf(docker, request.repositories, platformTagsOf(request.plan, published.tag), result.platformDigests, retry)
  return { unchanged: true, tag: published.tag, extraTags, missingPlatformTags, result }
}

/**
 * With `sign: true`, a run skips only onto content its own identity signed: the published index and every platform
 * manifest (and attestation manifest, with `sign-attestations`) in every repository must carry a signature by the
 * key or workflow identity this run signs with, which `cosign verify` accepts. Anyone who can push to the
 * repository can copy the fingerprint annotation onto an index of their own; skipping onto it would sign their
 * content with the workflow's identity and move tags onto it. So an answer that cannot show those signatures
 * becomes "build" (saying which digests lack one): the build is then signed as any build is, after its
 * verification. Signs nothing. Without a signer (`sign: false`) the answer stands: see the README's security section
 * for what registry write access allows then.
 */
export async function checkSignatures(docker: Docker, answer: UnchangedAnswer, signer: Signer | undefined, repositories: readonly string[]): Promise<UnchangedAnswer> {
  if (!answer.unchanged || !signer) return answer
  const index = parseIndex(answer.result.manifest, answer.tag)
  const targets = signingTargets(repositories, answer.result.digest, index, signer.settings.attestations)
  const checked = await verifyPublishedSignatures(docker, signer, targets)
  if (checked.signed) return { ...answer, signing: checked.report }
  const byRepository = repositories
    .map(repository => ({ repository, lacking: checked.unsigned.filter(t => t.repository === repository).map(describeTarget) }))
    .filter(r => r.lacking.length > 0)
  const lacking = byRepository.map(r => `${r.lacking.join(', ')}${repositories.length > 1 ? ` in ${r.repository}` : ''}`).join('; ')
  return {
    unchanged: false,
    reason: `${repositories[0] ?? ''}:${answer.tag} carries this build's fingerprint, but cosign verify accepts no signature by ${checked.identity} on its ${lacking}: building, since this run signs only what it built and verified, or found signed by that identity`
  }
}

/** The plan's per-platform tags renamed to the published tag's series (`TAG-1-arm64` → `TAG-arm64`). */
function platformTagsOf(plan: TagPlan, publishedTag: string): Record<string, string> {
  const rename = (tag: string): string => (tag.startsWith(plan.tag) ? `${publishedTag}${tag.slice(plan.tag.length)}` : tag)
  return Object.fromEntries(Object.entries(plan.platformTags).map(([platform, tag]) => [platform, rename(tag)]))
}

/** The per-platform tags that some repository does not serve as the manifest the index lists for that platform. */
async function missingPlatformTagsOf(
  docker: Docker,
  repositories: readonly string[],
  platformTags: Record<string, string>,
  digests: Record<string, string>,
  retry: RetryPolicy
): Promise<Record<string, string>> {
  const checks = await Promise.all(
    Object.entries(platformTags).map(async ([platform, tag]) => {
      const served = await Promise.all(repositories.map(r => currentDigest(docker, `${r}:${tag}`, retry)))
      return served.every(digest => digest !== '' && digest === digests[platform]) ? undefined : ([platform, tag] as const)
    })
  )
  return Object.fromEntries(checks.filter((c): c is readonly [string, string] => c !== undefined))
}

/** `skip-unchanged`: `auto` skips on automatic events and builds on `workflow_dispatch` and with `no-cache: true`. */
export type SkipUnchangedMode = 'auto' | 'true' | 'false'
export const SKIP_UNCHANGED_MODES: readonly SkipUnchangedMode[] = ['auto', 'true', 'false']

/**
 * Whether this run compares with the published tag at all (`skip-unchanged`), and why not when it does not:
 * `auto` compares on automatic events, not on `workflow_dispatch` (a rebuild asked for by hand) nor with
 * `no-cache: true`; `true` always compares; `false` never.
 */
export function skipUnchangedDecision(mode: SkipUnchangedMode, noCache: boolean, eventName: string): { compare: boolean; reason?: string } {
  if (mode === 'false') return { compare: false, reason: 'skip-unchanged: false: building and publishing whatever the registry holds' }
  if (mode === 'true') return { compare: true }
  if (noCache) return { compare: false, reason: 'no-cache: true asks for a fresh build: building even if unchanged (skip-unchanged: true skips it)' }
  if (eventName === 'workflow_dispatch') {
    return { compare: false, reason: 'a workflow_dispatch run is a rebuild asked for by hand: building even if unchanged (skip-unchanged: true skips it)' }
  }
  return { compare: true }
}

/** The attestation manifests of an index, read concurrently: the `attestations` output. */
async function attestationReports(docker: Docker, repository: string, index: ImageIndex, retry: RetryPolicy): Promise<AttestationReport[]> {
  const byDigest = Object.fromEntries(Object.entries(platformDigests(index)).map(([platform, d]) => [d, platform]))
  return Promise.all(
    index.manifests.filter(isAttestation).map(async descriptor => {
      const raw = await docker.run(['buildx', 'imagetools', 'inspect', '--raw', `${repository}@${descriptor.digest}`], { silent: true, retry })
      const about = descriptor.annotations?.['vnd.docker.reference.digest'] ?? ''
      return { digest: descriptor.digest, platform: byDigest[about] ?? '', predicateTypes: predicateTypes(JSON.parse(raw.stdout)) }
    })
  )
}

/** What the run reports: the published tag's references in every repository, as the publish that made them did. */
function publishedResult(
  request: UnchangedRequest,
  published: PublishedTag,
  extraTags: readonly string[],
  index: ImageIndex,
  digest: string,
  attestations: AttestationReport[]
): PublishResult {
  const indexTags = [published.tag, ...extraTags]
  const platformTags = platformTagsOf(request.plan, published.tag)
  const references = [
    ...request.repositories.flatMap(r => indexTags.map(t => `${r}:${t}`)),
    ...Object.values(platformTags).flatMap(tag => request.repositories.map(r => `${r}:${tag}`))
  ]
  return {
    pushed: true,
    references,
    digest,
    pinned: request.repositories.map(r => `${r}@${digest}`),
    platformDigests: platformDigests(index),
    manifest: published.manifest,
    attestations,
    metadata: { imageNames: [], raw: {} },
    // nothing moved; extra tags pointed at the published index are added by the caller
    moves: []
  }
}

/** Logs why the run builds (or that it does not). */
export function reportUnchanged(answer: UnchangedAnswer): void {
  if (answer.unchanged) {
    log.info(`skipped: unchanged: ${answer.tag} already holds this build's fingerprint and every platform`)
    const missing = Object.values(answer.missingPlatformTags)
    if (missing.length > 0) log.info(`the per-platform tag(s) ${missing.join(', ')} are missing or point elsewhere: this run completes them from the published index`)
  }
  else log.info(`building: ${answer.reason}`)
}

/**
 * This run's fingerprint, or undefined with a warning when it cannot be computed (a `FROM` image no registry
 * serves, say): the run then builds and publishes without one, as before fingerprints existed. A build that reads
 * content no digest pins (an `ADD <url>`, a URL or git branch context) has none by design: the log says why.
 */
export async function fingerprintOrWarn(docker: Docker, request: FingerprintRequest, retry: RetryPolicy): Promise<Fingerprint | undefined> {
  try {
    const fingerprint = await fingerprintBuild(docker, request, retry)
    const bases = Object.entries(fingerprint.ingredients.baseImages).map(([ref, digest]) => `${ref}@${digest}`)
    log.info(`fingerprint ${fingerprint.value} (${fingerprint.contextEntries} context entries; ${bases.join(', ') || 'no base image'})`)
    return fingerprint
  } catch (error) {
    if (error instanceof UnpinnedInputError) log.info(`no fingerprint, so this build is built and published every run (skip-unchanged cannot tell it is unchanged): ${error.message}`)
    else core.warning(`cannot fingerprint this build, so it is built and published even if unchanged: ${errorMessage(error)}`)
    return undefined
  }
}

/** The settings the fingerprint reads (the job's Settings has them all): the same values the build gets. */
export interface FingerprintedSettings {
  context: string
  file: string
  platforms: Platform[]
  target: string
  provenance: string
  sbom: string
  labels: string[]
  annotations: string[]
  buildOptions: BuildOptions
  /** `secrets`: only their ids are read. */
  secrets?: ReadonlyArray<{ id: string }>
}

export function fingerprintRequest(settings: FingerprintedSettings, buildArgs: BuildArg[], versions: Record<string, string>): FingerprintRequest {
  return {
    context: settings.context,
    file: settings.file,
    buildArgs,
    platforms: settings.platforms,
    versions,
    target: settings.target,
    provenance: settings.provenance,
    sbom: settings.sbom,
    labels: settings.labels,
    annotations: settings.annotations,
    buildOptions: fingerprintedOptions(settings.buildOptions, settings.secrets),
    namedContexts: settings.buildOptions.buildContexts
  }
}
