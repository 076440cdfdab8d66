/**
 * A pinned buildx (`buildx-version`): when the installed one differs, download that release (from GitHub, or the
 * mirror `buildx-download-url` names), verify its sha256 against the release's checksums.txt, cache it in the
 * runner's tool cache, and install it as the docker CLI plugin of this job only. The version is the user's choice,
 * with no default this action could pin a sum for, so the sum comes from the release's checksums.txt, from the same
 * origin as the binary: a pinned buildx is as trustworthy as that origin over https (GitHub's release, or the
 * mirror). Every job reads checksums.txt again and checks the copy it installs, the tool cache's too, so a tool
 * cache others can write to never decides what runs. The plugin goes in the job's own DOCKER_CONFIG
 * (docker-config.ts), in place of its link to the runner's. The runner user's own `docker-buildx` is never
 * replaced, so later jobs get theirs.
 */
import * as core from '@actions/core'
import { rename } from 'node:fs/promises'
import * as path from 'node:path'
import type { Docker } from '../core/docker.js'
import { InputError, type InputReader, readUrlTemplate } from '../core/input.js'
import { installRelease, releaseUrl } from './release-download.js'
import * as log from '../core/log.js'

export const DEFAULT_BUILDX_DOWNLOAD_URL =
  'https://github.com/docker/buildx/releases/download/v{version}/buildx-v{version}.{os}-{arch}'

const TOOL_NAME = 'docker-buildx'

export interface BuildxInstallSettings {
  /** The wanted version without a leading `v` (`0.13.1`); undefined: use what is installed. */
  version?: string
  /** URL template with {version}, {os} and {arch}. */
  downloadUrl: string
}

export function readBuildxInstallSettings(read: InputReader): BuildxInstallSettings {
  const raw = read('buildx-version').trim()
  const version = raw.replace(/^v/, '') || undefined
  if (version !== undefined && !/^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?$/.test(version)) {
    throw new InputError('buildx-version', `"${raw}" is not a buildx release version: write it like 0.13.1`)
  }
  const downloadUrl = readUrlTemplate(read, 'buildx-download-url', DEFAULT_BUILDX_DOWNLOAD_URL)
  return { version, downloadUrl }
}

/** buildx's names for the runner's OS and architecture, as in its release file names. */
export function releasePlatform(platform: string = process.platform, arch: string = process.arch): { os: string; arch: string } {
  const os = platform === 'win32' ? 'windows' : platform
  const archs: Record<string, string> = {
    x64: 'amd64',
    arm64: 'arm64',
    arm: 'arm-v7',
    ppc64: 'ppc64le',
    s390x: 's390x',
    riscv64: 'riscv64',
    ia32: '386'
  }
  return { os, arch: archs[arch] ?? arch }
}

/** The version `docker buildx version` reports (`0.13.1+ds1` from "github.com/docker/buildx 0.13.1+ds1 ..."). */
export function parseBuildxVersion(output: string): string | undefined {
  const m = /buildx\s+v?(\d+\.\d+\.\d+[^\s]*)/.exec(output)
  return m?.[1]
}

/** Whether an installed version is the wanted one (build metadata after `+` does not count). */
export function sameVersion(installed: string | undefined, wanted: string): boolean {
  if (!installed) return false
  const strip = (v: string): string => v.replace(/^v/, '').split('+')[0] ?? ''
  return strip(installed) === strip(wanted)
}

export class BuildxInstallError extends Error {
  override name = 'BuildxInstallError'
}

export interface BuildxInstallResult {
  version: string
  /** `installed` (already the wanted version), `cache` or `download`. */
  source: 'installed' | 'cache' | 'download'
  plugin?: string
}

async function installedVersion(docker: Docker): Promise<string | undefined> {
  const result = await docker.run(['buildx', 'version'], { allowFailure: true, silent: true })
  return result.exitCode === 0 ? parseBuildxVersion(result.stdout) : undefined
}

/**
 * The buildx phase: nothing when unpinned or already the wanted version; else the plugin in the job's `dockerConfig`,
 * verified first in the run's `workDir`.
 */
export async function installBuildx(docker: Docker, settings: BuildxInstallSettings, workDir: string, dockerConfig: string): Promise<BuildxInstallResult | undefined> {
  const version = settings.version
  if (!version) return undefined
  const current = await installedVersion(docker)
  if (sameVersion(current, version)) {
    log.info(`buildx ${current} is installed: nothing to download`)
    return { version, source: 'installed' }
  }
  log.info(`buildx ${current ?? '(none)'} is installed; buildx-version asks for ${version}`)
  const { os, arch } = releasePlatform()
  const exe = os === 'windows' ? `${TOOL_NAME}.exe` : TOOL_NAME

  // verified where it is installed (the job's own directory), then moved into the job's DOCKER_CONFIG
  const verified = path.join(workDir, `${exe}.verified`)
  const source = await installRelease(
    TOOL_NAME,
    version,
    arch,
    exe,
    {
      what: `buildx ${version}`,
      url: releaseUrl(settings.downloadUrl, version, os, arch),
      checksumsFile: 'checksums.txt',
      urlInput: 'buildx-download-url',
      fix: 'check "buildx-version", or point "buildx-download-url" at a mirror with the release layout',
      fail: (message, options) => new BuildxInstallError(message, options)
    },
    verified
  )

  const plugin = path.join(dockerConfig, 'cli-plugins', exe)
  // replaces the link to the runner's plugin, never what it points at
  await rename(verified, plugin)
  log.info(`installed buildx ${version} as ${plugin}, for this job only (DOCKER_CONFIG ${dockerConfig}; the runner's own docker config and plugins are left as they are)`)

  const reported = await installedVersion(docker)
  if (!sameVersion(reported, version)) {
    core.warning(`buildx ${version} was installed as ${plugin}, but "docker buildx version" reports ${reported ?? 'nothing'}`)
  }
  return { version, source, plugin }
}
