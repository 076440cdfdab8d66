/**
 * The buildx builder: an existing one (`builder` input, never removed), or one this action creates, bootstraps,
 * checks against the requested platforms, and leaves in state for the post step to remove.
 *
 * Default driver: `docker-container` on GitHub-hosted runners (RUNNER_ENVIRONMENT=github-hosted), where pulling
 * the pinned BuildKit image works and the builder is isolated from the engine; `docker` everywhere else
 * (self-hosted runners, local runs), which needs nothing from the internet. buildx allows only one `docker`
 * driver builder per docker context, so for `docker` the action creates a docker context on the current engine
 * endpoint and uses the builder buildx makes for it; the post step removes that context.
 */
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { parseBuildxVersion } from './buildx-install.js'
import { lastLines, type Docker } from '../core/docker.js'
import { formatPlatform, parsePlatform, samePlatform, type Platform } from '../core/platform.js'
import { InputError, splitList, type InputReader } from '../core/input.js'
import { ownName as runName, saveState, State } from '../core/state.js'
import * as log from '../core/log.js'

export const DRIVERS = ['docker-container', 'docker'] as const
export type Driver = (typeof DRIVERS)[number]

/** Pinned: a builder's BuildKit should change when this action changes, not when a tag moves. */
export const DEFAULT_BUILDKIT_IMAGE = 'moby/buildkit:v0.26.3'

export interface BuilderSettings {
  /** An existing builder to use as is; undefined: create one. */
  existing?: string
  driver: Driver
  driverOpts: string[]
  buildkitImage: string
  /** A buildkitd.toml for the docker-container driver. */
  buildkitdConfig?: string
}

export function defaultDriver(env: NodeJS.ProcessEnv = process.env): Driver {
  return env.RUNNER_ENVIRONMENT === 'github-hosted' ? 'docker-container' : 'docker'
}

/**
 * The builder inputs. With `nodes`, the runner's own platforms are built on a `docker-container` builder (the
 * default then, on any runner): the nodes' builds push by digest and are combined into one index, which the
 * `docker` driver (it loads into the engine, then pushes a staging tag) cannot join.
 */
export function readBuilderSettings(read: InputReader, env: NodeJS.ProcessEnv = process.env, nodes = false): BuilderSettings {
  const existing = read('builder').trim() || undefined
  const rawDriver = read('driver').trim()
  const driver = (rawDriver || (nodes ? 'docker-container' : defaultDriver(env))) as Driver
  if (!DRIVERS.includes(driver)) {
    throw new InputError('driver', `"${rawDriver}" is not supported: write docker-container or docker`)
  }
  if (nodes && existing) {
    throw new InputError('builder', 'cannot be combined with "nodes": the action creates a builder for each node and one for the platforms no node serves; remove "builder", or remove "nodes"')
  }
  if (nodes && driver === 'docker') {
    throw new InputError(
      'driver',
      '"docker" cannot build beside "nodes": nodes need the docker-container driver for the platforms no node serves (each build pushes by digest, and the run combines them into one index; the docker driver loads into the engine instead). Set "driver: docker-container" or leave it empty, or remove "nodes"'
    )
  }
  const driverOpts = splitList(read('driver-opts'))
  for (const opt of driverOpts) {
    if (!/^[A-Za-z0-9_.-]+=/.test(opt)) throw new InputError('driver-opts', `"${opt}" is not key=value`)
  }
  const buildkitImage = read('buildkit-image').trim() || DEFAULT_BUILDKIT_IMAGE
  const buildkitdConfig = read('buildkitd-config').trim() || undefined
  if (driver === 'docker' && !existing) {
    if (driverOpts.length > 0) {
      throw new InputError('driver-opts', 'only applies to the docker-container driver: remove it, or set "driver: docker-container"')
    }
    if (buildkitdConfig) {
      throw new InputError('buildkitd-config', 'only applies to the docker-container driver (the docker driver uses the engine\'s BuildKit): remove it, or set "driver: docker-container"')
    }
  }
  if (buildkitdConfig && !existsSync(buildkitdConfig)) {
    throw new InputError('buildkitd-config', `${buildkitdConfig} does not exist`)
  }
  return { existing, driver, driverOpts, buildkitImage, buildkitdConfig }
}

