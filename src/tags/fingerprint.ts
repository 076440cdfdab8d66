/**
 * The fingerprint of a build: one digest of everything that determines the image, stored on the published index
 * as the annotation {@link FINGERPRINT_ANNOTATION}, so that a later run can tell whether it would build the same
 * thing again.
 *
 * Ingredients:
 * - the build context as the build sees it: every file, directory and symlink `.dockerignore` lets through
 *   (`<Dockerfile>.dockerignore` first, as BuildKit reads it), each by path, kind, permission bits and content
 *   (not by modification time, which a fresh checkout changes and BuildKit's cache ignores too). A file's content
 *   is its git blob id: for a git checkout, git's index already holds it for every tracked file the worktree has
 *   not modified (`git ls-files -s`, `git diff --name-only`), so those files are not read at all; every other file
 *   is read once and hashed the same way, so a file gives the same id however it was found;
 * - the Dockerfile's text;
 * - the build args (the resolved versions among them), the platforms, the versions, the target stage;
 * - the digest every image the build reads resolves to in its registry now (each `FROM` image, and the images
 *   named by `COPY --from=golang:1.25` and `RUN --mount=from=…` rather than a stage), so an updated image means a
 *   rebuild;
 * - each named build context (`build-contexts`), the way the Dockerfile reads it: a name a `FROM`, `COPY --from`
 *   or mount `from` uses is that context, never the Docker Hub image of the same name; a local directory by its
 *   listing (as the context), a `docker-image://` context by the digest its image resolves to now (as a `FROM`
 *   image), an `oci-layout://` one by its digest or its layout's index.json, a git context by its commit;
 * - the other inputs that change what is published: `provenance`, `sbom`, and the user's labels and annotations
 *   (not the generated ones, which hold the build time).
 *
 * What no digest pins has no fingerprint ({@link UnpinnedInputError}): a URL context (an archive), a git context
 * at a branch or tag, `ADD <url>` without `--checksum`, `ADD <git url>` without a commit. Its content can change
 * while every name stays the same, so such a build is built and published every run, and the log says why.
 *
 * Secrets are not an ingredient, only the ids a build can mount: a digest of a secret published on an index would
 * let anyone test guesses of it, and a secret's value is not meant to change the image.
 *
 * Everything but reading the context and resolving the `FROM` images is pure; the `FROM` images are resolved with
 * `buildx imagetools inspect --raw` through the Docker interface.
 */
import * as core from '@actions/core'
import dockerignore from '@balena/dockerignore'
import { DockerfileParser, type Add, type Arg, type Copy, type Env, type From, type Instruction, type Run } from 'dockerfile-ast'
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { lstat, readdir, readFile, readlink, stat } from 'node:fs/promises'
import * as path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { DEFAULT_TIMEOUT, runTool, ToolTimeoutError, type CommandTimeout, type Docker } from '../core/docker.js'
import { forEachLimited } from '../core/limit.js'
import { formatPlatform, type Platform } from '../core/platform.js'
import { familiarName } from '../core/reference.js'
import { sha256Digest, type ImageIndex } from '../core/registry.js'
import type { RetryPolicy } from '../core/retry.js'
import type { BuildArg } from '../core/input.js'

/** The index annotation that holds the fingerprint (`sha256:…`). */
export const FINGERPRINT_ANNOTATION = 'io.go-build.fingerprint'

/** Changes whenever what goes into a fingerprint changes, so older fingerprints never match by accident. */
const SCHEME = 'go-build-action fingerprint v1'

