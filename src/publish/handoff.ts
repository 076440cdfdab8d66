/**
 * The hand-off between `mode: leg` jobs and the `mode: merge` job, through the registry alone.
 *
 * Each leg records itself, per platform, in the bookkeeping repository (`state-repository`, else the first of
 * `images`) under a tag named by its configuration and platform, `go-build-action-leg-CONFIG-ARCH`
 * (configuration.ts): an index that wraps the leg's built index (its platform manifest and attestations) and
 * carries, as index annotations, the configuration's digest, the workflow run and attempt, the runner, the build
 * time and the main tag the leg computed (with `sign: true`, also the leg's signature of all that and of the
 * digests of the manifests it wraps: {@link legStatement}). A later run of the same configuration overwrites the
 * tag, so the registry holds a bounded set of non-user references per configuration (one per platform, plus
 * `go-build-action-merge-CONFIG` for the merged index before it is published), never one per run; a matrix of
 * configurations in one workflow run writes one set each. No tag users pull moves in a leg.
 *
 * The merge reads the record of every platform in `platforms` under its own configuration's tags: a missing record,
 * one of another configuration or one from another run fails the merge naming the platform, before anything moves;
 * a record from an earlier attempt of this run (GitHub's "re-run failed jobs" keeps the legs that passed) is used
 * and reported. With `sign: true` every record's signature is verified with the merge's own identity before the
 * merge uses it ({@link verifyLegSignatures}). The merge then creates the index from the legs' manifests
 * (`imagetools create`, no rebuild) and hands it to the same publish transaction as `mode: all`.
 */
import * as core from '@actions/core'
import type { Configuration } from '../tags/configuration.js'
import { indexAnnotationArgs } from '../core/annotations.js'
import { withLayerBound, type Docker } from '../core/docker.js'
import { InputError } from '../core/input.js'
import { archTagSuffix, formatPlatform, type Platform } from '../core/platform.js'
import { currentDigest, inspectIndex, platformDigests, RegistryQueryError, type ImageIndex } from '../core/registry.js'
import type { RetryPolicy } from '../core/retry.js'
import type { StatementSigner } from './sign.js'
import * as log from '../core/log.js'

/** The start of every leg record's tag; the configuration's id and the platform's `TAG-ARCH` suffix follow. */
export const LEG_TAG_PREFIX = 'go-build-action-leg'

/** The start of the tag the merge writes its index under before it verifies and publishes it; the configuration's id follows. */
export const MERGE_TAG_PREFIX = 'go-build-action-merge'

/** Index annotations of a leg record (and `RUN_ID` on the merged index, so a re-run recognizes its own). */
export const LegAnnotation = {
  RunId: 'io.go-build.run-id',
  RunAttempt: 'io.go-build.run-attempt',
  Runner: 'io.go-build.leg.runner',
  BuildSeconds: 'io.go-build.leg.build-seconds',
  Tag: 'io.go-build.leg.tag',
  Created: 'io.go-build.leg.created',
  /** The SHA-256 of the configuration the leg built (configuration.ts). */
  Configuration: 'io.go-build.configuration',
  /** With `sign: true`: the leg's signature of its {@link legStatement} (a cosign bundle, base64). */
  Signature: 'io.go-build.leg.signature'
} as const

/** The workflow run a leg or merge belongs to (GITHUB_RUN_ID, GITHUB_RUN_ATTEMPT). */
export interface WorkflowRun {
  id: string
  attempt: number
}