/** The argv (after `docker`) that creates and boots a docker-container builder. */
export function createBuilderArgs(name: string, settings: BuilderSettings): string[] {
  const args = ['buildx', 'create', '--name', name, '--driver', settings.driver]
  const opts = [...settings.driverOpts]
  if (!opts.some(o => o.startsWith('image='))) opts.unshift(`image=${settings.buildkitImage}`)
  for (const opt of opts) args.push('--driver-opt', opt)
  if (settings.buildkitdConfig) args.push('--config', settings.buildkitdConfig)
  args.push('--bootstrap')
  return args
}

/** The argv that creates a docker context on an engine endpoint. */
export function createContextArgs(name: string, endpoint: string): string[] {
  return ['context', 'create', name, '--description', 'go-build-action builder (removed by its post step)', '--docker', `host=${endpoint}`]
}

export interface BuilderNode {
  name: string
  endpoint: string
  status: string
  platforms: string[]
}

export interface BuilderInfo {
  name: string
  driver: string
  nodes: BuilderNode[]
}

/** Parses `docker buildx inspect` output (buildx 0.13's `Key: value` layout). */
export function parseInspect(text: string): BuilderInfo {
  const info: BuilderInfo = { name: '', driver: '', nodes: [] }
  let inNodes = false
  let node: BuilderNode | undefined
  for (const raw of text.split('\n')) {
    if (/^\s/.test(raw)) continue // label continuation lines
    const m = /^([A-Za-z][A-Za-z ]*?):\s*(.*)$/.exec(raw)
    if (!m) continue
    const key = m[1] ?? ''
    const value = (m[2] ?? '').trim()
    if (key === 'Nodes') inNodes = true
    else if (!inNodes) {
      if (key === 'Name') info.name = value
      else if (key === 'Driver') info.driver = value
    } else if (key === 'Name') {
      node = { name: value, endpoint: '', status: '', platforms: [] }
      info.nodes.push(node)
    } else if (node && key === 'Endpoint') node.endpoint = value
    else if (node && key === 'Status') node.status = value
    else if (node && key === 'Platforms') {
      node.platforms = value
        .split(',')
        .map(p => p.trim().replace(/\*$/, ''))
        .filter(p => p !== '')
    }
  }
  return info
}

/** Every platform any node of the builder supports, deduplicated, in order. */
export function builderPlatforms(info: BuilderInfo): string[] {
  return [...new Set(info.nodes.flatMap(n => n.platforms))]
}

/**
 * Whether a builder platform list covers a requested platform: the same platform (`linux/arm64` and
 * `linux/arm64/v8` are one), or any variant of its architecture when no variant is asked for.
 */
export function covers(supported: readonly string[], platform: Platform): boolean {
  return supported.some(text => {
    let s: Platform
    try {
      s = parsePlatform(text)
    } catch {
      return false // a platform this action cannot build anyway (e.g. another os)
    }
    return samePlatform(s, platform) || (!platform.variant && s.os === platform.os && s.architecture === platform.architecture)
  })
}

/**
 * The requested platforms the builder cannot build. `emulated` are platforms with an enabled QEMU handler: the
 * `docker` driver lists the platforms the engine found when it started, yet runs any platform the kernel can
 * execute, so for that driver those count as supported.
 */
export function unsupportedPlatforms(
  requested: readonly Platform[],
  info: BuilderInfo,
  emulated: readonly Platform[] = []
): Platform[] {
  const supported = builderPlatforms(info)
  return requested.filter(p => {
    if (covers(supported, p)) return false
    if (info.driver === 'docker' && emulated.some(e => formatPlatform(e) === formatPlatform(p))) return false
    return true
  })
}

/** Whether a failed boot was BuildKit's image failing to pull. */
export function isImagePullFailure(output: string): boolean {
  return /pulling image|failed to resolve reference|pull access denied|manifest unknown|not found: manifest|failed to do request|no such host|TLS handshake timeout|i\/o timeout|connection refused/i.test(
    output
  )
}

export class BuilderError extends Error {
  override name = 'BuilderError'
}

export interface BuilderResult {
  name: string
  driver: string
  platforms: string[]
  /** True when this action created it (and the post step removes it). */
  created: boolean
  /** For a `docker`-driver builder: its docker context, which buildx must be run from. */
  dockerContext?: string
  /** The buildx version that runs the build (`0.30.1`), as `docker buildx version` reports it. */
  buildxVersion?: string
}

