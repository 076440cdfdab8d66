/**
 * Where new toolchain releases are read for `mode: check`, and which of them a check may move to:
 *
 * - Go: the download list (`https://go.dev/dl/?mode=json&include=all`), newest first, with the `sha256` of every
 *   archive; only entries with `stable: true` count.
 * - Kubernetes: the release markers (`https://dl.k8s.io/release/stable-1.N.txt`, `stable.txt` for the newest
 *   minor), one version per file.
 * - LLVM (only when `llvm-releases-url` is set): releases in the GitHub releases API shape of `llvm/llvm-project`
 *   (`tag_name: llvmorg-X.Y.Z`); drafts and prereleases never count.
 *
 * `update: patch` moves to the newest release of the minor in use, `minor` to the newest of the major in use.
 * A source that cannot be reached, answers an HTTP error or answers something unexpected is a
 * {@link ReleaseSourceError} naming the URL and what was wrong: a check never guesses.
 */
import { InputError, readChoice, type InputReader } from '../core/input.js'

export type UpdatePolicy = 'patch' | 'minor'
export const UPDATE_POLICIES: readonly UpdatePolicy[] = ['patch', 'minor']

export const DEFAULT_GO_RELEASES_URL = 'https://go.dev/dl/?mode=json&include=all'
export const DEFAULT_K8S_RELEASES_URL = 'https://dl.k8s.io/release'

/** How long one request to a release source may take, connecting and reading included. */
export const REQUEST_TIMEOUT_MS = 60_000

export interface CheckSettings {
  /** `update`: how far a version may move. */
  policy: UpdatePolicy
  /** `update-versions`: rewrite the versions file / Dockerfile ARG defaults in place. */
  updateVersions: boolean
  /** `go-releases-url`. */
  goUrl: string
  /** `k8s-releases-url`: the directory of the `stable-1.N.txt` markers. */
  k8sUrl: string
  /** `llvm-releases-url`; undefined: LLVM is not checked. */
  llvmUrl?: string
}

/** Reads the inputs of `mode: check`. Called from `readSettings`. */
export function readCheckSettings(read: InputReader): CheckSettings {
  const url = (input: string, fallback: string): string => {
    const value = read(input).trim() || fallback
    if (value === '') return ''
    let parsed: URL
    try {
      parsed = new URL(value)
    } catch {
      throw new InputError(input, `"${value}" is not a URL: write an http or https URL${fallback ? ` such as ${fallback}` : ''}`)
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
      throw new InputError(input, `"${value}" is not an http or https URL: write one${fallback ? ` such as ${fallback}` : ''}`)
    }
    return value
  }
  const settings: CheckSettings = {
    policy: readChoice(read, 'update', UPDATE_POLICIES, 'patch'),
    updateVersions: readChoice(read, 'update-versions', ['true', 'false'], 'true') === 'true',
    goUrl: url('go-releases-url', DEFAULT_GO_RELEASES_URL),
    k8sUrl: url('k8s-releases-url', DEFAULT_K8S_RELEASES_URL)
  }
  const llvm = url('llvm-releases-url', '')
  if (llvm !== '') settings.llvmUrl = llvm
  return settings
}

