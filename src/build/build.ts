/**
 * `docker buildx build`: the argv from settings, and what buildx reports back in its metadata file.
 */
import * as core from '@actions/core'
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import * as path from 'node:path'
import type { Writable } from 'node:stream'
import { buildOptionArgs, type BuildOptions } from './build-options.js'
import { cacheExportFailure } from './cache.js'
import { InputError, type BuildArg, type BuildSecret } from '../core/input.js'
import { DockerCommandError, type CommandTimeout, type Docker, type RunOptions } from '../core/docker.js'
import { explainRegistryFailure } from '../core/registry.js'
import { repositoryOf } from '../core/reference.js'
import type { RetryPolicy } from '../core/retry.js'
import { formatPlatform, type Platform } from '../core/platform.js'
import { withSecretFiles } from '../core/secret-files.js'

/**
 * Where the built index goes:
 * - `load`: into the engine's image store under a local name (the `docker` driver with the containerd store);
 *   every platform can then run locally before anything leaves the machine;
 * - `push`: the `docker` driver's push (it cannot push by digest): stored in the engine under `name`, the staging
 *   name in the bookkeeping repository, and pushed there by the engine as part of the build, as `--push` does;
 * - `push-by-digest`: to a repository without any tag (drivers with their own BuildKit, e.g. `docker-container`);
 * - `none`: nowhere but the build's export (a build that does not push, on a driver with its own BuildKit; with a
 *   verify command a local export, from which it loads each platform's image on its own: {@link loadFromLocalExport}).
 */
export type BuildOutput =
  | { kind: 'load'; name: string }
  | { kind: 'push'; name: string }
  | { kind: 'push-by-digest'; repository: string }
  | { kind: 'none' }

export interface BuildRequest {
  context: string
  file: string
  platforms: Platform[]
  output: BuildOutput
  buildArgs: BuildArg[]
  /** Where buildx writes its metadata JSON. */
  metadataFile: string
  /** The buildx builder to build on (`--builder`); unset: buildx's current builder. */
  builder?: string
  /**
   * The docker context that builder belongs to (`docker --context`): buildx runs a `docker`-driver builder
   * only from its own context.
   */
  dockerContext?: string
  target?: string
  labels?: string[]
  annotations?: string[]
  /** Build secrets as files: `--secret id=ID,src=FILE` (the value never reaches argv). */
  secretFiles?: Array<{ id: string; file: string }>
  /** `ssh`, `build-contexts`, `secret-envs`, `secret-files`, `network`, `add-hosts`, `allow`, `shm-size`, `ulimit`. */
  options?: BuildOptions
  cacheFrom?: string[]
  cacheTo?: string[]
  /** Variables this build command alone gets, never argv: the runner's cache variables of a gha cache (cache.ts). */
  env?: Record<string, string>
  noCache?: boolean
  pull?: boolean
  /** `--provenance` value (`false`, `mode=min`, `mode=max`, ...). */
  provenance?: string
  /** `--sbom` value (`false`, `true`, ...). */
  sbom?: string
  /**
   * Where the build's export goes, beside the push or load: the same manifests and layers as an OCI layout tar on
   * buildx's standard output (`--output type=oci,dest=-`), which the architecture check reads as it streams, instead
   * of downloading them again or keeping a copy on disk. A fresh stream for each attempt of the command.
   */
  exportTo?: () => Writable
  /**
   * A directory for the export instead (`--output type=oci,dest=DIR,tar=false`): where the images must be loaded
   * from it afterwards (the verify command on a build that pushes nothing, {@link loadFromLocalExport}).
   */
  layout?: string
}

