/**
 * Registry logins: `docker login --password-stdin` (the password never reaches argv), and logout in the post step
 * for exactly the registries this action logged into. With no login input, credentials an earlier step stored
 * (docker/login-action, `docker login`) are used as they are.
 */
import * as core from '@actions/core'
import { readFile, writeFile } from 'node:fs/promises'
import * as path from 'node:path'
import { isAlias, isMap, isScalar, isSeq, parseDocument } from 'yaml'
import { dockerConfigDir } from './buildx-install.js'
import { DockerCommandError, lastLines, type Docker } from './docker.js'
import { InputError, type InputReader } from './input.js'
import type { RetryPolicy } from './retry.js'

export interface RegistryLogin {
  /** Registry host (`ghcr.io`, `localhost:5001`); empty means Docker Hub. */
  registry: string
  username: string
  password: string
}

/**
 * `registry` + `username` + `password` for one registry, and `logins` (a YAML list of
 * `{registry, username, password}`) for several.
 */
export function readLogins(read: InputReader, mask: (secret: string) => void = () => undefined): RegistryLogin[] {
  const logins: RegistryLogin[] = []
  const registry = read('registry').trim()
  const username = read('username').trim()
  const password = read('password')
  maskVariants(password, mask)
  if (username || password) {
    if (!username) throw new InputError('username', 'is empty but "password" is set: give both, or neither')
    if (!password) throw new InputError('password', 'is empty but "username" is set: give both, or neither')
    logins.push({ registry, username, password: password.trim() })
  } else if (registry) {
    throw new InputError('registry', `is set (${registry}) but "username" and "password" are not: give them to log in, or drop "registry" to use the credentials an earlier step stored`)
  }
  const text = read('logins')
  if (text.trim()) {
    maskPasswordLines(text, mask)
    logins.push(...parseLogins(text))
  }
  const seen = new Set<string>()
  for (const login of logins) {
    if (seen.has(login.registry)) {
      throw new InputError('logins', `registry "${login.registry || 'docker.io'}" is given twice: log in to each registry once`)
    }
    seen.add(login.registry)
  }
  return logins
}

