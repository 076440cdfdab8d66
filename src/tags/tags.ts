/**
 * The tag plan: which tags a run publishes, computed from the versions, the inputs, the GitHub event and what
 * the registry already holds. The publisher consumes the {@link TagPlan}; nothing here pushes. The contract, event
 * by event, is the table in scripts/event-table.mjs (the README and docs/tags.md render it; a unit test walks it).
 *
 * - The main tag is `tag-prefix` + `tag-template` + `tag-suffix`. Without a `tag-template`, it is
 *   `{go}-llvm{llvm}-k8s{k8s}` where the image carries those versions, and otherwise (a Go program) the run's git
 *   tag (a release's, a pushed tag, a dispatch from a tag) and `sha-<7 hex>` on any other run, with a notice.
 * - `rebuild` decides what happens when the main tag already exists: `suffix` publishes the next free
 *   `TAG-1`, `TAG-2`, … (in every repository), `overwrite` moves `TAG`, `fail` stops. Only the main tag is
 *   checked; the git tag, `latest` and extra `tags` always move, but one that is the main tag (a Go program's git
 *   tag) follows its decision, so every index tag a run publishes and the per-platform tags derived from it name
 *   the same build.
 * - Per-platform tags are the main tag plus `-<arch>` (`-arm-v7` for variants), on unless `platform-tags: false`.
 * - The run's git tag ({@link gitTag}, made fit for a tag) is an index tag too. `latest: true` adds `latest` on the
 *   runs `push: auto` publishes from (a dispatch only from the default branch), never backwards: when `latest`
 *   already holds newer versions (go1.25 while this is a go1.24 patch), it stays ({@link latestGoesBack}).
 *   `always`: on every pushing run, whatever `latest` holds. Neither for a prerelease ({@link isPrerelease}: the
 *   release says so, or the git tag is a SemVer prerelease). A `latest` asked for and not applied is logged.
 * - `push: auto` pushes only on the events and refs trusted for publishing ({@link publishingEvent}), and builds
 *   nothing on a release event that is not a release going out.
 */
import * as core from '@actions/core'
import { readFileSync } from 'node:fs'
import type { Docker } from '../core/docker.js'
import { archTagSuffix, formatPlatform, parsePlatform, type Platform } from '../core/platform.js'
import { readFingerprint } from './fingerprint.js'
import { currentDigest, inspectIfExists, inspectIndex, platformDigests, type RegistryIndex } from '../core/registry.js'
import type { RetryPolicy } from '../core/retry.js'
import { InputError, readChoice, splitList, type InputReader } from '../core/input.js'
import { validateTag } from '../core/reference.js'
import { compareVersions, VERSION_INPUTS, versionValues, type Versions } from './versions.js'
import * as log from '../core/log.js'

export interface TagPlan {
  /** The main tag after rebuild handling, e.g. `1.25.4-llvm18.1.8-k8s1.34.1` or `1.25.4-llvm18.1.8-k8s1.34.1-1`. */
  tag: string
  /** Every tag that points at the multi-arch index, main tag first, then release tag, `latest`, extra `tags`. */
  indexTags: string[]
  /** Per-platform tags keyed by formatPlatform(platform) (`linux/amd64` → `TAG-amd64`); {} when switched off. */
  platformTags: Record<string, string>
  /** Whether this run pushes (event-aware). */
  push: boolean
  /** Whether this run builds at all: not on a release event that is not a release going out, under `push: auto`. */
  build: boolean
  /** Why the run pushes or not ({@link pushReason}). */
  why: string
  /** Why `latest` does not move, where it was asked for. */
  latestWhy?: string
  /**
   * The newest tag of this series already published (`TAG`, or the highest `TAG-n`), with the manifest the
   * registry served for it: what a rerun with nothing changed compares with. Unset when none exists, when not
   * pushing, and with `if-tag-exists: overwrite` (which does not ask the registry; `tag` itself is the one to compare).
   */
  previous?: PublishedTag
  /**
   * What the registries held under the main tag when it was chosen (`repository:tag` → digest, '' for free);
   * empty with `if-tag-exists: overwrite`. Checked again right before the first tag moves.
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
  /** `tag-template` ({@link DEFAULT_TAG_TEMPLATE} when not given). */
  template: string
  /** Whether the user wrote a `tag-template`: without one, an image without toolchain versions gets a first-run tag. */
  templateGiven?: boolean
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
    templateGiven: read('tag-template').trim() !== '',
    extraTags: [...new Set(splitList(read('tags')))],
    prefix: read('tag-prefix').trim(),
    suffix: read('tag-suffix').trim(),
    platformTags: readChoice(read, 'platform-tags', ['true', 'false'], 'true') === 'true',
    rebuild: readChoice(read, 'if-tag-exists', REBUILD_MODES, 'suffix'),
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
  /** A `release` event's `action`: `published`, `released`, `prereleased`, `created`, `edited`, `deleted`, `unpublished`. */
  releaseAction?: string
  /** From the payload's `release.tag_name` on a `release` event. */
  releaseTag?: string
  /** The release payload's `release.prerelease`. A SemVer prerelease git tag is a prerelease too ({@link isPrerelease}). */
  prerelease?: boolean
}

