/**
 * The architecture check: every platform image must hold executables for that platform. Running an image is not
 * enough: on a runner with QEMU an arm64 image whose binary is x86-64 "runs" (the x86-64 binary runs natively), and
 * fails with `exec format error` only on a real arm64 machine. That is what a build stage `FROM` a
 * single-architecture image produces: BuildKit uses its one manifest for every platform, the compiler runs
 * natively and builds for the runner.
 *
 * For each platform the image's config (entrypoint, command, PATH) and its layers are read from the registry by
 * digest (see registry-http.ts), not by running anything, so `FROM scratch` images without a shell are checked
 * the same way. Every layer is read, base layers included (a layer shared by several platforms is read once):
 * which layers come from the `FROM` image cannot be told from the image alone. Checked: the entrypoint's (or
 * command's) program and every file in the PATH directories and the usual bin directories; each ELF executable's machine, word size and byte
 * order must be the platform's (elf.ts).
 */
import * as core from '@actions/core'
import { describeElf, elfArchitecture, expectedMachine, readElfHeader, runsOn, type ElfHeader } from './elf.js'
import { applyLayers, readLayer, resolveEntry, type FileTree, type LayerChanges } from './layers.js'
import { formatPlatform, parsePlatform, type Platform } from './platform.js'
import { RegistryReader } from './registry-http.js'
import type { RetryPolicy } from './retry.js'
import { formatBytes } from './summary.js'

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

/** The executables a platform image holds that its platform cannot run. */
export function foreignExecutables(tree: FileTree, config: ImageConfigFile, platform: Platform): { checked: number; foreign: ForeignExecutable[] } {
  const { program, dirs } = programsToCheck(config)
  const paths = [...(program ? [program] : []), ...[...tree.keys()].filter(p => dirs.includes(p.slice(0, p.lastIndexOf('/')) || '/'))]
  const seen = new Set<string>()
  const foreign: ForeignExecutable[] = []
  for (const path of paths) {
    const resolved = resolveEntry(tree, path)
    if (!resolved?.entry.head || seen.has(resolved.path)) continue
    seen.add(resolved.path)
    const header = readElfHeader(resolved.entry.head)
    if (!header || (header.type !== 'executable' && header.type !== 'shared')) continue
    if (!runsOn(header, platform)) foreign.push(resolved.path === path ? { path, header } : { path, target: resolved.path, header })
  }
  return { checked: seen.size, foreign }
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
    `Cause: ${cause}. Fix: build the stage FROM a multi-architecture image with --platform=$BUILDPLATFORM and compile for the target (GOOS=$TARGETOS GOARCH=$TARGETARCH), then COPY --from it; the image would fail with "exec format error" on real ${platform.architecture} machines`
  )
}

export interface ArchitectureReport {
  platform: string
  /** ELF and other files looked at (entrypoint and PATH directories). */
  checked: number
  foreign: ForeignExecutable[]
}

/** What the check reads from a registry (registry-http.ts's RegistryReader; unit tests pass fixtures). */
export type BlobSource = Pick<RegistryReader, 'manifest' | 'jsonBlob' | 'blobStream'>

export class ArchitectureError extends Error {
  override name = 'ArchitectureError'
}

/**
 * Reads every platform image of the staged index from the registry and fails, naming each platform and file, when
 * one holds executables of another architecture. Nothing has been tagged yet when this runs.
 */
export async function checkArchitectures(
  repository: string,
  platformDigests: Readonly<Record<string, string>>,
  hostArch: string,
  retry: RetryPolicy,
  reader: BlobSource = new RegistryReader(repository, retry)
): Promise<ArchitectureReport[]> {
  const layers = new Map<string, Promise<LayerChanges>>()
  const reports: ArchitectureReport[] = []
  const failures: string[] = []
  for (const [name, digest] of Object.entries(platformDigests)) {
    const platform = parsePlatform(name)
    const manifest = await reader.manifest<ImageManifest>(digest)
    const config = await reader.jsonBlob<ImageConfigFile>(manifest.config.digest)
    const changes: LayerChanges[] = []
    for (const layer of manifest.layers) {
      if (!layers.has(layer.digest)) layers.set(layer.digest, reader.blobStream(layer.digest).then(blob => readLayer(blob, layer.mediaType)))
      changes.push(await layers.get(layer.digest)!)
    }
    const { checked, foreign } = foreignExecutables(applyLayers(changes), config, platform)
    const size = manifest.layers.reduce((sum, l) => sum + l.size, 0)
    core.info(`${name}: ${checked} executable(s) checked in ${manifest.layers.length} layer(s) (${formatBytes(size)}): ${foreign.length === 0 ? `all ${expectedMachine(platform)}` : `${foreign.length} of another architecture`}`)
    reports.push({ platform: name, checked, foreign })
    if (foreign.length > 0) failures.push(describeForeign(platform, foreign, hostArch))
  }
  if (failures.length > 0) throw new ArchitectureError(`${failures.join('\n')}\nNo tag moved.`)
  return reports
}