/** What a leg hands to the merge. */
export interface LegRecord {
  /** The platform this record is for (`linux/arm64`). */
  platform: string
  run: WorkflowRun
  /** Runner name and architecture (`GitHub Actions 12 (Linux/ARM64)`). */
  runner: string
  /** Seconds the leg's build took. */
  buildSeconds: number
  /** The main tag the leg computed (after rebuild handling). */
  tag: string
  /** The `org.opencontainers.image.created` the leg's image carries. */
  created: string
  /** The digest of the configuration the leg built ({@link Configuration.digest}). */
  configuration: string
  /** The leg's platform manifest. */
  manifest: string
  /** The digest of the record's index (in the bookkeeping repository): the manifest and its attestations. */
  recordDigest: string
  /** Where the record is: `repository:go-build-action-leg-CONFIG-ARCH`. */
  reference: string
  /** What the leg signed, as this record reads ({@link legStatement}): its annotations and the digests of every manifest it wraps. */
  statement: string
  /** The leg's signature of the statement ({@link LegAnnotation.Signature}); empty when the leg did not sign. */
  signature: string
}

/** The fields of a leg record its leg knows before writing it. */
export type LegFacts = Omit<LegRecord, 'platform' | 'manifest' | 'recordDigest' | 'reference' | 'statement' | 'signature'>

/** `go-build-action-leg-0123456789ab-arm64`, `go-build-action-leg-0123456789ab-arm-v7`. */
export function legTag(configuration: Pick<Configuration, 'id'>, platform: Platform): string {
  return `${LEG_TAG_PREFIX}-${configuration.id}-${archTagSuffix(platform)}`
}

/** `go-build-action-merge-0123456789ab`. */
export function mergeTag(configuration: Pick<Configuration, 'id'>): string {
  return `${MERGE_TAG_PREFIX}-${configuration.id}`
}

/** The run this job belongs to; legs and merges need one (the runner always sets it). */
export function readWorkflowRun(mode: string, env: NodeJS.ProcessEnv = process.env): WorkflowRun {
  const id = env.GITHUB_RUN_ID ?? ''
  if (!/^\d+$/.test(id)) {
    throw new InputError('mode', `"${mode}" binds legs and merge to one workflow run, and GITHUB_RUN_ID is ${id ? `"${id}"` : 'not set'}: run it in a GitHub Actions job, or use mode: all`)
  }
  const attempt = Number(env.GITHUB_RUN_ATTEMPT || '1')
  return { id, attempt: Number.isInteger(attempt) && attempt > 0 ? attempt : 1 }
}

/** The runner, as the legs table shows it. */
export function describeRunner(env: NodeJS.ProcessEnv = process.env): string {
  const where = [env.RUNNER_OS, env.RUNNER_ARCH].filter(Boolean).join('/')
  return `${env.RUNNER_NAME || 'unnamed runner'}${where ? ` (${where})` : ''}`
}

/** The index annotations of a leg record, as the registry will hold them (buildx reads a value up to a comma). */
export function legAnnotations(record: LegFacts): Record<string, string> {
  const values: Record<string, string> = {
    [LegAnnotation.RunId]: record.run.id,
    [LegAnnotation.RunAttempt]: String(record.run.attempt),
    [LegAnnotation.Runner]: record.runner,
    [LegAnnotation.BuildSeconds]: String(Math.round(record.buildSeconds)),
    [LegAnnotation.Tag]: record.tag,
    [LegAnnotation.Created]: record.created,
    [LegAnnotation.Configuration]: record.configuration
  }
  return Object.fromEntries(Object.entries(values).map(([key, value]) => [key, value.replace(/,/g, ' ')]))
}

/**
 * What a leg signs with `sign: true`, and the merge verifies before it takes anything from the record: every
 * annotation the merge reads (run, attempt, configuration, tag, created, runner, build time) and the digests of
 * every manifest the record wraps (the platform manifests and their attestations), in one canonical text. Anyone
 * who can push to the repository can copy the annotations onto an index of other manifests, or replay a record;
 * they cannot make this signature for it.
 */
export function legStatement(annotations: Record<string, string>, manifests: readonly string[]): string {
  const signed = Object.values(LegAnnotation)
    .filter(key => key !== LegAnnotation.Signature)
    .sort()
    .map(key => [key, annotations[key] ?? ''])
  return JSON.stringify({ 'go-build-action': 'leg record', annotations: Object.fromEntries(signed), manifests: [...new Set(manifests)].sort() })
}

