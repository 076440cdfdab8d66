/**
 * The tag plan: which tags a run publishes, computed from the versions, the inputs, the GitHub event and what
 * the registry already holds. The publisher consumes the {@link TagPlan}; nothing here pushes.
 *
 * - The main tag is `tag-prefix` + `tag-template` (default `{go}-llvm{llvm}-k8s{k8s}`) + `tag-suffix`.
 * - `rebuild` decides what happens when the main tag already exists: `suffix` publishes the next free
 *   `TAG-1`, `TAG-2`, … (in every repository), `overwrite` moves `TAG`, `fail` stops. Only the main tag is
 *   checked; the release tag, `latest` and extra `tags` always move.
 * - Per-platform tags are the main tag plus `-<arch>` (`-arm-v7` for variants), on unless `platform-tags: false`.
 * - A published `release` adds the release's tag name (made fit for a tag); `latest: true` adds `latest` on a
 *   push to the default branch (`always`: on every pushing run).
 * - `push: auto` pushes only on events known to be trusted for publishing ({@link PUBLISHING_EVENTS}).
 */
import * as core from '@actions/core'
import { readFileSync } from 'node:fs'
import type { Docker } from './docker.js'
import { archTagSuffix, formatPlatform, parsePlatform, type Platform } from './platform.js'
import { readFingerprint } from './fingerprint.js'
import { currentDigest, inspectIfExists, inspectIndex, platformDigests, type RegistryIndex } from './registry.js'
import type { RetryPolicy } from './retry.js'
import { InputError, readChoice, splitList, type InputReader } from './input.js'
import { validateTag } from './reference.js'
import { VERSION_INPUTS, versionValues, type Versions } from './versions.js'

export interface TagPlan {
  /** The main tag after rebuild handling, e.g. `1.25.4-llvm18.1.8-k8s1.34.1` or `1.25.4-llvm18.1.8-k8s1.34.1-1`. */
  tag: string
  /** Every tag that points at the multi-arch index, main tag first, then release tag, `latest`, extra `tags`. */
  indexTags: string[]
  /** Per-platform tags keyed by formatPlatform(platform) (`linux/amd64` → `TAG-amd64`); {} when switched off. */
  platformTags: Record<string, string>
  /** Whether this run pushes (event-aware). */
  push: boolean
  /**
   * The newest tag of this series already published (`TAG`, or the highest `TAG-n`), with the manifest the
   * registry served for it: what a rerun with nothing changed compares with. Unset when none exists, when not
   * pushing, and with `rebuild: overwrite` (which does not ask the registry; `tag` itself is the one to compare).
   */
  previous?: PublishedTag
  /**
   * What the registries held under the main tag when it was chosen (`repository:tag` → digest, '' for free);
   * empty with `rebuild: overwrite`. Checked again right before the first tag moves.
   */
  seen: Record<string, string>
  /** OCI labels for the image config and annotations for the index/manifests. */
  labels: Record<string, string>
  annotations: Record<string, string>
}

/** A tag the registry already serves. */
export interface PublishedTag {
  tag: string
  /** `repository:tag` of the repository it was read from. */
  reference: string
  /** The manifest exactly as the registry served it. */
  manifest: string
}

export type RebuildMode = 'suffix' | 'overwrite' | 'fail'
export const REBUILD_MODES: readonly RebuildMode[] = ['suffix', 'overwrite', 'fail']
export type PushMode = 'auto' | 'true' | 'false'
export type LatestMode = 'true' | 'false' | 'always'

export const DEFAULT_TAG_TEMPLATE = '{go}-llvm{llvm}-k8s{k8s}'

export interface TagSettings {
  /** `tag-template`. */
  template: string
  /** `tags`: extra tags, templates too. */
  extraTags: string[]
  /** `tag-prefix` / `tag-suffix`, around every tag but `latest`. */
  prefix: string
  suffix: string
  /** `platform-tags`. */
  platformTags: boolean
  /** `rebuild`. */
  rebuild: RebuildMode
  /** `latest`. */
  latest: LatestMode
  /** `push`. */
  push: PushMode
}

