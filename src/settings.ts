/**
 * Every input, parsed and validated once into one typed object. Nothing else reads inputs.
 */
import * as path from 'node:path'
import { DEFAULT_PLATFORMS, formatPlatform, parsePlatform, PlatformError, type Platform } from './platform.js'
import { readTagSettings, type TagSettings } from './tags.js'
import { readVersionSettings, type VersionSettings } from './versions.js'

export interface Settings {
  /** Build context directory. */
  context: string
  /** Dockerfile path (relative paths are relative to the working directory, as with `docker buildx build -f`). */
  file: string
  /** Repositories to publish to, e.g. `ghcr.io/org/go-build`, `localhost:5000/go-build`. */
  images: string[]
  /** Target platforms, deduplicated, in the order given. */
  platforms: Platform[]
  /** `--build-arg` values, in the order given. */
  buildArgs: BuildArg[]
  /** Where versions come from (see versions.ts). */
  versions: VersionSettings
  /** How tags are named, and whether to push (see tags.ts). */
  tagging: TagSettings
}

export interface BuildArg {
  name: string
  value: string
}

/** Reads one input's raw value ('' when unset), like `core.getInput`. */
export type InputReader = (name: string) => string

/** A problem with an input the user can fix; the message names the input. */
export class InputError extends Error {
  constructor(
    readonly input: string,
    problem: string
  ) {
    super(`input "${input}": ${problem}`)
    this.name = 'InputError'
  }
}

export function readSettings(read: InputReader): Settings {
  const context = read('context').trim() || '.'
  const file = read('file').trim() || path.join(context, 'Dockerfile')
  return {
    context,
    file,
    images: readImages(read),
    platforms: readPlatforms(read),
    buildArgs: readBuildArgs(read),
    versions: readVersionSettings(read),
    tagging: readTagSettings(read)
  }
}

/** Splits a list input on newlines and commas; trims; drops empty items and `#` comment lines. */
export function splitList(value: string): string[] {
  return value
    .split('\n')
    .filter(line => !line.trim().startsWith('#'))
    .flatMap(line => line.split(','))
    .map(item => item.trim())
    .filter(item => item !== '')
}

export function readBoolean(read: InputReader, name: string, fallback: boolean): boolean {
  const value = read(name).trim().toLowerCase()
  if (value === '') return fallback
  if (['true', 'yes', 'on', '1'].includes(value)) return true
  if (['false', 'no', 'off', '0'].includes(value)) return false
  throw new InputError(name, `"${read(name).trim()}" is not a boolean: write true or false`)
}

// The distribution reference grammar: [host[:port]/]path where path components are lowercase.
const HOST = String.raw`(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?`
const COMPONENT = String.raw`[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`
const REPOSITORY_RE = new RegExp(`^(?:${HOST}/)?${COMPONENT}(?:/${COMPONENT})*$`)
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/

/** Checks a repository name (no tag, no digest) against the distribution reference grammar. */
export function validateRepository(image: string): string | undefined {
  if (image.includes('@')) return 'give the repository without a digest'
  const lastSlash = image.lastIndexOf('/')
  if (image.slice(lastSlash + 1).includes(':')) return 'give the repository without a tag (tags come from "tags")'
  if (image.length > 255) return 'a repository name is at most 255 characters'
  if (!REPOSITORY_RE.test(image)) {
    const lower = image.toLowerCase()
    if (lower !== image && REPOSITORY_RE.test(lower.replace(/^[^/]*\//, m => m))) {
      return `repository names must be lowercase (did you mean "${lower}"?)`
    }
    return 'not a valid repository name: [registry[:port]/]path with lowercase letters, digits and . _ - / separators'
  }
  return undefined
}

/** Checks a tag against the OCI tag grammar `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`. */
export function validateTag(tag: string): string | undefined {
  if (tag.length > 128) return `a tag is at most 128 characters (this one has ${tag.length})`
  if (!TAG_RE.test(tag)) return 'a tag is letters, digits, _ . and -, starts with a letter, digit or _'
  return undefined
}

function readImages(read: InputReader): string[] {
  const images = unique(splitList(read('images')))
  if (images.length === 0) {
    throw new InputError('images', 'is empty: name at least one repository to publish to, e.g. ghcr.io/org/go-build')
  }
  for (const image of images) {
    const problem = validateRepository(image)
    if (problem) throw new InputError('images', `"${image}": ${problem}`)
  }
  return images
}

function readPlatforms(read: InputReader): Platform[] {
  const raw = splitList(read('platforms'))
  const items = raw.length > 0 ? raw : [...DEFAULT_PLATFORMS]
  const platforms: Platform[] = []
  for (const item of items) {
    let platform: Platform
    try {
      platform = parsePlatform(item)
    } catch (error) {
      if (error instanceof PlatformError) throw new InputError('platforms', error.message)
      throw error
    }
    if (!platforms.some(p => formatPlatform(p) === formatPlatform(platform))) platforms.push(platform)
  }
  return platforms
}

function readBuildArgs(read: InputReader): BuildArg[] {
  return read('build-args')
    .split('\n')
    .map(line => line.trim())
    .filter(line => line !== '' && !line.startsWith('#'))
    .map(line => {
      const eq = line.indexOf('=')
      const name = eq === -1 ? line : line.slice(0, eq)
      if (eq <= 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        throw new InputError('build-args', `"${line}" is not NAME=value (one per line)`)
      }
      return { name, value: line.slice(eq + 1) }
    })
}

function unique<T>(items: T[]): T[] {
  return [...new Set(items)]
}