/** The argv (after `docker`) for one multi-platform build. */
export function buildxBuildArgs(request: BuildRequest): string[] {
  const args = request.dockerContext ? ['--context', request.dockerContext, 'buildx', 'build'] : ['buildx', 'build']
  if (request.builder) args.push('--builder', request.builder)
  args.push('--file', request.file, '--platform', request.platforms.map(formatPlatform).join(','))
  if (request.target) args.push('--target', request.target)
  for (const arg of request.buildArgs) args.push('--build-arg', `${arg.name}=${arg.value}`)
  for (const label of request.labels ?? []) args.push('--label', label)
  for (const annotation of request.annotations ?? []) args.push('--annotation', annotation)
  for (const secret of request.secretFiles ?? []) args.push('--secret', `id=${secret.id},src=${secret.file}`)
  if (request.options) args.push(...buildOptionArgs(request.options))
  for (const cache of request.cacheFrom ?? []) args.push('--cache-from', cache)
  for (const cache of request.cacheTo ?? []) args.push('--cache-to', cache)
  if (request.noCache) args.push('--no-cache')
  if (request.pull) args.push('--pull')
  if (request.provenance !== undefined) args.push(`--provenance=${request.provenance}`)
  if (request.sbom !== undefined) args.push(`--sbom=${request.sbom}`)
  // With SOURCE_DATE_EPOCH the files in the layers get that time too, so the same sources give the same digest
  // on any builder (a fresh docker-container builder has no cache to reuse earlier layers from).
  const rewrite = request.buildArgs.some(a => a.name === 'SOURCE_DATE_EPOCH') ? ',rewrite-timestamp=true' : ''
  // The docker driver's image exporter unpacks into the engine, which refuses rewrite-timestamp: no rewrite there
  // (nor, then, in the export beside it).
  const rewritten = request.output.kind === 'load' || request.output.kind === 'push' ? '' : rewrite
  // The same result, exported once more as a stream (the same rewrite, so the same platform manifests). BuildKit
  // runs the exporters side by side. First: BuildKit merges the exporters' responses in order, so the metadata's
  // containerimage.digest is the last one's, the pushed or loaded index (the export's index differs in its
  // attestations).
  if (request.layout) args.push('--output', `type=oci,dest=${request.layout},tar=false${rewritten}`)
  else if (request.exportTo) args.push('--output', `type=oci,dest=-${rewritten}`)
  switch (request.output.kind) {
    case 'load':
      args.push('--tag', request.output.name, '--load')
      break
    case 'push':
      args.push('--output', `type=image,name=${request.output.name},push=true`)
      break
    case 'push-by-digest':
      args.push('--output', `type=image,name=${request.output.repository},push-by-digest=true,name-canonical=true,push=true${rewrite}`)
      break
    case 'none':
      break
  }
  args.push('--metadata-file', request.metadataFile)
  args.push(request.context)
  return args
}

/** What buildx's `--metadata-file` says about a build. */
export interface BuildMetadata {
  /** `containerimage.digest`: the digest of the pushed index (or manifest). */
  digest?: string
  /** `image.name`: the references the result was exported under. */
  imageNames: string[]
  /** The whole metadata object, as buildx wrote it. */
  raw: Record<string, unknown>
  /** buildx's progress output (plain when not on a terminal), for the per-platform build times (build-times.ts). */
  progress?: string
}

export function parseBuildMetadata(json: string): BuildMetadata {
  let raw: unknown
  try {
    raw = JSON.parse(json)
  } catch (error) {
    throw new Error(`buildx wrote a metadata file that is not JSON: ${(error as Error).message}`, { cause: error })
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new Error('buildx wrote a metadata file that is not a JSON object')
  }
  const record = raw as Record<string, unknown>
  const digest = record['containerimage.digest']
  const names = record['image.name']
  return {
    digest: typeof digest === 'string' ? digest : undefined,
    imageNames: typeof names === 'string' ? names.split(',').filter(n => n !== '') : [],
    raw: record
  }
}

/**
 * The platform and cause of a failed build, from buildx's progress output. buildx prefixes each step with
 * `[linux/arm64 build 3/4]` and ends with `ERROR: failed to solve: ...`.
 */
export function describeBuildFailure(output: string): string {
  const lines = output.split('\n').map(l => l.trim())
  const errorLine = [...lines].reverse().find(l => /^ERROR:/.test(l) || /^error:/i.test(l))
  const cause = (errorLine ?? lines.filter(l => l !== '').slice(-1)[0] ?? 'no output').replace(/^ERROR:\s*/, '')
  const failedStep = [...lines].reverse().find(l => /^> \[[^\]]+\]/.test(l)) ?? ''
  const platform = /\[(\w+\/[\w.]+(?:\/\w+)?)\s/.exec(failedStep)?.[1]
  const step = /^> \[[^\]]+\]\s*(.*?):?$/.exec(failedStep)?.[1]
  const where = platform ? ` for ${platform}` : ''
  const what = step ? ` at \`${step}\`` : ''
  return `the build failed${where}${what}: ${cause}`
}

/** The build's bound: GitHub's limit of a job (6 h); a build's own steps have no shorter natural limit. */
export const BUILD_TIMEOUT = { seconds: 6 * 3600 }

/**
 * How many `registry-timeout`s of silence BuildKit's layer upload may take: its progress prints nothing while the
 * bytes of the layers move (`#N pushing layers`, then `#N pushing layers 19.2s done`; measured with plain and
 * rawjson progress, buildx 0.13.1 and 0.30.1 on BuildKit 0.26.3: no byte count), so the silence of a slow upload of
 * a large layer cannot be told from a registry that stopped answering. Where what BuildKit sends can be read (its
 * builder's activity, builder.ts), the upload gets one `registry-timeout` without 4 KiB sent instead, and this
 * bound only where it cannot. Its manifest PUT, small, gets one `registry-timeout`.
 */