/** What a fingerprint is computed from (see the module comment). */
export interface FingerprintIngredients {
  /** `sha256:…` of the context listing (see {@link contextDigest}). */
  context: string
  /** The Dockerfile's text. */
  dockerfile: string
  /** Every `--build-arg`, the version args included. */
  buildArgs: BuildArg[]
  /** `linux/amd64`, … */
  platforms: string[]
  /** Version name → version. */
  versions: Record<string, string>
  /** `--target` ('' for the last stage). */
  target: string
  /** Each `FROM` image reference → the digest it resolves to. */
  baseImages: Record<string, string>
  /**
   * `--provenance` and `--sbom` values, the user's labels and annotations, and the build inputs that change the image
   * (`build`: see build-options.ts; a local named context as `build-context=NAME=<digest of its listing>`).
   */
  options: { provenance: string; sbom: string; labels: string[]; annotations: string[]; build?: string[] }
}

/** A fingerprint and what it was computed from (for the log). */
export interface Fingerprint {
  /** `sha256:…` */
  value: string
  ingredients: FingerprintIngredients
  /** How many context entries the build can see. */
  contextEntries: number
}

/** What {@link fingerprintBuild} needs: the same values the build gets. */
export interface FingerprintRequest {
  context: string
  /** The context listing, when it is already being computed (started early, beside other work). */
  listing?: Promise<ContextEntry[]>
  file: string
  buildArgs: readonly BuildArg[]
  platforms: readonly Platform[]
  versions: Record<string, string>
  target?: string
  provenance?: string
  sbom?: string
  labels?: readonly string[]
  annotations?: readonly string[]
  /** Build inputs that change the image (build-options.ts `fingerprintedOptions`). */
  buildOptions?: readonly string[]
  /** Named build contexts (`build-contexts`): a local directory (`dir`) is read like the context. */
  namedContexts?: ReadonlyArray<{ name: string; value: string; dir?: string }>
}

/** The fingerprint of a build: reads the context and the Dockerfile, and resolves the `FROM` images now. */
export async function fingerprintBuild(docker: Docker, request: FingerprintRequest, retry?: RetryPolicy): Promise<Fingerprint> {
  const dockerfile = await readFile(request.file, 'utf8')
  const contexts = request.namedContexts ?? []
  const unpinned = [...contexts.flatMap(c => unpinnedContext(c)), ...unpinnedSources(dockerfile, request.buildArgs)]
  if (unpinned.length > 0) {
    throw new UnpinnedInputError(`this build reads ${unpinned.join('; ')}: content no digest pins, which can change while its name stays the same`)
  }
  const images = contexts.flatMap(c => contextImage(c.value) ?? [])
  const references = [...new Set([...baseImageReferences(dockerfile, request.buildArgs, request.platforms, contexts.map(c => c.name)), ...images])]
  const [listing, baseImages, namedContexts] = await Promise.all([
    request.listing ?? contextListing(request.context, request.file),
    resolveBaseImages(docker, references, retry),
    Promise.all(contexts.map(async c => `build-context=${c.name}=${await namedContextIngredient(c)}`))
  ])
  const build = [...(request.buildOptions ?? []), ...namedContexts]
  const ingredients: FingerprintIngredients = {
    context: contextDigest(listing),
    dockerfile,
    buildArgs: [...request.buildArgs],
    platforms: request.platforms.map(formatPlatform),
    versions: { ...request.versions },
    target: request.target ?? '',
    baseImages,
    options: {
      provenance: request.provenance ?? '',
      sbom: request.sbom ?? '',
      labels: [...(request.labels ?? [])],
      annotations: [...(request.annotations ?? [])],
      ...(build.length > 0 ? { build } : {})
    }
  }
  return { value: computeFingerprint(ingredients), ingredients, contextEntries: listing.length }
}

/**
 * The fingerprint of the ingredients: sha256 of a canonical JSON form. Build args keep their order (a later one
 * wins in buildx); platforms, versions and base images are compared as sets and maps.
 */
