/**
 * Registry logins: `docker login --password-stdin` (the password never reaches argv), in the job's own docker
 * config only (docker-config.ts), which the post step removes. With no login input, credentials an earlier step
 * stored (docker/login-action, `docker login`) are used where they are kept.
 */
import * as core from '@actions/core'
import { isAlias, isMap, isScalar, isSeq, parseDocument } from 'yaml'
import { authKey, helperFor, readDockerConfig, storeLoginHere } from './docker-config.js'
import { DockerCommandError, lastLines, runBounded, type CommandResult, type Docker } from '../core/docker.js'
import { errorMessage } from '../core/errors.js'
import { InputError, type InputReader } from '../core/input.js'
import { registryOf } from '../core/reference.js'
import type { RetryPolicy } from '../core/retry.js'
import * as log from '../core/log.js'

export interface RegistryLogin {
  /** Registry host (`ghcr.io`, `localhost:5001`); empty means Docker Hub (however it was spelled). */
  registry: string
  username: string
  password: string
  /** The job's token (`github-token`): used only where no credentials are stored for the registry already. */
  token?: boolean
}

/** The login inputs, read once. Which of them a run uses is decided when it knows whether it pushes ({@link planLogins}). */
export interface LoginSettings {
  /** `registry`/`username`/`password` and `logins`, in that order (without `registry`: the first image's registry). */
  logins: RegistryLogin[]
  /**
   * A login input left empty (a fork's pull request gets no secrets): an error only for a run that pushes; a run
   * that does not push logs in nowhere.
   */
  problem?: InputError
  /** `github-token` (masked): logs in to ghcr.io as the actor when no login input is given at all. */
  githubToken: string
}

/** Docker Hub's spellings: docker stores its login under `https://index.docker.io/v1/`, whatever was typed. */
const DOCKER_HUB = new Set(['', 'docker.io', 'index.docker.io', 'registry-1.docker.io', 'https://index.docker.io/v1/', 'https://index.docker.io/v1'])

/** A registry as docker keys its login: '' for Docker Hub in any spelling, else the host as given. */
export function normalizeRegistry(registry: string): string {
  const trimmed = registry.trim()
  return DOCKER_HUB.has(trimmed.toLowerCase()) ? '' : trimmed
}

/**
 * `registry` + `username` + `password` for one registry, and `logins` (a YAML list of
 * `{registry, username, password}`) for several. Without `registry`, `username`/`password` are for the registry of
 * the first of `images` (read only after every password is masked).
 */
export function readLogins(read: InputReader, mask: (secret: string) => void = () => undefined, images: () => readonly string[] = () => []): LoginSettings {
  const logins: RegistryLogin[] = []
  const registry = read('registry').trim()
  const username = read('username').trim()
  const password = read('password')
  maskVariants(password, mask)
  const githubToken = read('github-token').trim()
  if (githubToken) mask(githubToken)
  const text = read('logins')
  if (text.trim()) maskPasswordLines(text, mask)
  let problem: InputError | undefined
  const fix = 'a pull request from a fork gets no secrets: with push: auto it builds without pushing and logs in nowhere'
  if (username && password.trim()) {
    const [first = ''] = registry ? [] : images()
    logins.push({ registry: normalizeRegistry(registry || registryOf(first)), username, password: password.trim() })
  } else if (username) {
    problem = new InputError('password', `is empty but "username" is set: give both, or neither (${fix})`)
  } else if (password.trim()) {
    problem = new InputError('username', `is empty but "password" is set: give both, or neither (${fix})`)
  } else if (registry) {
    problem = new InputError('registry', `is set (${registry}) but "username" and "password" are not: give them to log in, or drop "registry" to use the credentials an earlier step stored (${fix})`)
  }
  if (text.trim()) {
    const parsed = parseLogins(text, true)
    logins.push(...parsed.logins)
    problem ??= parsed.problem
  }
  const seen = new Set<string>()
  for (const login of logins) {
    if (seen.has(login.registry)) {
      throw new InputError('logins', `registry "${login.registry || 'docker.io'}" is given twice: log in to each registry once`)
    }
    seen.add(login.registry)
  }
  return { logins, problem, githubToken }
}

/** Which registries a run logs in to, and why. */
export interface LoginPlan {
  logins: RegistryLogin[]
  /** Said in the log when nothing is logged into. */
  reason?: string
}

/**
 * The logins of a run: none when it does not push (`notPushing` says why: push false, an untrusted event), whatever
 * the inputs hold; else the login inputs (an empty one is the error now); else, with no login input at all and an
 * image on ghcr.io, the job's token as the actor; else none: the credentials earlier steps stored are used.
 */
