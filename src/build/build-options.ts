/**
 * The build inputs docker/build-push-action users reach for, read and checked once, and the `docker buildx build`
 * flags they become: `ssh`, `build-contexts`, `secret-envs`, `secret-files`, `network`, `add-hosts`, `allow`,
 * `shm-size`, `ulimit`. Secrets never reach argv: buildx reads them from an environment variable (`env=NAME`) or a
 * file (`src=FILE`), and an agent socket is a path.
 */
import { existsSync, statSync } from 'node:fs'
import { isIP } from 'node:net'
import * as path from 'node:path'
import { RUNNER_ACCESS_VARIABLES } from '../core/docker.js'
import { InputError, splitLines, splitList, type InputReader } from '../core/input.js'

export interface BuildOptions {
  /** `--ssh`: an agent socket or keys per id; `default` with no path is the runner's `SSH_AUTH_SOCK`. */
  ssh: Array<{ id: string; paths: string[] }>
  /** `--build-context name=value`; `dir` is set where the value is a local directory (its content is fingerprinted). */
  buildContexts: Array<{ name: string; value: string; dir?: string }>
  /** `--secret id=ID,env=NAME`: buildx reads the value from its environment. */
  secretEnvs: Array<{ id: string; env: string }>
  /** `--secret id=ID,src=FILE`: any content, multi-line (a netrc, a PEM) included. */
  secretFiles: Array<{ id: string; file: string }>
  /** `--network` of the RUN steps: `default`, `none` or `host` (undefined: buildx's default). */
  network?: string
  /** `--add-host host:ip`. */
  addHosts: string[]
  /** `--allow` entitlements. */
  allow: string[]
  /** `--shm-size` of the RUN steps (`2g`, `512m`). */
  shmSize?: string
  /** `--ulimit type=soft[:hard]`. */
  ulimits: string[]
}

export const NO_BUILD_OPTIONS: BuildOptions = { ssh: [], buildContexts: [], secretEnvs: [], secretFiles: [], addHosts: [], allow: [], ulimits: [] }

const ID = /^[A-Za-z0-9_.-]+$/
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
export const NETWORKS = ['default', 'none', 'host'] as const
export const ENTITLEMENTS = ['network.host', 'security.insecure'] as const
/** The resource names `--ulimit` takes (docker's, from setrlimit). */
export const ULIMITS = ['core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack'] as const

/**
 * Reads the build inputs; `env` is the step's environment (an `ssh: default` agent, the variables `secret-envs` names).
 * `building` false (`mode: merge`, which builds nothing but must name the same configuration as its legs): the ssh
 * agents and keys and the secrets' variables and files are named, not required, so a merge needs no secret.
 */
export function readBuildOptions(read: InputReader, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd(), building = true): BuildOptions {
  const network = read('network').trim().toLowerCase()
  if (network && !(NETWORKS as readonly string[]).includes(network)) {
    throw new InputError('network', `"${read('network').trim()}" is not a network buildx gives RUN steps: write ${NETWORKS.join(', ')}`)
  }
  const shmSize = read('shm-size').trim()
  if (shmSize && !/^\d+(\.\d+)?[bkmg]?$/i.test(shmSize)) {
    throw new InputError('shm-size', `"${shmSize}" is not a size: write a number of bytes with an optional unit b, k, m or g (e.g. 2g)`)
  }
  const options: BuildOptions = {
    ssh: readSsh(read, env, cwd, building),
    buildContexts: readBuildContexts(read, cwd),
    secretEnvs: readSecretEnvs(read, env, building),
    secretFiles: readSecretFiles(read, cwd, building),
    network: network || undefined,
    addHosts: splitList(read('add-hosts')).map(readAddHost),
    allow: readAllow(read),
    shmSize: shmSize || undefined,
    ulimits: splitList(read('ulimit')).flatMap(line => line.split(/\s+/)).map(readUlimit)
  }
  const ids = new Set<string>()
  const named: Array<[string, string]> = [...options.secretEnvs.map((s): [string, string] => ['secret-envs', s.id]), ...options.secretFiles.map((s): [string, string] => ['secret-files', s.id])]
  for (const [input, id] of named) {
    if (ids.has(id)) throw new InputError(input, `secret id "${id}" is given twice (across "secret-envs" and "secret-files"): give each secret its own id`)
    ids.add(id)
  }
  return options
}

