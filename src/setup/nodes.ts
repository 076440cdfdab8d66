/**
 * Build nodes (`nodes` input): remote BuildKit daemons, each building the platforms it serves, so that only the
 * platforms no node serves are built on this runner (under QEMU where foreign). The action writes no transport and
 * no scheduler: each node is a buildx builder of its own with buildx's `remote` driver (`tcp://` with mTLS,
 * `docker-container://`, `unix://`), and each platform goes to the one node that declares it.
 *
 * One builder per node, not one builder of all nodes: buildx refuses the OCI export the architecture check reads
 * for a build spread over several nodes ("oci for multi-node builds currently not supported"), and a builder's
 * nodes must all use one driver, so the runner's own `docker-container` BuildKit cannot join them. Each node's build
 * runs beside the others with its own export (streamed to the architecture check) and its own push by digest; the
 * run then makes one index of them (stages.ts), as the merge of distributed legs does, and publishes it in one
 * transaction.
 *
 * The TLS material (`nodes-cacert`, `nodes-cert`, `nodes-key`) is masked when read, and written to files (0600, in a
 * 0700 directory of the work directory) only while buildx needs them: buildx keeps the paths in the builder's
 * record and reads the files at every connection, from the builders' set-up to the end of the builds. They are
 * removed when the builds end (or fail), at the process's exit (a cancel), and with the work directory by the post
 * step; the post step removes the builders (`docker buildx rm`, which needs no connection).
 */
