/**
 * Step outputs: typed names, so a typo is a compile error, and one place that sets them all. Every run ends with
 * every name set, in every mode and on failure: what does not apply to a run is '' (action.yml says when).
 */
import * as core from '@actions/core'
import type { BuildPart } from '../build/parts.js'
import { archTagSuffix, formatPlatform, parsePlatform, samePlatform, type Platform } from '../core/platform.js'
import type { PublishResult } from '../publish/result.js'
import type { RebuildMode, TagPlan } from '../tags/tags.js'
import type { MoveRecord } from '../publish/transaction.js'

export const Output = {
  /** What the run did: {@link RunResult}. */
  Result: 'result',
  /** `true` when the run wrote images or tags to a registry, else `false`. */
  Pushed: 'pushed',
  /** JSON array of the platforms of the run (`["linux/amd64","linux/arm64"]`). */
  Platforms: 'platforms',
  /** The whole result as one JSON object ({@link RunJson}). */
  Json: 'json',
  /** Digest of the multi-arch index the run published (or, unchanged, that its tags hold); '' when none. */
  Digest: 'digest',
  /** The main tag. */
  Tag: 'tag',
  /** Every full reference published, newline separated. */
  Tags: 'tags',
  /** The repositories, newline separated: what the input `images` names. */
  Images: 'images',
  /** `repository@digest` of the index in every repository, newline separated. */
  References: 'references',
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
  /** JSON object: platform → where it was built ({@link BuiltOn}): this runner (natively or under QEMU) or a build node. */
  BuiltOn: 'built-on',
  /** `mode: check`: JSON list of the versions with a newer release: `name`, `from`, `to`, `source` (the URL). */
  Updates: 'updates',
  /** `mode: check`: `true` when a version has a newer release (and, with update-versions, was rewritten). */
  Changed: 'changed'
} as const

export type OutputName = (typeof Output)[keyof typeof Output]

export type Outputs = Record<OutputName, string>

/**
 * What a run did, as the `result` output says it:
 * - `published`: the tags moved to a new index (`mode: all` or `merge`);
 * - `unchanged`: the published tag already holds this build; nothing was built (further tags may have moved);
 * - `built`: built (and verified) without pushing (`push: false`, or `auto` on an event that does not publish);
 * - `leg`: a leg pushed its platforms by digest and recorded them for the merge; no tag users pull moved;
 * - `skipped`: nothing built: a merge on an event that does not publish (its legs pushed nothing), or a release
 *   event that is not a release going out;
 * - `checked`: `mode: check` looked for newer releases (`changed` says whether it found one);
 * - `failed`: the run failed (the `moves` output says where every tag it was moving ended).
 */
export type RunResult = 'published' | 'unchanged' | 'built' | 'leg' | 'skipped' | 'checked' | 'failed'

/** One platform of the `json` output: a matrix `include` entry. */
export interface PlatformJson {
  platform: string
  /** The `TAG-ARCH` suffix (`amd64`, `arm-v7`). */
  arch: string
  /** The platform's manifest digest ('' where nothing was pushed). */
  digest: string
  /** Every `repository:TAG-ARCH` the run published for it. */
  tags: string[]
}

/** The `json` output. */
export interface RunJson {
  result: RunResult
  pushed: boolean
  mode: string
  digest: string
  tag: string
  tags: { index: string[]; platforms: Record<string, string[]> }
  images: string[]
  references: string[]
  platforms: PlatformJson[]
  versions: Record<string, string>
  /** Why the main tag is what it is: new, `TAG-n` because `TAG` exists, decided by the legs, unchanged… */
  rebuild: { tag: string; reason: string }
  attestations: PublishResult['attestations']
  moves: ReturnType<typeof moveJson>[]
  /** The error of a failed run. */
  error?: string
}

/** Where one platform was built (the `built-on` output). */
export interface BuiltOn {
  /** The buildx builder that built it. */
  builder: string
  /** The build node's name (nodes.ts); '' for this runner. */
  node: string
  /** The node's endpoint; '' for this runner. */
  endpoint: string
  /** Whether it ran under QEMU (on this runner: a foreign platform; a node builds its own platforms). */
  emulated: boolean
}

/** The `built-on` output: for every platform of the run, the builder part that builds it. */
export function builtOnJson(platforms: readonly Platform[], parts: readonly BuildPart[], emulated: readonly Platform[]): Record<string, BuiltOn> {
  const result: Record<string, BuiltOn> = {}
  for (const platform of platforms) {
    const part = parts.find(p => p.platforms.some(q => samePlatform(q, platform)))
    if (!part) continue
    result[formatPlatform(platform)] = {
      builder: part.builder,
      node: part.node?.name ?? '',
      endpoint: part.node?.endpoint ?? '',
      emulated: !part.node && emulated.some(e => samePlatform(e, platform))
    }
  }
  return result
}

/** What the report stage knows about a run, besides what it published. */
export interface RunFacts {
  result: RunResult
  mode: string
  tag: string
  repositories: readonly string[]
  platforms: readonly string[]
  versions: Record<string, string>
  /** Why the main tag is what it is ({@link rebuildReason}). */
  rebuild: string
}

/** Why the main tag is what it is, from the tag plan (tags.ts), for the `json` output. */
export function rebuildReason(plan: Pick<TagPlan, 'tag' | 'push' | 'previous'>, mode: RebuildMode, decided: boolean): string {
  if (!plan.push) return 'not pushing: the registry was not asked whether the tag exists'
  if (decided) return 'decided for this workflow run by its legs'
  if (mode === 'overwrite') return `if-tag-exists: overwrite: ${plan.tag} moves to this build whatever it held`
  if (!plan.previous) return `${plan.tag} was free in every repository`
  if (plan.previous.tag === plan.tag) return `${plan.previous.reference} holds an unfinished publish of this very build: this run completes it`
  return `${plan.previous.reference} exists (the newest of its series) with other content, so if-tag-exists: suffix publishes ${plan.tag}`
}