/** Masks a secret as written and as it may be read (trimmed, unquoted), before anything parses it. */
function maskVariants(value: string, mask: (secret: string) => void): void {
  const trimmed = value.trim()
  const unquoted = /^(['"])(.*)\1$/.exec(trimmed)?.[2]
  for (const variant of new Set([value, trimmed, unquoted, trimmed.split(/\s+#/)[0]?.trim()])) {
    if (variant && variant.trim() !== '') mask(variant)
  }
}

/** Masks the value of every `password:` line of the `logins` YAML as written, before the YAML parser sees it. */
export function maskPasswordLines(text: string, mask: (secret: string) => void): void {
  for (const line of text.split('\n')) {
    const value = /^\s*(?:-\s+)?password\s*:(.*)$/.exec(line)?.[1]
    if (value !== undefined) maskVariants(value, mask)
  }
}

/** What to do with a password YAML would read as something else than written. */
const PASSWORD_FIX = "quote it (password: 'the password', doubling any ' inside), or write password: ${{ toJSON(secrets.NAME) }}"

/**
 * The first line whose unquoted password YAML would not read as written: it starts with a character YAML
 * reserves (`!` tag, `&` anchor, `*` alias, `%` directive, `@`, backtick, `[`, `{`, `|`, `>`, `#`, …) or holds
 * ` #` (a comment) or `: ` (a mapping). Quoted passwords are YAML's own business.
 */
export function alteredPasswordLine(text: string): number | undefined {
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const value = /^\s*(?:-\s+)?password\s*:\s(.*)$/.exec(lines[i] ?? '')?.[1]?.trim()
    if (!value || value.startsWith("'") || value.startsWith('"')) continue
    if (/^[!&*%@`[\]{},|>#?:-](\s|$)|^[!&*%@`[\]{},|>#]/.test(value) || /\s#/.test(value) || /:(\s|$)/.test(value)) return i + 1
  }
  return undefined
}

/**
 * Parses the `logins` input. Messages never quote a line or a password. A password YAML would alter (a tag `!x`,
 * an anchor `&x`, an alias `*x`, a comment ` #x`, a leading `%`, `@` or backtick, …) is refused, naming the fix.
 */
export function parseLogins(text: string): RegistryLogin[] {
  const altered = alteredPasswordLine(text)
  if (altered !== undefined) {
    throw new InputError('logins', `the password on line ${altered} would be read by YAML as something else than written: ${PASSWORD_FIX}`)
  }
  // Failsafe schema: every value stays the text written (a password 0123 is not the number 123).
  const document = parseDocument(text, { schema: 'failsafe' })
  const [problem] = document.errors
  if (problem) {
    // The YAML parser's message can quote the offending line, which may hold a password: keep only its position.
    const line = problem.linePos?.[0]?.line
    throw new InputError('logins', `is not valid YAML${line ? ` (line ${line})` : ''}: write a list of {registry, username, password}`)
  }
  const contents = document.contents
  if (isSeq(contents)) {
    contents.items.forEach((item, i) => {
      if (!isMap(item)) return
      const pair = item.items.find(p => isScalar(p.key) && p.key.value === 'password')
      const value = pair?.value
      const altered = isAlias(value) || (isScalar(value) && (value.tag !== undefined || value.anchor !== undefined || value.comment !== undefined))
      if (altered) {
        throw new InputError('logins', `the password of entry ${i + 1} holds a YAML tag, anchor, alias or comment, so YAML would read it as something else than written: ${PASSWORD_FIX}`)
      }
    })
  }
  const doc: unknown = document.toJS()
  if (!Array.isArray(doc)) throw new InputError('logins', 'is not a YAML list: write one "- registry: HOST" entry with username and password per registry')
  return doc.map((entry: unknown, i) => {
    const item = entry as Record<string, unknown> | null
    const field = (name: string): string => {
      const value = item?.[name]
      return typeof value === 'string' ? value.trim() : ''
    }
    if (typeof item !== 'object' || item === null) throw new InputError('logins', `entry ${i + 1} is not a mapping of registry, username, password`)
    const unknown = Object.keys(item).filter(k => !['registry', 'username', 'password'].includes(k))
    if (unknown.length) throw new InputError('logins', `entry ${i + 1} has unknown key(s) ${unknown.join(', ')}: use registry, username, password`)
    const login = { registry: field('registry'), username: field('username'), password: field('password') }
    if (!login.registry) throw new InputError('logins', `entry ${i + 1} has no registry: give the registry host, e.g. ghcr.io`)
    if (!login.username || !login.password) throw new InputError('logins', `entry ${i + 1} (${login.registry}) needs both username and password: give both`)
    return login
  })
}

export function loginArgs(login: RegistryLogin): string[] {
  const args = ['login', '--username', login.username, '--password-stdin']
  if (login.registry) args.push(login.registry)
  return args
}

export async function loginTo(docker: Docker, login: RegistryLogin, retry: RetryPolicy): Promise<void> {
  const where = login.registry || 'docker.io'
  try {
    await docker.run(loginArgs(login), { input: login.password, retry, silent: true })
  } catch (error) {
    if (!(error instanceof DockerCommandError)) throw error
    const detail = lastLines(error.result.stderr || error.result.stdout, 1)
    if (error.failure.kind === 'auth') {
      throw new Error(`login to ${where} failed: the registry refused user "${login.username}" with the given password (${detail}); check the "username" and "password" inputs (or "logins", or the secret behind them)`, { cause: error })
    }
    throw new Error(`login to ${where} failed: ${detail}: check the registry host in input "registry" (or "logins") and that the registry is up`, {
      cause: error
    })
  }
}

export async function logoutFrom(docker: Docker, registry: string): Promise<void> {
  const args = registry ? ['logout', registry] : ['logout']
  await docker.run(args, { silent: true })
}

/** The docker CLI's config file, where `docker login` stores credentials (`$DOCKER_CONFIG/config.json`). */
export function dockerConfigFile(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(dockerConfigDir(env), 'config.json')
}

/** The key `docker login` stores a registry's credentials under ('' is Docker Hub). */
export function authKey(registry: string): string {
  return registry || 'https://index.docker.io/v1/'
}

/** Where the main step keeps the credentials a runner had before this run's logins (in its work directory, mode 0600). */
export function loginBackupFile(workDir: string): string {
  return path.join(workDir, 'logins-before.json')
}

async function readDockerConfig(file: string): Promise<Record<string, unknown>> {
  const text = await readFile(file, 'utf8').catch(() => '')
  try {
    const parsed: unknown = JSON.parse(text || '{}')
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {}
  } catch {
    return {}
  }
}

/** The `auths` entry a registry has in the docker config now, if any. */
export async function storedCredentials(registry: string, file = dockerConfigFile()): Promise<unknown> {
  const auths = (await readDockerConfig(file)).auths as Record<string, unknown> | undefined
  return auths?.[authKey(registry)]
}

/** Puts a registry's `auths` entry back as it was before this run logged in. */
export async function restoreCredentials(registry: string, entry: unknown, file = dockerConfigFile()): Promise<void> {
  const config = await readDockerConfig(file)
  const auths = { ...((config.auths as Record<string, unknown> | undefined) ?? {}), [authKey(registry)]: entry }
  await writeFile(file, `${JSON.stringify({ ...config, auths }, null, '\t')}\n`, { mode: 0o600 })
}

/**
 * Logs in to every registry in order. Where the runner already had credentials for a registry (a self-hosted
 * runner's own login), they are kept in `backupFile` first, for the post step to put back instead of logging out.
 * `remember` is told the registries logged into so far after each one, so the post step handles exactly those
 * even when a later login fails.
 */
export async function logInAll(
  docker: Docker,
  logins: readonly RegistryLogin[],
  retry: RetryPolicy,
  remember: (registries: string[]) => void,
  backupFile?: string
): Promise<void> {
  if (logins.length === 0) {
    core.info('no login inputs: using the credentials earlier steps stored')
    return
  }
  const loggedIn: string[] = []
  const before: Record<string, unknown> = {}
  for (const login of logins) {
    const stored = backupFile ? await storedCredentials(login.registry) : undefined
    if (stored !== undefined && backupFile) {
      before[authKey(login.registry)] = stored
      await writeFile(backupFile, JSON.stringify(before), { mode: 0o600 })
      core.info(`${login.registry || 'docker.io'} had credentials before this run: the post step puts them back`)
    }
    await loginTo(docker, login, retry)
    loggedIn.push(login.registry)
    remember([...loggedIn])
    core.info(`logged in to ${login.registry || 'docker.io'} as ${login.username}`)
  }
}
