/**
 * Reading manifests and blobs straight from a registry's HTTP API (distribution spec `GET /v2/<name>/…`), with the
 * credentials docker keeps (`docker login`, docker/login-action): `auths` in the docker config, or its credential
 * helper. buildx has no command that prints a blob, and the architecture check needs layer bytes; `docker pull`
 * + `docker save` would copy whole images through the engine for every platform instead.
 *
 * Registries on loopback (`localhost`, 127.0.0.0/8, `::1`) are spoken to over plain HTTP, as docker does;
 * every other one over HTTPS.
 */
import * as core from '@actions/core'
import * as exec from '@actions/exec'
import { existsSync, readFileSync } from 'node:fs'
import * as path from 'node:path'
import { Readable } from 'node:stream'
import { dockerConfigDir } from './buildx-install.js'
import { childEnvironment } from './docker.js'
import { registryOf } from './reference.js'
import { DEFAULT_RETRY, retryDelayMs, type Classified, type RetryPolicy } from './retry.js'

export const MANIFEST_MEDIA_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json'
]

export interface Credentials {
  username: string
  password: string
}

/** Where a repository is served: host for HTTP, and the name in `/v2/<name>/` (Docker Hub adds `library/`). */
export function repositoryLocation(repository: string): { host: string; name: string; registry: string } {
  const registry = registryOf(repository)
  let name = repository.startsWith(`${registry}/`) ? repository.slice(registry.length + 1) : repository
  if (registry === 'docker.io' && !name.includes('/')) name = `library/${name}`
  return { host: registry === 'docker.io' ? 'registry-1.docker.io' : registry, name, registry }
}

/** Whether docker talks plain HTTP to this registry host without being told (loopback). */
export function isLoopback(host: string): boolean {
  const name = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '')
  return name === 'localhost' || name === '::1' || /^127\./.test(name)
}

/** The docker config (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`) as far as credentials go. */
export interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>
  credsStore?: string
  credHelpers?: Record<string, string>
}

export function readDockerConfig(env: NodeJS.ProcessEnv = process.env): DockerConfig {
  const file = path.join(dockerConfigDir(env), 'config.json')
  if (!existsSync(file)) return {}
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as DockerConfig
  } catch {
    return {}
  }
}

/** The keys docker may have stored a registry's credentials under. */
function configKeys(registry: string): string[] {
  return registry === 'docker.io'
    ? ['https://index.docker.io/v1/', 'index.docker.io', 'docker.io', 'registry-1.docker.io']
    : [registry, `https://${registry}`, `http://${registry}`]
}

/** Credentials from the config's `auths` (base64 `user:password`, or username/password fields). */
export function credentialsFromAuths(config: DockerConfig, registry: string): Credentials | undefined {
  for (const key of configKeys(registry)) {
    const entry = config.auths?.[key]
    if (!entry) continue
    if (entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8')
      const colon = decoded.indexOf(':')
      if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) }
    }
    if (entry.username && entry.password) return { username: entry.username, password: entry.password }
  }
  return undefined
}

/** Credentials for a registry: the config's `auths`, else its credential helper (`docker-credential-<x> get`). */
export async function registryCredentials(registry: string, config: DockerConfig = readDockerConfig()): Promise<Credentials | undefined> {
  const credentials = await storedCredentials(registry, config)
  // stored by an earlier step or the runner, not given to this action: masked here before anything can print them
  if (credentials) core.setSecret(credentials.password)
  return credentials
}

async function storedCredentials(registry: string, config: DockerConfig): Promise<Credentials | undefined> {
  const inline = credentialsFromAuths(config, registry)
  if (inline) return inline
  const helper = config.credHelpers?.[registry] ?? config.credsStore
  if (!helper) return undefined
  for (const key of configKeys(registry)) {
    const out = await exec
      .getExecOutput(`docker-credential-${helper}`, ['get'], { input: Buffer.from(key), silent: true, ignoreReturnCode: true, env: childEnvironment() as Record<string, string> })
      .catch(() => undefined)
    if (!out || out.exitCode !== 0) continue
    try {
      const parsed = JSON.parse(out.stdout) as { Username?: string; Secret?: string }
      if (parsed.Username && parsed.Secret) return { username: parsed.Username, password: parsed.Secret }
    } catch {
      // not an answer: try the next key
    }
  }
  return undefined
}

/** `Bearer realm="…",service="…",scope="…"` → scheme and parameters. */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const scheme = header.trim().split(/\s+/)[0]?.toLowerCase() ?? ''
  const params: Record<string, string> = {}
  for (const match of header.matchAll(/([a-zA-Z_]+)="([^"]*)"/g)) params[match[1]!.toLowerCase()] = match[2]!
  return { scheme, params }
}

export class RegistryHttpError extends Error {
  override name = 'RegistryHttpError'
}

