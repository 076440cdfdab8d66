/**
 * The architecture check: every platform image must hold executables for that platform. Running an image is not
 * enough: on a runner with QEMU an arm64 image whose binary is x86-64 "runs" (the x86-64 binary runs natively), and
 * fails with `exec format error` only on a real arm64 machine. That is what a build stage `FROM` a
 * single-architecture image produces: BuildKit uses its one manifest for every platform, the compiler runs
 * natively and builds for the runner.
 *
 * The check reads what the build produced as the build produces it: the build's own export of its result, streamed
 * beside the push or the engine's push or load (oci-export.ts), never a second download from the registry nor a copy
 * on the runner's disk. Two builds export to a local directory instead (oci-layout.ts): one that pushes nothing and
 * must load its images for the verify command, and one on a runner whose layer cache knows layers, which are left
 * out of that directory (only what the cache does not know is written). Whether the registry holds that very
 * content is a comparison of digests (content hashes): every platform manifest the registry serves must be one the
 * export holds, and every blob of a streamed export hashes to its name (buildx's content store checks each blob it
 * writes to a directory). Nothing is run, so `FROM scratch` images without a shell are checked the same way.
 *
 * Each layer is read once: a layer shared by several platforms is one blob of the export, a layer checked in an
 * earlier run (by digest, in the layer cache) is not decompressed, and platforms are checked in parallel up to the
 * runner's cores. Attestation manifests are skipped (they hold no executables). Checked: the entrypoint's (or
 * command's) program and every file in the PATH directories and the usual bin directories, after every layer's
 * files and whiteouts are applied (so a wrong binary in a lower layer that an upper layer replaces or deletes is not
 * reported); each ELF executable's machine, word size and byte order must be the platform's (elf.ts).
 *
 * `architecture-check` says what a foreign executable does: `error` (default) fails the run before any tag moves,
 * `warn` reports it and goes on, `off` decompresses no layer (the registry's digests are still compared with the
 * build's).
 * `architecture-check-skip` lists paths (globs) holding executables of another architecture on purpose, such as
 * the amd64 `qemu-*-static` emulators calico's go-build image once shipped in every platform: they are reported as
 * skipped, never as foreign.
 */
import * as core from '@actions/core'
import { availableParallelism } from 'node:os'
import { InputError, readChoice, splitList, type InputReader } from '../core/input.js'
import { describeElf, elfArchitecture, expectedMachine, readElfHeader, runsOn, type ElfHeader } from './elf.js'
import { applyLayers, resolveEntry, type FileTree, type LayerChanges } from './layers.js'
import { mapLimited } from '../core/limit.js'
import type { OciExport } from './oci-export.js'
import { formatPlatform, parsePlatform, type Platform } from '../core/platform.js'
import { formatBytes } from '../core/format.js'
import * as log from '../core/log.js'

export type ArchitectureCheckMode = 'error' | 'warn' | 'off'
export const ARCHITECTURE_CHECK_MODES: readonly ArchitectureCheckMode[] = ['error', 'warn', 'off']

export interface ArchitectureSettings {
  /** `architecture-check`. */
  mode: ArchitectureCheckMode
  /** `architecture-check-skip`: absolute paths, `*` within a path segment, `**` across segments. */
  skip: string[]
}

/** Reads `architecture-check` and `architecture-check-skip`. Called from `readSettings`. */
export function readArchitectureSettings(read: InputReader): ArchitectureSettings {
  const skip = splitList(read('architecture-check-skip'))
  for (const pattern of skip) {
    if (!pattern.startsWith('/')) {
      throw new InputError('architecture-check-skip', `"${pattern}" is not an absolute path in the image: write it as the image names it, e.g. /usr/bin/qemu-*-static`)
    }
  }
  return { mode: readChoice(read, 'architecture-check', ARCHITECTURE_CHECK_MODES, 'error'), skip }
}