/** Reads the naming inputs. Called from `readSettings`. */
export function readTagSettings(read: InputReader): TagSettings {
  return {
    template: read('tag-template').trim() || DEFAULT_TAG_TEMPLATE,
    extraTags: [...new Set(splitList(read('tags')))],
    prefix: read('tag-prefix').trim(),
    suffix: read('tag-suffix').trim(),
    platformTags: readChoice(read, 'platform-tags', ['true', 'false'], 'true') === 'true',
    rebuild: readChoice(read, 'rebuild', REBUILD_MODES, 'suffix'),
    latest: readChoice(read, 'latest', ['true', 'false', 'always'], 'false'),
    push: readChoice(read, 'push', ['auto', 'true', 'false'], 'auto')
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Templates

export type TemplatePart = { text: string } | { placeholder: string }

/** Splits `{go}-llvm{llvm}` into text and placeholders; unbalanced or empty braces are an error naming the input. */
export function parseTemplate(template: string, input: string): TemplatePart[] {
  const parts: TemplatePart[] = []
  let i = 0
  while (i < template.length) {
    const open = template.indexOf('{', i)
    const close = template.indexOf('}', i)
    if (close !== -1 && (open === -1 || close < open)) {
      throw new InputError(input, `"${template}": "}" at position ${close + 1} closes nothing: remove it, or write a placeholder such as {go}`)
    }
    if (open === -1) {
      parts.push({ text: template.slice(i) })
      break
    }
    if (open > i) parts.push({ text: template.slice(i, open) })
    const end = template.indexOf('}', open)
    const nested = template.indexOf('{', open + 1)
    if (end === -1 || (nested !== -1 && nested < end)) {
      throw new InputError(input, `"${template}": "{" at position ${open + 1} is not closed: close it with "}", placeholders look like {go}`)
    }
    const name = template.slice(open + 1, end).trim()
    if (!/^[a-z][a-z0-9_]*$/.test(name)) {
      throw new InputError(input, `"${template}": "{${template.slice(open + 1, end)}}" is not a placeholder: write placeholders such as {go}, lowercase letters, digits and _`)
    }
    parts.push({ placeholder: name })
    i = end + 1
  }
  return parts
}

/** Fills a template's placeholders from the versions; a version found nowhere names every place looked in. */
export function renderTemplate(template: string, input: string, versions: Versions): string {
  const values = versionValues(versions)
  return parseTemplate(template, input)
    .map(part => {
      if ('text' in part) return part.text
      const name = part.placeholder
      const value = values[name]
      if (value !== undefined) return value
      const searched = versions.searched[name]
      if (searched === undefined) {
        const known = Object.keys(versions.args)
          .map(n => `{${n}}`)
          .join(', ')
        throw new InputError(
          input,
          `"${template}": {${name}} is not a known placeholder (known: ${known}); map it to a Dockerfile ARG in version-args, e.g. ${name}=${name.toUpperCase()}_VERSION`
        )
      }
      const input2 = VERSION_INPUTS[name]
      throw new InputError(
        input,
        `"${template}": {${name}} has no value; looked in ${searched.join(', ')}. Set ${input2 ? `"${input2}", ` : ''}the versions file or an ARG default, or write the tag into ${input}`
      )
    })
    .join('')
}

// ---------------------------------------------------------------------------------------------------------------
// GitHub context

export interface GitHubContext {
  eventName: string
  /** `refs/heads/main`, `refs/tags/v1.2.3`, `refs/pull/1/merge`. */
  ref: string
  sha: string
  /** `https://github.com/org/repo`, or '' when the runner did not say. */
  repositoryUrl: string
  /** From the event payload's `repository.default_branch`. */
  defaultBranch?: string
  /** From the event payload's `release.tag_name` on a `release` event whose action is `published`. */
  releaseTag?: string
}

/** The context the runner provides in the environment and the event payload file. */
export function readGitHubContext(env: NodeJS.ProcessEnv = process.env): GitHubContext {
  const payload = readEventPayload(env.GITHUB_EVENT_PATH)
  const eventName = env.GITHUB_EVENT_NAME ?? ''
  const repository = payload.repository as { default_branch?: unknown } | undefined
  const release = payload.release as { tag_name?: unknown } | undefined
  const context: GitHubContext = {
    eventName,
    ref: env.GITHUB_REF ?? '',
    sha: env.GITHUB_SHA ?? '',
    repositoryUrl: env.GITHUB_SERVER_URL && env.GITHUB_REPOSITORY ? `${env.GITHUB_SERVER_URL}/${env.GITHUB_REPOSITORY}` : ''
  }
  if (typeof repository?.default_branch === 'string') context.defaultBranch = repository.default_branch
  if (eventName === 'release' && payload.action === 'published') {
    if (typeof release?.tag_name !== 'string' || release.tag_name === '') {
      throw new Error(`the release event payload (${env.GITHUB_EVENT_PATH ?? 'GITHUB_EVENT_PATH unset'}) has no release.tag_name`)
    }
    context.releaseTag = release.tag_name
  }
  return context
}

function readEventPayload(file: string | undefined): Record<string, unknown> {
  if (!file) return {}
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return {}
  }
  try {
    const payload: unknown = JSON.parse(text)
    return typeof payload === 'object' && payload !== null ? (payload as Record<string, unknown>) : {}
  } catch (error) {
    throw new Error(`the event payload ${file} (GITHUB_EVENT_PATH) is not JSON: ${(error as Error).message}`, { cause: error })
  }
}

/**
 * The events known to be trusted for publishing: `push: auto` pushes on these only. Any other event (a pull
 * request, an issue comment, a workflow_run of untrusted code, an event added later) builds without pushing.
 */
export const PUBLISHING_EVENTS: readonly string[] = [
  'push',
  'release',
  'workflow_dispatch',
  'schedule',
  'workflow_call',
  'merge_group',
  'repository_dispatch'
]

/** Whether the run pushes: `push: auto` pushes only on {@link PUBLISHING_EVENTS}. */
export function shouldPush(mode: PushMode, github: GitHubContext): boolean {
  if (mode !== 'auto') return mode === 'true'
  return PUBLISHING_EVENTS.includes(github.eventName)
}

/** Why a run does not push, for the log. */
export function whyNotPushing(mode: PushMode, github: GitHubContext): string {
  if (mode === 'false') return 'push is false'
  return `push is auto and event "${github.eventName || 'unknown'}" is not one known to be trusted for publishing (${PUBLISHING_EVENTS.join(', ')}); set push: true to publish from it`
}

/**
 * A git tag name made fit for the OCI tag grammar: characters outside `[A-Za-z0-9._-]` become `-`, leading
 * `.` and `-` are dropped, and it is cut to 128 characters. `v1.2.3` stays `v1.2.3`; `release/1.2` → `release-1.2`.
 */
export function sanitizeTag(name: string): string {
  return name
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .replace(/^[.-]+/, '')
    .slice(0, 128)
}

// ---------------------------------------------------------------------------------------------------------------
// The plan

function checkTag(tag: string, input: string, what: string): string {
  const problem = validateTag(tag)
  if (problem) throw new InputError(input, `${what} "${tag}" is not a valid tag: ${problem}`)
  return tag
}

export interface PlanSettings {
  images: string[]
  platforms: Platform[]
  tagging: TagSettings
  /**
   * The fingerprint of this build (fingerprint.ts), stored on the index: a main tag whose index carries it but
   * whose publish is incomplete (a run that failed while moving tags) is this build's, and is completed rather
   * than skipped for `TAG-1`. Unset: no such check.
   */
  fingerprint?: string
  /** How the registry check of the main tag retries transient faults (unset: no retry). */
  retry?: RetryPolicy
  /**
   * The main tag as already decided for this workflow run (a distributed build decides it once, in its legs:
   * a re-run leg and the merge take it from the leg records): used as it is, the registry is not asked, and
   * `seen` holds it free in every repository (the merge checks it again before moving).
   */
  decidedTag?: string
}

/** How far `rebuild: suffix` counts before giving up. */
export const MAX_REBUILDS = 99

/**
 * Computes every tag of this run. With `rebuild: suffix` or `fail` and a pushing run, asks the registry (a real
 * `imagetools inspect`) whether the main tag exists; an unreachable or refusing registry is an error, never
 * taken for "free".
 */
export async function planTags(
  docker: Docker,
  settings: PlanSettings,
  versions: Versions,
  github: GitHubContext,
  now: Date = new Date()
): Promise<TagPlan> {
  const t = settings.tagging
  for (const [input, value] of [
    ['tag-prefix', t.prefix],
    ['tag-suffix', t.suffix]
  ] as const) {
    if (value !== '' && !/^[A-Za-z0-9._-]+$/.test(value)) {
      throw new InputError(input, `"${value}" holds characters a tag cannot: use letters, digits, _ . and -`)
    }
  }
  if (t.prefix !== '' && !/^[A-Za-z0-9_]/.test(t.prefix)) {
    throw new InputError('tag-prefix', `"${t.prefix}" would start the tag with "${t.prefix[0]}": a tag starts with a letter, digit or _`)
  }
  const wrap = (tag: string): string => `${t.prefix}${tag}${t.suffix}`

  const base = checkTag(wrap(renderTemplate(t.template, 'tag-template', versions)), 'tag-template', 'the main tag')
  const extra = t.extraTags.map(template => checkTag(wrap(renderTemplate(template, 'tags', versions)), 'tags', 'the tag'))
  const push = shouldPush(t.push, github)

  const indexExtras: string[] = []
  if (github.releaseTag !== undefined) {
    const sanitized = sanitizeTag(github.releaseTag)
    if (sanitized === '') throw new Error(`the release tag "${github.releaseTag}" has nothing a container tag can hold`)
    indexExtras.push(checkTag(wrap(sanitized).slice(0, 128), 'tag-prefix', 'the release tag'))
  }
  const onDefaultBranch =
    github.eventName === 'push' && github.defaultBranch !== undefined && github.ref === `refs/heads/${github.defaultBranch}`
  if (t.latest === 'always' || (t.latest === 'true' && onDefaultBranch)) indexExtras.push('latest')

  let tag = base
  let previous: PublishedTag | undefined
  let seen: Record<string, string> = {}
  if (settings.decidedTag !== undefined) {
    tag = settings.decidedTag
    if (push && t.rebuild !== 'overwrite') seen = Object.fromEntries(settings.images.map(image => [`${image}:${tag}`, '']))
    core.info(`main tag ${tag}, as decided for this workflow run by its legs`)
  } else if (!push) {
    core.info(`not pushing (push: ${t.push}, event ${github.eventName || 'unknown'}): ${whyNotPushing(t.push, github)}; the registry is not asked whether ${base} exists`)
  } else if (t.rebuild !== 'overwrite') {
    const suffixes = t.platformTags ? settings.platforms.map(archTagSuffix) : []
    const unfinished = (tag: string): Promise<Record<string, string> | undefined> =>
      settings.fingerprint === undefined
        ? Promise.resolve(undefined)
        : unfinishedPublish(docker, settings.images, tag, suffixes, settings.fingerprint, settings.retry)
    ;({ tag, seen, previous } = await resolveRebuild(docker, settings.images, base, t.rebuild, unfinished, settings.retry))
  }
  checkTag(tag, 'tag-template', 'the main tag with its rebuild number')

  const platformTags: Record<string, string> = {}
  if (t.platformTags) {
    for (const platform of settings.platforms) {
      platformTags[formatPlatform(platform)] = checkTag(`${tag}-${archTagSuffix(platform)}`, 'tag-template', 'the per-platform tag')
    }
  }
  const indexTags = [...new Set([tag, ...indexExtras, ...extra])]
  for (const [platform, platformTag] of Object.entries(platformTags)) {
    if (indexTags.includes(platformTag)) {
      throw new InputError(
        'tags',
        `"${platformTag}" would name both the multi-arch index and the ${platform} image: drop it from tags, or set platform-tags: false`
      )
    }
  }

  const metadata = imageMetadata(tag, versions, github, now)
  return { tag, indexTags, platformTags, push, seen, labels: metadata, annotations: { ...metadata }, ...(previous ? { previous } : {}) }
}

/**
 * `suffix`: the main tag if free in every repository (or an unfinished publish of this very build), else the first
 * `TAG-n` that is. `fail`: the tag, or an error. Returns the tag, what each repository held under it, and the
 * newest tag of the series taken, as the registry served it.
 */
async function resolveRebuild(
  docker: Docker,
  images: readonly string[],
  base: string,
  mode: RebuildMode,
  unfinished: (tag: string) => Promise<Record<string, string> | undefined>,
  retry?: RetryPolicy
): Promise<{ tag: string; seen: Record<string, string>; previous?: PublishedTag }> {
  const free = (tag: string): Record<string, string> => Object.fromEntries(images.map(image => [`${image}:${tag}`, '']))
  const existing = async (tag: string): Promise<PublishedTag | undefined> => {
    for (const image of images) {
      const manifest = await inspectIfExists(docker, `${image}:${tag}`, retry)
      if (manifest !== undefined) return { tag, reference: `${image}:${tag}`, manifest }
    }
    return undefined
  }
  const resume = async (tag: string, found: PublishedTag): Promise<{ tag: string; seen: Record<string, string>; previous: PublishedTag } | undefined> => {
    const seen = await unfinished(tag)
    if (seen === undefined) return undefined
    core.info(`${found.reference} holds an unfinished publish of this very build (same fingerprint): this run completes it`)
    return { tag, seen, previous: found }
  }
  const found = await existing(base)
  if (found === undefined) {
    core.info(`${base} is new in ${images.join(', ')}`)
    return { tag: base, seen: free(base) }
  }
  const resumed = await resume(base, found)
  if (resumed) return resumed
  if (mode === 'fail') {
    throw new InputError(
      'rebuild',
      `${found.reference} already exists and rebuild is "fail": set rebuild: suffix to publish ${base}-1, or overwrite to move ${base}`
    )
  }
  let previous = found
  for (let n = 1; n <= MAX_REBUILDS; n++) {
    const candidate = `${base}-${n}`
    const taken = await existing(candidate)
    if (taken === undefined) {
      core.info(`${found.reference} exists; this rebuild publishes ${candidate}`)
      return { tag: candidate, seen: free(candidate), previous }
    }
    const resumedCandidate = await resume(candidate, taken)
    if (resumedCandidate) return resumedCandidate
    core.info(`${taken.reference} exists too`)
    previous = taken
  }
  throw new InputError('rebuild', `${base}-1 … ${base}-${MAX_REBUILDS} all exist: bump a version, or set rebuild: overwrite`)
}

/**
 * Whether `tag` holds an unfinished publish of the build with this fingerprint: where the tag exists its index
 * carries the fingerprint, and some repository lacks the tag or a `TAG-ARCH` that matches the index. Returns what
 * each repository holds under the tag (to check again before moving), or undefined when it is not such a publish.
 */
export async function unfinishedPublish(
  docker: Docker,
  images: readonly string[],
  tag: string,
  archSuffixes: readonly string[],
  fingerprint: string,
  retry?: RetryPolicy
): Promise<Record<string, string> | undefined> {
  const seen: Record<string, string> = {}
  let complete = true
  for (const image of images) {
    const digest = await currentDigest(docker, `${image}:${tag}`, retry)
    seen[`${image}:${tag}`] = digest
    if (digest === '') {
      complete = false
      continue
    }
    let index: RegistryIndex
    try {
      index = await inspectIndex(docker, `${image}@${digest}`, retry)
    } catch {
      return undefined
    }
    if (readFingerprint(index.index) !== fingerprint) return undefined
    const entries = platformDigests(index.index)
    for (const suffix of archSuffixes) {
      const expected = Object.entries(entries).find(([platform]) => archTagSuffix(parsePlatform(platform)) === suffix)?.[1]
      if (expected === undefined || (await currentDigest(docker, `${image}:${tag}-${suffix}`, retry)) !== expected) complete = false
    }
  }
  return complete ? undefined : seen
}

/** Version name → the label namespace the established versions file uses. */
const LABEL_NAMES: Readonly<Record<string, string>> = { go: 'golang', k8s: 'kubernetes' }

/** OCI labels (and the same as annotations): version (the tag), revision, source, created, and every version. */
export function imageMetadata(tag: string, versions: Versions, github: GitHubContext, now: Date): Record<string, string> {
  const metadata: Record<string, string> = {
    'org.opencontainers.image.version': tag,
    'org.opencontainers.image.created': now.toISOString()
  }
  if (github.sha) metadata['org.opencontainers.image.revision'] = github.sha
  if (github.repositoryUrl) metadata['org.opencontainers.image.source'] = github.repositoryUrl
  for (const [name, value] of Object.entries(versionValues(versions))) {
    metadata[`io.go-build.${LABEL_NAMES[name] ?? name}.version`] = value
  }
  return metadata
}

/** `--label` values for the plan's labels. */
export function labelArgs(labels: Record<string, string>): string[] {
  return Object.entries(labels).map(([key, value]) => `${key}=${value}`)
}

/** `--annotation` values that put the plan's annotations on the index and on every platform manifest. */
export function annotationArgs(annotations: Record<string, string>): string[] {
  return Object.entries(annotations).flatMap(([key, value]) => [`index:${key}=${value}`, `manifest:${key}=${value}`])
}

/**
 * The build's time for `org.opencontainers.image.created`: SOURCE_DATE_EPOCH (a build arg, else the environment)
 * when set, so reproducible builds stay reproducible; now otherwise.
 */
export function buildTime(buildArgs: readonly { name: string; value: string }[], env: NodeJS.ProcessEnv = process.env): Date {
  const epoch = buildArgs.find(a => a.name === 'SOURCE_DATE_EPOCH')?.value ?? env.SOURCE_DATE_EPOCH
  if (epoch === undefined || epoch.trim() === '') return new Date()
  const seconds = Number(epoch)
  if (!Number.isInteger(seconds) || seconds < 0) {
    throw new InputError('build-args', `SOURCE_DATE_EPOCH "${epoch}" is not a whole number of seconds since 1970`)
  }
  return new Date(seconds * 1000)
}