async function inspect(docker: Docker, name: string): Promise<{ info?: BuilderInfo; output: string }> {
  const result = await docker.run(['buildx', 'inspect', '--bootstrap', name], { allowFailure: true })
  const output = `${result.stdout}\n${result.stderr}`
  if (result.exitCode !== 0) return { output }
  return { info: parseInspect(result.stdout), output }
}

/** The current docker context's engine endpoint (`unix:///var/run/docker.sock`). */
async function currentEndpoint(docker: Docker): Promise<string> {
  const result = await docker.run(['context', 'inspect', '--format', '{{.Endpoints.docker.Host}}'], { silent: true })
  const endpoint = result.stdout.trim()
  if (!endpoint) throw new BuilderError('docker context inspect reported no engine endpoint for the current context')
  return endpoint
}

async function createDockerBuilder(docker: Docker, name: string): Promise<string> {
  const endpoint = await currentEndpoint(docker)
  // Saved before creating, so the post step removes even a half-made context.
  saveState(State.DockerContext, name)
  await docker.run(createContextArgs(name, endpoint))
  log.info(`created docker context ${name} on ${endpoint}; its builder is ${name} (docker driver)`)
  return name
}

async function createContainerBuilder(docker: Docker, settings: BuilderSettings, name: string): Promise<string> {
  saveState(State.Builder, name)
  const result = await docker.run(createBuilderArgs(name, settings), { allowFailure: true })
  if (result.exitCode !== 0) {
    const output = `${result.stdout}\n${result.stderr}`
    if (isImagePullFailure(output)) {
      const image = settings.driverOpts.find(o => o.startsWith('image='))?.slice('image='.length) ?? settings.buildkitImage
      throw new BuilderError(
        `the docker-container builder could not boot: its BuildKit image ${image} could not be pulled (${lastLines(result.stderr || result.stdout, 1)}). ` +
          'Set "driver: docker" to build with the engine\'s own BuildKit, or set "buildkit-image" to a BuildKit image in a registry this runner can reach.'
      )
    }
    throw new BuilderError(`docker buildx create --driver ${settings.driver} failed: ${lastLines(result.stderr || result.stdout)}`)
  }
  return name
}

/**
 * The builder phase: use or create, bootstrap, read and check its platforms. A builder (or docker context) this
 * action creates is named `ownName`: the action's prefix and the run marker (state.ts).
 */
export async function setUpBuilder(
  docker: Docker,
  settings: BuilderSettings,
  platforms: readonly Platform[],
  emulated: readonly Platform[] = [],
  ownName: string = runName(randomBytes(16).toString('hex'))
): Promise<BuilderResult> {
  // In the log, so a run shows which buildx built it (the runner's, or the one "buildx-version" installed).
  const version = await docker.run(['buildx', 'version'], { allowFailure: true })
  const buildxVersion = version.exitCode === 0 ? parseBuildxVersion(version.stdout) : undefined
  let name: string
  let created = false
  if (settings.existing) {
    name = settings.existing
    log.info(`using the existing builder ${name} (it is left in place after the job)`)
  } else {
    name = settings.driver === 'docker' ? await createDockerBuilder(docker, ownName) : await createContainerBuilder(docker, settings, ownName)
    created = true
  }

  const { info, output } = await inspect(docker, name)
  if (!info) {
    if (settings.existing) {
      throw new InputError('builder', `cannot use the builder "${name}": ${lastLines(output, 1)}. Name a builder listed by "docker buildx ls", or leave "builder" empty to let the action create one`)
    }
    throw new BuilderError(`the new builder ${name} did not boot: ${lastLines(output)}`)
  }
  const supported = builderPlatforms(info)
  const lacking = unsupportedPlatforms(platforms, info, emulated)
  if (lacking.length > 0) {
    const where = settings.existing ? `the builder "${name}"` : `the ${info.driver} builder ${name}`
    throw new InputError(
      'platforms',
      `${where} cannot build ${lacking.map(formatPlatform).join(', ')}; it supports ${supported.join(', ') || 'no platforms'}. ` +
        'Remove the platform, or let QEMU emulate it ("qemu: auto"), or use a builder that supports it'
    )
  }
  log.info(`builder ${name} (${info.driver}, buildx ${buildxVersion ?? 'of unknown version'}) supports ${supported.join(', ')}`)
  // A docker-driver builder is named after its docker context (buildx makes one per context).
  const dockerContext = info.driver === 'docker' ? name : undefined
  return { name, driver: info.driver, platforms: supported, created, dockerContext, buildxVersion }
}

