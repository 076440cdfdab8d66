/**
 * The build cache: where a build reads cache from and exports it to (`--cache-from`, `--cache-to`).
 *
 * `cache` input:
 * - `auto` (default): `gha` where the runner provides its cache service (ACTIONS_RUNTIME_TOKEN with
 *   ACTIONS_CACHE_URL or ACTIONS_RESULTS_URL in the environment), nothing elsewhere;
 * - `gha`: GitHub's cache service, scoped by the image and build definition and the platforms built ({@link ghaScope}:
 *   two images of one repository, and builds of other platforms such as parallel legs, keep their own cache);
 * - `registry`: a cache image in a registry, `cache-ref` or else `go-build-action-cache-KEY` in the bookkeeping
 *   repository (`state-repository`, else the first of `images`; {@link registryCacheTag});
 * - `inline`: cache metadata inside the published image, read back from the newest published tag;
 * - `none`: no cache import or export.
 *
 * buildx reads the gha cache's service URLs and the runner's token from its environment; no child gets them
 * (docker.ts childEnvironment) except the build whose cache options name `type=gha` ({@link CachePlan.env}).
 *
 * Exporting never fails a publish: every export gets `ignore-error=true`, and a failed export is a warning.
 * Explicit `cache-from` / `cache-to` replace what `cache` would choose for that direction. The `docker` driver
 * exports cache only with the engine's containerd image store; without it, export is left out with a warning
 * (import still works).
 */
import * as core from '@actions/core'
import type { Docker } from '../core/docker.js'
import { InputError, type InputReader } from '../core/input.js'
import { archTagSuffix, type Platform } from '../core/platform.js'
import * as log from '../core/log.js'

export const CACHE_MODES = ['auto', 'gha', 'registry', 'inline', 'none'] as const
export type CacheMode = (typeof CACHE_MODES)[number]

export interface CacheSettings {
  mode: CacheMode
  /** `cache-ref`: the registry cache's image reference (`registry` mode); '' for {@link registryCacheTag} in the bookkeeping repository. */
  ref: string
  /** `cache-from`, one source per line (replace the chosen import when set). */
  from: string[]
  /** `cache-to`, one destination per line (replace the chosen export when set). */
  to: string[]
}

/** The start of the tag the registry cache lives under in the bookkeeping repository; the cache key follows. */
export const REGISTRY_CACHE_TAG_PREFIX = 'go-build-action-cache'

/** `go-build-action-cache-KEY`: one cache per image and build definition (configuration.ts cacheKeyOf). */
export function registryCacheTag(cacheKey: string): string {
  return `${REGISTRY_CACHE_TAG_PREFIX}-${cacheKey}`
}

export function readCacheSettings(read: InputReader, from: string[], to: string[]): CacheSettings {
  const raw = read('cache').trim()
  const mode = (raw.toLowerCase() || 'auto') as CacheMode
  if (!CACHE_MODES.includes(mode)) throw new InputError('cache', `"${raw}" is not valid: write one of ${CACHE_MODES.join(', ')}`)
  const ref = read('cache-ref').trim()
  if (ref !== '' && mode !== 'registry') {
    throw new InputError('cache-ref', `only applies to "cache: registry" (cache is "${mode}"): set cache: registry, or remove cache-ref`)
  }
  if (ref !== '' && (/\s/.test(ref) || ref.includes(','))) {
    throw new InputError('cache-ref', `"${ref}" is not an image reference: write one such as ghcr.io/org/cache:go-build`)
  }
  return { mode, ref, from, to }
}

/** Whether the runner provides GitHub's cache service to this job (what buildx's `type=gha` needs). */
export function runnerHasCacheService(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.ACTIONS_RUNTIME_TOKEN && (env.ACTIONS_CACHE_URL || env.ACTIONS_RESULTS_URL))
}

export interface CacheContext {
  /** The builder's driver (`docker`, `docker-container`). */
  driver: string
  /** For the `docker` driver: whether the engine uses the containerd image store (which can export cache). */
  containerdStore: boolean
  /** Where the action keeps its own references (`state-repository`, else the first of `images`). */
  bookkeepingRepository: string
  /** The image and build definition the cache belongs to (configuration.ts cacheKeyOf). */
  cacheKey: string
  platforms: readonly Platform[]
  /**
   * A build split over nodes (parts.ts): the part's platforms (`arm64-s390x`), after the registry cache's tag, so
   * that each builder's cache export does not replace the others' (gha scopes are per platforms already).
   */
  part?: string
  /** The newest published tag of this series (`repo:tag`), where inline cache is read from. */
  previousReference?: string
  /** No cache import (`no-cache: true`); the export still refreshes the cache. */
  noCache: boolean
  env?: NodeJS.ProcessEnv
}

export interface CachePlan {
  /** `--cache-from` values. */
  from: string[]
  /** `--cache-to` values. */
  to: string[]
  /** Variables of the runner the build command alone gets (never argv): the gha cache's, when it uses one. */
  env: Record<string, string>
  /** What was chosen and why, for the log. */
  note: string
  /** Set when the chosen export cannot run here (and was left out). */
  warning?: string
}

/**
 * The gha cache scope: the image and build definition (`cacheKey`) and the platforms built, so that two images of
 * one repository, and builds of other platforms, keep their own cache.
 */
export function ghaScope(cacheKey: string, platforms: readonly Platform[]): string {
  return `go-build-action-${cacheKey}-${platforms.map(archTagSuffix).join('-')}`
}

