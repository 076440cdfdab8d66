/**
 * Step outputs: typed names, so a typo is a compile error, and one place that sets them all.
 */
import * as core from '@actions/core'
import type { PublishResult } from './publish.js'
import type { MoveRecord } from './transaction.js'

export const Output = {
  /** Digest of the pushed multi-arch index. */
  Digest: 'digest',
  /** The main tag. */
  Tag: 'tag',
  /** Every full reference published, newline separated. */
  Tags: 'tags',
  /** `repository@digest` for every repository, newline separated. */
  Images: 'images',
  /** JSON object: version name (`go`) → the version the image was built with. */
  Versions: 'versions',
  /** JSON object: platform (`linux/arm64`) → manifest digest. */
  PlatformDigests: 'platform-digests',
  /** The index exactly as the registry serves it. */
  Manifest: 'manifest',
  /** buildx's metadata JSON. */
  Metadata: 'metadata',
  /** JSON list of the index's attestation manifests: digest, the platform attested, predicate types. */
  Attestations: 'attestations',
  /**
   * JSON list of every tag move: `reference`, `previous` (the digest it held before, '' for a new tag), `digest`
   * (what this run moved it to), `now` (what it holds at the end) and `outcome` (moved, not-moved, restored,
   * restore-failed, other, unknown). Set on failure too.
   */
  Moves: 'moves',
  /** JSON list of the signatures (`sign: true`): repository, digest, what was signed, the signature's reference. */
  Signatures: 'signatures',
  /** The requested platforms that run through QEMU on this runner, comma separated. */
  QemuPlatforms: 'qemu-platforms',
  /** The buildx builder the build ran on. */
  Builder: 'builder',
  /** The platforms that builder supports, comma separated. */
  BuilderPlatforms: 'builder-platforms',
  /** `mode: check`: JSON list of the versions with a newer release: `name`, `from`, `to`, `source` (the URL). */
  Updates: 'updates',
  /** `mode: check`: `true` when a version has a newer release (and, with update-versions, was rewritten). */
  Changed: 'changed'
} as const

export type OutputName = (typeof Output)[keyof typeof Output]

export type Outputs = Record<OutputName, string>

/** The outputs that describe what was published (the setup phases set theirs as they go). */
export function outputsOf(result: PublishResult, tag: string): Partial<Outputs> {
  return {
    [Output.Digest]: result.digest,
    [Output.Tag]: tag,
    [Output.Tags]: result.references.join('\n'),
    [Output.Images]: result.pinned.join('\n'),
    [Output.PlatformDigests]: JSON.stringify(result.platformDigests),
    [Output.Manifest]: result.manifest,
    [Output.Metadata]: JSON.stringify(result.metadata.raw),
    [Output.Attestations]: JSON.stringify(result.attestations),
    [Output.Moves]: movesJson(result.moves)
  }
}

export function movesJson(records: readonly MoveRecord[]): string {
  return JSON.stringify(
    records.map(r => ({ reference: r.reference, previous: r.previous, digest: r.target, now: r.now, outcome: r.outcome }))
  )
}

/**
 * A run that failed while moving tags: `digest` is the index it was publishing, `tags` every reference that
 * holds this run's content at the end, `moves` where every planned reference ended.
 */
export function failureOutputs(records: readonly MoveRecord[]): Partial<Outputs> {
  const index = records.find(r => r.kind === 'index')
  const holding = records.filter(r => r.now !== '' && r.now === r.target)
  return {
    ...(index ? { [Output.Digest]: index.target } : {}),
    [Output.Tags]: holding.map(r => r.reference).join('\n'),
    [Output.Moves]: movesJson(records)
  }
}

export function reportOutputs(result: PublishResult, tag: string): void {
  for (const [name, value] of Object.entries(outputsOf(result, tag))) core.setOutput(name, value)
}

/** Sets some outputs now (setup phases report theirs as soon as they are known). */
export function setOutputs(outputs: Partial<Outputs>): void {
  for (const [name, value] of Object.entries(outputs)) core.setOutput(name, value)
}