export function computeFingerprint(ingredients: FingerprintIngredients): string {
  const canonical = {
    scheme: SCHEME,
    context: ingredients.context,
    dockerfile: ingredients.dockerfile,
    buildArgs: ingredients.buildArgs.map(a => [a.name, a.value]),
    platforms: [...ingredients.platforms].sort(),
    versions: sortedEntries(ingredients.versions),
    target: ingredients.target,
    baseImages: sortedEntries(ingredients.baseImages),
    options: {
      provenance: ingredients.options.provenance,
      sbom: ingredients.options.sbom,
      labels: ingredients.options.labels,
      annotations: ingredients.options.annotations,
      // absent when unused, so fingerprints of builds without these inputs stay as they were
      ...(ingredients.options.build?.length ? { build: ingredients.options.build } : {})
    }
  }
  return sha256Digest(JSON.stringify(canonical))
}

function sortedEntries(record: Record<string, string>): Array<[string, string]> {
  return Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
}

/** The `--annotation` value that stores a fingerprint on the index. */
export function fingerprintAnnotationArg(fingerprint: string): string {
  return `index:${FINGERPRINT_ANNOTATION}=${fingerprint}`
}

/** The fingerprint an index carries, if any. */
export function readFingerprint(index: ImageIndex): string | undefined {
  const value = index.annotations?.[FINGERPRINT_ANNOTATION]
  return typeof value === 'string' && /^sha256:[0-9a-f]{64}$/.test(value) ? value : undefined
}

// ---------------------------------------------------------------------------------------------------------------
// The build context

/** One entry of the context as the build sees it. */
export interface ContextEntry {
  /** Relative to the context, `/`-separated. */
  path: string
  kind: 'file' | 'dir' | 'symlink'
  /** Permission bits, octal (`644`, `755`). */
  mode: string
  /** File: `git-sha1:…` (or `git-sha256:…`), the git blob id of the content; symlink: its target; dir: ''. */
  content: string
}

/** The digest of a context listing: one line per entry, in path order. */
export function contextDigest(entries: readonly ContextEntry[]): string {
  const lines = [...entries]
    .sort(byPath)
    .map(e => `${JSON.stringify(e.path)} ${e.kind} ${e.mode} ${e.content}\n`)
  return sha256Digest(lines.join(''))
}

/** Orders entries by path, byte by byte (UTF-16 code unit), as the context digest lists them. */
function byPath(a: ContextEntry, b: ContextEntry): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0
}

/** The ignore rules the build applies: `<Dockerfile>.dockerignore` when it exists, else the context's `.dockerignore`. */
export async function readIgnoreRules(context: string, dockerfile: string): Promise<string[]> {
  for (const file of [`${dockerfile}.dockerignore`, path.join(context, '.dockerignore')]) {
    const text = await readFile(file, 'utf8').catch(() => undefined)
    if (text !== undefined) return text.split(/\r?\n/)
  }
  return []
}

/** How many files are hashed at the same time. */
const HASH_CONCURRENCY = 16

/** How many entries of the context have their mode read at the same time. */
const STAT_CONCURRENCY = 64

/** Runs git with argv in a directory and returns its stdout; rejects when git fails or is missing. */
export type GitRunner = (cwd: string, args: readonly string[]) => Promise<string>

/** git through the exec wrapper, each command bounded by `timeout` (the default bound). */
export function gitRunner(timeout: CommandTimeout = DEFAULT_TIMEOUT): GitRunner {
  return (cwd, args) => runTool('git', ['-C', cwd, ...args], { silent: true }, timeout)
}

const runGit = gitRunner()

/**
 * What git's index knows of the context's files: path (relative to the context) → git blob id, for every regular
 * file tracked and not modified in the worktree (`git diff` lists those that differ from the index). Empty when
 * the context is not in a git checkout, or git is not there.
 */
