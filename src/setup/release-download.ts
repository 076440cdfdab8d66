/**
 * A tool's release binary, downloaded from a URL template and checked against the sha256 this action pins for it
 * (cosign's default release), else against the checksums file its release publishes beside it (buildx's
 * `checksums.txt`, cosign's `cosign_checksums.txt`, from the same origin as the binary). The runner's tool cache
 * keeps it between jobs, and is checked the same way at every use. buildx-install.ts and cosign-install.ts name the
 * tool, the file, the pins and the inputs; this is the one download.
 */
import * as core from '@actions/core'
import * as tc from '@actions/tool-cache'
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { chmod, copyFile, readFile, rename, rm } from 'node:fs/promises'
import * as path from 'node:path'
import { errorMessage } from '../core/errors.js'
import * as log from '../core/log.js'

/** Fills a download URL template (`{version}`, `{os}`, `{arch}`); Windows binaries end in `.exe`. */
export function releaseUrl(template: string, version: string, os: string, arch: string): string {
  const url = template.replaceAll('{version}', version).replaceAll('{os}', os).replaceAll('{arch}', arch)
  return os === 'windows' && !url.endsWith('.exe') ? `${url}.exe` : url
}

/** The checksums file `name` beside a release file (same directory, no query). */
export function checksumsUrl(fileUrl: string, name = 'checksums.txt'): string {
  const url = new URL(fileUrl)
  url.pathname = `${url.pathname.slice(0, url.pathname.lastIndexOf('/') + 1)}${name}`
  url.search = ''
  return url.toString()
}