/** `name=value` lines, for messages naming the line (values here are paths and names, never secrets). */
function pairs(read: InputReader, input: string, shape: string): Array<{ key: string; value: string; line: string }> {
  return splitLines(read(input)).map(line => {
    const eq = line.indexOf('=')
    if (eq <= 0 || eq === line.length - 1) throw new InputError(input, `"${line}" is not ${shape}: write one ${shape} per line`)
    return { key: line.slice(0, eq).trim(), value: line.slice(eq + 1).trim(), line }
  })
}

function readSsh(read: InputReader, env: NodeJS.ProcessEnv, cwd: string, building: boolean): BuildOptions['ssh'] {
  const seen = new Set<string>()
  return splitLines(read('ssh')).map(line => {
    const eq = line.indexOf('=')
    const id = (eq === -1 ? line : line.slice(0, eq)).trim()
    const paths = eq === -1 ? [] : line.slice(eq + 1).split(',').map(p => p.trim()).filter(p => p !== '')
    if (!ID.test(id)) throw new InputError('ssh', `"${line}" is not default or id=path: write default (the runner's ssh agent) or id=SOCKET_OR_KEY[,KEY…] per line`)
    if (seen.has(id)) throw new InputError('ssh', `id "${id}" is given twice: give each ssh id once`)
    seen.add(id)
    if (paths.length === 0) {
      if (id !== 'default') throw new InputError('ssh', `"${id}" names no agent socket or key: write ${id}=PATH, or default for the runner's ssh agent`)
      const socket = env.SSH_AUTH_SOCK
      if (building && (!socket || !existsSync(socket))) {
        throw new InputError('ssh', `default needs the runner's ssh agent, but SSH_AUTH_SOCK is ${socket ? `${socket}, which does not exist` : 'not set'}: start an agent in an earlier step (e.g. webfactory/ssh-agent), or write id=PATH`)
      }
    }
    for (const p of building ? paths : []) {
      if (!existsSync(path.resolve(cwd, p))) throw new InputError('ssh', `${id}: "${p}" does not exist: give the agent socket or key file's path`)
    }
    return { id, paths }
  })
}

function readBuildContexts(read: InputReader, cwd: string): BuildOptions['buildContexts'] {
  const seen = new Set<string>()
  return pairs(read, 'build-contexts', 'name=value').map(({ key: name, value, line }) => {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.:/@-]*$/.test(name)) throw new InputError('build-contexts', `"${line}": "${name}" is not a context name: write name=value, the name as FROM or --from uses it`)
    if (seen.has(name)) throw new InputError('build-contexts', `"${name}" is given twice: give each context once`)
    seen.add(name)
    // docker-image://, oci-layout://, target:, https://, git@…: buildx resolves those itself
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value) || /^target:/.test(value) || /^git@/.test(value)) return { name, value }
    const dir = path.resolve(cwd, value)
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      throw new InputError('build-contexts', `${name}: directory "${value}" does not exist (relative paths start at ${cwd}): give a directory, or docker-image://IMAGE, target:STAGE, oci-layout://…, a URL`)
    }
    return { name, value, dir }
  })
}

function readSecretEnvs(read: InputReader, env: NodeJS.ProcessEnv, building: boolean): BuildOptions['secretEnvs'] {
  return pairs(read, 'secret-envs', 'id=ENV_NAME').map(({ key: id, value: name, line }) => {
    if (!ID.test(id) || !ENV_NAME.test(name)) {
      throw new InputError('secret-envs', `"${line}" is not id=ENV_NAME: the id is letters, digits, _ . -; the variable's name letters, digits and _`)
    }
    if (/^INPUT_/i.test(name)) {
      throw new InputError('secret-envs', `${id}: ${name} is one of the step's input variables, which no child process sees: put the secret in the step's env: under another name`)
    }
    if (RUNNER_ACCESS_VARIABLES.includes(name)) {
      throw new InputError('secret-envs', `${id}: ${name} is one of the runner's own credentials or files, which no child process sees, nor a build: give the build a secret of its own`)
    }
    if (building && env[name] === undefined) {
      throw new InputError('secret-envs', `${id}: the environment variable ${name} is not set: set it in the step's env: (e.g. ${name}: \${{ secrets.${name} }})`)
    }
    return { id, env: name }
  })
}

