/**
 * Reading raw inputs: the reader type, the user-facing input error, and list/boolean/number/platform helpers.
 */
import { parsePlatform, PlatformError, type Platform } from './platform.js'

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

/** Splits a list input on newlines and commas; trims; drops empty items and `#` comment lines. */
export function splitList(value: string): string[] {
  return value
    .split('\n')
    .filter(line => !line.trim().startsWith('#'))
    .flatMap(line => line.split(','))
    .map(item => item.trim())
    .filter(item => item !== '')
}

/** Splits a list input on newlines only (for items that may hold commas, like cache and annotation specs). */
export function splitLines(value: string): string[] {
  return value
    .split('\n')
    .map(line => line.trim())
    .filter(line => line !== '' && !line.startsWith('#'))
}

export function readBoolean(read: InputReader, name: string, fallback: boolean): boolean {
  const value = read(name).trim().toLowerCase()
  if (value === '') return fallback
  if (['true', 'yes', 'on', '1'].includes(value)) return true
  if (['false', 'no', 'off', '0'].includes(value)) return false
  throw new InputError(name, `"${read(name).trim()}" is not a boolean: write true or false`)
}

const BOOLEAN_WORDS: Record<string, string> = { yes: 'true', on: 'true', '1': 'true', no: 'false', off: 'false', '0': 'false' }

/** Reads an input that takes one of fixed words (case-insensitive; yes/on/1 mean true where true is a choice). */
export function readChoice<T extends string>(read: InputReader, name: string, choices: readonly T[], fallback: T): T {
  const raw = read(name).trim()
  if (raw === '') return fallback
  const lower = raw.toLowerCase()
  const value = (choices as readonly string[]).includes('true') ? (BOOLEAN_WORDS[lower] ?? lower) : lower
  if ((choices as readonly string[]).includes(value)) return value as T
  throw new InputError(name, `"${raw}" is not valid: write one of ${choices.join(', ')}`)
}

export function readNumber(read: InputReader, name: string, fallback: number, min: number, max: number): number {
  const text = read(name).trim()
  if (text === '') return fallback
  const value = Number(text)
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new InputError(name, `"${text}" is not a number from ${min} to ${max}: write one in that range`)
  }
  return value
}

/** Splits a command line into words: spaces separate, '…' and "…" quote, \ escapes. No shell runs it. */
export function splitCommand(command: string): string[] {
  const words: string[] = []
  let current = ''
  let inWord = false
  let quote: '"' | "'" | undefined
  for (let i = 0; i < command.length; i++) {
    const c = command[i]!
    if (quote) {
      if (c === quote) quote = undefined
      else if (c === '\\' && quote === '"' && i + 1 < command.length) current += command[++i]
      else current += c
    } else if (c === '"' || c === "'") {
      quote = c
      inWord = true
    } else if (c === '\\' && i + 1 < command.length) {
      current += command[++i]
      inWord = true
    } else if (/\s/.test(c)) {
      if (inWord) words.push(current)
      current = ''
      inWord = false
    } else {
      current += c
      inWord = true
    }
  }
  if (quote) throw new Error(`unterminated ${quote} quote`)
  if (inWord) words.push(current)
  return words
}

/**
 * A download URL template with `{version}` (and optionally `{os}`, `{arch}`), for mirrors of a tool's releases
 * (`buildx-download-url`, `cosign-download-url`); `fallback` where the input is empty. https only: the binary runs
 * with the job's credentials (cosign with the signing key). Plain http is accepted for a loopback host alone (a
 * mirror on the runner itself), where no network lies between the two.
 */
export function readUrlTemplate(read: InputReader, name: string, fallback: string): string {
  const template = read(name).trim() || fallback
  if (!template.includes('{version}')) throw new InputError(name, 'has no {version} placeholder: write a URL template like the default')
  let url: URL
  try {
    url = new URL(template.replace(/\{(version|os|arch)\}/g, 'x'))
  } catch {
    throw new InputError(name, `"${template}" is not a URL template`)
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
    throw new InputError(
      name,
      `"${template}" is not an https:// URL: the binary it names runs with the job's credentials (cosign with the signing key), so it must not travel over a connection others can change. Write an https:// URL (http:// is accepted only for a mirror on the runner's own loopback: 127.0.0.1, [::1] or localhost)`
    )
  }
  return template
}

/** Whether a URL's host is this machine's loopback (127.0.0.0/8, ::1, localhost): traffic that never leaves it. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1')
  return host === 'localhost' || host === '::1' || /^127(?:\.\d{1,3}){3}$/.test(host)
}

/** A `--build-arg` value, as given (`build-args`) or derived from the versions. */
export interface BuildArg {
  name: string
  value: string
}

/** A build secret (`--secret id=...`), given to buildx as a file; its value is masked. */
export interface BuildSecret {
  id: string
  value: string
}

/** A platform an input names; one that is not is that input's error (`where`: the place in the input, for the message). */
export function inputPlatform(input: string, text: string, where = ''): Platform {
  try {
    return parsePlatform(text)
  } catch (error) {
    if (error instanceof PlatformError) throw new InputError(input, `${where}${error.message}`)
    throw error
  }
}