export function planLogins(settings: LoginSettings, images: readonly string[], notPushing: string | undefined, actor = process.env.GITHUB_ACTOR ?? ''): LoginPlan {
  if (notPushing !== undefined) return { logins: [], reason: `not pushing (${notPushing}): logging in nowhere` }
  if (settings.problem) throw settings.problem
  if (settings.logins.length > 0) return { logins: settings.logins }
  const ghcr = images.some(image => registryOf(image).toLowerCase() === 'ghcr.io')
  if (ghcr && settings.githubToken) {
    return { logins: [{ registry: 'ghcr.io', username: actor || 'github-actions', password: settings.githubToken, token: true }] }
  }
  return { logins: [], reason: 'no login inputs: using the credentials earlier steps stored' }
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
export function parseLogins(text: string): RegistryLogin[]
export function parseLogins(text: string, deferEmpty: true): { logins: RegistryLogin[]; problem?: InputError }
export function parseLogins(text: string, deferEmpty = false): RegistryLogin[] | { logins: RegistryLogin[]; problem?: InputError } {
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
  let deferred: InputError | undefined
  const logins = doc.flatMap((entry: unknown, i): RegistryLogin[] => {
    const item = entry as Record<string, unknown> | null
    const field = (name: string): string => {
      const value = item?.[name]
      return typeof value === 'string' ? value.trim() : ''
    }
    if (typeof item !== 'object' || item === null) throw new InputError('logins', `entry ${i + 1} is not a mapping of registry, username, password`)
    const unknown = Object.keys(item).filter(k => !['registry', 'username', 'password'].includes(k))
    if (unknown.length) throw new InputError('logins', `entry ${i + 1} has unknown key(s) ${unknown.join(', ')}: use registry, username, password`)
    const login = { registry: normalizeRegistry(field('registry')), username: field('username'), password: field('password') }
    if (!field('registry')) throw new InputError('logins', `entry ${i + 1} has no registry: give the registry host, e.g. ghcr.io`)
    if (!login.username || !login.password) {
      // an empty secret (a fork's pull request) matters only to a run that pushes
      const empty = new InputError('logins', `entry ${i + 1} (${field('registry')}) needs both username and password: give both`)
      if (!deferEmpty) throw empty
      deferred ??= empty
      return []
    }
    return [login]
  })
  return deferEmpty ? { logins, problem: deferred } : logins
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
    if (error.failure.kind === 'auth' && login.token) {
      throw new Error(`login to ${where} with the job's token (input "github-token") as "${login.username}" failed (${detail}): give the job "permissions: packages: write", or log in with "username" and "password"`, { cause: error })
    }
    if (error.failure.kind === 'auth') {
      throw new Error(`login to ${where} failed: the registry refused user "${login.username}" with the given password (${detail}); check the "username" and "password" inputs (or "logins", or the secret behind them)`, { cause: error })
    }
    throw new Error(`login to ${where} failed: ${detail}: check the registry host in input "registry" (or "logins") and that the registry is up`, {
      cause: error
    })
  }
}

/** What a docker credential helper answers to `get`. */
export interface HelperCredentials {
  ServerURL: string
  Username: string
  Secret: string
}

/**
 * Runs a docker credential helper: `docker-credential-NAME get`, its input on standard input (never argv), through
 * the one wrapper (silent: it answers with a secret). The action never stores or erases through the runner's helpers.
 */
export type CredentialHelper = (name: string, action: 'get', input: string) => Promise<CommandResult>

export const runCredentialHelper: CredentialHelper = async (name, action, input) => {
  try {
    return await runBounded(`docker-credential-${name}`, [action], { input, silent: true }, { seconds: 60 })
  } catch (error) {
    throw new Error(`the credential helper docker-credential-${name} cannot be run: ${errorMessage(error)}`, { cause: error })
  }
}

/**
 * Whether the runner's docker config holds a login for `registry`: config.json's `auths` entry, or what its
 * credential helper answers to `get` (the secret is masked and kept nowhere). A helper that cannot say is taken
 * as holding nothing, with a warning.
 */
export async function holdsCredentials(
  registry: string,
  file: string,
  helper: CredentialHelper = runCredentialHelper,
  mask: (secret: string) => void = secret => core.setSecret(secret)
): Promise<boolean> {
  const config = await readDockerConfig(file)
  const key = authKey(registry)
  const entry = (config.auths as Record<string, unknown> | undefined)?.[key]
  const name = helperFor(config, registry)
  if (!name) return entry !== undefined
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`${file} names the credential helper "${name}", which is not a helper name: fix the config`)
  const result = await helper(name, 'get', key)
  if (result.exitCode !== 0) {
    if (!/credentials not found|not found in (native )?keychain|no credentials/i.test(`${result.stdout}${result.stderr}`)) {
      core.warning(`docker-credential-${name} (named in ${file}) could not say what it holds for ${registry || 'docker.io'} (exit ${result.exitCode}): taken as nothing`)
    }
    return false
  }
  try {
    const secret = (JSON.parse(result.stdout) as Partial<HelperCredentials>).Secret
    if (secret) mask(String(secret))
    return Boolean(secret)
  } catch {
    return false
  }
}

/**
 * Logs in to every registry in order, in the job's own docker config (`jobConfig`, docker-config.ts): the
 * runner's config and its credential helpers are never written, so nothing needs a backup, and the credentials
 * go when the post step removes the job's config. The job's token (`github-token`) logs in only where the
 * runner's config (`runnerConfigFile`) holds no credentials already (an earlier docker/login-action step's stay
 * in use). `remember` is told the registries logged into so far after each one.
 */
export async function logInAll(
  docker: Docker,
  plan: LoginPlan | readonly RegistryLogin[],
  retry: RetryPolicy,
  remember: (registries: string[]) => void,
  jobConfig: string,
  runnerConfigFile: string,
  helper: CredentialHelper = runCredentialHelper
): Promise<void> {
  const { logins, reason } = 'logins' in plan ? plan : { logins: plan, reason: 'no login inputs: using the credentials earlier steps stored' }
  if (logins.length === 0) {
    log.info(reason ?? 'nothing to log in to')
    return
  }
  const loggedIn: string[] = []
  for (const login of logins) {
    const where = login.registry || 'docker.io'
    if (login.token && (await holdsCredentials(login.registry, runnerConfigFile, helper))) {
      log.info(`${where}: using the credentials an earlier step stored (the job's token logs in only where there are none)`)
      continue
    }
    await storeLoginHere(jobConfig, login.registry)
    await loginTo(docker, login, retry)
    loggedIn.push(login.registry)
    remember([...loggedIn])
    log.info(`logged in to ${where} as ${login.username}${login.token ? ' (input "github-token")' : ''}, for this job only (in ${jobConfig})`)
  }
}
