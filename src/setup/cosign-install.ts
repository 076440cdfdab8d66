/**
 * cosign for `sign: true`: the one on PATH when it reports the pinned version or a newer one of the same major
 * (cosign 3 stores signatures differently), else the pinned release, downloaded (from GitHub, or the mirror
 * `cosign-download-url` names), checked against the sha256 this file pins for it ({@link PINNED_COSIGN_SHA256};
 * another `cosign-version` against its release's `cosign_checksums.txt`) and kept in the runner's tool cache, as
 * buildx-install.ts does for buildx. What runs is a copy in the job's own directory, checked again at every use:
 * a tool cache others can write to never chooses the program that gets the signing key and its password.
 */
import { mkdtemp } from 'node:fs/promises'
import * as path from 'node:path'
import { installRelease, releaseUrl } from './release-download.js'
import { createDocker, type Docker } from '../core/docker.js'
import { InputError, type InputReader, readUrlTemplate } from '../core/input.js'
import * as log from '../core/log.js'

/** The cosign release the action signs with (Debian trixie's too); a newer 2.x on PATH is used as it is. */
export const PINNED_COSIGN_VERSION = '2.5.0'

export const DEFAULT_COSIGN_DOWNLOAD_URL = 'https://github.com/sigstore/cosign/releases/download/v{version}/cosign-{os}-{arch}'

/**
 * The sha256 of each Linux binary of cosign {@link PINNED_COSIGN_VERSION} (the architectures GitHub's runner runs
 * on), as sigstore/cosign-installer pins them for the same release (its action.yml at fb28c2b, "bump cosign install
 * to use release v2.5.0"; the amd64 sum is pinned alike in other public repositories). The default release is checked
 * against these, never against a checksums file from the same place as the binary; another version, or an
 * architecture without a pin here, against its release's cosign_checksums.txt.
 */
export const PINNED_COSIGN_SHA256: Readonly<Record<string, string>> = {
  'linux-amd64': '1f6c194dd0891eb345b436bb71ff9f996768355f5e0ce02dde88567029ac2188',
  'linux-arm64': '080a998f9878f22dafdb9ad54d5b2e2b8e7a38c53527250f9d89a6763a28d545',
  'linux-arm': '9bc75f963a00957ec5ac5834ed26953fef5f05859f22e08b1655dadae24dc931'
}

/** The pinned sha256 of cosign `version` for os/arch (cosign's names), if this action pins one. */
export function pinnedCosignSha256(version: string, os: string, arch: string): string | undefined {
  return version === PINNED_COSIGN_VERSION ? PINNED_COSIGN_SHA256[`${os}-${arch}`] : undefined
}

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

/** The cosign to sign with: on PATH when it will do, else the pinned release (from the tool cache or a download), installed in `dir`. */
export async function resolveCosign(settings: CosignInstallSettings, dir: string, runnerFor: (binary: string) => Docker = createDocker): Promise<CosignTool> {
  const onPath = await reportedVersion(runnerFor('cosign'))
  if (settings.version === 'installed') {
    if (!onPath.runs) throw new CosignInstallError('cosign-version is "installed", but no cosign runs from PATH: install cosign on the runner, or name a version to download')
    log.info(`cosign ${onPath.version ?? '(a build that reports no version)'} from PATH (cosign-version: installed)`)
    return { path: 'cosign', version: onPath.version ?? '', source: 'path' }
  }
  const wanted = settings.version
  if (satisfies(onPath.version, wanted)) {
    log.info(`cosign ${onPath.version} from PATH (${wanted} or newer)`)
    return { path: 'cosign', version: onPath.version ?? '', source: 'path' }
  }
  const found = onPath.runs ? `cosign ${onPath.version ?? 'that reports no version'} is on PATH` : 'no cosign on PATH'
  log.info(`${found}; signing needs ${wanted} or a newer 2.x: using the pinned release`)
  const { os, arch } = cosignPlatform()
  const exe = os === 'windows' ? `${TOOL_NAME}.exe` : TOOL_NAME
  const unversionedOnPath = onPath.runs && !onPath.version
  const pinned = pinnedCosignSha256(wanted, os, arch)
  if (!pinned) log.info(`this action pins no sha256 for cosign ${wanted} ${os}/${arch}: checking it against the release's ${CHECKSUMS_FILE}`)
  // the copy that runs, in a directory of the job's own
  const binary = path.join(await mkdtemp(path.join(dir, 'cosign-')), exe)
  const source = await installRelease(
    TOOL_NAME,
    wanted,
    arch,
    exe,
    {
      what: `cosign ${wanted}`,
      url: releaseUrl(settings.downloadUrl, wanted, os, arch),
      checksumsFile: CHECKSUMS_FILE,
      pinned,
      urlInput: 'cosign-download-url',
      fix:
        'check "cosign-version", or point "cosign-download-url" at a mirror with the release layout' +
        (unversionedOnPath ? ', or set cosign-version: installed to sign with the cosign on PATH (it reports no version)' : ''),
      fail: (message, options) => new CosignInstallError(message, options)
    },
    binary
  )
  const installed = await reportedVersion(runnerFor(binary))
  if (!installed.runs) throw new CosignInstallError(`the cosign ${wanted} release (${binary}) does not run on this runner (${os}/${arch})`)
  log.info(`cosign ${wanted} from ${source === 'cache' ? 'the tool cache' : 'the release'}: ${binary}`)
  return { path: binary, version: wanted, source }
}