export async function gitKnownContent(context: string, git: GitRunner = runGit): Promise<Map<string, string>> {
  const known = new Map<string, string>()
  // both end before the listing goes on, failed or not
  const [index, diff] = await Promise.allSettled([git(context, ['ls-files', '-s', '-z']), git(context, ['diff', '--name-only', '--relative', '-z'])])
  if (index.status === 'rejected' || diff.status === 'rejected') {
    // not a checkout, or no git: every file is hashed; a git that hung is worth saying
    const error: unknown = index.status === 'rejected' ? index.reason : (diff as PromiseRejectedResult).reason
    if (error instanceof ToolTimeoutError) core.warning(`the fingerprint reads every file of the context instead of git's index: ${error.message}`)
    return known
  }
  const [staged, modified] = [index.value, diff.value]
  const changed = new Set(modified.split('\0').filter(p => p !== ''))
  for (const record of staged.split('\0')) {
    // `<mode> <object> <stage>\t<path>`: regular files only (100644, 100755), merged entries only (stage 0)
    const match = /^(100644|100755) ([0-9a-f]{40}|[0-9a-f]{64}) 0\t(.+)$/s.exec(record)
    if (!match || changed.has(match[3]!)) continue
    known.set(match[3]!, `git-sha${match[2]!.length === 40 ? '1' : '256'}:${match[2]}`)
  }
  return known
}

/**
 * Every entry of the context the ignore rules let through, files hashed: a file git's index knows unmodified by
 * its blob id there, every other file read once (`git: false` leaves git out); ordered by path.
 */
export async function contextListing(context: string, dockerfile: string, git: GitRunner | false = runGit): Promise<ContextEntry[]> {
  const [rules, known] = await Promise.all([readIgnoreRules(context, dockerfile), git ? gitKnownContent(context, git) : new Map<string, string>()])
  // a repository's blob ids are sha1 or sha256: files read are hashed the same way
  const algorithm = [...known.values()][0]?.startsWith('git-sha256:') ? 'sha256' : 'sha1'

  const matcher = dockerignore.default().add(rules)
  // Without exceptions (`!pattern`) nothing under an ignored directory can come back, so it is not read at all.
  const hasExceptions = rules.some(r => r.trim().startsWith('!'))
  const entries: ContextEntry[] = []
  const files: ContextEntry[] = []

  // Directories are read at the same time, and every entry's mode (and link target) is read after the walk, many
  // at once: one file system call after another costs a go-build-sized context (15,000 entries) half a second.
  const walk = async (relativeDir: string): Promise<void> => {
    const dirents = await readdir(path.join(context, relativeDir), { withFileTypes: true })
    const subdirectories: string[] = []
    for (const dirent of dirents) {
      const relative = relativeDir ? `${relativeDir}/${dirent.name}` : dirent.name
      const ignored = matcher.ignores(relative)
      if (dirent.isDirectory()) {
        if (ignored && !hasExceptions) continue
        if (!ignored) entries.push({ path: relative, kind: 'dir', mode: '', content: '' })
        subdirectories.push(relative)
      } else if (!ignored) {
        if (dirent.isSymbolicLink()) {
          entries.push({ path: relative, kind: 'symlink', mode: '', content: '' })
        } else if (dirent.isFile()) {
          const entry: ContextEntry = { path: relative, kind: 'file', mode: '', content: '' }
          entries.push(entry)
          files.push(entry)
        }
        // sockets, FIFOs and devices are not sent to the builder
      }
    }
    await Promise.all(subdirectories.map(walk))
  }
  await walk('')
  await forEachLimited(entries, STAT_CONCURRENCY, async entry => {
    const full = path.join(context, entry.path)
    entry.mode = ((await lstat(full)).mode & 0o7777).toString(8)
    if (entry.kind === 'symlink') entry.content = await readlink(full)
  })

  const toRead = files.filter(entry => {
    const id = known.get(entry.path)
    if (id) entry.content = id
    return !id
  })
  await forEachLimited(toRead, HASH_CONCURRENCY, async entry => {
    entry.content = await gitBlobId(path.join(context, entry.path), algorithm)
  })
  // the walk's order is the order its calls returned in: the listing is ordered by path
  return entries.sort(byPath)
}

/** A file's git blob id (`blob <size>\0<content>`, hashed), read once as a stream. */
export async function gitBlobId(file: string, algorithm: 'sha1' | 'sha256' = 'sha1'): Promise<string> {
  const { size } = await stat(file)
  const hash = createHash(algorithm).update(`blob ${size}\0`)
  await pipeline(createReadStream(file), async (chunks: AsyncIterable<string | Buffer>) => {
    for await (const chunk of chunks) hash.update(chunk)
  })
  return `git-${algorithm}:${hash.digest('hex')}`
}

