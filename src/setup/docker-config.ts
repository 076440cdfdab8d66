/**
 * The job's own DOCKER_CONFIG, `docker-config` in the run's work directory: every docker, buildx and cosign
 * command of the run, and of its post step, uses it, so the runner's docker config (`~/.docker`, or the
 * DOCKER_CONFIG the job was given) and its credential helpers are read, never written. The action's own logins
 * land here only, and end when the post step removes the work directory; nothing of the runner's needs a backup.
 *
 * - every entry of the runner's config directory is linked (its builders and contexts stay usable; a builder or
 *   context the action creates is written there through the link, and its post step removes it), but
 *   `config.json` and `cli-plugins`;
 * - `cli-plugins` holds a link to each of the runner's plugins (buildx-install.ts puts a pinned buildx in their
 *   place);
 * - where the runner has no `buildx` directory, the job's own gets the buildx node identifier every run of this
 *   user's shares ({@link keepBuildxNodeId}), so the engine's builder is sent only what differs from the copy of the
 *   context it kept;
 * - `config.json` is the runner's without its credentials. The runner's logins are reached where they are kept,
 *   never copied: a registry the runner reads through a credential helper (`credHelpers`, `credsStore`) is read
 *   through the same helper here; one whose login config.json itself holds (`auths`, as `docker login` and
 *   docker/login-action leave it) is read through this action's helper, `docker-credential-go-build-action` in
 *   the work directory's `bin` (put first on PATH), which reads the runner's config.json when docker asks, and
 *   stores nothing;
 * - a registry the action logs into is given `credHelpers: ""` first ({@link storeLoginHere}): `docker login`
 *   then stores in this config.json, not in the runner's helper.
 */
import * as core from '@actions/core'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, mkdir, readdir, readFile, realpath, rename, symlink, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import * as path from 'node:path'
import * as log from '../core/log.js'

/** The runner's docker config directory: DOCKER_CONFIG as the job was given it, else `~/.docker`. */
function dockerConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_CONFIG || path.join(homedir(), '.docker')
}

/** The key `docker login` stores a registry's credentials under ('' is Docker Hub). */
export function authKey(registry: string): string {
  return registry || 'https://index.docker.io/v1/'
}

/** A docker config, parsed; {} when absent. An unreadable one is named in a warning, and read as {} (as docker does). */
export async function readDockerConfig(file: string): Promise<Record<string, unknown>> {
  const text = await readFile(file, 'utf8').catch(() => '')
  try {
    const parsed: unknown = JSON.parse(text || '{}')
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>
  } catch {
    // below
  }
  core.warning(`${file} is not a JSON object, so docker ignores it too: fix or remove it`)
  return {}
}

/** The credential helper docker uses for a registry: its `credHelpers` entry, else `credsStore`; none: config.json itself. */
export function helperFor(config: Record<string, unknown>, registry: string): string | undefined {
  const helpers = config.credHelpers as Record<string, unknown> | undefined
  const named = helpers?.[authKey(registry)] ?? config.credsStore
  return typeof named === 'string' && named !== '' ? named : undefined
}