/** `repo:tag` → `repo:tag-SUFFIX`; a reference without a tag gets `:SUFFIX`. */
export function withTagSuffix(reference: string, suffix: string): string {
  const colon = reference.lastIndexOf(':')
  return colon > reference.lastIndexOf('/') ? `${reference}-${suffix}` : `${reference}:${suffix}`
}

/** What buildx reads for a `type=gha` cache (its token, url, url_v2 and version defaults), from the runner. */
export const GHA_CACHE_VARIABLES: readonly string[] = ['ACTIONS_RUNTIME_TOKEN', 'ACTIONS_CACHE_URL', 'ACTIONS_RESULTS_URL', 'ACTIONS_CACHE_SERVICE_V2']

/** The runner's variables a build with these `--cache-from` / `--cache-to` values needs: the gha cache's, or none. */
export function cacheEnvironment(entries: readonly string[], env: NodeJS.ProcessEnv): Record<string, string> {
  if (!entries.some(entry => /(^|,)\s*type=gha\s*(,|$)/.test(entry))) return {}
  return Object.fromEntries(GHA_CACHE_VARIABLES.flatMap(name => (env[name] ? [[name, env[name]]] : [])))
}

/** Adds `ignore-error=true` to an export that does not say, so that a cache export never fails a publish. */
export function ignoringErrors(cacheTo: string): string {
  return /(^|,)ignore-error=/.test(cacheTo) ? cacheTo : `${cacheTo},ignore-error=true`
}

/** The `--cache-from` / `--cache-to` values for a build. Pure: the environment comes in `context.env`. */
export function planCache(settings: CacheSettings, context: CacheContext): CachePlan {
  const env = context.env ?? process.env
  let mode = settings.mode
  let note: string
  if (mode === 'auto') {
    mode = runnerHasCacheService(env) ? 'gha' : 'none'
    note = mode === 'gha' ? 'cache: auto → gha (the runner provides its cache service)' : 'cache: auto → none (no cache service on this runner)'
  } else note = `cache: ${mode}`
  const chosen = chosenCache(mode, settings, context)
  if (chosen.detail) note += ` (${chosen.detail})`

  let to = settings.to.length > 0 ? settings.to : chosen.to
  let warning: string | undefined
  if (to.length > 0 && context.driver === 'docker' && !context.containerdStore) {
    warning = `the docker driver exports no build cache without the engine's containerd image store, so ${to.join(', ')} is left out: turn on the containerd image store, or set "driver: docker-container"`
    to = []
  }
  const from = context.noCache ? [] : settings.from.length > 0 ? settings.from : chosen.from
  return { from, to: to.map(ignoringErrors), env: cacheEnvironment([...from, ...to], env), note, ...(warning ? { warning } : {}) }
}

function chosenCache(mode: CacheMode, settings: CacheSettings, context: CacheContext): { from: string[]; to: string[]; detail?: string } {
  switch (mode) {
    case 'none':
    case 'auto':
      return { from: [], to: [] }
    case 'gha': {
      const scope = ghaScope(context.cacheKey, context.platforms)
      return { from: [`type=gha,scope=${scope}`], to: [`type=gha,scope=${scope},mode=max`], detail: `scope ${scope}` }
    }
    case 'registry': {
      const whole = settings.ref || `${context.bookkeepingRepository}:${registryCacheTag(context.cacheKey)}`
      const ref = context.part ? withTagSuffix(whole, context.part) : whole
      return {
        from: [`type=registry,ref=${ref}`],
        to: [`type=registry,ref=${ref},mode=max,oci-mediatypes=true,image-manifest=true`],
        detail: ref
      }
    }
    case 'inline':
      return {
        from: context.previousReference ? [`type=registry,ref=${context.previousReference}`] : [],
        to: ['type=inline'],
        detail: context.previousReference ? `from ${context.previousReference}` : 'nothing published to read from yet'
      }
  }
}

/**
 * The cache plan for this builder, logged. The engine is asked about its image store only when a `docker`-driver
 * build would export cache.
 */
export async function resolveCache(docker: Docker, settings: CacheSettings, context: Omit<CacheContext, 'containerdStore'>): Promise<CachePlan> {
  let plan = planCache(settings, { ...context, containerdStore: true })
  if (context.driver === 'docker' && plan.to.length > 0 && !(await engineHasContainerdStore(docker))) {
    plan = planCache(settings, { ...context, containerdStore: false })
  }
  log.info(plan.note)
  if (plan.warning) core.warning(plan.warning)
  return plan
}

/** Whether the engine stores images in containerd (`docker info`: the io.containerd.snapshotter driver). */
export async function engineHasContainerdStore(docker: Docker): Promise<boolean> {
  const info = await docker.run(['info', '--format', '{{json .DriverStatus}}'], { silent: true, allowFailure: true })
  return info.exitCode === 0 && info.stdout.includes('io.containerd.snapshotter')
}

/**
 * The error of a failed cache export in a build's plain progress output (`#7 exporting cache to registry` …
 * `#7 ERROR: …`): exported with `ignore-error=true`, the build went on, and the run says so as a warning.
 */
export function cacheExportFailure(buildOutput: string): string | undefined {
  const exportSteps = new Set([...buildOutput.matchAll(/^#(\d+) exporting cache\b/gm)].map(m => m[1]))
  for (const match of buildOutput.matchAll(/^#(\d+) ERROR: (.*)$/gm)) {
    if (exportSteps.has(match[1])) return match[2]!.trim()
  }
  return undefined
}