export const PUSH_LAYERS_FACTOR = 10

/**
 * BuildKit's push of the build's result, as its plain progress shows it: the export vertex prints `#N pushing
 * layers`, then `#N pushing manifest for …`, and ends with `#N DONE` or `#N ERROR`. Other vertexes interleave (the
 * export to the local layout, the cache export) and are not the push. After each line: the silence allowed now.
 */
export function buildkitPushTracker(registrySeconds: number): () => (line: string) => { seconds?: number; progress: boolean; quiet?: boolean } {
  return () => {
    const open = new Map<string, 'layers' | 'manifest'>()
    return line => {
      const m = /^#(\d+) (.*)$/.exec(line)
      let progress = false
      if (m?.[1] !== undefined && m[2] !== undefined) {
        const [, id, rest] = m
        const phase = /^pushing manifest\b/.test(rest) ? 'manifest' : /^pushing layers?\b/.test(rest) ? 'layers' : undefined
        if (phase) {
          open.set(id, phase)
          progress = true
        } else if (open.has(id)) {
          progress = true
          if (/^(DONE|ERROR|CANCELED)\b/.test(rest)) open.delete(id)
        }
      }
      const phases = [...open.values()]
      if (phases.includes('layers')) return { seconds: registrySeconds * PUSH_LAYERS_FACTOR, progress, quiet: true }
      return phases.length > 0 ? { seconds: registrySeconds, progress } : { progress }
    }
  }
}

/**
 * The bound of a build: the job's limit, and, when BuildKit pushes the result ({@link pushesInBuild}), a bound of
 * silence while it pushes (see {@link buildkitPushTracker}), so that a registry that stops answering fails the build
 * as a transfer would; with the builder's `activity` (how many bytes BuildKit has sent), its layer upload is killed
 * once BuildKit sends nothing for `registry-timeout`.
 */
export function buildTimeout(output: BuildOutput, retry?: RetryPolicy, activity?: () => Promise<number | undefined>): CommandTimeout {
  if (!pushesInBuild(output) || retry?.timeoutSeconds === undefined) return BUILD_TIMEOUT
  return {
    ...BUILD_TIMEOUT,
    stall: {
      input: 'registry-timeout',
      tracker: buildkitPushTracker(retry.timeoutSeconds),
      ...(activity ? { activity: { seconds: retry.timeoutSeconds, step: ACTIVITY_STEP_BYTES, read: activity } } : {})
    }
  }
}

/** Whether the build pushes its result itself (by digest, or the `docker` driver's push under the staging name). */
export function pushesInBuild(output: BuildOutput): output is Extract<BuildOutput, { kind: 'push' | 'push-by-digest' }> {
  return output.kind === 'push' || output.kind === 'push-by-digest'
}

/**
 * How many more bytes BuildKit must have sent for its layer upload to count as moving: an idle buildkitd still
 * writes 8 bytes every few seconds (measured: its wakeups), an upload sends tens of KiB a second at least.
 */
export const ACTIVITY_STEP_BYTES = 4096

/** Whether a failed build failed while BuildKit pushed its result (`failed to push REF: ...`). */
export function isPushFailure(output: string): boolean {
  return /failed to push \S+:/.test(output)
}

export class BuildError extends Error {
  override name = 'BuildError'
}

/**
 * Runs the build and returns buildx's metadata. A failed build ends in a {@link BuildError} naming the platform.
 * `beside`: a build among others (parts.ts): what stops it, and the prefix of its lines in the log. `activity`: how
 * many bytes the builder's BuildKit has sent so far, where it can be read ({@link buildTimeout}).
 */
export async function runBuild(
  docker: Docker,
  request: BuildRequest,
  retry?: RetryPolicy,
  beside: Pick<RunOptions, 'signal' | 'prefix'> = {},
  activity?: () => Promise<number | undefined>
): Promise<BuildMetadata> {
  let progress: string
  try {
    const timeout = buildTimeout(request.output, retry, activity)
    const env = request.env && Object.keys(request.env).length > 0 ? { env: request.env } : {}
    const stdoutTo = request.exportTo && !request.layout ? { stdoutTo: request.exportTo } : {}
    const result = await docker.run(buildxBuildArgs(request), { ...(retry ? { retry } : {}), timeout, ...env, ...stdoutTo, ...beside })
    progress = result.stderr
    const cacheError = cacheExportFailure(`${result.stdout}\n${result.stderr}`)
    if (cacheError) core.warning(`the build cache was not exported (the image is not affected): ${cacheError}`)
  } catch (error) {
    if (error instanceof DockerCommandError) {
      // A build that pushes its result: a registry that refuses or cannot be reached is not the Dockerfile's fault.
      // So is a push that went silent (killed by its stall bound).
      if (pushesInBuild(request.output) && (isPushFailure(error.result.stderr || error.result.stdout) || error.result.timedOut?.progress)) {
        throw explainRegistryFailure(error, request.output.kind === 'push' ? repositoryOf(request.output.name) : request.output.repository)
      }
      const failure = describeBuildFailure(error.result.stderr || error.result.stdout)
      throw new BuildError(`${failure}; fix ${request.file} (the step's output is in the build log above)`, { cause: error })
    }
    throw error
  }
  let json: string
  try {
    json = await readFile(request.metadataFile, 'utf8')
  } catch (error) {
    throw new Error(`buildx succeeded but wrote no metadata file at ${request.metadataFile}`, { cause: error })
  }
  return { ...parseBuildMetadata(json), progress }
}