/** The host of a config key (`https://index.docker.io/v1/` → `index.docker.io`), as docker's own lookup compares them. */
function hostnameOf(key: string): string {
  return key.replace(/^https?:\/\//, '').split('/')[0] ?? key
}

/** This action's read-only credential helper (`docker-credential-go-build-action`). */
export const JOB_CREDENTIAL_HELPER = 'go-build-action'

export interface JobDockerConfig {
  /** The DOCKER_CONFIG directory. */
  dir: string
  /** The directory of this action's credential helper (first on the commands' PATH). */
  bin: string
  /** The runner's config.json the helper reads. */
  runnerConfigFile: string
}

/**
 * The job's docker config in `workDir` (see the file's comment), from the runner's (`env.DOCKER_CONFIG`, else
 * `~/.docker`): links, the config.json without credentials, and the credential helper for the runner's own logins.
 */
export async function createJobDockerConfig(workDir: string, env: NodeJS.ProcessEnv = process.env, node: string = process.execPath): Promise<JobDockerConfig> {
  const runners = dockerConfigDir(env)
  const dir = path.join(workDir, 'docker-config')
  const bin = path.join(workDir, 'bin')
  await mkdir(path.join(dir, 'cli-plugins'), { recursive: true, mode: 0o700 })
  await mkdir(bin, { mode: 0o700 })
  const link = async (target: string, where: string): Promise<void> => {
    // the real path: the runner's own links stay its own
    await symlink(await realpath(target).catch(() => target), where)
  }
  for (const name of await readdir(runners).catch(() => [] as string[])) {
    if (name !== 'config.json' && name !== 'cli-plugins') await link(path.join(runners, name), path.join(dir, name))
  }
  for (const name of await readdir(path.join(runners, 'cli-plugins')).catch(() => [] as string[])) {
    await link(path.join(runners, 'cli-plugins', name), path.join(dir, 'cli-plugins', name))
  }
  if (!existsSync(path.join(dir, 'buildx'))) await keepBuildxNodeId(path.join(dir, 'buildx'), env.HOME || homedir())
  const runnerConfigFile = path.join(runners, 'config.json')
  const { config, proxied } = withoutCredentials(await readDockerConfig(runnerConfigFile))
  await writeFile(path.join(dir, 'config.json'), `${JSON.stringify(config, null, '\t')}\n`, { mode: 0o600 })
  if (proxied.length > 0) await writeCredentialHelper(bin, node, runnerConfigFile)
  log.info(
    `the job's docker config is ${dir}: the runner's config.json and credential helpers are read, never written${proxied.length > 0 ? ` (its logins to ${proxied.join(', ')} read where they are kept)` : ''}`
  )
  return { dir, bin, runnerConfigFile }
}

/** Where this action keeps, per runner user, the buildx node identifier it gives a job without one of the runner's. */
export function buildxNodeIdFile(home: string): string {
  return path.join(home, '.config', 'go-build-action', 'buildx-node-id')
}

/**
 * buildx's node identifier (`.buildNodeID` in its config directory) for a job whose runner has no buildx directory
 * of its own to link: the same on every run of this user's. buildx keys what BuildKit keeps of a build context it
 * was sent by the context's directory name and this identifier, so a builder that outlives the job (the engine's,
 * with the `docker` driver) is sent only what differs from the copy it kept; a new identifier per job sent the whole
 * context again every run (about 457 MB per platform of the go-build-sized fixture: 16.6–17.6 s against 5.7–10.6 s
 * with a kept identifier, CONTRIBUTING.md).
 * Not a secret. Where it cannot be kept, buildx makes one of its own, as before.
 */
async function keepBuildxNodeId(buildxDir: string, home: string): Promise<void> {
  const file = buildxNodeIdFile(home)
  try {
    let id = (await readFile(file, 'utf8').catch(() => '')).trim()
    if (!/^[0-9a-f]{16}$/.test(id)) {
      await mkdir(path.dirname(file), { recursive: true, mode: 0o700 })
      // written aside and renamed: a concurrent job reads no half of it
      const aside = `${file}.${process.pid}.tmp`
      await writeFile(aside, randomBytes(8).toString('hex'), { mode: 0o600 })
      await rename(aside, file)
      id = (await readFile(file, 'utf8')).trim()
    }
    await mkdir(buildxDir, { mode: 0o700 })
    await writeFile(path.join(buildxDir, '.buildNodeID'), id, { mode: 0o600 })
  } catch (error) {
    core.debug(`no lasting buildx node identifier (${file}): ${(error as Error).message}`)
  }
}

/**
 * The runner's config.json as the job's: everything but the credentials. Each `auths` entry the runner reads
 * from config.json itself is read through {@link JOB_CREDENTIAL_HELPER} (under its key and its host); the
 * runner's own helpers stay named. `proxied`: the registries read through this action's helper.
 */
export function withoutCredentials(runner: Record<string, unknown>): { config: Record<string, unknown>; proxied: string[] } {
  const { auths, credHelpers, ...rest } = runner
  const helpers: Record<string, string> = {}
  for (const [key, name] of Object.entries(typeof credHelpers === 'object' && credHelpers !== null ? credHelpers : {})) {
    if (typeof name === 'string') helpers[key] = name
  }
  const proxied: string[] = []
  for (const [key, entry] of Object.entries(typeof auths === 'object' && auths !== null ? auths : {})) {
    const held = typeof entry === 'object' && entry !== null && Object.keys(entry).some(k => ['auth', 'username', 'password', 'identitytoken'].includes(k))
    if (!held || helperFor(runner, key) !== undefined) continue
    proxied.push(key)
    helpers[key] = JOB_CREDENTIAL_HELPER
    const host = hostnameOf(key)
    if (!(host in helpers)) helpers[host] = JOB_CREDENTIAL_HELPER
  }
  return { config: { ...rest, auths: {}, ...(Object.keys(helpers).length > 0 ? { credHelpers: helpers } : {}) }, proxied }
}

/**
 * The credential helper for the runner's own logins, `docker-credential-go-build-action` in `bin`: a program of
 * docker's credential helper protocol. `get` answers from the runner's config.json (docker's own lookup: the exact
 * key, else the same host), read when asked; `list` names them; `store` and `erase` are refused. It holds no
 * credential itself. A shell script that runs `node` (the action's own, whatever its path) on the JavaScript beside it.
 */
export async function writeCredentialHelper(bin: string, node: string, runnerConfigFile: string): Promise<string> {
  const program = path.join(bin, `docker-credential-${JOB_CREDENTIAL_HELPER}`)
  const script = path.join(bin, 'credential-helper.cjs')
  const quoted = (text: string): string => `'${text.replace(/'/g, "'\\''")}'`
  await writeFile(script, credentialHelperScript(runnerConfigFile), { mode: 0o600 })
  await writeFile(program, `#!/bin/sh\nexec ${quoted(node)} ${quoted(script)} "$@"\n`)
  await chmod(program, 0o700)
  return program
}

/** The helper's JavaScript. It answers docker on its own standard output (fd 1), never the action's log. */
function credentialHelperScript(runnerConfigFile: string): string {
  return `// go-build-action: the runner's own logins (the "auths" of its config.json), read where they are kept; stores nothing
const fs = require('node:fs')
const answer = text => fs.writeSync(1, text)
const CONFIG = ${JSON.stringify(runnerConfigFile)}
const action = process.argv[2]
const host = key => key.replace(/^https?:\\/\\//, '').split('/')[0]
let auths = {}
try {
  auths = JSON.parse(fs.readFileSync(CONFIG, 'utf8')).auths || {}
} catch {}
const credentials = entry => {
  if (!entry || typeof entry !== 'object') return undefined
  if (entry.identitytoken) return { Username: '<token>', Secret: String(entry.identitytoken) }
  const plain = entry.auth ? Buffer.from(String(entry.auth), 'base64').toString('utf8') : ''
  if (entry.auth && !plain.includes(':')) return undefined
  const user = entry.auth ? plain.slice(0, plain.indexOf(':')) : entry.username
  const secret = entry.auth ? plain.slice(plain.indexOf(':') + 1) : entry.password
  return user && secret ? { Username: String(user), Secret: String(secret) } : undefined
}
if (action === 'get') {
  const url = fs.readFileSync(0, 'utf8').trim()
  const entry = Object.prototype.hasOwnProperty.call(auths, url) ? auths[url] : Object.entries(auths).find(([key]) => host(key) === url)?.[1]
  const found = credentials(entry)
  if (found) answer(JSON.stringify({ ServerURL: url, ...found }))
  else {
    answer('credentials not found in native keychain\\n')
    process.exitCode = 1
  }
} else if (action === 'list') {
  const names = Object.entries(auths).flatMap(([key, entry]) => (credentials(entry) ? [[key, credentials(entry).Username]] : []))
  answer(JSON.stringify(Object.fromEntries(names)))
} else {
  fs.writeSync(2, 'docker-credential-${JOB_CREDENTIAL_HELPER} reads the runner\\'s own logins and stores nothing: "' + action + '" refused\\n')
  process.exitCode = 1
}
`
}

/** From now on every command of this job (and its post step) uses the job's docker config and finds its credential helper. */
export function useDockerConfig(config: Pick<JobDockerConfig, 'dir' | 'bin'>, env: NodeJS.ProcessEnv = process.env): void {
  env.DOCKER_CONFIG = config.dir
  env.PATH = `${config.bin}${path.delimiter}${env.PATH ?? ''}`
}

/**
 * Before the action logs in to `registry`: `credHelpers` of the job's config names no helper for it, so `docker
 * login` stores the credential in the job's config.json (not in the runner's helper, not through this action's).
 */
export async function storeLoginHere(dir: string, registry: string): Promise<void> {
  const file = path.join(dir, 'config.json')
  const config = await readDockerConfig(file)
  const helpers = { ...((config.credHelpers as Record<string, string> | undefined) ?? {}), [authKey(registry)]: '' }
  await writeFile(file, `${JSON.stringify({ ...config, credHelpers: helpers }, null, '\t')}\n`, { mode: 0o600 })
}
