/**
 * A fault-injecting HTTP proxy in front of a real registry, on loopback only. Rules fail the first N requests
 * that match (method + path) with an HTTP status (and a registry error code), a dropped connection, a request
 * held open, or a request forwarded whose answer is lost (the write lands, the client never hears); everything
 * else is forwarded as is. Every request is logged so tests can see what the client did.
 */
import * as http from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * `status`: that HTTP status (with `code`, the registry error code of the body, e.g. MANIFEST_UNKNOWN); `reset`:
 * the connection is dropped; `hang`: never answered; `lost-answer`: forwarded to the registry, which acts on it,
 * and the connection dropped instead of the answer (a registry that went down right after a write); `gather`:
 * held until that many matching requests wait, then all forwarded at once (two runs' writes made to meet), or
 * after 60 s; `throttle`: forwarded, its body at that many bytes per second (a slow upload that keeps moving).
 */
export type Fault = { status: number; retryAfter?: number; code?: string } | 'reset' | 'hang' | 'lost-answer' | { gather: number } | { throttle: number }

export interface FaultRule {
  method?: string
  path: RegExp
  /** A further test on the request (may keep state: it is asked once per request that matches method and path). */
  select?: (method: string, path: string) => boolean
  /** How many matching requests fail; Infinity for a persistent fault. */
  times: number
  fault: Fault
}

export interface LoggedRequest {
  method: string
  path: string
  status: number | 'reset' | 'hang' | 'lost-answer' | 'gathered'
  /** When the request reached the proxy, and when it was logged (answered, failed, or held), ms since the epoch. */
  arrived: number
  at: number
  /** A held request (`hang`): when the client closed the connection (the client gave up, or was killed). */
  closed?: number
}

export class FaultProxy {
  readonly log: LoggedRequest[] = []
  /** Manifest paths (`/v2/NAME/manifests/REF`) the registry accepted a write of, by the reference and by the digest. */
  readonly written = new Set<string>()
  /** Digests of the image indexes (multi-platform manifests) the registry accepted a write of. */
  readonly indexes = new Set<string>()
  private readonly hits = new Map<FaultRule, number>()
  private readonly gathered = new Map<FaultRule, Array<() => void>>()
  private server?: http.Server
  private stopping = false

  constructor(
    private readonly upstreamPort: number,
    public rules: FaultRule[] = []
  ) {}

  get port(): number {
    return (this.server?.address() as AddressInfo).port
  }

  /** `localhost:PORT`: docker and buildx talk plain HTTP to localhost registries. */
  get host(): string {
    return `localhost:${this.port}`
  }

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => this.handle(req, res))
    await new Promise<void>(resolve => this.server!.listen(0, '127.0.0.1', resolve))
    return this
  }

  async stop(): Promise<void> {
    this.stopping = true
    await new Promise<void>(resolve => {
      this.server?.closeAllConnections()
      this.server?.close(() => resolve())
    })
  }

  /** Runs `body` with these rules in force, and none after it, whatever it throws. */
  async during<T>(rules: FaultRule[], body: () => Promise<T>): Promise<T> {
    this.rules = rules
    try {
      return await body()
    } finally {
      this.rules = []
    }
  }

  /** How many requests a rule failed so far. */
  failed(rule: FaultRule): number {
    return this.hits.get(rule) ?? 0
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const method = req.method ?? 'GET'
    const path = req.url ?? '/'
    const arrived = Date.now()
    const log = (status: LoggedRequest['status']): void => void this.log.push({ method, path, status, arrived, at: Date.now() })
    const rule = this.rules.find(
      r => (!r.method || r.method === method) && r.path.test(path) && (!r.select || r.select(method, path)) && this.failed(r) < r.times
    )
    if (rule) {
      this.hits.set(rule, this.failed(rule) + 1)
      if (rule.fault === 'hang') {
        const held: LoggedRequest = { method, path, status: 'hang', arrived, at: Date.now() }
        this.log.push(held)
        req.socket.once('close', () => {
          if (!this.stopping) held.closed = Date.now()
        })
        req.resume()
        return
      }
      if (rule.fault === 'reset') {
        log('reset')
        req.socket.destroy()
        return
      }
      if (typeof rule.fault === 'object' && 'gather' in rule.fault) {
        const waiting = this.gathered.get(rule) ?? []
        this.gathered.set(rule, waiting)
        let released = false
        const release = (): void => {
          if (released) return
          released = true
          log('gathered')
          this.forward(req, res, method, path, arrived)
        }
        waiting.push(release)
        if (waiting.length >= rule.fault.gather) waiting.splice(0).forEach(r => r())
        else setTimeout(release, 60_000).unref()
        return
      }
      if (typeof rule.fault === 'object' && 'throttle' in rule.fault) {
        this.forward(req, res, method, path, arrived, rule.fault.throttle)
        return
      }
      if (rule.fault === 'lost-answer') {
        const upstream = http.request({ host: '127.0.0.1', port: this.upstreamPort, method, path, headers: req.headers, agent: false }, response => {
          log('lost-answer')
          response.resume()
          req.socket.destroy()
        })
        upstream.on('error', () => req.socket.destroy())
        req.pipe(upstream)
        return
      }
      log(rule.fault.status)
      const headers: Record<string, string> = { 'Content-Type': 'application/json' }
      if (rule.fault.retryAfter !== undefined) headers['Retry-After'] = String(rule.fault.retryAfter)
      res.writeHead(rule.fault.status, headers)
      const code = rule.fault.code ?? 'UNKNOWN'
      res.end(JSON.stringify({ errors: [{ code, message: code === 'UNKNOWN' ? `injected fault ${rule.fault.status}` : code.toLowerCase().replace('_', ' ') }] }))
      req.resume()
      return
    }
    this.forward(req, res, method, path, arrived)
  }

  /** Forwards a request as it is; with `bytesPerSecond`, its body at that pace. */
  private forward(req: http.IncomingMessage, res: http.ServerResponse, method: string, path: string, arrived: number, bytesPerSecond?: number): void {
    const upstream = http.request(
      { host: '127.0.0.1', port: this.upstreamPort, method, path, headers: req.headers, agent: false },
      response => {
        this.log.push({ method, path, status: response.statusCode ?? 0, arrived, at: Date.now() })
        const manifest = /^(\/v2\/.+\/manifests\/)[^/?]+$/.exec(path)
        if (method === 'PUT' && manifest && response.statusCode === 201) {
          this.written.add(path)
          const digest = response.headers['docker-content-digest']
          if (typeof digest === 'string') this.written.add(`${manifest[1]}${digest}`)
          if (typeof digest === 'string' && /image\.index|manifest\.list/.test(req.headers['content-type'] ?? '')) this.indexes.add(digest)
        }
        res.writeHead(response.statusCode ?? 502, response.headers)
        response.pipe(res)
      }
    )
    upstream.on('error', () => {
      this.log.push({ method, path, status: 502, arrived, at: Date.now() })
      res.destroy()
    })
    if (bytesPerSecond === undefined) {
      req.pipe(upstream)
      return
    }
    req.on('data', (chunk: Buffer) => {
      req.pause()
      upstream.write(chunk)
      setTimeout(() => req.resume(), (chunk.length / bytesPerSecond) * 1000)
    })
    req.on('end', () => upstream.end())
  }
}