import * as log from '../core/log.js'
import { rmSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import * as path from 'node:path'
import { isMap, isScalar, isSeq, parseDocument, type Node as YamlNode } from 'yaml'
import { lastLines, type Docker } from '../core/docker.js'
import { InputError, inputPlatform, splitList, type InputReader } from '../core/input.js'
import { formatPlatform, samePlatform, type Platform } from '../core/platform.js'
import { covers, parseInspect } from './builder.js'

/** One BuildKit daemon that builds the platforms it declares. */
export interface BuildNode {
  /** How the run names it (messages, summary, outputs): the `name` given, else `ARCH-N`. */
  name: string
  /** `tcp://host:port`, `docker-container://name`, `unix:///path`. */
  endpoint: string
  /** The platforms it builds (its own architecture). */
  platforms: Platform[]
  /** The name its TLS certificate carries, when not the endpoint's host. */
  servername?: string
}

/** PEM texts for mutual TLS with `tcp://` nodes: the CA that signed the nodes' certificates, the runner's certificate and key. */
export interface NodeTls {
  cacert: string
  cert: string
  key: string
}

export interface NodeSettings {
  nodes: BuildNode[]
  tls?: NodeTls
}

const ENDPOINT_SCHEMES = ['tcp', 'docker-container', 'unix'] as const
const NAME = /^[A-Za-z][A-Za-z0-9._-]*$/
const NODE_KEYS = ['name', 'endpoint', 'platforms', 'servername']
const NODES_FORMAT = 'write a YAML list of {endpoint, platforms, name?, servername?}'

/** Masks a PEM as a whole and each of its base64 lines (its armor lines are the same in every PEM: left readable). */
export function maskPem(value: string, mask: (secret: string) => void): void {
  if (!value.trim()) return
  mask(value)
  mask(value.trim())
  for (const line of value.split(/\r?\n/)) if (line.trim() && !line.trim().startsWith('-----')) mask(line.trim())
}

/** `nodes`, `nodes-cacert`, `nodes-cert`, `nodes-key`: the TLS material masked before anything parses it. */
export function readNodeSettings(read: InputReader, mask: (secret: string) => void = () => undefined): NodeSettings {
  const material = { cacert: read('nodes-cacert'), cert: read('nodes-cert'), key: read('nodes-key') }
  for (const value of Object.values(material)) maskPem(value, mask)
  const nodes = parseNodes(read('nodes'))
  const given = Object.entries(material).filter(([, v]) => v.trim() !== '')
  if (given.length === 0) {
    const tcp = nodes.find(n => n.endpoint.startsWith('tcp://'))
    if (tcp) {
      throw new InputError('nodes', `node "${tcp.name}" (${tcp.endpoint}) is reached over TCP, which takes mutual TLS: set nodes-cacert, nodes-cert and nodes-key (as secrets) to the CA that signed the nodes' certificates and the runner's client certificate and key`)
    }
    return { nodes }
  }
  if (nodes.length === 0) throw new InputError(`nodes-${given[0]![0]}`, 'is set, but "nodes" names no node: remove it, or list the nodes')
  const missing = Object.entries(material).filter(([, v]) => v.trim() === '').map(([k]) => `nodes-${k}`)
  if (missing.length > 0) throw new InputError(missing[0]!, `is empty, but ${given.map(([k]) => `nodes-${k}`).join(' and ')} ${given.length === 1 ? 'is' : 'are'} set: mutual TLS needs all three (the CA, the runner's certificate, its key)`)
  for (const [name, value] of Object.entries(material)) {
    if (!value.includes('-----BEGIN ')) throw new InputError(`nodes-${name}`, 'is not PEM (no "-----BEGIN" line): give the file\'s content, not its path')
  }
  return { nodes, tls: { cacert: material.cacert, cert: material.cert, key: material.key } }
}

/** Parses the `nodes` YAML list; '' is no node. Names default to the first platform's architecture and a count (`arm64-1`). */
export function parseNodes(text: string): BuildNode[] {
  if (!text.trim()) return []
  const document = parseDocument(text, { schema: 'failsafe' })
  const [problem] = document.errors
  if (problem) {
    const line = problem.linePos?.[0]?.line
    throw new InputError('nodes', `is not valid YAML${line ? ` (line ${line})` : ''}: ${NODES_FORMAT}`)
  }
  if (!isSeq(document.contents)) throw new InputError('nodes', `is not a list: ${NODES_FORMAT}`)
  const counts = new Map<string, number>()
  const nodes = document.contents.items.map((item, i) => parseNode(item as YamlNode, i + 1, counts))
  const seenNames = new Map<string, BuildNode>()
  const seenEndpoints = new Map<string, BuildNode>()
  const served = new Map<string, BuildNode>()
  for (const node of nodes) {
    const key = node.name.toLowerCase()
    if (seenNames.has(key)) throw new InputError('nodes', `the name "${node.name}" is given to two nodes: name each node once`)
    seenNames.set(key, node)
    const other = seenEndpoints.get(node.endpoint)
    if (other) throw new InputError('nodes', `nodes "${other.name}" and "${node.name}" have the same endpoint ${node.endpoint}: list each daemon once, with all its platforms`)
    seenEndpoints.set(node.endpoint, node)
    for (const platform of node.platforms) {
      const before = served.get(formatPlatform(platform))
      if (before) {
        throw new InputError('nodes', `${formatPlatform(platform)} is served by two nodes ("${before.name}" and "${node.name}"): give each platform to one node (the action builds each platform once)`)
      }
      served.set(formatPlatform(platform), node)
    }
  }
  return nodes
}

function parseNode(item: YamlNode, position: number, counts: Map<string, number>): BuildNode {
  const where = `node ${position}`
  if (!isMap(item)) throw new InputError('nodes', `${where} is not a mapping: ${NODES_FORMAT}`)
  const fields: Record<string, YamlNode | null> = {}
  for (const pair of item.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : ''
    if (!NODE_KEYS.includes(key)) throw new InputError('nodes', `${where} has an unknown key "${key}": ${NODES_FORMAT}`)
    fields[key] = pair.value as YamlNode | null
  }
  const text = (key: string): string => {
    const value = fields[key]
    if (value === undefined || value === null) return ''
    if (!isScalar(value)) throw new InputError('nodes', `${where}: "${key}" is not a single value`)
    return String(value.value).trim()
  }
  const endpoint = text('endpoint')
  const scheme = /^([a-z-]+):\/\/./.exec(endpoint)?.[1]
  if (!endpoint) throw new InputError('nodes', `${where} has no endpoint: give its buildkitd address, e.g. tcp://arm64-builder.example.com:1234`)
  if (!scheme || !(ENDPOINT_SCHEMES as readonly string[]).includes(scheme) || /[\s,]/.test(endpoint)) {
    throw new InputError('nodes', `${where}: "${endpoint}" is not an endpoint this action reaches: write tcp://HOST:PORT (mutual TLS), docker-container://CONTAINER or unix:///PATH`)
  }
  const raw = fields.platforms
  let texts: string[]
  if (raw === undefined || raw === null) texts = []
  else if (isSeq(raw)) texts = raw.items.map(i => (isScalar(i) ? String(i.value) : '')).map(t => t.trim())
  else texts = splitList(text('platforms'))
  if (texts.length === 0 || texts.some(t => t === '')) throw new InputError('nodes', `${where} (${endpoint}) names no platforms: give the platforms it builds, e.g. platforms: linux/arm64`)
  const platforms: Platform[] = []
  for (const t of texts) {
    const platform = inputPlatform('nodes', t, `${where} (${endpoint}): `)
    if (!platforms.some(p => samePlatform(p, platform))) platforms.push(platform)
  }
  let name = text('name')
  if (!name) {
    const arch = platforms[0]!.architecture
    const n = (counts.get(arch) ?? 0) + 1
    counts.set(arch, n)
    name = `${arch}-${n}`
  }
  if (!NAME.test(name)) throw new InputError('nodes', `${where}: the name "${name}" must start with a letter and hold only letters, digits, ".", "-" and "_"`)
  const servername = text('servername')
  return { name, endpoint, platforms, ...(servername ? { servername } : {}) }
}

/** Which node builds which of the run's platforms; `local`: those no node serves, built on this runner. */
export interface NodePlan {
  assigned: Array<{ node: BuildNode; platforms: Platform[] }>
  local: Platform[]
  /** Nodes that serve none of the run's platforms: not set up. */
  unused: BuildNode[]
}

export function planNodes(platforms: readonly Platform[], nodes: readonly BuildNode[]): NodePlan {
  const assigned: NodePlan['assigned'] = []
  const unused: BuildNode[] = []
  for (const node of nodes) {
    const own = platforms.filter(p => node.platforms.some(n => samePlatform(n, p)))
    if (own.length > 0) assigned.push({ node, platforms: own })
    else unused.push(node)
  }
  const local = platforms.filter(p => !assigned.some(a => a.platforms.some(n => samePlatform(n, p))))
  return { assigned, local, unused }
}

/** The TLS files buildx reads, while they exist. */
export interface TlsFiles {
  cacert: string
  cert: string
  key: string
}

/** The argv (after `docker`) that creates a node's builder: buildx's `remote` driver, the TLS files by path. */
export function createNodeBuilderArgs(builder: string, node: BuildNode, tls?: TlsFiles): string[] {
  const opts = node.endpoint.startsWith('tcp://') && tls ? [`cacert=${tls.cacert}`, `cert=${tls.cert}`, `key=${tls.key}`] : []
  if (node.servername && opts.length > 0) opts.push(`servername=${node.servername}`)
  const args = ['buildx', 'create', '--name', builder, '--driver', 'remote', '--node', node.name]
  for (const opt of opts) args.push('--driver-opt', opt)
  args.push(node.endpoint)
  return args
}

/** The builder of a node: the run's builder name and the node's. */
export function nodeBuilderName(base: string, node: Pick<BuildNode, 'name'>): string {
  return `${base}-${node.name.toLowerCase()}`
}

/** A node ready to build: its builder and the run's platforms it builds. */
export interface NodeBuilder {
  node: BuildNode
  builder: string
  platforms: Platform[]
  /** What the node's BuildKit reports it can build (its own platforms first, then what its host emulates). */
  supported: string[]
}

export class NodeError extends Error {
  override name = 'NodeError'
}

/** `node "arm64-1" (tcp://…)`: how every message names a node. */
export function describeNode(node: Pick<BuildNode, 'name' | 'endpoint'>): string {
  return `node "${node.name}" (${node.endpoint})`
}

/** Why a node did not answer, from buildx's error, and what to check. */
export function explainUnreachable(node: BuildNode, cause: string): string {
  const checkTls =
    'check the TLS material: nodes-cacert must be the CA that signed the node\'s certificate (whose names must include the endpoint\'s host, or set the node\'s servername), and the node\'s --tlscacert must have signed nodes-cert'
  // A node that refuses the runner's certificate ends the handshake; the client may only see the connection drop
  // (buildx 0.30: "write: broken pipe" in about half the runs here), never a refused connection.
  const dropped = /broken pipe|connection reset|\bEOF\b/i.test(cause)
  const fix = /tls:|x509|certificate/i.test(cause)
    ? checkTls
    : dropped
      ? `it took the connection and closed it, as a node does that refuses this runner's certificate: ${checkTls}`
      : node.endpoint.startsWith('tcp://')
      ? 'check that its buildkitd runs and listens there (--addr tcp://0.0.0.0:PORT) and that this runner can reach it'
      : 'check that its buildkitd runs there'
  return `${describeNode(node)} does not answer: ${cause}; ${fix}, or remove the node from "nodes" to build its platforms on this runner`
}

/** The TLS material as files for buildx (0600, in a 0700 directory of `parent`), removed by {@link NodeCredentials.remove} or at exit. */
export class NodeCredentials {
  private exitHook?: () => void

  private constructor(
    readonly dir: string,
    readonly files: TlsFiles
  ) {}

  static async write(parent: string, tls: NodeTls): Promise<NodeCredentials> {
    const dir = await mkdtemp(path.join(parent, 'nodes-tls-'))
    const credentials = new NodeCredentials(dir, { cacert: path.join(dir, 'ca.pem'), cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem') })
    // a cancel ends the process (cancel.ts): the files go with it
    credentials.exitHook = () => rmSync(dir, { recursive: true, force: true })
    process.once('exit', credentials.exitHook)
    for (const name of ['cacert', 'cert', 'key'] as const) await writeFile(credentials.files[name], tls[name], { mode: 0o600 })
    return credentials
  }

  async remove(): Promise<void> {
    if (this.exitHook) process.off('exit', this.exitHook)
    this.exitHook = undefined
    await rm(this.dir, { recursive: true, force: true })
  }
}

/**
 * Creates and checks one node's builder: it answers, and serves the platforms it is given (one clear error naming
 * the node otherwise). `created` records the builder for the post step before it exists.
 */
export async function setUpNode(docker: Docker, builder: string, node: BuildNode, platforms: readonly Platform[], tls: TlsFiles | undefined, created: (builder: string) => void): Promise<NodeBuilder> {
  created(builder)
  const made = await docker.run(createNodeBuilderArgs(builder, node, tls), { allowFailure: true })
  if (made.exitCode !== 0) throw new NodeError(`${describeNode(node)}: docker buildx create --driver remote failed: ${lastLines(made.stderr || made.stdout)}`)
  const booted = await docker.run(['buildx', 'inspect', '--bootstrap', builder], { allowFailure: true })
  if (booted.exitCode !== 0) {
    // the bootstrap says only "context deadline exceeded"; a call to the daemon says why
    const probe = await docker.run(['buildx', 'du', '--builder', builder], { allowFailure: true, silent: true })
    const cause = probe.exitCode !== 0 ? lastLines(probe.stderr || probe.stdout, 1).replace(/^ERROR:\s*/, '') : lastLines(booted.stderr || booted.stdout, 1)
    throw new NodeError(explainUnreachable(node, cause))
  }
  const info = parseInspect(booted.stdout)
  const supported = info.nodes.flatMap(n => n.platforms)
  const lacking = platforms.filter(p => !covers(supported, p))
  if (lacking.length > 0) {
    throw new NodeError(
      `${describeNode(node)} does not serve ${lacking.map(formatPlatform).join(', ')}: its BuildKit builds ${supported.join(', ') || 'no platform'}. ` +
        'Fix the node\'s platforms in "nodes", or start its buildkitd on a machine of that architecture (or with --oci-worker-platform)'
    )
  }
  log.info(`${describeNode(node)} builds ${platforms.map(formatPlatform).join(', ')} (its BuildKit reports ${supported.join(', ')})`)
  return { node, builder, platforms: [...platforms], supported }
}

/**
 * Sets up every node that serves a platform of the run, side by side; fails naming every node that does not
 * answer or does not serve its platforms. `created` records each builder for the post step before it exists.
 */
export async function setUpNodes(
  docker: Docker,
  assigned: NodePlan['assigned'],
  base: string,
  tls: TlsFiles | undefined,
  created: (builder: string) => void
): Promise<NodeBuilder[]> {
  const settled = await Promise.allSettled(assigned.map(({ node, platforms }) => setUpNode(docker, nodeBuilderName(base, node), node, platforms, tls, created)))
  const failures = settled.flatMap(s => (s.status === 'rejected' ? [s.reason instanceof Error ? s.reason.message : String(s.reason)] : []))
  if (failures.length === 1) throw new NodeError(failures[0]!)
  if (failures.length > 1) throw new NodeError(`${failures.length} nodes cannot build:\n  ${failures.join('\n  ')}`)
  return settled.map(s => (s as PromiseFulfilledResult<NodeBuilder>).value)
}

/**
 * The nodes' phase: the TLS files (when a `tcp://` node needs them), then every node's builder, checked. On a
 * failure the TLS files are removed at once; on success the caller removes them when the build ends.
 */
export async function setUpBuildNodes(
  docker: Docker,
  assigned: NodePlan['assigned'],
  tls: NodeTls | undefined,
  workDir: string,
  base: string,
  created: (builder: string) => void
): Promise<{ nodes: NodeBuilder[]; credentials?: NodeCredentials }> {
  const credentials = tls && assigned.some(a => a.node.endpoint.startsWith('tcp://')) ? await NodeCredentials.write(workDir, tls) : undefined
  try {
    return { nodes: await setUpNodes(docker, assigned, base, credentials?.files, created), credentials }
  } catch (error) {
    await credentials?.remove()
    throw error
  }
}
