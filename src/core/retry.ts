/**
 * Which registry failures are worth another try, and how long to wait before it.
 *
 * docker and buildx report registry faults as text on stderr; these patterns come from their real messages
 * (see __fixtures__/registry-errors.txt). A fault a retry cannot fix (authentication, a bad request, a missing
 * manifest) is never retried.
 */

export interface RetryPolicy {
  /** Total attempts, the first included (1 = no retry). */
  attempts: number
  /** Delay before the first retry, in milliseconds; doubles on each further retry. */
  baseDelayMs: number
  /** Upper bound of any one delay. */
  maxDelayMs: number
  /** Seconds one attempt may take before its process group is killed (input `registry-timeout`); unset: the default bound. */
  timeoutSeconds?: number
}

/** Seconds one registry operation may take per attempt, unless `registry-timeout` says otherwise. */
export const DEFAULT_REGISTRY_TIMEOUT_SECONDS = 120

export const DEFAULT_RETRY: RetryPolicy = {
  attempts: 4,
  baseDelayMs: 2000,
  maxDelayMs: 60_000,
  timeoutSeconds: DEFAULT_REGISTRY_TIMEOUT_SECONDS
}
export const NO_RETRY: RetryPolicy = { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 }

export type FailureKind = 'transient' | 'rate-limited' | 'auth' | 'not-found' | 'permanent'

export interface Classified {
  kind: FailureKind
  /** A short cause for logs: `HTTP 503`, `connection reset`, ... */
  cause: string
  /** Seconds the registry asked to wait (Retry-After), where it said so. */
  retryAfterSeconds?: number
}

const RULES: Array<{ kind: FailureKind; cause: string; pattern: RegExp }> = [
  // A Dockerfile step that failed is the user's build, not the registry: whatever it printed, never retried.
  { kind: 'permanent', cause: 'a build step failed', pattern: /did not complete successfully|failed to solve: .*(dockerfile|parse)/i },
  // A copy whose manifest (or index) reached the registry before the blobs (or manifests) it names (buildx's
  // imagetools copy uploads them concurrently; docker/buildx#3722): the copy is idempotent, and the next attempt
  // finds them in place.
  {
    kind: 'transient',
    cause: 'a manifest was sent before its blobs',
    pattern: /failed commit on ref "(?:manifest|index)-[^"]*": unexpected status from PUT request[\s\S]*blob unknown to registry/i
  },
  // Never retried: the same request fails the same way.
  // Status codes stand alone: BuildKit's step timestamps (`#24 0.401 retrying in 1s`) are not HTTP statuses.
  { kind: 'auth', cause: 'authentication failed', pattern: /(?<![.\w])401(?!\w|\.\d)|unauthorized|authentication required|no basic auth credentials|incorrect username or password/i },
  { kind: 'auth', cause: 'access denied', pattern: /(?<![.\w])403(?!\w|\.\d)|forbidden|\bdenied\b/i },
  { kind: 'rate-limited', cause: 'HTTP 429', pattern: /(?<![.\w])429(?!\w|\.\d)|too many requests|toomanyrequests|rate limit/i },
  { kind: 'transient', cause: 'HTTP 5xx', pattern: /(?<![.\w])50[0-4](?!\w|\.\d)|internal server error|bad gateway|service unavailable|gateway time-?out/i },
  { kind: 'transient', cause: 'connection reset', pattern: /connection reset|broken pipe|connection closed/i },
  { kind: 'transient', cause: 'unexpected EOF', pattern: /\bEOF\b/ },
  { kind: 'transient', cause: 'timeout', pattern: /\btime-?outs?\b(?![-/:.@])|timed out|deadline exceeded/i },
  { kind: 'transient', cause: 'connection refused', pattern: /connection refused|no route to host|network is unreachable/i },
  { kind: 'not-found', cause: 'not found', pattern: /(?<![.\w])404(?!\w|\.\d)|manifest[ _]unknown|not found|name[ _]unknown|blob[ _]unknown|not known to registry/i },
  { kind: 'permanent', cause: 'bad request', pattern: /(?<![.\w])400(?!\w|\.\d)|bad request|invalid|manifest invalid|unsupported/i }
]

/** Classifies a failed command's output. Unknown failures are permanent: retrying blind hides real bugs. */
export function classifyFailure(output: string): Classified {
  // The cause is usually in the last lines; earlier progress lines can mention words like "timeout" harmlessly.
  const tail = output.split('\n').slice(-15).join('\n')
  for (const rule of RULES) {
    if (rule.pattern.test(tail)) {
      const retryAfter = /retry-after:?\s*(\d+)/i.exec(tail)
      // The status the registry answered, never a step timestamp (`#14 7.575`) or a step number (`#503`): the
      // last that stands alone, nearest the error line.
      const status = [...tail.matchAll(/(?<![.\w#])(5\d\d|429)(?!\w|\.\d)/g)].at(-1)?.[1]
      const cause = rule.cause === 'HTTP 5xx' && status ? `HTTP ${status}` : rule.cause
      return retryAfter
        ? { kind: rule.kind, cause, retryAfterSeconds: Number(retryAfter[1]) }
        : { kind: rule.kind, cause }
    }
  }
  return { kind: 'permanent', cause: 'failed' }
}

export function isRetryable(kind: FailureKind): boolean {
  return kind === 'transient' || kind === 'rate-limited'
}

/**
 * Delay before retry number `retry` (1 for the first retry): exponential from the base, bounded; a rate limit
 * waits at least what the registry asked for, or four times the base when it did not say.
 */
export function retryDelayMs(policy: RetryPolicy, retry: number, failure: Classified): number {
  const exponential = policy.baseDelayMs * 2 ** (retry - 1)
  if (failure.kind === 'rate-limited') {
    const asked = failure.retryAfterSeconds !== undefined ? failure.retryAfterSeconds * 1000 : exponential * 4
    return Math.min(Math.max(asked, exponential), policy.maxDelayMs)
  }
  return Math.min(exponential, policy.maxDelayMs)
}

/**
 * The bound of one attempt of a command that moves image layers (push, pull, a copy between repositories):
 * `registry-timeout` of silence, restarted at every line of progress the command prints, so a registry that stops
 * answering fails within about attempts × `registry-timeout`, and a transfer that keeps moving is never cut.
 */
export function layerTransferTimeout(policy: RetryPolicy): { seconds: number; input: string; progress: true } | undefined {
  return policy.timeoutSeconds === undefined ? undefined : { seconds: policy.timeoutSeconds, input: 'registry-timeout', progress: true }
}