/** Parses `sha256sum` output (`<hex>  name` or `<hex> *name`) into file name → lowercase hex digest. */
export function parseChecksums(text: string): Map<string, string> {
  const sums = new Map<string, string>()
  for (const line of text.split('\n')) {
    const m = /^([0-9a-fA-F]{64})\s+\*?(.+?)\s*$/.exec(line)
    if (m && m[1] && m[2]) sums.set(path.posix.basename(m[2]), m[1].toLowerCase())
  }
  return sums
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

export interface ReleaseDownload {
  /** `buildx 0.30.1`: how messages name what is downloaded. */
  what: string
  url: string
  /** The checksums file's name in the release (`checksums.txt`). */
  checksumsFile: string
  /**
   * The sha256 this action pins for the file (the release it defaults to, for this os/arch), checked instead of the
   * release's checksums file, which comes from the same place as the binary.
   */
  pinned?: string
  /** The input that points at a mirror (`buildx-download-url`). */
  urlInput: string
  /** How a failed download is fixed, naming the inputs (`check "buildx-version", or point …`). */
  fix: string
  /** The error class of the tool's install, so that callers can tell its failures apart. */
  fail: (message: string, options?: ErrorOptions) => Error
}

/** The sha256 a release file must have, and where that comes from (for messages). */
export interface ExpectedSum {
  sha256: string
  /** `the sha256 this action pins for cosign-linux-amd64`, or the checksums file's URL. */
  source: string
}

/** The file's pinned sha256, else the one its release's checksums file lists (downloaded now). */
export async function expectedSum({ what, url, checksumsFile, pinned, fix, fail }: ReleaseDownload): Promise<ExpectedSum> {
  const fileName = path.posix.basename(new URL(url).pathname)
  if (pinned) return { sha256: pinned, source: `the sha256 this action pins for ${what} (${fileName})` }
  const sumsUrl = checksumsUrl(url, checksumsFile)
  let sumsFile: string
  try {
    sumsFile = await tc.downloadTool(sumsUrl)
  } catch (error) {
    throw fail(`cannot download ${what}'s checksums from ${sumsUrl}: ${errorMessage(error)}: ${fix}`, { cause: error })
  }
  const sha256 = parseChecksums(await readFile(sumsFile, 'utf8')).get(fileName)
  await rm(sumsFile, { force: true })
  if (!sha256) throw fail(`${sumsUrl} lists no checksum for ${fileName}; nothing was installed: ${fix}`)
  return { sha256, source: sumsUrl }
}

/** Downloads the binary; returns its path once its sha256 is the expected one (the pinned one, or its release's). */
export async function downloadVerified(download: ReleaseDownload, expected?: ExpectedSum): Promise<string> {
  const { what, url, urlInput, fix, fail } = download
  const sum = expected ?? (await expectedSum(download))
  log.info(`downloading ${url}`)
  let binary: string
  try {
    binary = await tc.downloadTool(url)
  } catch (error) {
    throw fail(`cannot download ${what} from ${url}: ${errorMessage(error)}: ${fix}`, { cause: error })
  }
  const actual = await sha256File(binary)
  if (actual !== sum.sha256) {
    await rm(binary, { force: true })
    throw fail(
      `the ${what} download from ${url} has sha256 ${actual}, but ${sum.source} says ${sum.sha256}: nothing was installed. ` +
        `The download or the mirror is corrupt or tampered with; fix the mirror named by "${urlInput}"${download.pinned ? ' (it must serve the release\'s own file)' : ''}`
    )
  }
  log.info(`sha256 ${actual} matches ${sum.source}`)
  return binary
}

/**
 * `tool` `version` (the file `exe` of its release) installed as the file `destination`, in a directory of the job's
 * own: copied from the runner's tool cache, or downloaded, verified ({@link downloadVerified}), cached and copied.
 * The copy at `destination`, the file that runs, is what is checked against the pinned or the release's sha256,
 * so a tool cache someone else can write to (a self-hosted runner's, shared by its jobs) never decides what runs:
 * a cached binary that does not match is reported, downloaded again and replaced in the cache.
 */
export async function installRelease(
  tool: string,
  version: string,
  arch: string,
  exe: string,
  download: ReleaseDownload,
  destination: string
): Promise<'cache' | 'download'> {
  const expected = await expectedSum(download)
  const found = tc.find(tool, version, arch)
  if (found) {
    const cached = path.join(found, exe)
    const actual = await copyVerified(cached, destination, expected)
    if (actual === expected.sha256) {
      log.info(`${download.what} found in the tool cache (${found}); sha256 ${actual} matches ${expected.source}`)
      return 'cache'
    }
    core.warning(
      `the ${download.what} in the tool cache (${cached}) has sha256 ${actual ?? '(unreadable)'}, but ${expected.source} says ${expected.sha256}: ` +
        'it is not run. Something replaced it after it was cached; downloading the release again'
    )
  }
  const binary = await downloadVerified(download, expected)
  try {
    await tc.cacheFile(binary, exe, tool, version, arch).catch((error: unknown) => {
      core.warning(`cannot keep ${download.what} in the runner's tool cache (${errorMessage(error)}): this job uses the download, the next one downloads it again`)
    })
    const actual = await copyVerified(binary, destination, expected)
    if (actual !== expected.sha256) throw download.fail(`the ${download.what} download changed while it was installed (sha256 ${actual ?? '(unreadable)'}): nothing was installed`)
  } finally {
    await rm(binary, { force: true })
  }
  return 'download'
}

/**
 * Copies `source` to `destination` (aside first, renamed into place only when it matches) and returns the copy's
 * sha256: the copy is hashed, not the source, which someone could change in between. Undefined when unreadable.
 */
async function copyVerified(source: string, destination: string, expected: ExpectedSum): Promise<string | undefined> {
  const aside = `${destination}.${process.pid}.tmp`
  try {
    await copyFile(source, aside)
    const actual = await sha256File(aside)
    if (actual === expected.sha256) {
      await chmod(aside, 0o755)
      await rename(aside, destination)
    }
    return actual
  } catch {
    return undefined
  } finally {
    await rm(aside, { force: true })
  }
}