/** The `release` actions that mean "this release is out": they publish under `push: auto`. */
export const RELEASE_OUT: readonly string[] = ['published', 'released', 'prereleased']

/** The context from the runner's environment and the event payload (already parsed). */
export function githubContextOf(env: NodeJS.ProcessEnv, payload: Record<string, unknown>): GitHubContext {
  const eventName = env.GITHUB_EVENT_NAME ?? ''
  const repository = payload.repository as { default_branch?: unknown } | undefined
  const release = payload.release as { tag_name?: unknown; prerelease?: unknown } | undefined
  const context: GitHubContext = {
    eventName,
    ref: env.GITHUB_REF ?? '',
    sha: env.GITHUB_SHA ?? '',
    repositoryUrl: env.GITHUB_SERVER_URL && env.GITHUB_REPOSITORY ? `${env.GITHUB_SERVER_URL}/${env.GITHUB_REPOSITORY}` : ''
  }
  if (typeof repository?.default_branch === 'string') context.defaultBranch = repository.default_branch
  if (eventName !== 'release') return context
  if (typeof payload.action === 'string') context.releaseAction = payload.action
  if (typeof release?.tag_name === 'string' && release.tag_name !== '') context.releaseTag = release.tag_name
  else if (RELEASE_OUT.includes(context.releaseAction ?? '')) {
    throw new Error(`the release event payload (${env.GITHUB_EVENT_PATH ?? 'GITHUB_EVENT_PATH unset'}) has no release.tag_name`)
  }
  if (release?.prerelease === true) context.prerelease = true
  return context
}

