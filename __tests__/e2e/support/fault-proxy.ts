/**
 * A fault-injecting HTTP proxy in front of a real registry, on loopback only. Rules fail the first N requests
 * that match (method + path) with an HTTP status or a dropped connection; everything else is forwarded as is.
 * Every request is logged so tests can see what the client did.
 */
import * as http from 'node:http'
import type { AddressInfo } from 'node:net'

export type Fault = { status: number; retryAfter?: number } | 'reset' | 'hang'

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
  status: number | 'reset' | 'hang'
}

export class FaultProxy {
  readonly log: LoggedRequest[] = []
  private readonly hits = new Map<FaultRule, number>()
  private server?: http.Server

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
    await new Promise<void>(resolve => {
      this.server?.closeAllConnections()
      this.server?.close(() => resolve())
    })
  }

  /** How many requests a rule failed so far. */
  failed(rule: FaultRule): number {
    return this.hits.get(rule) ?? 0
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const method = req.method ?? 'GET'
    const path = req.url ?? '/'
    const rule = this.rules.find(
      r => (!r.method || r.method === method) && r.path.test(path) && (!r.select || r.select(method, path)) && this.failed(r) < r.times
    )
    if (rule) {
      this.hits.set(rule, this.failed(rule) + 1)
      if (rule.fault === 'hang') {
        this.log.push({ method, path, status: 'hang' })
        req.resume()
        return
      }
      if (rule.fault === 'reset') {
        this.log.push({ method, path, status: 'reset' })
        req.socket.destroy()
        return
      }
      this.log.push({ method, path, status: rule.fault.status })
      const headers: Record<string, string> = { 'Content-Type': 'application/json' }
      if (rule.fault.retryAfter !== undefined) headers['Retry-After'] = String(rule.fault.retryAfter)
      res.writeHead(rule.fault.status, headers)
      res.end(JSON.stringify({ errors: [{ code: 'UNKNOWN', message: `injected fault ${rule.fault.status}` }] }))
      req.resume()
      return
    }
    const upstream = http.request(
      { host: '127.0.0.1', port: this.upstreamPort, method, path, headers: req.headers, agent: false },
      response => {
        this.log.push({ method, path, status: response.statusCode ?? 0 })
        res.writeHead(response.statusCode ?? 502, response.headers)
        response.pipe(res)
      }
    )
    upstream.on('error', () => {
      this.log.push({ method, path, status: 502 })
      res.destroy()
    })
    req.pipe(upstream)
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
