/**
 * `docker buildx build`: the argv from settings, and what buildx reports back in its metadata file.
 */
import { readFile } from 'node:fs/promises'
import type { Docker } from './docker.js'
import type { BuildArg } from './settings.js'
import { formatPlatform, type Platform } from './platform.js'

export interface BuildRequest {
  context: string
  file: string
  platforms: Platform[]
  /** Full references (`repo:tag`) the build is pushed under. */
  references: string[]
  buildArgs: BuildArg[]
  push: boolean
  /** `--label` values for the image config. */
  labels?: Record<string, string>
  /** Annotations for the index and every platform manifest (`--annotation index:…`, `manifest:…`). */
  annotations?: Record<string, string>
  /** Where buildx writes its metadata JSON. */
  metadataFile: string
}

/** The argv (after `docker`) for one multi-platform build. */
export function buildxBuildArgs(request: BuildRequest): string[] {
  const args = ['buildx', 'build', '--file', request.file, '--platform', request.platforms.map(formatPlatform).join(',')]
  for (const arg of request.buildArgs) args.push('--build-arg', `${arg.name}=${arg.value}`)
  for (const [key, value] of Object.entries(request.labels ?? {})) args.push('--label', `${key}=${value}`)
  for (const [key, value] of Object.entries(request.annotations ?? {})) {
    args.push('--annotation', `index:${key}=${value}`, '--annotation', `manifest:${key}=${value}`)
  }
  for (const ref of request.references) args.push('--tag', ref)
  args.push('--metadata-file', request.metadataFile)
  if (request.push) args.push('--push')
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

export class BuildError extends Error {
  override name = 'BuildError'
}

/** Runs the build and returns buildx's metadata. A failed build ends in a {@link BuildError} naming the platform. */
export async function runBuild(docker: Docker, request: BuildRequest): Promise<BuildMetadata> {
  const result = await docker.run(buildxBuildArgs(request), { allowFailure: true })
  if (result.exitCode !== 0) throw new BuildError(describeBuildFailure(result.stderr || result.stdout))
  let json: string
  try {
    json = await readFile(request.metadataFile, 'utf8')
  } catch (error) {
    throw new Error(`buildx succeeded but wrote no metadata file at ${request.metadataFile}`, { cause: error })
  }
  return parseBuildMetadata(json)
}