/** `/usr/bin/qemu-*-static` as a test of a path: `*` and `?` within a segment, `**` across segments. */
export function pathPattern(glob: string): RegExp {
  let source = ''
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!
    if (c === '*' && glob[i + 1] === '*') {
      source += '.*'
      i++
    } else if (c === '*') source += '[^/]*'
    else if (c === '?') source += '[^/]'
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${source}$`)
}

/** The parts of an image config file the check reads. */
export interface ImageConfigFile {
  architecture?: string
  os?: string
  variant?: string
  config?: { Entrypoint?: string[] | null; Cmd?: string[] | null; Env?: string[] | null; WorkingDir?: string } | null
}

interface ImageManifest {
  config: { digest: string }
  layers: Array<{ digest: string; mediaType: string; size: number }>
}

/** docker's default PATH: the usual bin directories. */
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

/** The programs a user of the image runs: the entrypoint's (or command's) program, the PATH and the usual bin directories. */
export function programsToCheck(config: ImageConfigFile): { program?: string; dirs: string[] } {
  const env = config.config?.Env ?? []
  const pathValue = env.find(e => e.startsWith('PATH='))?.slice('PATH='.length) ?? ''
  // the image's PATH, and the usual bin directories whatever PATH says
  const dirs = [...new Set(`${pathValue}:${DEFAULT_PATH}`.split(':').filter(d => d.startsWith('/')).map(d => d.replace(/\/+$/, '') || '/'))]
  const first = (config.config?.Entrypoint ?? [])[0] ?? (config.config?.Cmd ?? [])[0]
  if (!first || !first.includes('/')) return { dirs }
  const workdir = config.config?.WorkingDir || '/'
  return { program: first.startsWith('/') ? first : `${workdir.replace(/\/$/, '')}/${first}`, dirs }
}

export interface ForeignExecutable {
  /** The path as the image names it (the entrypoint, or a file in a PATH directory). */
  path: string
  /** Where it leads after symlinks, when that differs. */
  target?: string
  header: ElfHeader
}

/**
 * The executables a platform image holds that its platform cannot run; those at a path `skip` matches (the path
 * the image names, or where it leads) are `skipped` instead.
 */
export function foreignExecutables(
  tree: FileTree,
  config: ImageConfigFile,
  platform: Platform,
  skip: readonly RegExp[] = []
): { checked: number; foreign: ForeignExecutable[]; skipped: ForeignExecutable[] } {
  const { program, dirs } = programsToCheck(config)
  const paths = [...(program ? [program] : []), ...[...tree.keys()].filter(p => dirs.includes(p.slice(0, p.lastIndexOf('/')) || '/'))]
  const seen = new Set<string>()
  const foreign: ForeignExecutable[] = []
  const skipped: ForeignExecutable[] = []
  for (const path of paths) {
    const resolved = resolveEntry(tree, path)
    if (!resolved?.entry.head || seen.has(resolved.path)) continue
    seen.add(resolved.path)
    const header = readElfHeader(resolved.entry.head)
    if (!header || (header.type !== 'executable' && header.type !== 'shared')) continue
    if (runsOn(header, platform)) continue
    const found = resolved.path === path ? { path, header } : { path, target: resolved.path, header }
    if (skip.some(pattern => pattern.test(path) || pattern.test(resolved.path))) skipped.push(found)
    else foreign.push(found)
  }
  return { checked: seen.size, foreign, skipped }
}

/** `linux/arm64: /hello is an x86-64 executable, statically linked, where linux/arm64 runs aarch64 …`, with the cause and fix. */
export function describeForeign(platform: Platform, foreign: readonly ForeignExecutable[], hostArch: string): string {
  const [first, ...more] = foreign
  if (!first) return ''
  const name = (f: ForeignExecutable): string => (f.target ? `${f.path} (→ ${f.target})` : f.path)
  const others = more.length ? ` (and ${more.length} more: ${more.slice(0, 5).map(name).join(', ')}${more.length > 5 ? ', …' : ''})` : ''
  const builtFor = elfArchitecture(first.header)
  const cause =
    builtFor === hostArch
      ? `it was built for the runner's own architecture (${builtFor}): likely a build stage FROM a single-architecture image (BuildKit then uses that one image for every platform, so the compiler runs natively and builds for ${builtFor}), or a cross-compile that does not pass the target (GOARCH=$TARGETARCH for Go, --target for cargo and clang)`
      : `binaries of another platform were copied in: check the COPY --from and ADD that bring in ${first.path}, and the platform of the image they come from`
  return (
    `${formatPlatform(platform)}: ${name(first)} is ${describeElf(first.header)}, but ${formatPlatform(platform)} runs ${expectedMachine(platform)} executables${others}. ` +
    `Cause: ${cause}. Fix: build the stage FROM a multi-architecture image with --platform=$BUILDPLATFORM and compile for the target (GOOS=$TARGETOS GOARCH=$TARGETARCH), then COPY --from it; the image would fail with "exec format error" on real ${platform.architecture} machines. ` +
    `If the image holds ${first.path} of another architecture on purpose (an emulator such as qemu-*-static), list it in architecture-check-skip`
  )
}