/** The context the runner provides in the environment and the event payload file. */
export function readGitHubContext(env: NodeJS.ProcessEnv = process.env): GitHubContext {
  return githubContextOf(env, readEventPayload(env.GITHUB_EVENT_PATH))
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

/** The git tag a run is for: the release's on a `release` event, else the pushed or checked-out tag (`refs/tags/…`). */
export function gitTag(github: GitHubContext): string | undefined {
  if (github.eventName === 'release') return github.releaseTag
  return github.ref.startsWith('refs/tags/') ? github.ref.slice('refs/tags/'.length) : undefined
}

/** SemVer 2's prerelease form, with an optional `v`: `v1.3.0-rc.1`, `1.0.0-alpha.2+build.5`. */
const SEMVER_PRERELEASE = /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/

/**
 * Whether the run is for a prerelease: the release payload says so, or its git tag is a SemVer prerelease
 * (`v1.3.0-rc.1`, `v2.0.0-beta`; the last path segment of `hello/v1.3.0-rc.1`), whatever the event.
 */
export function isPrerelease(github: GitHubContext): boolean {
  if (github.prerelease) return true
  const tag = gitTag(github)
  return tag !== undefined && SEMVER_PRERELEASE.test(tag.slice(tag.lastIndexOf('/') + 1))
}

/** Events that publish wherever they run from (what someone with write access started, or a schedule). */
export const PUBLISHING_EVENTS: readonly string[] = ['workflow_dispatch', 'schedule', 'repository_dispatch']

/** What `push: auto` does on an event: publish, build without pushing, or (a release not going out) nothing at all. */
export interface EventDecision {
  publishes: boolean
  /** False where the run builds nothing either: a `release` event that is not a release going out. */
  builds: boolean
  /** Why, for the log and the event table. */
  reason: string
}

/**
 * Whether `push: auto` publishes from this event, and why: a release going out (`published`, `released`,
 * `prereleased`), a tag push, a push to the default branch, a dispatch and a schedule do; a push to any other branch
 * (unreviewed work), `merge_group` (a commit that may never land), a pull request and any other event build without
 * pushing; any other release action (`created`, `edited`, `deleted`, `unpublished`) builds nothing.
 */
export function publishingEvent(github: GitHubContext): EventDecision {
  const event = github.eventName || 'unknown'
  if (github.eventName === 'release') {
    const action = github.releaseAction ?? ''
    if (RELEASE_OUT.includes(action)) return { publishes: true, builds: true, reason: `release ${github.releaseTag ?? ''} is out ("${action}")` }
    return {
      publishes: false,
      builds: false,
      reason: `release ${github.releaseTag ?? ''} is not going out ("${action || 'no action'}"); only ${RELEASE_OUT.map(a => `"${a}"`).join(', ')} publish`
    }
  }
  if (PUBLISHING_EVENTS.includes(github.eventName)) return { publishes: true, builds: true, reason: `a ${event} run publishes` }
  if (github.eventName === 'push') {
    if (github.ref.startsWith('refs/tags/')) return { publishes: true, builds: true, reason: `a push of tag ${github.ref.slice('refs/tags/'.length)} publishes` }
    const branch = github.ref.startsWith('refs/heads/') ? github.ref.slice('refs/heads/'.length) : github.ref
    if (github.defaultBranch === undefined) {
      return {
        publishes: false,
        builds: true,
        reason: `a push to "${branch || 'unknown'}", and the event payload does not name the default branch, so it is not known to be the default branch`
      }
    }
    if (branch === github.defaultBranch) return { publishes: true, builds: true, reason: `a push to the default branch ${branch} publishes` }
    return { publishes: false, builds: true, reason: `a push to branch "${branch}", not the default branch "${github.defaultBranch}", is work not yet reviewed` }
  }
  if (github.eventName === 'merge_group') return { publishes: false, builds: true, reason: 'a merge_group run builds a commit that may never land' }
  return { publishes: false, builds: true, reason: `event "${event}" is not one trusted for publishing (a pull request's code, a comment, …)` }
}

/** Whether the run pushes: `push: auto` pushes only where {@link publishingEvent} says so. */
export function shouldPush(mode: PushMode, github: GitHubContext): boolean {
  if (mode !== 'auto') return mode === 'true'
  return publishingEvent(github).publishes
}

/** Whether the run builds: always, but with `push: auto` on a release event that is not a release going out. */
export function shouldBuild(mode: PushMode, github: GitHubContext): boolean {
  return mode !== 'auto' || publishingEvent(github).builds
}

/** Why the run pushes or not, as the event table says it. */
export function pushReason(mode: PushMode, github: GitHubContext): string {
  if (mode === 'true') return 'push is true'
  if (mode === 'false') return 'push is false'
  return publishingEvent(github).reason
}

/** Why a run does not push, for the log. */
export function whyNotPushing(mode: PushMode, github: GitHubContext): string {
  if (mode === 'false') return 'push is false'
  return `push is auto and ${publishingEvent(github).reason}; auto publishes on a release going out (published, released, prereleased), a tag push, a push to the default branch, workflow_dispatch, schedule and repository_dispatch (set push: true to publish from this event)`
}

/**
 * Whether `latest` is asked for and may move on this run: never for a prerelease ({@link isPrerelease}) nor on a
 * run that does not push; `true` on the runs `push: auto` publishes from, a dispatch only from the default branch
 * (and then only forward: {@link latestGoesBack}); `always` on every pushing run, whatever `latest` holds.
 * `reason` says why not, for the log.
 */
export function latestDecision(mode: LatestMode, push: boolean, github: GitHubContext): { apply: boolean; reason?: string } {
  if (mode === 'false') return { apply: false }
  if (!push) return { apply: false, reason: 'this run does not push' }
  if (isPrerelease(github)) {
    const tag = gitTag(github)
    return { apply: false, reason: github.prerelease ? `release ${tag ?? ''} is marked a prerelease` : `${tag ?? ''} is a SemVer prerelease` }
  }
  if (mode === 'always') return { apply: true }
  const event = publishingEvent(github)
  if (!event.publishes) return { apply: false, reason: `${event.reason} (latest: always moves it from any pushing run)` }
  const branch = github.ref.startsWith('refs/heads/') ? github.ref.slice('refs/heads/'.length) : undefined
  if (github.eventName !== 'push' && branch !== undefined && github.defaultBranch !== undefined && branch !== github.defaultBranch) {
    return { apply: false, reason: `this ${github.eventName} run is on branch "${branch}", not the default branch "${github.defaultBranch}"` }
  }
  return { apply: true }
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

/**
 * The main tag of a run without `tag-template` whose image does not carry every version the default template
 * names (a Go program): the release's tag on a release, the git tag on a tag push, `sha-<7 hex>` otherwise, with
 * the notice that says why. Undefined where the versioned default applies (or the user wrote a template).
 */
export function firstRunTag(t: TagSettings, versions: Versions, github: GitHubContext): { tag: string; why: string } | undefined {
  if (t.templateGiven !== false) return undefined
  const values = versionValues(versions)
  const missing = parseTemplate(t.template, 'tag-template').flatMap(p => ('placeholder' in p && values[p.placeholder] === undefined ? [p.placeholder] : []))
  if (missing.length === 0) return undefined
  const found = Object.entries(values).map(([name, value]) => `${name} ${value}`)
  const lacks = `the image carries no ${missing.map(m => `{${m}}`).join(', ')} version${found.length ? ` (only ${found.join(', ')})` : ''}, so the versioned tag ${t.template} does not apply`
  const named = gitTag(github)
  const hint = 'set tag-template to name the image otherwise (e.g. "{go}" from the versions, or a fixed name)'
  if (named !== undefined) {
    const tag = sanitizeTag(named)
    if (tag === '') throw new Error(`the git tag "${named}" has nothing a container tag can hold: set tag-template`)
    return { tag, why: `${lacks}: the main tag is ${github.eventName === 'release' ? 'the release' : 'the git'} tag ${tag}; ${hint}` }
  }
  if (!/^[0-9a-f]{7,}$/i.test(github.sha)) {
    throw new InputError('tag-template', `${lacks}, and GITHUB_SHA ("${github.sha}") holds no commit to name the image after: set tag-template`)
  }
  const tag = `sha-${github.sha.slice(0, 7).toLowerCase()}`
  return { tag, why: `${lacks}: the main tag is the commit's ${tag} (a release or a tag push is tagged with its git tag); ${hint}` }
}

/**
 * Why `latest` must not move to this build, or undefined when it may: it would go backwards when the index
 * `latest` holds now carries newer versions (a go1.24 patch after go1.25 is out), compared name by name in the
 * order of the version names; without versions on both, their main tags are compared where both read as
 * versions (`v1.2.3`). Anything not comparable (`sha-…` tags, no `latest` yet) lets it move.
 */
export async function latestGoesBack(
  docker: Docker,
  images: readonly string[],
  versions: Versions,
  mainTag: string,
  prefix: string,
  retry?: RetryPolicy
): Promise<string | undefined> {
  for (const image of images) {
    const manifest = await inspectIfExists(docker, `${image}:latest`, retry)
    if (manifest === undefined) continue
    let annotations: Record<string, unknown>
    try {
      annotations = ((JSON.parse(manifest) as { annotations?: Record<string, unknown> }).annotations ?? {}) as Record<string, unknown>
    } catch {
      return undefined
    }
    const ours = versionValues(versions)
    let compared = false
    for (const name of Object.keys(versions.args)) {
      const theirs = annotations[`io.go-build.${LABEL_NAMES[name] ?? name}.version`]
      const mine = ours[name]
      if (typeof theirs !== 'string' || mine === undefined) continue
      const order = compareVersions(mine, theirs)
      if (order < 0) return `${image}:latest holds ${name} ${theirs}, newer than this build's ${mine}: latest never moves backwards`
      if (order > 0) return undefined
      compared = true
    }
    // the same versions: a rebuild, which latest follows
    if (compared) return undefined
    const theirTag = annotations['org.opencontainers.image.version']
    if (typeof theirTag !== 'string') return undefined
    // `mainTag` is before any rebuild suffix: latest on `v1.2.3-1` is a rebuild of the same `v1.2.3`
    if (theirTag === mainTag || (theirTag.startsWith(`${mainTag}-`) && /^[0-9]+$/.test(theirTag.slice(mainTag.length + 1)))) return undefined
    const strip = (tag: string): string => (prefix !== '' && tag.startsWith(prefix) ? tag.slice(prefix.length) : tag)
    if (/^v?[0-9]/.test(strip(theirTag)) && /^v?[0-9]/.test(strip(mainTag)) && compareVersions(strip(mainTag), strip(theirTag)) < 0) {
      return `${image}:latest holds ${theirTag}, newer than this build's ${mainTag}: latest never moves backwards`
    }
    return undefined
  }
  return undefined
}

/**
 * The main tag before rebuild handling: `tag-prefix` + the template filled from the versions + `tag-suffix`, or,
 * where the default template does not apply, the first-run tag ({@link firstRunTag}) with its notice. A publish and
 * `mode: check` name the image the same way.
 */
export function mainTagOf(t: TagSettings, versions: Versions, github: GitHubContext): string {
  const firstRun = firstRunTag(t, versions, github)
  if (firstRun) core.notice(firstRun.why)
  return checkTag(`${t.prefix}${firstRun?.tag ?? renderTemplate(t.template, 'tag-template', versions)}${t.suffix}`, 'tag-template', 'the main tag')
}

/** How far `if-tag-exists: suffix` counts before giving up. */
export const MAX_REBUILDS = 99

/**
 * Computes every tag of this run. With `if-tag-exists: suffix` or `fail` and a pushing run, asks the registry (a real
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

  const base = mainTagOf(t, versions, github)
  const extra = t.extraTags.map(template => checkTag(wrap(renderTemplate(template, 'tags', versions)), 'tags', 'the tag'))
  const push = shouldPush(t.push, github)

  const indexExtras: string[] = []
  const named = gitTag(github)
  if (named !== undefined) {
    const sanitized = sanitizeTag(named)
    if (sanitized === '') throw new Error(`the git tag "${named}" has nothing a container tag can hold`)
    indexExtras.push(checkTag(wrap(sanitized).slice(0, 128), 'tag-prefix', 'the git tag'))
  }
  const latest = latestDecision(t.latest, push, github)
  // `always` moves latest whatever it holds; `true` never backwards
  const backwards = latest.apply && t.latest === 'true' ? await latestGoesBack(docker, settings.images, versions, base, t.prefix, settings.retry) : undefined
  let latestWhy: string | undefined
  if (latest.apply && backwards === undefined) indexExtras.push('latest')
  else if (t.latest !== 'false') {
    latestWhy = backwards ?? latest.reason ?? ''
    if (push) core.notice(`latest: ${t.latest} asked for, but latest does not move: ${latestWhy}`)
    else log.info(`latest: ${t.latest} asked for, but latest does not move: ${latestWhy}`)
  }

  let tag = base
  let previous: PublishedTag | undefined
  let seen: Record<string, string> = {}
  if (settings.decidedTag !== undefined) {
    tag = settings.decidedTag
    if (push && t.rebuild !== 'overwrite') seen = Object.fromEntries(settings.images.map(image => [`${image}:${tag}`, '']))
    log.info(`main tag ${tag}, as decided for this workflow run by its legs`)
  } else if (!push) {
    log.info(`not pushing (push: ${t.push}, event ${github.eventName || 'unknown'}): ${whyNotPushing(t.push, github)}; the registry is not asked whether ${base} exists`)
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
  // an event or extra tag that is the main tag (a Go program's git tag) follows the main tag's decision: under
  // `suffix` it stays with the build its per-platform tags name, and `TAG-1` is published beside it
  const indexTags = [...new Set([tag, ...[...indexExtras, ...extra].filter(t => t !== base)])]
  for (const [platform, platformTag] of Object.entries(platformTags)) {
    if (indexTags.includes(platformTag)) {
      throw new InputError(
        'tags',
        `"${platformTag}" would name both the multi-arch index and the ${platform} image: drop it from tags, or set platform-tags: false`
      )
    }
  }

  const metadata = imageMetadata(tag, versions, github, now)
  return {
    tag,
    indexTags,
    platformTags,
    push,
    build: shouldBuild(t.push, github),
    why: pushReason(t.push, github),
    ...(latestWhy !== undefined ? { latestWhy } : {}),
    seen,
    labels: metadata,
    annotations: { ...metadata },
    ...(previous ? { previous } : {})
  }
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
    log.info(`${found.reference} holds an unfinished publish of this very build (same fingerprint): this run completes it`)
    return { tag, seen, previous: found }
  }
  const found = await existing(base)
  if (found === undefined) {
    log.info(`${base} is new in ${images.join(', ')}`)
    return { tag: base, seen: free(base) }
  }
  const resumed = await resume(base, found)
  if (resumed) return resumed
  if (mode === 'fail') {
    throw new InputError(
      'if-tag-exists',
      `${found.reference} already exists and if-tag-exists is "fail": set if-tag-exists: suffix to publish ${base}-1, or overwrite to move ${base}`
    )
  }
  let previous = found
  for (let n = 1; n <= MAX_REBUILDS; n++) {
    const candidate = `${base}-${n}`
    const taken = await existing(candidate)
    if (taken === undefined) {
      log.info(`${found.reference} exists; this rebuild publishes ${candidate}`)
      return { tag: candidate, seen: free(candidate), previous }
    }
    const resumedCandidate = await resume(candidate, taken)
    if (resumedCandidate) return resumedCandidate
    log.info(`${taken.reference} exists too`)
    previous = taken
  }
  throw new InputError('if-tag-exists', `${base}-1 … ${base}-${MAX_REBUILDS} all exist: bump a version, or set if-tag-exists: overwrite`)
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