// ---------------------------------------------------------------------------------------------------------------
// The FROM images

export class FingerprintError extends Error {
  override name = 'FingerprintError'
}

/** The build reads content no digest pins: it has no fingerprint, and is built every run. */
export class UnpinnedInputError extends FingerprintError {
  override name = 'UnpinnedInputError'
}

/** OCI architecture names of Node's `process.arch`, for the build platform's automatic ARGs. */
const NODE_ARCHITECTURES: Readonly<Record<string, string>> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64' }

/** The automatic platform ARGs BuildKit defines in the global scope, for one target platform. */
export function platformArgs(target: Platform, buildArchitecture = NODE_ARCHITECTURES[process.arch] ?? process.arch): Record<string, string> {
  return {
    TARGETPLATFORM: formatPlatform(target),
    TARGETOS: target.os,
    TARGETARCH: target.architecture,
    TARGETVARIANT: target.variant ?? '',
    BUILDPLATFORM: `linux/${buildArchitecture}`,
    BUILDOS: 'linux',
    BUILDARCH: buildArchitecture,
    BUILDVARIANT: ''
  }
}

/**
 * Expands `$NAME`, `${NAME}`, `${NAME:-default}` and `${NAME:+alternative}` as a Dockerfile does. An unset
 * variable expands to ''.
 */
export function expandVariables(text: string, values: Readonly<Record<string, string>>): string {
  return text.replace(/\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g, (_, braced, op, word, bare) => {
    const value = values[(braced ?? bare) as string]
    if (op === '-') return value ? value : (word as string)
    if (op === '+') return value ? (word as string) : ''
    return value ?? ''
  })
}

/**
 * The images the Dockerfile pulls, for every target platform: the frontend its `# syntax=` line (or the
 * `BUILDKIT_SYNTAX` build arg) names, those of its `FROM` lines, and those `COPY --from`
 * and `RUN --mount=…,from=` name instead of a stage; global ARG defaults overridden by the build args, and the
 * automatic platform ARGs, expanded. `scratch`, stages (by name or number) and the names of `namedContexts`
 * (compared as BuildKit does, {@link familiarName}: `FROM alpine` is the context `alpine`) are not images.
 */
export function baseImageReferences(dockerfileText: string, buildArgs: readonly BuildArg[], platforms: readonly Platform[], namedContexts: readonly string[] = []): string[] {
  const dockerfile = DockerfileParser.parse(dockerfileText)
  const globals: Record<string, string> = {}
  for (const instruction of dockerfile.getInitialARGs()) {
    for (const property of instruction.getProperties()) {
      const given = buildArgs.findLast(a => a.name === property.getName())
      const fallback = property.getValue()
      if (given !== undefined) globals[property.getName()] = given.value
      else if (fallback !== null) globals[property.getName()] = expandVariables(fallback, globals)
    }
  }
  const references = new Set<string>()
  // the frontend that reads the Dockerfile is an image too: `# syntax=`, or the BUILDKIT_SYNTAX build arg over it
  const syntax = buildArgs.findLast(a => a.name === 'BUILDKIT_SYNTAX')?.value ?? dockerfile.getDirectives().find(d => d.getName().toLowerCase() === 'syntax')?.getValue()
  if (syntax?.trim()) references.add(syntax.trim())
  const froms = dockerfile.getFROMs()
  // `COPY --from` and a mount's `from` may name any stage of the file, or its number
  const allStages = new Set(froms.flatMap(from => from.getBuildStage()?.toLowerCase() ?? []))
  const isStage = (name: string): boolean => allStages.has(name.toLowerCase()) || (/^[0-9]+$/.test(name) && Number(name) < froms.length)
  // a name a named context has is that context (its own ingredient), whatever image it also names
  const contextNames = new Set(namedContexts.map(familiarName))
  const isContext = (name: string): boolean => contextNames.has(familiarName(name))
  for (const platform of platforms.length > 0 ? platforms : [undefined]) {
    const values = platform ? { ...platformArgs(platform), ...globals } : globals
    const stages = new Set<string>()
    for (const instruction of dockerfile.getInstructions()) {
      const keyword = instruction.getKeyword()
      if (keyword === 'FROM') {
        const from = instruction as From
        const image = expandVariables(from.getImage() ?? '', values).trim()
        if (image === '') throw new FingerprintError(`a FROM line names no image once its variables are expanded ("${from.getImage() ?? ''}")`)
        const stage = from.getBuildStage()
        if (image.toLowerCase() !== 'scratch' && !stages.has(image.toLowerCase()) && !isContext(image)) references.add(image)
        if (stage) stages.add(stage.toLowerCase())
        continue
      }
      for (const source of copiedImages(instruction)) {
        const image = expandVariables(source, values).trim()
        if (image !== '' && image.toLowerCase() !== 'scratch' && !isStage(image) && !isContext(image)) references.add(image)
      }
    }
  }
  return [...references]
}