function readSecretFiles(read: InputReader, cwd: string, building: boolean): BuildOptions['secretFiles'] {
  return pairs(read, 'secret-files', 'id=PATH').map(({ key: id, value: file, line }) => {
    if (!ID.test(id)) throw new InputError('secret-files', `"${line}" is not id=PATH: the id is letters, digits, _ . -`)
    const full = path.resolve(cwd, file)
    if (building && (!existsSync(full) || !statSync(full).isFile())) {
      throw new InputError('secret-files', `${id}: file "${file}" does not exist (relative paths start at ${cwd}): write the secret to a file in an earlier step, or fix the path`)
    }
    return { id, file: full }
  })
}

function readAddHost(item: string): string {
  const m = /^([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)[:=](.+)$/.exec(item)
  const ip = m?.[2]?.replace(/^\[(.*)\]$/, '$1') ?? ''
  if (!m || isIP(ip) === 0) throw new InputError('add-hosts', `"${item}" is not host:ip: write one host:ip (e.g. registry.local:10.0.0.5) per line or comma`)
  return `${m[1]}:${ip}`
}

function readAllow(read: InputReader): string[] {
  const items = splitList(read('allow'))
  for (const item of items) {
    if (!(ENTITLEMENTS as readonly string[]).includes(item)) {
      throw new InputError('allow', `"${item}" is not an entitlement buildx grants: write ${ENTITLEMENTS.join(' or ')} (the builder must allow it too)`)
    }
  }
  return [...new Set(items)]
}

function readUlimit(item: string): string {
  const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(item)
  const type = m?.[1] ?? ''
  if (!m || !(ULIMITS as readonly string[]).includes(type)) {
    throw new InputError('ulimit', `"${item}" is not type=soft[:hard]: write e.g. nofile=1024:1024; the type is one of ${ULIMITS.join(', ')}`)
  }
  const soft = Number(m[2])
  const hard = m[3] === undefined ? undefined : Number(m[3])
  if (hard !== undefined && hard !== -1 && (soft === -1 || soft > hard)) {
    throw new InputError('ulimit', `"${item}": the soft limit ${m[2]} is above the hard limit ${m[3]}: write soft ≤ hard`)
  }
  return item
}

/** The `docker buildx build` flags of the options, in a fixed order. */
export function buildOptionArgs(options: BuildOptions): string[] {
  const args: string[] = []
  for (const ssh of options.ssh) args.push('--ssh', ssh.paths.length ? `${ssh.id}=${ssh.paths.join(',')}` : ssh.id)
  for (const context of options.buildContexts) args.push('--build-context', `${context.name}=${context.value}`)
  for (const secret of options.secretEnvs) args.push('--secret', `id=${secret.id},env=${secret.env}`)
  for (const secret of options.secretFiles) args.push('--secret', `id=${secret.id},src=${secret.file}`)
  if (options.network) args.push('--network', options.network)
  for (const host of options.addHosts) args.push('--add-host', host)
  for (const entitlement of options.allow) args.push('--allow', entitlement)
  if (options.shmSize) args.push('--shm-size', options.shmSize)
  for (const ulimit of options.ulimits) args.push('--ulimit', ulimit)
  return args
}

/**
 * What of the options can change the image, for the fingerprint: which secrets (`secrets`, `secret-envs`,
 * `secret-files`) and ssh ids a build can mount (not their values), the network, the extra hosts and entitlements. Sizes and limits of RUN steps change no image. The
 * named contexts are the fingerprint's own ingredient (fingerprint.ts reads or resolves each).
 */
export function fingerprintedOptions(options: BuildOptions, secrets: ReadonlyArray<{ id: string }> = []): string[] {
  return [
    ...options.ssh.map(s => `ssh=${s.id}`),
    ...secrets.map(s => `secret=${s.id}`),
    ...options.secretEnvs.map(s => `secret=${s.id}`),
    ...options.secretFiles.map(s => `secret=${s.id}`),
    ...(options.network ? [`network=${options.network}`] : []),
    ...options.addHosts.map(h => `add-host=${h}`),
    ...options.allow.map(a => `allow=${a}`)
  ]
}

/**
 * What of the options makes a configuration (configuration.ts): the fingerprinted ones, and each named context as
 * given (a local one by its path, as the context is). Secrets by id only: a secret's value is not meant to change
 * the image, and a hash of it would travel with the leg records, readable by anyone who can pull them.
 */
export function configuredOptions(options: BuildOptions, secrets: ReadonlyArray<{ id: string }> = []): string[] {
  return [...fingerprintedOptions(options, secrets), ...options.buildContexts.map(c => `build-context=${c.name}=${c.value}`)]
}