/** Reads a leg record's index; throws, naming the platform, when it is not a whole record. */
export function parseLegRecord(platform: string, reference: string, digest: string, index: ImageIndex): LegRecord {
  const a = index.annotations ?? {}
  const runId = a[LegAnnotation.RunId]
  const tag = a[LegAnnotation.Tag]
  if (!runId || !tag) {
    throw new Error(`${platform}: ${reference} carries no leg annotations (run id, tag): it was not written by a leg of this action, or the registry dropped index annotations`)
  }
  const manifest = platformDigests(index)[platform]
  if (!manifest) throw new Error(`${platform}: ${reference} holds no ${platform} manifest (it holds ${Object.keys(platformDigests(index)).join(', ') || 'none'})`)
  return {
    platform,
    run: { id: runId, attempt: Number(a[LegAnnotation.RunAttempt] ?? '1') },
    runner: a[LegAnnotation.Runner] ?? '',
    buildSeconds: Number(a[LegAnnotation.BuildSeconds] ?? '0'),
    tag,
    created: a[LegAnnotation.Created] ?? '',
    configuration: a[LegAnnotation.Configuration] ?? '',
    manifest,
    recordDigest: digest,
    reference,
    statement: legStatement(a, index.manifests.map(m => m.digest)),
    signature: a[LegAnnotation.Signature] ?? ''
  }
}

/** Reads one platform's leg record of a configuration, or undefined when the platform has none. */
export async function readLegRecord(
  docker: Docker,
  repository: string,
  configuration: Pick<Configuration, 'id'>,
  platform: Platform,
  retry: RetryPolicy
): Promise<LegRecord | undefined> {
  const reference = `${repository}:${legTag(configuration, platform)}`
  const digest = await currentDigest(docker, reference, retry)
  if (digest === '') return undefined
  const index = await inspectIndex(docker, `${repository}@${digest}`, retry)
  return parseLegRecord(formatPlatform(platform), reference, digest, index.index)
}

/** What a leg with `sign: true` binds its records with: the manifests its staged index lists, and its identity's signature. */
export interface LegBinding {
  /** The digests of every manifest of the staged index (the records wrap them). */
  manifests: readonly string[]
  sign(statement: string): Promise<string>
}

/**
 * Writes this leg's record for each of its platforms into the bookkeeping `repository` (overwriting the previous
 * run's of this configuration), wrapping the index staged in `source`, and reads each back: a buildx or registry
 * that drops index annotations is an error here, not in the merge. With `binding` (`sign: true`) the records
 * carry the leg's signature of their {@link legStatement}, and each must read back as the statement it signed.
 */
export async function recordLeg(
  docker: Docker,
  repository: string,
  source: string,
  stagedDigest: string,
  platforms: readonly Platform[],
  configuration: Pick<Configuration, 'id'>,
  record: LegFacts,
  retry: RetryPolicy,
  binding?: LegBinding
): Promise<LegRecord[]> {
  const annotations = legAnnotations(record)
  const statement = binding ? legStatement(annotations, binding.manifests) : undefined
  const signature = binding && statement !== undefined ? await binding.sign(statement) : ''
  const written: LegRecord[] = []
  for (const platform of platforms) {
    const reference = `${repository}:${legTag(configuration, platform)}`
    const args = indexAnnotationArgs({ ...annotations, ...(signature ? { [LegAnnotation.Signature]: signature } : {}) })
    await docker.run(['buildx', 'imagetools', 'create', ...args, '--tag', reference, `${source}@${stagedDigest}`], withLayerBound(retry))
    const back = await readLegRecord(docker, repository, configuration, platform, retry)
    if (back?.run.id !== record.run.id || back.run.attempt !== record.run.attempt || back.configuration !== record.configuration) {
      throw new Error(`${reference} does not read back as this leg's record (run ${record.run.id}, attempt ${record.run.attempt}): another leg of the same platform wrote it at the same time; give the workflow a "concurrency:" group keyed on the image`)
    }
    if (statement !== undefined && (back.signature !== signature || back.statement !== statement)) {
      throw new Error(`${reference} does not read back as the record this leg signed (the registry or buildx changed its annotations or manifests), so the merge could not verify it`)
    }
    log.info(`${formatPlatform(platform)}: recorded as ${reference} (${back.recordDigest}) for the merge`)
    written.push(back)
  }
  return written
}