/** A release source that failed or answered something unexpected: the message names the URL and what was wrong. */
export class ReleaseSourceError extends Error {
  constructor(
    readonly url: string,
    problem: string,
    input: string
  ) {
    super(`${url}: ${problem}; nothing was changed. Check the source, or point "${input}" at a mirror that serves it`)
    this.name = 'ReleaseSourceError'
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Versions and the policy

/** A release version: its numbers (`[1, 25, 5]`) and how it is written without a prefix (`1.25.5`). */
export interface ReleaseVersion {
  numbers: [number, number, number]
  text: string
}

/** `1.25.5`, `1.25` (Go before 1.21 named first releases so) → numbers; anything else (a prerelease) → undefined. */
export function parseReleaseVersion(text: string): ReleaseVersion | undefined {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?$/.exec(text)
  if (!m) return undefined
  return { numbers: [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)], text }
}

export function compareVersions(a: ReleaseVersion, b: ReleaseVersion): number {
  for (let i = 0; i < 3; i++) {
    const d = a.numbers[i]! - b.numbers[i]!
    if (d !== 0) return d
  }
  return 0
}

/** Whether `policy` allows moving from `current` to `candidate`: same minor (`patch`) or same major (`minor`), and newer. */
export function allowed(policy: UpdatePolicy, current: ReleaseVersion, candidate: ReleaseVersion): boolean {
  const [major, minor] = current.numbers
  if (candidate.numbers[0] !== major) return false
  if (policy === 'patch' && candidate.numbers[1] !== minor) return false
  return compareVersions(candidate, current) > 0
}

/** The newest of `candidates` the policy allows from `current`; undefined when none is newer. */
export function newestAllowed<T extends { version: ReleaseVersion }>(policy: UpdatePolicy, current: ReleaseVersion, candidates: readonly T[]): T | undefined {
  let best: T | undefined
  for (const candidate of candidates) {
    if (!allowed(policy, current, candidate.version)) continue
    if (!best || compareVersions(candidate.version, best.version) > 0) best = candidate
  }
  return best
}

// ---------------------------------------------------------------------------------------------------------------
// Fetching

/** One GET with a timeout; the body as text, or a {@link ReleaseSourceError} naming the URL. */
export async function fetchText(url: string, input: string, timeoutMs = REQUEST_TIMEOUT_MS): Promise<string> {
  let response: Response
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { 'user-agent': 'go-build-action' }, redirect: 'follow' })
  } catch (error) {
    const e = error as Error & { cause?: { code?: string; message?: string } }
    if (e.name === 'TimeoutError') throw new ReleaseSourceError(url, `no answer within ${timeoutMs / 1000} s`, input)
    throw new ReleaseSourceError(url, `could not be reached (${e.cause?.code ?? e.cause?.message ?? e.message})`, input)
  }
  let body: string
  try {
    body = await response.text()
  } catch (error) {
    const e = error as Error
    throw new ReleaseSourceError(url, e.name === 'TimeoutError' ? `no complete answer within ${timeoutMs / 1000} s` : `the answer broke off (${e.message})`, input)
  }
  if (!response.ok) throw new ReleaseSourceError(url, `answered HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`, input)
  return body
}

function parseJson(text: string, url: string, input: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch (error) {
    throw new ReleaseSourceError(url, `did not answer JSON (${(error as Error).message})`, input)
  }
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)

// ---------------------------------------------------------------------------------------------------------------
// Go

export interface GoFile {
  filename: string
  os: string
  arch: string
  kind: string
  sha256: string
}

export interface GoRelease {
  version: ReleaseVersion
  files: GoFile[]
}

/**
 * The stable releases of a Go download list (`[{version: "go1.25.5", stable: true, files: [...]}, …]`).
 * Unstable entries (`go1.26rc1`) are dropped; an entry or file that is not in the list's shape is an error.
 */
export function parseGoReleases(text: string, url: string): GoRelease[] {
  const input = 'go-releases-url'
  const list = parseJson(text, url, input)
  if (!Array.isArray(list)) throw new ReleaseSourceError(url, 'answered JSON that is not a list of releases (expected the shape of https://go.dev/dl/?mode=json)', input)
  const releases: GoRelease[] = []
  list.forEach((entry: unknown, i) => {
    const where = `entry ${i + 1}`
    if (!isObject(entry) || typeof entry.version !== 'string' || typeof entry.stable !== 'boolean' || !Array.isArray(entry.files)) {
      throw new ReleaseSourceError(url, `${where} is not a release ({version, stable, files})`, input)
    }
    if (!entry.stable) return
    // `go1.25.5`, `go1.20` (first releases before Go 1.21), `go1` (Go 1.0)
    const bare = /^go\d+$/.test(entry.version) ? `${entry.version.slice(2)}.0` : entry.version.slice(2)
    const version = entry.version.startsWith('go') ? parseReleaseVersion(bare) : undefined
    if (!version) throw new ReleaseSourceError(url, `${where}: "${entry.version}" is marked stable but is not a release version such as go1.25.5`, input)
    const files = entry.files.map((file: unknown, j): GoFile => {
      const ok =
        isObject(file) &&
        typeof file.filename === 'string' &&
        typeof file.os === 'string' &&
        typeof file.arch === 'string' &&
        typeof file.kind === 'string' &&
        typeof file.sha256 === 'string'
      if (!ok) throw new ReleaseSourceError(url, `${where} (${entry.version}), file ${j + 1} is not {filename, os, arch, kind, sha256}`, input)
      return { filename: file.filename as string, os: file.os as string, arch: file.arch as string, kind: file.kind as string, sha256: file.sha256 as string }
    })
    releases.push({ version, files })
  })
  if (releases.length === 0) throw new ReleaseSourceError(url, 'lists no stable Go release', input)
  return releases
}

