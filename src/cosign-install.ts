/**
 * cosign for `sign: true`: the one on PATH when it reports the pinned version or a newer one of the same major
 * (cosign 3 stores signatures differently), else the pinned release, downloaded (from GitHub, or the mirror
 * `cosign-download-url` names), checked against the release's `cosign_checksums.txt` and kept in the runner's tool
 * cache, as buildx-install.ts does for buildx.
 */
import * as core from '@actions/core'
import * as tc from '@actions/tool-cache'
import { chmod, readFile, rm } from 'node:fs/promises'
import * as path from 'node:path'
import { parseChecksums, sha256File } from './buildx-install.js'
import { createDocker, type Docker } from './docker.js'
import { errorMessage } from './errors.js'
import { InputError, type InputReader, readUrlTemplate } from './input.js'

/** The cosign release the action signs with (Debian trixie's too); a newer 2.x on PATH is used as it is. */
export const PINNED_COSIGN_VERSION = '2.5.0'

export const DEFAULT_COSIGN_DOWNLOAD_URL = 'https://github.com/sigstore/cosign/releases/download/v{version}/cosign-{os}-{arch}'

/** The checksums file of a cosign release, beside its binaries. */
const CHECKSUMS_FILE = 'cosign_checksums.txt'
const TOOL_NAME = 'cosign'

export interface CosignInstallSettings {
  /** The wanted version (`2.5.0`), or `installed`: the cosign on PATH, whatever version it reports. */
  version: string
  /** URL template with {version}, {os} and {arch}. */
  downloadUrl: string
}

export function readCosignInstallSettings(read: InputReader): CosignInstallSettings {
  const raw = read('cosign-version').trim()
  const version = raw === 'installed' ? raw : raw.replace(/^v/, '') || PINNED_COSIGN_VERSION
  if (version !== 'installed' && !/^\d+\.\d+\.\d+$/.test(version)) {
    throw new InputError('cosign-version', `"${raw}" is not a cosign release version: write it like ${PINNED_COSIGN_VERSION}, or "installed" for the cosign on PATH`)
  }
  const downloadUrl = readUrlTemplate(read, 'cosign-download-url', DEFAULT_COSIGN_DOWNLOAD_URL)
  return { version, downloadUrl }
}

/** cosign's names for the runner's OS and architecture, as in its release file names (`cosign-linux-amd64`). */
export function cosignPlatform(platform: string = process.platform, arch: string = process.arch): { os: string; arch: string } {
  const os = platform === 'win32' ? 'windows' : platform
  const archs: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' }
  return { os, arch: archs[arch] ?? arch }
}

/** Fills the URL template. */
export function cosignUrl(template: string, version: string, os: string, arch: string): string {
  const url = template.replaceAll('{version}', version).replaceAll('{os}', os).replaceAll('{arch}', arch)
  return os === 'windows' && !url.endsWith('.exe') ? `${url}.exe` : url
}

/** The release's `cosign_checksums.txt`, in the directory of the binary. */
export function cosignChecksumsUrl(fileUrl: string): string {
  const url = new URL(fileUrl)
  url.pathname = `${url.pathname.slice(0, url.pathname.lastIndexOf('/') + 1)}${CHECKSUMS_FILE}`
  url.search = ''
  return url.toString()
}

/** The version `cosign version --json` reports (`2.5.0` from `"gitVersion": "v2.5.0"`); undefined for `devel` builds. */
export function parseCosignVersion(output: string): string | undefined {
  try {
    const version = (JSON.parse(output) as { gitVersion?: unknown }).gitVersion
    const m = typeof version === 'string' ? /^v?(\d+\.\d+\.\d+)/.exec(version) : null
    return m?.[1]
  } catch {
    return undefined
  }
}

/** Whether `installed` is `wanted` or a newer release of the same major version. */
export function satisfies(installed: string | undefined, wanted: string): boolean {
  if (!installed) return false
  const parts = (v: string): number[] => v.split('.').map(Number)
  const [a = 0, b = 0, c = 0] = parts(installed)
  const [x = 0, y = 0, z = 0] = parts(wanted)
  return a === x && (b > y || (b === y && c >= z))
}

export class CosignInstallError extends Error {
  override name = 'CosignInstallError'
}

export interface CosignTool {
  /** The binary to run. */
  path: string
  /** The version it reports ('' for a build that reports none). */
  version: string
  source: 'path' | 'cache' | 'download'
}