/**
 * Where a build's result goes for a driver. Other drivers than `docker` push by digest when publishing. The
 * `docker` driver (it cannot push by digest) pushes under the staging name `pushAs` straight from the build, as
 * `--push` does; it loads into the engine's store under the run's own `localName` instead where something must run
 * in the image before anything is pushed (no `pushAs`: the verify command), or nothing is pushed. A build that does
 * not push on another driver keeps its result in the builder and its export (which the architecture check reads
 * and, from a local export, the verify command loads from).
 */
export function chooseOutput(driver: string, push: boolean, firstRepository: string, localName: string, pushAs?: string): BuildOutput {
  if (driver === 'docker') return push && pushAs ? { kind: 'push', name: pushAs } : { kind: 'load', name: localName }
  if (push) return { kind: 'push-by-digest', repository: firstRepository }
  return { kind: 'none' }
}

/** The Dockerfile that loads one image of the local export as it is: its config and layers, nothing added. */
export const LOAD_DOCKERFILE = 'FROM image\n'

/**
 * argv that loads one platform's image of the build's local export (`layout`, its manifest `digest`) into the
 * engine as `name`: a build `FROM` the export (an `oci-layout://` build context) with `--load`, on the builder that
 * built it. One platform at a time, so any image store holds it (the classic store keeps no multi-platform image).
 */
export function loadFromLocalExportArgs(builder: string, layout: string, digest: string, platform: Platform, name: string, dockerfile: string, context: string): string[] {
  return [
    'buildx', 'build', '--builder', builder, '--file', dockerfile, '--platform', formatPlatform(platform),
    '--build-context', `image=oci-layout://${layout}@${digest}`, '--provenance=false', '--sbom=false', '--tag', name, '--load', context
  ]
}

/** Loads one platform's image of the local export into the engine ({@link loadFromLocalExportArgs}). */
export async function loadFromLocalExport(
  docker: Docker,
  load: { builder: string; layout: string; digest: string; platform: Platform; name: string; dir: string }
): Promise<void> {
  if (!/^sha256:[0-9a-f]{64}$/.test(load.digest)) throw new Error(`the build's local export holds no ${formatPlatform(load.platform)} image to load for the verify command`)
  const context = path.join(load.dir, 'load-context')
  await mkdir(context, { recursive: true })
  const dockerfile = path.join(context, 'Dockerfile')
  await writeFile(dockerfile, LOAD_DOCKERFILE)
  await docker.run(loadFromLocalExportArgs(load.builder, load.layout, load.digest, load.platform, load.name, dockerfile, context), { timeout: BUILD_TIMEOUT })
}

/** Fails early, naming the input, when the context or the Dockerfile is not there. */
export async function checkBuildFiles(context: string, file: string): Promise<void> {
  const contextStat = await stat(context).catch(() => undefined)
  if (!contextStat?.isDirectory()) {
    throw new InputError('context', `directory "${context}" does not exist (relative paths start at ${process.cwd()}): check out the repository first, or fix the path`)
  }
  const fileStat = await stat(file).catch(() => undefined)
  if (!fileStat?.isFile()) {
    throw new InputError('file', `Dockerfile "${file}" does not exist (relative paths start at ${process.cwd()}): set "file" to its path`)
  }
}

/**
 * Each build secret in a file of its own (`--secret id=...,src=FILE`, never argv), only while `build` runs: the
 * files go when it ends, however it ends (secret-files.ts).
 */
export function withSecretFilesOf<T>(dir: string, secrets: readonly BuildSecret[], build: (files: Array<{ id: string; file: string }>) => Promise<T>): Promise<T> {
  const files = secrets.map((secret, i) => ({ name: `secret-${i}`, content: secret.value }))
  return withSecretFiles(dir, files, paths => build(secrets.map((secret, i) => ({ id: secret.id, file: paths[i] ?? '' }))))
}
