import { describe, expect, it } from '@jest/globals'
import { classifyFailure, DEFAULT_RETRY, isRetryable, retryDelayMs } from '../../src/core/retry.js'
import { fixture } from '../../__fixtures__/fixtures.js'

describe('classifyFailure', () => {
  it.each([
    // Real outputs captured from buildx 0.13 / docker 26 against the local registries.
    ['imagetools-not-found.txt', 'not-found'],
    ['imagetools-unauthorized.txt', 'auth'],
    ['imagetools-unreachable.txt', 'transient'],
    ['login-wrong-password.txt', 'auth'],
    ['buildx-failure-arm64.txt', 'permanent'],
    // buildx 0.30's imagetools copy to another registry, its manifest PUT ahead of its blobs (seen in CI here)
    ['imagetools-copy-blob-race.txt', 'transient']
  ])('%s → %s', (name, kind) => {
    expect(classifyFailure(fixture(name)).kind).toBe(kind)
  })

  it.each([
    ['ERROR: failed to push localhost:5000/x:1: unexpected status from PUT request: 500 Internal Server Error', 'transient', 'HTTP 500'],
    ['received unexpected HTTP status: 503 Service Unavailable', 'transient', 'HTTP 503'],
    ['error: 502 Bad Gateway', 'transient', 'HTTP 502'],
    ['toomanyrequests: You have reached your pull rate limit', 'rate-limited', 'HTTP 429'],
    ['unexpected status: 429 Too Many Requests', 'rate-limited', 'HTTP 429'],
    ['read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer', 'transient', 'connection reset'],
    ['failed commit on ref "layer-sha256:x": unexpected EOF', 'transient', 'unexpected EOF'],
    ['net/http: TLS handshake timeout', 'transient', 'timeout'],
    ['context deadline exceeded', 'transient', 'timeout'],
    ['dial tcp 10.0.0.1:443: i/o timeout', 'transient', 'timeout'],
    ['ERROR: localhost:5000/e2e/timeouts-x:timeouts: not found', 'not-found', 'not found'],
    ['denied: requested access to the resource is denied', 'auth', 'access denied'],
    ['unexpected status: 403 Forbidden', 'auth', 'access denied'],
    // BuildKit's step timestamps are not statuses: `0.401` is not a 401, the injected 503 is what failed
    ['#24 0.401 retrying in 1s\nERROR: failed to push localhost:1/x: unknown: injected fault 503', 'transient', 'HTTP 503'],
    // …nor is a timestamp the cause's status (a CI run reported "HTTP 575" for an injected 503)
    ['#14 7.575 pushing layers\n#14 7.598 unknown: injected fault 503\nERROR: failed to push localhost:1/x: unknown: injected fault 503', 'transient', 'HTTP 503'],
    ['#503 0.120 retrying in 1s\nERROR: failed to push localhost:1/x: 502 Bad Gateway', 'transient', 'HTTP 502'],
    ['#9 1.500 retrying in 2s\nERROR: failed to push localhost:1/x: server message: insufficient_scope: authorization failed 401', 'auth', 'authentication failed'],
    ['manifest unknown: manifest unknown', 'not-found', 'not found'],
    // the same race one level up: the index PUT ahead of a platform manifest it names (seen in CI, hosted path)
    ['ERROR: failed commit on ref "index-sha256:0a1b": unexpected status from PUT request to http://localhost:5000/v2/e2e/x/manifests/sha256:0a1b: 400 Bad Request\nerrors:\nunknown: blob unknown to registry', 'transient', 'a manifest was sent before its blobs'],
    ['400 Bad Request: manifest invalid', 'permanent', 'bad request'],
    ['something nobody has seen', 'permanent', 'failed']
  ])('%s → %s', (text, kind, cause) => {
    expect(classifyFailure(text)).toMatchObject({ kind, cause })
  })

  it('reads Retry-After where the message carries it', () => {
    expect(classifyFailure('429 Too Many Requests (Retry-After: 7)')).toEqual({ kind: 'rate-limited', cause: 'HTTP 429', retryAfterSeconds: 7 })
  })

  it('only retries transient faults and rate limits', () => {
    expect(['transient', 'rate-limited', 'auth', 'not-found', 'permanent'].filter(k => isRetryable(k as never))).toEqual([
      'transient',
      'rate-limited'
    ])
  })
})

describe('retryDelayMs', () => {
  const policy = { ...DEFAULT_RETRY, baseDelayMs: 1000, maxDelayMs: 10_000 }
  const transient = { kind: 'transient' as const, cause: 'HTTP 500' }

  it('doubles from the base and stops at the bound', () => {
    expect([1, 2, 3, 4, 5].map(n => retryDelayMs(policy, n, transient))).toEqual([1000, 2000, 4000, 8000, 10_000])
  })

  it('waits what a rate limit asked for, within the bound', () => {
    expect(retryDelayMs(policy, 1, { kind: 'rate-limited', cause: 'HTTP 429', retryAfterSeconds: 3 })).toBe(3000)
    expect(retryDelayMs(policy, 1, { kind: 'rate-limited', cause: 'HTTP 429', retryAfterSeconds: 99 })).toBe(10_000)
  })

  it('waits four times longer on a rate limit that did not say how long', () => {
    expect(retryDelayMs(policy, 1, { kind: 'rate-limited', cause: 'HTTP 429' })).toBe(4000)
  })
})