/** The version the cosign at `binary` reports; undefined when it does not run or reports none. */
async function reportedVersion(runner: Docker): Promise<{ runs: boolean; version?: string }> {
  try {
    const result = await runner.run(['version', '--json'], { allowFailure: true, silent: true })
    return result.exitCode === 0 ? { runs: true, version: parseCosignVersion(result.stdout) } : { runs: false }
  } catch {
    return { runs: false }
  }
}

async function downloadVerified(settings: CosignInstallSettings, version: string, os: string, arch: string, unversionedOnPath: boolean): Promise<string> {
  const url = cosignUrl(settings.downloadUrl, version, os, arch)
  const fileName = path.posix.basename(new URL(url).pathname)
  const sumsUrl = cosignChecksumsUrl(url)
  const fix =
    'check "cosign-version", or point "cosign-download-url" at a mirror with the release layout' +
    (unversionedOnPath ? ', or set cosign-version: installed to sign with the cosign on PATH (it reports no version)' : '')
  core.info(`downloading ${url}`)
  let sumsFile: string
  try {
    sumsFile = await tc.downloadTool(sumsUrl)
  } catch (error) {
    throw new CosignInstallError(`cannot download cosign ${version}'s checksums from ${sumsUrl}: ${errorMessage(error)}: ${fix}`, { cause: error })
  }
  const expected = parseChecksums(await readFile(sumsFile, 'utf8')).get(fileName)
  await rm(sumsFile, { force: true })
  if (!expected) throw new CosignInstallError(`${sumsUrl} lists no checksum for ${fileName}; nothing was installed: ${fix}`)
  let binary: string
  try {
    binary = await tc.downloadTool(url)
  } catch (error) {
    throw new CosignInstallError(`cannot download cosign ${version} from ${url}: ${errorMessage(error)}: ${fix}`, { cause: error })
  }
  const actual = await sha256File(binary)
  if (actual !== expected) {
    await rm(binary, { force: true })
    throw new CosignInstallError(
      `the cosign ${version} download from ${url} has sha256 ${actual}, but ${sumsUrl} says ${expected}: nothing was installed. ` +
        'The download or the mirror is corrupt or tampered with; fix the mirror named by "cosign-download-url"'
    )
  }
  core.info(`sha256 ${actual} matches ${sumsUrl}`)
  return binary
}

/** The cosign to sign with: on PATH when it will do, else the pinned release from the tool cache or a download. */
export async function resolveCosign(settings: CosignInstallSettings, runnerFor: (binary: string) => Docker = createDocker): Promise<CosignTool> {
  const onPath = await reportedVersion(runnerFor('cosign'))
  if (settings.version === 'installed') {
    if (!onPath.runs) throw new CosignInstallError('cosign-version is "installed", but no cosign runs from PATH: install cosign on the runner, or name a version to download')
    core.info(`cosign ${onPath.version ?? '(a build that reports no version)'} from PATH (cosign-version: installed)`)
    return { path: 'cosign', version: onPath.version ?? '', source: 'path' }
  }
  const wanted = settings.version
  if (satisfies(onPath.version, wanted)) {
    core.info(`cosign ${onPath.version} from PATH (${wanted} or newer)`)
    return { path: 'cosign', version: onPath.version ?? '', source: 'path' }
  }
  const found = onPath.runs ? `cosign ${onPath.version ?? 'that reports no version'} is on PATH` : 'no cosign on PATH'
  core.info(`${found}; signing needs ${wanted} or a newer 2.x: using the pinned release`)
  const { os, arch } = cosignPlatform()
  const exe = os === 'windows' ? `${TOOL_NAME}.exe` : TOOL_NAME
  let dir = tc.find(TOOL_NAME, wanted, arch)
  let source: CosignTool['source'] = 'cache'
  if (dir) core.info(`cosign ${wanted} found in the tool cache: ${dir}`)
  else {
    const binary = await downloadVerified(settings, wanted, os, arch, onPath.runs && !onPath.version)
    dir = await tc.cacheFile(binary, exe, TOOL_NAME, wanted, arch)
    await rm(binary, { force: true })
    source = 'download'
  }
  const binary = path.join(dir, exe)
  await chmod(binary, 0o755)
  const installed = await reportedVersion(runnerFor(binary))
  if (!installed.runs) throw new CosignInstallError(`the cosign ${wanted} in the tool cache (${binary}) does not run on this runner (${os}/${arch})`)
  core.info(`cosign ${wanted} from ${source === 'cache' ? 'the tool cache' : 'the release'}: ${binary}`)
  return { path: binary, version: wanted, source }
}
