/**
 * `docker buildx build`: the argv from settings, and what buildx reports back in its metadata file.
 */
import * as core from '@actions/core'
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import * as path from 'node:path'
import { buildOptionArgs, type BuildOptions } from './build-options.js'
import { cacheExportFailure } from './cache.js'
import { InputError, type BuildArg, type BuildSecret } from '../core/input.js'
import { DockerCommandError, type CommandTimeout, type Docker, type RunOptions } from '../core/docker.js'
import { explainRegistryFailure } from '../core/registry.js'
import type { RetryPolicy } from '../core/retry.js'
import { formatPlatform, type Platform } from '../core/platform.js'
import { withSecretFiles } from '../core/secret-files.js'

/**
 * Where the built index goes:
 * - `load`: into the engine's image store under a local name (the `docker` driver with the containerd store);
 *   every platform can then run locally before anything leaves the machine;
 * - `push-by-digest`: to a repository without any tag (drivers with their own BuildKit, e.g. `docker-container`);
 * - `none`: nowhere but the local export (a build that does not push, on a driver with its own BuildKit; the
 *   verify command loads each platform's image of the export on its own: {@link loadFromLocalExport}).
 */
export type BuildOutput =
  | { kind: 'load'; name: string }
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
   * A directory for the build's local export beside the push or load (`--output type=oci,dest=DIR,tar=false`):
   * the same manifests and layers, which the architecture check reads instead of downloading them again.
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
  // The same result, exported once more to the runner's disk (the same rewrite, so the same platform manifests).
  // First: BuildKit merges the exporters' responses in order, so the metadata's containerimage.digest is the
  // last one's, the pushed or loaded index (the local export's index differs in its attestations).
  if (request.layout) args.push('--output', `type=oci,dest=${request.layout},tar=false${request.output.kind === 'load' ? '' : rewrite}`)
  switch (request.output.kind) {
    case 'load':
      args.push('--tag', request.output.name, '--load')
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
 * How many `registry-timeout`s of silence BuildKit's layer upload may take: its plain progress prints nothing
 * while the bytes of the layers move (`#N pushing layers`, then `#N pushing layers 19.2s done`), so the silence of
 * a slow upload of a large layer cannot be told from a registry that stopped answering. Its manifest PUT, small,
 * gets one `registry-timeout`.
 */
export const PUSH_LAYERS_FACTOR = 10

/**
 * BuildKit's push of the build's result, as its plain progress shows it: the export vertex prints `#N pushing
 * layers`, then `#N pushing manifest for …`, and ends with `#N DONE` or `#N ERROR`. Other vertexes interleave (the
 * export to the local layout, the cache export) and are not the push. After each line: the silence allowed now.
 */
export function buildkitPushTracker(registrySeconds: number): () => (line: string) => { seconds?: number; progress: boolean } {
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
      const seconds = phases.includes('layers') ? registrySeconds * PUSH_LAYERS_FACTOR : phases.length > 0 ? registrySeconds : undefined
      return seconds === undefined ? { progress } : { seconds, progress }
    }
  }
}

/**
 * The bound of a build: the job's limit, and, when BuildKit pushes the result (push by digest), a bound of silence
 * while it pushes (see {@link buildkitPushTracker}), so that a registry that stops answering fails the build as a
 * transfer would.
 */
export function buildTimeout(output: BuildOutput, retry?: RetryPolicy): CommandTimeout {
  if (output.kind !== 'push-by-digest' || retry?.timeoutSeconds === undefined) return BUILD_TIMEOUT
  return { ...BUILD_TIMEOUT, stall: { input: 'registry-timeout', tracker: buildkitPushTracker(retry.timeoutSeconds) } }
}

/** Whether a failed build failed while BuildKit pushed its result (`failed to push REF: ...`). */
export function isPushFailure(output: string): boolean {
  return /failed to push \S+:/.test(output)
}

export class BuildError extends Error {
  override name = 'BuildError'
}

/**
 * Runs the build and returns buildx's metadata. A failed build ends in a {@link BuildError} naming the platform.
 * `beside`: a build among others (parts.ts): what stops it, and the prefix of its lines in the log.
 */
export async function runBuild(docker: Docker, request: BuildRequest, retry?: RetryPolicy, beside: Pick<RunOptions, 'signal' | 'prefix'> = {}): Promise<BuildMetadata> {
  let progress: string
  try {
    const timeout = buildTimeout(request.output, retry)
    const env = request.env && Object.keys(request.env).length > 0 ? { env: request.env } : {}
    const result = await docker.run(buildxBuildArgs(request), { ...(retry ? { retry } : {}), timeout, ...env, ...beside })
    progress = result.stderr
    const cacheError = cacheExportFailure(`${result.stdout}\n${result.stderr}`)
    if (cacheError) core.warning(`the build cache was not exported (the image is not affected): ${cacheError}`)
  } catch (error) {
    if (error instanceof DockerCommandError) {
      // A push-by-digest build pushes from BuildKit: a registry that refuses or cannot be reached is not the
      // Dockerfile's fault.
      // So is a push that went silent (killed by its stall bound).
      if (request.output.kind === 'push-by-digest' && (isPushFailure(error.result.stderr || error.result.stdout) || error.result.timedOut?.progress)) {
        throw explainRegistryFailure(error, request.output.repository)
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
 * Where a build's result goes for a driver: the `docker` driver loads into the engine's store (it cannot push by
 * digest); other drivers push by digest when publishing. A build that does not push keeps its result in the
 * builder and the local export (which the architecture check reads and the verify command loads from).
 */
export function chooseOutput(driver: string, push: boolean, firstRepository: string, stagingName: string): BuildOutput {
  if (driver === 'docker') return { kind: 'load', name: stagingName }
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
