/**
 * Which configuration a job builds, and where the action keeps its own bookkeeping for it.
 *
 * A configuration is what decides a leg's content and its main tag: the repositories, the context, the Dockerfile,
 * the target, the build args with the resolved versions, the tag template, prefix and suffix, the labels and
 * annotations, provenance and SBOM, and the build options that change the image (named contexts as given, the
 * network, extra hosts, entitlements, and the ids of the secrets and ssh sockets a build can mount). A secret's
 * value is not part of it: the configuration's digest travels with every leg record, where anyone who can pull the
 * records could test guesses of a secret hashed into it, and no key is shared by the legs (each on its own runner)
 * that a keyed hash would need. Two configurations that differ only in a secret's value share leg records; a
 * secret that changes the image is a build arg, not a secret. Every reference the action writes for itself (the engine path's staging tag,
 * the legs' records, the merge's index, the registry cache) is named by it, so that a matrix of configurations in
 * one workflow run never overwrites or takes another's, and a later run of the same configuration overwrites its
 * own: a bounded set per repository and configuration, never one per run.
 *
 * The platforms are not part of it: each leg builds a subset of the merge's platforms, and every record is named
 * by its platform besides; the merge takes exactly the platforms it is given.
 *
 * Pure: no input is read here (settings.ts reads them), nothing is written.
 */
import { createHash } from 'node:crypto'
import * as path from 'node:path'

/** What identifies a configuration; the values as the build gets them. */
export interface ConfigurationInput {
  images: readonly string[]
  context: string
  file: string
  target: string
  /** Build args including the resolved version args, in the order given. */
  buildArgs: ReadonlyArray<{ name: string; value: string }>
  /** Resolved versions (`go` → `1.25.4`). */
  versions: Readonly<Record<string, string>>
  tagTemplate: string
  tagPrefix: string
  tagSuffix: string
  labels: readonly string[]
  annotations: readonly string[]
  provenance: string
  sbom: string
  /** The build options that change the image (build-options.ts `configuredOptions`): `network=none`, … */
  buildOptions?: readonly string[]
}

/** A configuration's identity: a short id for reference names, and the canonical text it is the hash of. */
export interface Configuration {
  /** 12 hex digits of {@link Configuration.digest}, for reference names. */
  id: string
  /** The SHA-256 of {@link Configuration.canonical}, as leg records carry it (the merge checks it, not only the id). */
  digest: string
  /** The canonical JSON of the configuration. */
  canonical: string
  /** For messages: what the configuration is, in a few words. */
  describe: string
}

/** The identity of a configuration; independent of input order where order does not change the build. */
export function configurationOf(input: ConfigurationInput): Configuration {
  const canonicalValue = {
    images: [...input.images].sort(),
    context: normalize(input.context),
    file: normalize(input.file),
    target: input.target,
    buildArgs: input.buildArgs.map(a => `${a.name}=${a.value}`),
    versions: Object.fromEntries(Object.entries(input.versions).sort(([a], [b]) => a.localeCompare(b))),
    tag: `${input.tagPrefix}${input.tagTemplate}${input.tagSuffix}`,
    labels: [...input.labels].sort(),
    annotations: [...input.annotations].sort(),
    provenance: input.provenance,
    sbom: input.sbom,
    // absent when unused, so the configurations (and record names) of builds without these inputs stay as they were
    ...(input.buildOptions?.length ? { build: [...input.buildOptions].sort() } : {})
  }
  const canonical = JSON.stringify(canonicalValue)
  const versions = Object.entries(canonicalValue.versions).map(([name, value]) => `${name} ${value}`)
  const describe = [
    `context ${canonicalValue.context}`,
    `file ${canonicalValue.file}`,
    ...(input.target ? [`target ${input.target}`] : []),
    ...(versions.length > 0 ? [versions.join(', ')] : []),
    `tag template ${canonicalValue.tag}`
  ].join('; ')
  const digest = sha256(canonical)
  return { id: digest.slice(0, 12), digest, canonical, describe }
}

/**
 * The key of the build cache: the image (first repository) and what is built (context, Dockerfile, target), not the
 * versions or build args, so that a version bump reuses the cache of the previous build while two images of one
 * repository (or two Dockerfiles) never evict each other's.
 */
export function cacheKeyOf(input: Pick<ConfigurationInput, 'images' | 'context' | 'file' | 'target'>): string {
  return sha256(JSON.stringify({ image: input.images[0] ?? '', context: normalize(input.context), file: normalize(input.file), target: input.target })).slice(0, 12)
}

/** Where the action keeps its own references: `state-repository`, else the first repository of `images`. */
export function bookkeepingRepository(settings: { stateRepository: string; images: readonly string[] }): string {
  return settings.stateRepository || settings.images[0] || ''
}

/** The prefix of every tag the action writes for itself; nothing a user pulls starts with it. */
export const BOOKKEEPING_TAG_PREFIX = 'go-build-action-'

function normalize(p: string): string {
  return path.posix.normalize(p.replace(/\\/g, '/')).replace(/\/$/, '') || '.'
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}
