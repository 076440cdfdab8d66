/**
 * A tool's release binary, downloaded from a URL template and checked against the checksums file its release
 * publishes beside it (buildx's `checksums.txt`, cosign's `cosign_checksums.txt`). buildx-install.ts and
 * cosign-install.ts name the tool, the file and the inputs; this is the one download.
 */
import * as tc from '@actions/tool-cache'
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { readFile, rm } from 'node:fs/promises'
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
  /** The input that points at a mirror (`buildx-download-url`). */
  urlInput: string
  /** How a failed download is fixed, naming the inputs (`check "buildx-version", or point …`). */
  fix: string
  /** The error class of the tool's install, so that callers can tell its failures apart. */
  fail: (message: string, options?: ErrorOptions) => Error
}

/** Downloads the checksums, then the binary; returns the binary's path once its sha256 matches. */
export async function downloadVerified({ what, url, checksumsFile, urlInput, fix, fail }: ReleaseDownload): Promise<string> {
  const fileName = path.posix.basename(new URL(url).pathname)
  const sumsUrl = checksumsUrl(url, checksumsFile)
  log.info(`downloading ${url}`)
  let sumsFile: string
  try {
    sumsFile = await tc.downloadTool(sumsUrl)
  } catch (error) {
    throw fail(`cannot download ${what}'s checksums from ${sumsUrl}: ${errorMessage(error)}: ${fix}`, { cause: error })
  }
  const expected = parseChecksums(await readFile(sumsFile, 'utf8')).get(fileName)
  await rm(sumsFile, { force: true })
  if (!expected) throw fail(`${sumsUrl} lists no checksum for ${fileName}; nothing was installed: ${fix}`)
  let binary: string
  try {
    binary = await tc.downloadTool(url)
  } catch (error) {
    throw fail(`cannot download ${what} from ${url}: ${errorMessage(error)}: ${fix}`, { cause: error })
  }
  const actual = await sha256File(binary)
  if (actual !== expected) {
    await rm(binary, { force: true })
    throw fail(
      `the ${what} download from ${url} has sha256 ${actual}, but ${sumsUrl} says ${expected}: nothing was installed. ` +
        `The download or the mirror is corrupt or tampered with; fix the mirror named by "${urlInput}"`
    )
  }
  log.info(`sha256 ${actual} matches ${sumsUrl}`)
  return binary
}

/**
 * The directory of `tool` `version` in the runner's tool cache (the file `exe` in it): found there, or downloaded,
 * verified ({@link downloadVerified}) and cached.
 */
export async function cachedRelease(
  tool: string,
  version: string,
  arch: string,
  exe: string,
  download: ReleaseDownload
): Promise<{ dir: string; source: 'cache' | 'download' }> {
  const found = tc.find(tool, version, arch)
  if (found) {
    log.info(`${download.what} found in the tool cache: ${found}`)
    return { dir: found, source: 'cache' }
  }
  const binary = await downloadVerified(download)
  const dir = await tc.cacheFile(binary, exe, tool, version, arch)
  await rm(binary, { force: true })
  return { dir, source: 'download' }
}