/** The legs the merge publishes; all of this run, one tag. */
export interface CollectedLegs {
  tag: string
  /** The earliest `created` of the legs: the index's, the same on every merge of this run. */
  created: string
  legs: LegRecord[]
}

/**
 * Reads every platform's leg record of this configuration and checks they belong to this configuration and run and
 * agree on the tag. Throws, naming every platform at fault and saying that nothing moved, before anything is
 * written.
 */
export async function collectLegs(
  docker: Docker,
  repository: string,
  platforms: readonly Platform[],
  run: WorkflowRun,
  configuration: Configuration,
  retry: RetryPolicy
): Promise<CollectedLegs> {
  const problems: string[] = []
  const legs: LegRecord[] = []
  for (const platform of platforms) {
    const name = formatPlatform(platform)
    const reference = `${repository}:${legTag(configuration, platform)}`
    let leg: LegRecord | undefined
    try {
      leg = await readLegRecord(docker, repository, configuration, platform, retry)
    } catch (error) {
      if (error instanceof RegistryQueryError) throw error
      problems.push((error as Error).message)
      continue
    }
    if (!leg) {
      problems.push(
        `${name}: no leg of this configuration recorded (${reference} does not exist): its leg did not run or failed, or it ran with other inputs than this merge (the legs and the merge need the same images, context, file, target, build-args, versions, tag-template, tag-prefix, tag-suffix, labels, annotations, provenance, sbom, build-contexts, the ids of secret-envs, secret-files and ssh, network, add-hosts, allow and state-repository; this merge's: ${configuration.describe})`
      )
    } else if (leg.configuration !== configuration.digest) {
      problems.push(`${name}: the leg recorded under ${reference} built another configuration (${leg.configuration || 'none recorded'}, not ${configuration.digest}): re-run that leg`)
    } else if (leg.run.id !== run.id) {
      problems.push(`${name}: the leg recorded under ${reference} is from run ${leg.run.id} (attempt ${leg.run.attempt}), not this run ${run.id}: this run's ${name} leg did not finish`)
    } else if (leg.run.attempt > run.attempt) {
      problems.push(`${name}: the leg recorded is from attempt ${leg.run.attempt}, later than this merge's attempt ${run.attempt}: re-run the merge`)
    } else {
      legs.push(leg)
    }
  }
  if (problems.length > 0) {
    throw new Error(`cannot merge; no tag moved:\n  ${problems.join('\n  ')}`)
  }
  const tags = [...new Set(legs.map(l => l.tag))]
  if (tags.length !== 1) {
    throw new Error(
      `cannot merge; no tag moved: the legs computed different tags (${legs.map(l => `${l.platform} → ${l.tag}`).join(', ')}): another run published in between; re-run all the legs, and give the workflow a "concurrency:" group keyed on the image`
    )
  }
  for (const leg of legs) {
    if (leg.run.attempt < run.attempt) {
      core.notice(`${leg.platform}: using the leg of attempt ${leg.run.attempt} of this run (kept by a re-run of failed jobs), built on ${leg.runner}`)
    }
  }
  const created = legs.map(l => l.created).filter(c => c !== '').sort()[0] ?? ''
  return { tag: tags[0] ?? '', created, legs }
}

/**
 * With `sign: true`, the merge takes a leg only when its record carries a signature of its {@link legStatement} by
 * this run's identity (the legs signed with the same key, or the same workflow's OIDC identity) that `cosign
 * verify-blob` accepts. Throws naming every platform at fault, before anything is written: such a record was not
 * written by this run's leg, or was changed since.
 */