/**
 * How many bytes the builder's BuildKit has sent, as a count that moves while BuildKit's push uploads layers (its
 * progress prints nothing then): what buildkitd has written (`wchar` of `/proc/PID/io`) less what still waits in
 * the send queues of its TCP sockets (`tx_queue` in `/proc/PID/net/tcp*`, its sockets by inode in
 * `/proc/PID/fd`), read with `docker exec` in its container. `wchar` alone stands still for as long as the
 * kernel's send buffer takes to drain (measured: 11 s at 300 KB/s with a 4 MB queue), the sent count does not. For
 * a builder whose BuildKit runs in a container of this engine (the docker-container driver); undefined for others.
 * A read that fails answers undefined.
 */
export function builderActivity(docker: Docker, builder: Pick<BuilderResult, 'name' | 'driver'>): (() => Promise<number | undefined>) | undefined {
  if (builder.driver !== 'docker-container') return undefined
  const container = `buildx_buildkit_${builder.name}0`
  const exec = async (...args: string[]): Promise<string | undefined> => {
    const result = await docker.run(['exec', container, ...args], { silent: true, allowFailure: true, timeout: ACTIVITY_READ_TIMEOUT })
    // `cat` of several files answers what it could read (a host without IPv6 has no tcp6)
    return result.exitCode === 0 || result.stdout !== '' ? result.stdout.trim() : undefined
  }
  // buildkitd is the container's first process, or the child of its init (buildx starts the container with one)
  const findBuildkitd = async (): Promise<string | undefined> => {
    if ((await exec('cat', '/proc/1/comm')) === 'buildkitd') return '1'
    for (const child of (await exec('cat', '/proc/1/task/1/children'))?.split(/\s+/) ?? []) {
      if (/^\d+$/.test(child) && (await exec('cat', `/proc/${child}/comm`)) === 'buildkitd') return child
    }
    return undefined
  }
  let pid: string | undefined
  return async () => {
    pid ??= await findBuildkitd()
    if (pid === undefined) return undefined
    const [counts, fds] = await Promise.all([exec('cat', `/proc/${pid}/io`, `/proc/${pid}/net/tcp`, `/proc/${pid}/net/tcp6`), exec('ls', '-l', `/proc/${pid}/fd`)])
    const written = /^wchar:\s*(\d+)$/m.exec(counts ?? '')?.[1]
    if (written === undefined || fds === undefined) return undefined
    return Number(written) - queuedBytes(counts ?? '', new Set([...fds.matchAll(/socket:\[(\d+)\]/g)].map(m => m[1]!)))
  }
}

/** The bytes waiting in the send queues (`tx_queue`, hex) of the sockets of `/proc/net/tcp*` lines whose inode is given. */
export function queuedBytes(tables: string, inodes: ReadonlySet<string>): number {
  let queued = 0
  for (const line of tables.split('\n')) {
    // `sl local rem st tx_queue:rx_queue tr:when retrnsmt uid timeout inode …`
    const fields = line.trim().split(/\s+/)
    const queues = /^([0-9A-Fa-f]{8}):[0-9A-Fa-f]{8}$/.exec(fields[4] ?? '')
    if (queues && inodes.has(fields[9] ?? '')) queued += parseInt(queues[1]!, 16)
  }
  return queued
}

/** The bound of one read of the builder's activity. */
const ACTIVITY_READ_TIMEOUT = { seconds: 10 }

/** Post step: removes what {@link setUpBuilder} created; each removal on its own. */
export async function removeBuilder(docker: Docker, builder: string, context: string): Promise<string[]> {
  const done: string[] = []
  if (builder) {
    // one command: `buildx rm` itself says when there is no such builder
    const removed = await docker.run(['buildx', 'rm', builder], { allowFailure: true })
    if (removed.exitCode === 0) done.push(`removed builder ${builder}`)
    else if (/no builder .* found/i.test(`${removed.stderr}\n${removed.stdout}`)) done.push(`builder ${builder} was never created`)
    else throw new BuilderError(`docker buildx rm ${builder} failed: ${lastLines(removed.stderr || removed.stdout)}`)
  }
  if (context) {
    const exists = await docker.run(['context', 'inspect', context], { allowFailure: true, silent: true })
    if (exists.exitCode === 0) {
      await docker.run(['context', 'rm', '--force', context])
      done.push(`removed docker context ${context} (and its builder)`)
    } else done.push(`docker context ${context} was never created`)
  }
  return done
}