export interface ArchitectureReport {
  platform: string
  /** ELF and other files looked at (entrypoint and PATH directories). */
  checked: number
  foreign: ForeignExecutable[]
  /** Executables of another architecture at a path `architecture-check-skip` lists. */
  skipped: ForeignExecutable[]
}

/** What the check reads: the build's export (oci-export.ts, or a local one: oci-layout.ts); unit tests pass fixtures. */
export type BlobSource = Pick<OciExport, 'json' | 'layer' | 'platformManifests' | 'hasManifest'>

export class ArchitectureError extends Error {
  override name = 'ArchitectureError'
}

export interface CheckOptions {
  /** Platform → manifest digest as the registry serves it: every one must be in the build's export, the same. */
  expected?: Readonly<Record<string, string>>
  /** Platforms checked at once; default the runner's cores. */
  concurrency?: number
  /** `architecture-check` and `architecture-check-skip`; default `error`, nothing skipped. */
  settings?: ArchitectureSettings
}

/**
 * Reads every platform image of the build's export and fails, naming each platform and file, when one holds
 * executables of another architecture. Nothing has been tagged yet when this runs.
 */
export async function checkArchitectures(exported: BlobSource, hostArch: string, options: CheckOptions = {}): Promise<ArchitectureReport[]> {
  // What the registry serves must be in the build's export, byte for byte (by digest); else the export's own.
  const expected = Object.entries(options.expected ?? {})
  const held = await Promise.all(expected.map(([, digest]) => exported.hasManifest(digest)))
  const mismatch = expected.filter((_, i) => !held[i]).map(([platform, digest]) => `${platform}: the registry serves ${digest}, which the build's export does not hold`)
  if (mismatch.length > 0) throw new ArchitectureError(`the registry does not hold what this build produced (${mismatch.join('; ')}); no tag moved`)
  const { mode, skip } = options.settings ?? { mode: 'error', skip: [] }
  if (mode === 'off') {
    log.info('architecture-check: off: no executable is read')
    return []
  }
  const skipPatterns = skip.map(pathPattern)
  const local = options.expected ? { ...options.expected } : await exported.platformManifests()
  const platforms = Object.entries(local)
  const reports = await mapLimited(platforms, options.concurrency ?? availableParallelism(), async ([name, digest]) => {
    const platform = parsePlatform(name)
    const manifest = await exported.json<ImageManifest>(digest)
    const config = await exported.json<ImageConfigFile>(manifest.config.digest)
    const changes = await Promise.all(manifest.layers.map(l => layerOf(exported, l.digest, l.mediaType, name)))
    const { checked, foreign, skipped } = foreignExecutables(applyLayers(changes), config, platform, skipPatterns)
    const size = manifest.layers.reduce((sum, l) => sum + l.size, 0)
    const skippedText = skipped.length === 0 ? '' : `; ${skipped.length} of another architecture skipped (architecture-check-skip): ${skipped.map(f => `${f.path} (built for ${elfArchitecture(f.header)})`).join(', ')}`
    log.info(
      `${name}: ${checked} executable(s) checked in ${manifest.layers.length} layer(s) (${formatBytes(size)}): ${foreign.length === 0 ? `all ${expectedMachine(platform)}` : `${foreign.length} of another architecture`}${skippedText}`
    )
    return { platform: name, checked, foreign, skipped }
  })
  const failures = reports.filter(r => r.foreign.length > 0).map(r => describeForeign(parsePlatform(r.platform), r.foreign, hostArch))
  if (failures.length > 0 && mode === 'warn') for (const failure of failures) core.warning(`${failure} (architecture-check: warn: the run goes on)`)
  else if (failures.length > 0) throw new ArchitectureError(`${failures.join('\n')}\nNo tag moved.`)
  return reports
}

/** One layer's changes, or one error naming the layer and the platform. */
async function layerOf(exported: BlobSource, digest: string, mediaType: string, platform: string): Promise<LayerChanges> {
  try {
    return await exported.layer(digest, mediaType)
  } catch (error) {
    const cause = error instanceof Error ? error.message : String(error)
    throw new ArchitectureError(`the architecture check could not read layer ${digest} of ${platform} from the build's export: ${cause}; no tag moved`, { cause: error })
  }
}