/** `PUT /v2/NAME/manifests/TAG` → `NAME:TAG` for a tag write (not a digest, not the action's staging tag). */
export function tagWritten(method: string, path: string): string | undefined {
  const match = /^\/v2\/(.+)\/manifests\/([^/?]+)$/.exec(path)
  if (method !== 'PUT' || !match || match[2]!.startsWith('sha256:') || match[2]!.startsWith('go-build-action-staging-')) return undefined
  return `${match[1]}:${match[2]}`
}

/**
 * A rule that fails every write of the n-th distinct tag a client writes through the proxy (counting from when
 * the rule is made; digests and staging tags do not count), persistently: the n-th tag move fails, retries too.
 */
export function failNthTagMove(n: number, fault: Fault): FaultRule & { written: string[] } {
  const written: string[] = []
  return {
    written,
    method: 'PUT',
    path: /\/manifests\//,
    times: Infinity,
    fault,
    select: (method, path) => {
      const tag = tagWritten(method, path)
      if (tag === undefined) return false
      if (!written.includes(tag)) written.push(tag)
      return written.indexOf(tag) === n - 1
    }
  }
}

/**
 * A rule that holds every matching request open without ever answering (a registry that accepts the connection
 * and never replies); the connections are closed when the proxy stops.
 */
export const HANG: Fault = 'hang'

/**
 * An eventually consistent registry: the first read (GET or HEAD) of a manifest the registry accepted a write of
 * (by its tag or its digest) answers 404 MANIFEST_UNKNOWN, once in all.
 */
export function manifestUnknownOnceAfterPush(proxy: FaultProxy): FaultRule {
  return {
    path: /\/manifests\//,
    times: 1,
    fault: { status: 404, code: 'MANIFEST_UNKNOWN' },
    select: (method, path) => (method === 'GET' || method === 'HEAD') && proxy.written.has(path)
  }
}

/**
 * A registry that goes down during the tag moves: the n-th distinct tag written lands, its answer is lost (every
 * write of it, retries too), and for `downMs` from then on every request is dropped; then it answers again.
 */
export function downAfterNthTagMove(n: number, downMs: number): FaultRule[] {
  const lands = failNthTagMove(n, 'lost-answer')
  let downSince: number | undefined
  const select = lands.select!
  lands.select = (method, path) => {
    const hit = select(method, path)
    if (hit) downSince ??= Date.now()
    return hit
  }
  const down: FaultRule = {
    path: /^\/v2\//,
    times: Infinity,
    fault: 'reset',
    select: () => downSince !== undefined && Date.now() - downSince < downMs && Date.now() - downSince > 0
  }
  return [lands, down]
}