/** Reads manifests and blobs of one repository, logging in the way the registry asks (Basic, or a Bearer token). */
export class RegistryReader {
  private authorization?: string
  private readonly location: ReturnType<typeof repositoryLocation>

  constructor(
    readonly repository: string,
    private readonly retry: RetryPolicy = DEFAULT_RETRY,
    private readonly credentials: () => Promise<Credentials | undefined> = () => registryCredentials(repositoryLocation(repository).registry)
  ) {
    this.location = repositoryLocation(repository)
  }

  private url(kind: 'manifests' | 'blobs', digest: string): string {
    const scheme = isLoopback(this.location.host) ? 'http' : 'https'
    return `${scheme}://${this.location.host}/v2/${this.location.name}/${kind}/${digest}`
  }

  /**
   * GET, answering one authentication challenge; HTTP 5xx, 429 (after its Retry-After) and network faults are
   * retried as the run's retry policy says, like every other registry operation (retry.ts).
   */
  private async get(url: string, accept?: string): Promise<Response> {
    for (let attempt = 1; ; attempt++) {
      let failure: Classified
      try {
        let response = await this.fetchOnce(url, accept)
        if (response.status === 401 && !this.authorization) {
          this.authorization = await this.authorize(response.headers.get('www-authenticate') ?? '')
          await response.body?.cancel()
          response = await this.fetchOnce(url, accept)
        }
        if (response.ok) return response
        await response.body?.cancel()
        const retryAfter = Number(response.headers.get('retry-after'))
        if (response.status === 429) failure = { kind: 'rate-limited', cause: 'HTTP 429', ...(retryAfter > 0 ? { retryAfterSeconds: retryAfter } : {}) }
        else if (response.status >= 500) failure = { kind: 'transient', cause: `HTTP ${response.status}` }
        else {
          const fix = response.status === 401 || response.status === 403 ? ': log in to the registry before this step, with a token that may read it' : ''
          throw new RegistryHttpError(`GET ${url} answered HTTP ${response.status}${fix}`)
        }
      } catch (error) {
        if (error instanceof RegistryHttpError) throw error
        const cause = error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error)
        failure = { kind: 'transient', cause }
      }
      if (attempt >= this.retry.attempts) throw new RegistryHttpError(`GET ${url} failed after ${attempt} attempt(s) (${failure.cause})`)
      const delay = retryDelayMs(this.retry, attempt, failure)
      core.warning(`GET ${url}: ${failure.cause} (attempt ${attempt} of ${this.retry.attempts}); retrying in ${Math.round(delay / 100) / 10}s`)
      await new Promise(resolve => setTimeout(resolve, delay))
    }
  }

  private fetchOnce(url: string, accept?: string): Promise<Response> {
    const headers: Record<string, string> = {}
    if (accept) headers.Accept = accept
    if (this.authorization) headers.Authorization = this.authorization
    return fetch(url, { headers, redirect: 'follow' })
  }

  private async authorize(challenge: string): Promise<string> {
    const { scheme, params } = parseChallenge(challenge)
    const credentials = await this.credentials()
    const basic = credentials ? `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}` : undefined
    if (scheme === 'basic') {
      if (!basic) throw new RegistryHttpError(`${this.location.registry} asks for a login and docker has none stored for it: log in before this step`)
      return basic
    }
    if (scheme !== 'bearer' || !params.realm) throw new RegistryHttpError(`${this.location.registry} asks for an unknown authentication (${challenge || 'none given'})`)
    const query = new URLSearchParams()
    if (params.service) query.set('service', params.service)
    query.set('scope', params.scope ?? `repository:${this.location.name}:pull`)
    const response = await fetch(`${params.realm}?${query.toString()}`, { headers: basic ? { Authorization: basic } : {} })
    if (!response.ok) throw new RegistryHttpError(`${this.location.registry} refused a pull token for ${this.repository} (HTTP ${response.status}): log in before this step with a token that may read it`)
    const body = (await response.json()) as { token?: string; access_token?: string }
    const token = body.token ?? body.access_token
    if (!token) throw new RegistryHttpError(`${this.location.registry} answered a token request without a token`)
    return `Bearer ${token}`
  }

  /** A manifest by digest, parsed. */
  async manifest<T>(digest: string): Promise<T> {
    const response = await this.get(this.url('manifests', digest), MANIFEST_MEDIA_TYPES.join(', '))
    return (await response.json()) as T
  }

  /** A small blob (an image config), parsed as JSON. */
  async jsonBlob<T>(digest: string): Promise<T> {
    const response = await this.get(this.url('blobs', digest))
    return (await response.json()) as T
  }

  /** A blob as a stream (layers are read as they arrive, never held whole). */
  async blobStream(digest: string): Promise<Readable> {
    const response = await this.get(this.url('blobs', digest))
    if (!response.body) throw new RegistryHttpError(`GET ${this.url('blobs', digest)} answered without a body`)
    return Readable.fromWeb(response.body as import('node:stream/web').ReadableStream)
  }
}