/** What a `COPY --from=` or each `RUN --mount=…,from=…` names (a stage or an image), unexpanded. */
function copiedImages(instruction: Instruction): string[] {
  const keyword = instruction.getKeyword()
  if (keyword === 'COPY') {
    const from = (instruction as Copy).getFromFlag()?.getValue()
    return from ? [from] : []
  }
  if (keyword !== 'RUN') return []
  return (instruction as Run)
    .getFlags()
    .filter(flag => flag.getName() === 'mount')
    .flatMap(flag => {
      const from = /(?:^|,)from=([^,]+)/.exec(flag.getValue() ?? '')?.[1]
      return from ? [from.replace(/^["']|["']$/g, '')] : []
    })
}

/**
 * Each image reference → the digest its registry serves for it now (a reference pinned by digest is its own
 * answer). Asked concurrently; a registry that cannot answer is an error, never a guess.
 */
export async function resolveBaseImages(docker: Docker, references: readonly string[], retry?: RetryPolicy): Promise<Record<string, string>> {
  const resolved = await Promise.all(
    references.map(async reference => {
      const pinned = /@(sha256:[0-9a-f]{64})$/.exec(reference)?.[1]
      if (pinned) return [reference, pinned] as const
      const args = ['buildx', 'imagetools', 'inspect', '--raw', reference]
      const result = await docker.run(args, retry ? { silent: true, retry } : { silent: true })
      return [reference, sha256Digest(result.stdout)] as const
    })
  )
  return Object.fromEntries(resolved)
}

// ---------------------------------------------------------------------------------------------------------------
// Named contexts and remote sources

/** A git URL as buildx and BuildKit tell one (`git@…`, `git://…`, `…/repo.git`, a GitHub repository). */
export function isGitUrl(value: string): boolean {
  if (/^git@|^git:\/\/|^ssh:\/\/|^github\.com\//.test(value)) return true
  const url = /^https?:\/\/[^#?]*/.exec(value)?.[0]
  return url !== undefined && (/\.git$/.test(url) || /^https?:\/\/github\.com\/[^/]+\/[^/]+\/?$/.test(url))
}

/** Whether a git URL names a commit (`#<full commit id>`, optionally `:subdir`), not a branch or tag that moves. */
export function gitCommitPinned(value: string): boolean {
  const ref = /#([^:]*)/.exec(value)?.[1] ?? ''
  return /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(ref)
}

/** The image a `docker-image://` context names, if it is one. */
function contextImage(value: string): string | undefined {
  return /^docker-image:\/\/(.+)$/.exec(value)?.[1]
}

/** Why a named context's content is not pinned by any digest, or nothing when it is. */
function unpinnedContext({ name, value, dir }: { name: string; value: string; dir?: string }): string[] {
  if (dir !== undefined || contextImage(value) !== undefined || /^target:|^oci-layout:\/\//.test(value)) return []
  if (isGitUrl(value)) return gitCommitPinned(value) ? [] : [`the build context ${name}=${value}, a git repository at a branch or tag (give #<commit id> to pin it)`]
  return [`the build context ${name}=${value}, a URL`]
}

/** What a named context is in the fingerprint (the build's contexts are all pinned: see {@link unpinnedContext}). */
async function namedContextIngredient({ value, dir }: { value: string; dir?: string }): Promise<string> {
  if (dir !== undefined) return contextDigest(await contextListing(dir, path.join(dir, 'Dockerfile')))
  const layout = /^oci-layout:\/\/(.+)$/.exec(value)?.[1]
  if (layout === undefined || /@sha256:[0-9a-f]{64}$/.test(layout)) return value
  // `oci-layout://PATH[:TAG]`: the tag resolves through the layout's index.json, whose every byte is read
  const layoutPath = layout.replace(/:[^/:]*$/, '')
  try {
    return `${value}@${sha256Digest(await readFile(path.join(layoutPath, 'index.json'), 'utf8'))}`
  } catch (error) {
    throw new FingerprintError(`cannot read the OCI layout of the build context ${value}: ${(error as Error).message}`)
  }
}

/**
 * The remote sources of `ADD` no digest pins: a URL without `--checksum=`, a git URL at a branch or tag. Each URL is
 * read with its variables expanded as its stage sees them (global ARGs a stage redeclares, the stage's ARGs with
 * the build args over their defaults, its ENVs), so a commit given as a build arg pins it; a variable it cannot
 * tell expands to nothing, and the source counts as not pinned.
 */
export function unpinnedSources(dockerfileText: string, buildArgs: readonly BuildArg[]): string[] {
  const dockerfile = DockerfileParser.parse(dockerfileText)
  const given = (name: string): string | undefined => buildArgs.findLast(a => a.name === name)?.value
  const globals: Record<string, string> = {}
  for (const instruction of dockerfile.getInitialARGs()) {
    for (const property of instruction.getProperties()) {
      const fallback = property.getValue()
      const value = given(property.getName()) ?? (fallback === null ? undefined : expandVariables(fallback, globals))
      if (value !== undefined) globals[property.getName()] = value
    }
  }
  const found: string[] = []
  let values: Record<string, string> = {}
  const initial = new Set(dockerfile.getInitialARGs())
  for (const instruction of dockerfile.getInstructions()) {
    const keyword = instruction.getKeyword()
    if (keyword === 'FROM') values = {}
    if ((keyword === 'ARG' && !initial.has(instruction as Arg)) || keyword === 'ENV') {
      for (const property of (instruction as Arg | Env).getProperties()) {
        const name = property.getName()
        const fallback = property.getValue()
        const value =
          keyword === 'ENV' ? expandVariables(fallback ?? '', values) : (given(name) ?? (fallback === null ? globals[name] : expandVariables(fallback, values)))
        if (value !== undefined) values[name] = value
      }
    }
    if (keyword !== 'ADD') continue
    const add = instruction as Add
    const json = add.getJSONStrings()
    const words = json.length > 0 ? json.map(a => a.getJSONValue()) : add.getArguments().map(a => a.getValue())
    const checksum = add.getFlags().some(f => f.getName() === 'checksum' && (f.getValue() ?? '') !== '')
    for (const source of words.slice(0, -1).map(w => expandVariables(w, values))) {
      const line = add.getRange().start.line + 1
      if (isGitUrl(source)) {
        if (!gitCommitPinned(source) && !checksum) found.push(`ADD ${source} (line ${line}), a git repository at a branch or tag (give #<commit id>)`)
      } else if (/^https?:\/\//.test(source) && !checksum) {
        found.push(`ADD ${source} (line ${line}), a URL without --checksum=sha256:…`)
      }
    }
  }
  return found
}