export async function verifyLegSignatures(legs: readonly LegRecord[], verifier: Pick<StatementSigner, 'identity' | 'verify'>): Promise<void> {
  const problems: string[] = []
  for (const leg of legs) {
    const at = `the leg record ${leg.reference} (${leg.recordDigest})`
    const fix = `nothing of it is merged: re-run the ${leg.platform} leg, with the same signing inputs as the merge`
    if (!leg.signature) {
      problems.push(`${leg.platform}: ${at} carries no signature (no ${LegAnnotation.Signature} annotation): its leg ran without sign: true, or someone else wrote it; ${fix}`)
      continue
    }
    const why = await verifier.verify(leg.statement, leg.signature)
    if (why !== undefined) {
      problems.push(`${leg.platform}: ${at} carries no signature by ${verifier.identity} over its annotations and manifests (cosign verify-blob: ${why}): this run's leg did not write it, or it was changed since; ${fix}`)
    }
  }
  if (problems.length > 0) throw new Error(`cannot merge; no tag moved:\n  ${problems.join('\n  ')}`)
}

/**
 * Creates the index from the legs' manifests in the bookkeeping repository (no rebuild) under {@link mergeTag},
 * and returns its digest. It carries this run's id, so a re-run of the merge recognizes the index it published,
 * and `annotations` (the action's and the user's `index:` annotations).
 */
export async function createMergedIndex(
  docker: Docker,
  repository: string,
  configuration: Pick<Configuration, 'id'>,
  legs: readonly LegRecord[],
  annotations: Record<string, string>,
  run: WorkflowRun,
  retry: RetryPolicy
): Promise<string> {
  const reference = `${repository}:${mergeTag(configuration)}`
  // each record is an index of the leg's manifest and its attestations: imagetools merges their entries
  const sources = [...new Set(legs.map(l => l.recordDigest))].map(d => `${repository}@${d}`)
  await docker.run(
    ['buildx', 'imagetools', 'create', ...indexAnnotationArgs({ ...annotations, [LegAnnotation.RunId]: run.id }), '--tag', reference, ...sources],
    withLayerBound(retry)
  )
  const index = await inspectIndex(docker, reference, retry)
  const expected = legs.map(l => l.manifest).sort()
  const got = Object.values(platformDigests(index.index)).sort()
  if (JSON.stringify(got) !== JSON.stringify(expected)) {
    throw new Error(`${reference} does not hold the legs' manifests (another merge of this image wrote it at the same time); no tag moved: give the workflow a "concurrency:" group keyed on the image`)
  }
  return index.digest
}

/**
 * The main tag as the merge may find it: free, or holding an index an earlier attempt of this run's merge
 * published (a re-run of the merge, or of a leg and then the merge, moves it again). Anything else stays as the
 * legs saw it, so the transaction refuses to move a tag another run published.
 */
export async function ownEarlierPublish(
  docker: Docker,
  seen: Record<string, string>,
  run: WorkflowRun,
  retry: RetryPolicy
): Promise<Record<string, string>> {
  const result: Record<string, string> = { ...seen }
  for (const [reference, held] of Object.entries(seen)) {
    if (held !== '') continue
    const now = await currentDigest(docker, reference, retry)
    if (now === '') continue
    const at = reference.lastIndexOf(':')
    const index = await inspectIndex(docker, `${reference.slice(0, at)}@${now}`, retry).catch(() => undefined)
    if (index?.index.annotations?.[LegAnnotation.RunId] === run.id) {
      log.info(`${reference} holds ${now}, published by an earlier attempt of this run: it moves again`)
      result[reference] = now
    }
  }
  return result
}

/** The legs table of the merge's summary: platform, runner, build time, digest. */
export function legRows(legs: readonly LegRecord[]): string[][] {
  return legs.map(l => [l.platform, l.runner || 'unknown', `${l.buildSeconds} s`, l.manifest, String(l.run.attempt)])
}
