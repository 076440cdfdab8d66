/**
 * Registry logins: `docker login --password-stdin` (the password never reaches argv), and logout in the post step
 * for exactly the registries this action logged into. With no login input, credentials an earlier step stored
 * (docker/login-action, `docker login`) are used as they are.
 */
import * as core from '@actions/core'
import { parse } from 'yaml'
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
export function readLogins(read: InputReader): RegistryLogin[] {
  const logins: RegistryLogin[] = []
  const registry = read('registry').trim()
  const username = read('username').trim()
  const password = read('password')
  if (username || password) {
    if (!username) throw new InputError('username', 'is empty but "password" is set: give both, or neither')
    if (!password) throw new InputError('password', 'is empty but "username" is set: give both, or neither')
    logins.push({ registry, username, password: password.trim() })
  } else if (registry) {
    throw new InputError('registry', `is set (${registry}) but "username" and "password" are not: give them to log in, or drop "registry" to use the credentials an earlier step stored`)
  }
  const text = read('logins')
  if (text.trim()) logins.push(...parseLogins(text))
  const seen = new Set<string>()
  for (const login of logins) {
    if (seen.has(login.registry)) {
      throw new InputError('logins', `registry "${login.registry || 'docker.io'}" is given twice: log in to each registry once`)
    }
    seen.add(login.registry)
  }
  return logins
}

/** Parses the `logins` input. Messages never quote a password. */
export function parseLogins(text: string): RegistryLogin[] {
  let doc: unknown
  try {
    // Failsafe schema: every value stays the text written (a password 0123 is not the number 123).
    doc = parse(text, { schema: 'failsafe' })
  } catch (error) {
    // The YAML parser's message can quote the offending line, which may hold a password: keep only its position.
    const position = (error as { linePos?: Array<{ line: number }> }).linePos?.[0]?.line
    throw new InputError('logins', `is not valid YAML${position ? ` (line ${position})` : ''}: write a list of {registry, username, password}`)
  }
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

/**
 * Logs in to every registry in order; `remember` is told the registries logged into so far after each one, so
 * the post step logs out of exactly those even when a later login fails.
 */
export async function logInAll(
  docker: Docker,
  logins: readonly RegistryLogin[],
  retry: RetryPolicy,
  remember: (registries: string[]) => void
): Promise<void> {
  if (logins.length === 0) {
    core.info('no login inputs: using the credentials earlier steps stored')
    return
  }
  const loggedIn: string[] = []
  for (const login of logins) {
    await loginTo(docker, login, retry)
    loggedIn.push(login.registry)
    remember([...loggedIn])
    core.info(`logged in to ${login.registry || 'docker.io'} as ${login.username}`)
  }
}