/** Whether a run wrote anything to a registry: its result, and for an unchanged run, whether further tags moved. */
export function pushedOf(result: RunResult, published: PublishResult): boolean {
  if (result === 'published' || result === 'leg') return true
  if (result === 'unchanged') return published.moves.some(m => m.outcome === 'moved')
  return false
}

/** The index references and each platform's `TAG-ARCH` references, told apart by the main tag. */
export function splitReferences(references: readonly string[], tag: string, platforms: readonly string[]): RunJson['tags'] {
  const byTag = new Map(platforms.map(p => [`${tag}-${archTagSuffix(parsePlatform(p))}`, p]))
  const split: RunJson['tags'] = { index: [], platforms: Object.fromEntries(platforms.map(p => [p, [] as string[]])) }
  for (const reference of references) {
    const platform = byTag.get(reference.slice(reference.lastIndexOf(':') + 1))
    if (platform) split.platforms[platform]!.push(reference)
    else split.index.push(reference)
  }
  return split
}

/** Every output of a run that reached its report (success, unchanged, not pushed, a leg, a merge). */
export function outputsOf(published: PublishResult, facts: RunFacts): Partial<Outputs> {
  const pushed = pushedOf(facts.result, published)
  // a run that pushed nothing has no index in a registry; an unchanged one reports the index its tags hold
  const digest = pushed || facts.result === 'unchanged' ? published.digest : ''
  const tags = splitReferences(published.references, facts.tag, facts.platforms)
  const json: RunJson = {
    result: facts.result,
    pushed,
    mode: facts.mode,
    digest,
    tag: facts.tag,
    tags,
    images: [...facts.repositories],
    references: digest ? facts.repositories.map(r => `${r}@${digest}`) : [],
    platforms: facts.platforms.map(platform => ({
      platform,
      arch: archTagSuffix(parsePlatform(platform)),
      digest: published.platformDigests[platform] ?? '',
      tags: tags.platforms[platform] ?? []
    })),
    versions: facts.versions,
    rebuild: { tag: facts.tag, reason: facts.rebuild },
    attestations: published.attestations,
    moves: published.moves.map(moveJson)
  }
  return {
    [Output.Result]: facts.result,
    [Output.Pushed]: String(pushed),
    [Output.Platforms]: JSON.stringify(facts.platforms),
    [Output.Json]: JSON.stringify(json),
    [Output.Digest]: digest,
    [Output.Tag]: facts.tag,
    [Output.Tags]: published.references.join('\n'),
    [Output.Images]: facts.repositories.join('\n'),
    [Output.References]: json.references.join('\n'),
    [Output.Versions]: JSON.stringify(facts.versions),
    [Output.PlatformDigests]: JSON.stringify(published.platformDigests),
    [Output.Manifest]: published.manifest,
    [Output.Metadata]: Object.keys(published.metadata.raw).length > 0 ? JSON.stringify(published.metadata.raw) : '',
    [Output.Attestations]: JSON.stringify(published.attestations),
    [Output.Moves]: movesJson(published.moves)
  }
}

function moveJson(r: MoveRecord): { reference: string; previous: string; digest: string; now: string; outcome: string } {
  return { reference: r.reference, previous: r.previous, digest: r.target, now: r.now, outcome: r.outcome }
}

export function movesJson(records: readonly MoveRecord[]): string {
  return JSON.stringify(records.map(moveJson))
}

/**
 * A failed run: `result` is `failed`; `digest` is the index it was publishing, `tags` every reference that holds
 * this run's content at the end, `moves` where every planned reference ended, `pushed` whether any tag users pull
 * holds this run's content.
 */
export function failureOutputs(records: readonly MoveRecord[], message = ''): Partial<Outputs> {
  const index = records.find(r => r.kind === 'index')
  const holding = records.filter(r => r.now !== '' && r.now === r.target)
  const pushed = holding.length > 0
  const json = { result: 'failed' satisfies RunResult, pushed, digest: index?.target ?? '', tags: holding.map(r => r.reference), moves: records.map(moveJson), error: message }
  return {
    [Output.Result]: 'failed',
    [Output.Pushed]: String(pushed),
    [Output.Json]: JSON.stringify(json),
    ...(index ? { [Output.Digest]: index.target } : {}),
    [Output.Tags]: holding.map(r => r.reference).join('\n'),
    [Output.Moves]: movesJson(records)
  }
}

/** The names set so far in this process, so that the end of a run can set the rest to ''. */
const written = new Set<string>()

/** Sets some outputs now (setup phases report theirs as soon as they are known). */
export function setOutputs(outputs: Partial<Outputs>): void {
  for (const [name, value] of Object.entries(outputs)) {
    core.setOutput(name, value)
    written.add(name)
  }
}

/**
 * Sets every output not set yet to '': the same names in every mode, also where a run built nothing (a merge, an
 * unchanged run: no builder, no QEMU, no build metadata) or failed early.
 */
export function completeOutputs(): void {
  setOutputs(Object.fromEntries(Object.values(Output).filter(name => !written.has(name)).map(name => [name, ''])))
}

/** The outputs of a run that reached its report, then '' for every other name. */
export function reportOutputs(published: PublishResult, facts: RunFacts): void {
  setOutputs(outputsOf(published, facts))
  completeOutputs()
}