/** The Go archive architecture of a versions-file checksum key or a platform architecture (`arm` → `armv6l`). */
export function goArch(key: string): string {
  return /^arm(v[5-7]l?)?$/.test(key) ? 'armv6l' : key
}

/**
 * The `sha256` of the `linux-ARCH` archive of a release for each key (`amd64`, `arm64`, …); a missing archive or a
 * malformed sum is an error: the versions file would name a checksum the release does not have.
 */
export function goChecksums(release: GoRelease, keys: readonly string[], url: string): Record<string, string> {
  const sums: Record<string, string> = {}
  for (const key of keys) {
    const arch = goArch(key)
    const file = release.files.find(f => f.os === 'linux' && f.arch === arch && f.kind === 'archive')
    if (!file) throw new ReleaseSourceError(url, `go${release.version.text} has no linux-${arch} archive, which the checksum key "${key}" needs`, 'go-releases-url')
    if (!/^[0-9a-f]{64}$/.test(file.sha256)) {
      throw new ReleaseSourceError(url, `the sha256 of ${file.filename} ("${file.sha256}") is not 64 hexadecimal digits`, 'go-releases-url')
    }
    sums[key] = file.sha256
  }
  return sums
}

export async function fetchGoReleases(url: string): Promise<GoRelease[]> {
  return parseGoReleases(await fetchText(url, 'go-releases-url'), url)
}

// ---------------------------------------------------------------------------------------------------------------
// Kubernetes

/** The URL of the release marker a policy reads: `stable-1.N.txt` for `patch`, `stable.txt` for `minor`. */
export function k8sMarkerUrl(base: string, policy: UpdatePolicy, current: ReleaseVersion): string {
  const [major, minor] = current.numbers
  const name = policy === 'patch' ? `stable-${major}.${minor}.txt` : major === 1 ? 'stable.txt' : `stable-${major}.txt`
  return `${base.replace(/\/+$/, '')}/${name}`
}

/** A release marker's content (`v1.34.3` and a newline) → the version; anything else is an error. */
export function parseK8sMarker(text: string, url: string): ReleaseVersion {
  const line = text.trim()
  const version = /^v\d+\.\d+\.\d+$/.test(line) ? parseReleaseVersion(line.slice(1)) : undefined
  if (!version) {
    const shown = line.length > 60 ? `${line.slice(0, 60)}…` : line
    throw new ReleaseSourceError(url, `answered "${shown}", not a release marker such as v1.34.3`, 'k8s-releases-url')
  }
  return version
}

export async function fetchK8sMarker(url: string): Promise<ReleaseVersion> {
  return parseK8sMarker(await fetchText(url, 'k8s-releases-url'), url)
}

// ---------------------------------------------------------------------------------------------------------------
// LLVM

/**
 * The releases of a GitHub releases API answer (`[{tag_name: "llvmorg-18.1.8", draft, prerelease}, …]`): drafts,
 * prereleases and tags other than `llvmorg-X.Y.Z` (`llvmorg-19.1.0-rc1`) are dropped.
 */
export function parseLlvmReleases(text: string, url: string): Array<{ version: ReleaseVersion }> {
  const input = 'llvm-releases-url'
  const list = parseJson(text, url, input)
  if (!Array.isArray(list)) throw new ReleaseSourceError(url, 'answered JSON that is not a list of releases (expected the GitHub releases API shape)', input)
  const releases: Array<{ version: ReleaseVersion }> = []
  list.forEach((entry: unknown, i) => {
    if (!isObject(entry) || typeof entry.tag_name !== 'string') throw new ReleaseSourceError(url, `entry ${i + 1} is not a release ({tag_name, draft, prerelease})`, input)
    if (entry.draft === true || entry.prerelease === true) return
    const m = /^llvmorg-(\d+\.\d+\.\d+)$/.exec(entry.tag_name)
    const version = m ? parseReleaseVersion(m[1]!) : undefined
    if (version) releases.push({ version })
  })
  if (releases.length === 0) throw new ReleaseSourceError(url, 'lists no LLVM release (no tag_name such as llvmorg-18.1.8 that is neither a draft nor a prerelease)', input)
  return releases
}

export async function fetchLlvmReleases(url: string): Promise<Array<{ version: ReleaseVersion }>> {
  return parseLlvmReleases(await fetchText(url, 'llvm-releases-url'), url)
}
