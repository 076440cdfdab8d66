/**
 * The one wrapper through which every docker / buildx command runs: argv arrays (never shell strings), captured
 * output, a time bound on every command (its whole process group is killed on expiry), retries of transient
 * registry faults, output echoed into the fenced log (log.ts), where it cannot issue workflow commands, a child
 * environment without the step's inputs or the runner's credentials, and errors that say which command failed and
 * why.
 */
import * as core from '@actions/core'
import { spawn } from 'node:child_process'
import { info, lineEcho } from './log.js'
import { registryOf } from './reference.js'
import { classifyFailure, isRetryable, layerTransferTimeout, NO_RETRY, retryDelayMs, type Classified, type RetryPolicy } from './retry.js'

export interface CommandResult {
  exitCode: number
  stdout: string
  stderr: string
  /** Set when the command was killed because it ran past its bound. */
  timedOut?: CommandTimeout
}

/** How long a command may run, and the input that sets it (for the message when it runs past). */
export interface CommandTimeout {
  seconds: number
  input?: string
  /**
   * A transfer (push, pull, a copy between repositories): `seconds` bounds silence, not the whole command. The
   * bound restarts at every line the command prints (a layer pushed, a byte count), so a transfer that keeps
   * making progress is never cut, and one whose registry stops answering ends `seconds` after its last sign of life.
   */
  progress?: boolean
  /**
   * A bound of silence over part of a longer command (BuildKit's push inside a build): while `track` says a
   * transfer is open, `seconds` without a line of it kills the command, whatever its own bound. The result's
   * `timedOut` is then this bound, as a transfer's (`progress: true`).
   */
  stall?: StallBound
}

export interface StallBound {
  /** The input the bound derives from (named when it kills). */
  input: string
  /**
   * A fresh reader of one attempt's output lines: after each line, the silence allowed now (undefined while no
   * transfer is open) and whether the line was a transfer's progress.
   */
  tracker: () => (line: string) => { seconds?: number; progress: boolean }
}

/** The bound of commands that talk to no registry and run nothing of the user's (tag, inspect, builder setup…). */
export const DEFAULT_TIMEOUT: CommandTimeout = { seconds: 600 }

export interface RunOptions {
  /** Written to the command's standard input (for `--password-stdin`, never argv). */
  input?: string
  /** Do not echo the command and its output to the log (for commands whose output is data, not progress). */
  silent?: boolean
  /** Return a non-zero exit instead of throwing (no retries either: the caller judges the result). */
  allowFailure?: boolean
  /**
   * Retry transient registry faults (HTTP 5xx, 429, resets, EOF, timeouts) with bounded exponential backoff; each
   * attempt is bounded by the policy's `timeoutSeconds` (input `registry-timeout`).
   */
  retry?: RetryPolicy
  /** The bound of this command (each attempt); default: the retry policy's registry timeout, else {@link DEFAULT_TIMEOUT}. */
  timeout?: CommandTimeout
  /**
   * Variables added to this one command's environment only (cosign's COSIGN_PASSWORD, SIGSTORE_ID_TOKEN, the gha
   * cache's runner variables for the build): no other command sees them, and otherwise the child's environment never
   * holds the step's `INPUT_*` nor the runner's credentials (see {@link childEnvironment}).
   */
  env?: Record<string, string>
  /**
   * Stops the command (its whole process group) when aborted, and any retry of it: a build beside others that
   * failed (a build spread over nodes fails as a whole).
   */
  signal?: AbortSignal
  /** Written before every echoed line: which of the commands running side by side printed it (`[arm64-1] `). */
  prefix?: string
}

/** Runs the docker CLI. Unit tests pass a fake object; e2e tests and the action use {@link createDocker}. */
export interface Docker {
  run(args: readonly string[], options?: RunOptions): Promise<CommandResult>
}

export class DockerCommandError extends Error {
  readonly failure: Classified

  constructor(
    readonly args: readonly string[],
    readonly result: CommandResult,
    readonly attempts = 1
  ) {
    const tries = attempts > 1 ? ` after ${attempts} attempts` : ''
    super(
      result.timedOut
        ? `docker ${describeArgs(args)} was killed${tries}: ${timeoutSentence(args, result.timedOut)}`
        : `docker ${describeArgs(args)} failed${tries} (exit ${result.exitCode}): ${lastLines(result.stderr || result.stdout)}`
    )
    this.name = 'DockerCommandError'
    this.failure = classifyFailure(`${result.stdout}\n${result.stderr}`)
  }
}

/** The command's subcommand words, without flags' values, for messages: `buildx imagetools inspect`. */
export function describeArgs(args: readonly string[]): string {
  const words: string[] = []
  for (const a of args) {
    if (a.startsWith('-')) break
    words.push(a)
  }
  return words.join(' ')
}

/** The registry a command talks to: the first argument that is an image reference (`host/repo:tag`, `repo@digest`). */
export function registryIn(args: readonly string[]): string | undefined {
  const reference = args.find(a => !a.startsWith('-') && /^[a-z0-9.-]+(:\d+)?\/[^\s=,]+([:@][^\s=,/]+)$/i.test(a))
  return reference ? registryOf(reference) : undefined
}

/** Why a command was killed, naming the registry it talked to and the input that bounds it. */
export function timeoutSentence(args: readonly string[], timeout: CommandTimeout): string {
  const registry = registryIn(args)
  const input = timeout.input ? ` (input "${timeout.input}")` : ''
  const fix = timeout.input ? `; raise "${timeout.input}" if it needs longer` : ''
  const within = timeout.progress ? `for ${timeout.seconds} s${input} after its last progress` : `within ${timeout.seconds} s${input}`
  return registry
    ? `no answer from ${registry} ${within}: the registry accepted the connection and did not answer; check that ${registry} is up${fix}`
    : timeout.progress
      ? `it made no progress for ${timeout.seconds} s${input}${fix}`
      : `it did not finish within ${timeout.seconds} s${input}${fix}`
}

/**
 * What the runner gives the action's step that grants access, and no child needs: the job's runtime token and
 * the OIDC token request (the same access token; cosign gets an identity token of its own, sign.ts), the services
 * they open (cache, results, runtime), and the files through which a step sets later steps' environment and PATH,
 * its own outputs and state, and the job summary. The one build that uses the gha cache gets the cache's share of
 * them (cache.ts, GHA_CACHE_VARIABLES).
 */
export const RUNNER_ACCESS_VARIABLES: readonly string[] = [
  'ACTIONS_RUNTIME_TOKEN',
  'ACTIONS_RUNTIME_URL',
  'ACTIONS_ID_TOKEN_REQUEST_TOKEN',
  'ACTIONS_ID_TOKEN_REQUEST_URL',
  'ACTIONS_CACHE_URL',
  'ACTIONS_RESULTS_URL',
  'ACTIONS_CACHE_SERVICE_V2',
  'GITHUB_ENV',
  'GITHUB_PATH',
  'GITHUB_OUTPUT',
  'GITHUB_STATE',
  'GITHUB_STEP_SUMMARY'
]

/** Whether a variable is one no child sees: a step input (`INPUT_*`) or one of {@link RUNNER_ACCESS_VARIABLES}. */
export function isWithheldFromChildren(name: string): boolean {
  return /^INPUT_/i.test(name) || RUNNER_ACCESS_VARIABLES.includes(name)
}

/**
 * The environment every child (docker, buildx, cosign, git, credential helpers) runs with: the action's own,
 * without any `INPUT_*` variable and without the runner's {@link RUNNER_ACCESS_VARIABLES}. `INPUT_*` hold the
 * step's inputs as the runner passes them (`INPUT_PASSWORD`, `INPUT_LOGINS`, `INPUT_SECRETS`,
 * `INPUT_GITHUB-TOKEN`, a signing key…), and no child needs one. `extra` adds variables to one command (a child's
 * own settings, the gha cache's share of the runner's variables for the build that uses it).
 */
export function childEnvironment(env: NodeJS.ProcessEnv = process.env, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const clean: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(env)) {
    if (!isWithheldFromChildren(name)) clean[name] = value
  }
  return { ...clean, ...extra }
}

/** The last meaningful lines of a command's output, which is where docker and buildx put the cause. */
export function lastLines(text: string, count = 3): string {
  const lines = text
    .split('\n')
    .map(l => l.trim())
    .filter(l => l !== '')
  return lines.slice(-count).join(' | ') || '(no output)'
}

export type Sleep = (ms: number) => Promise<void>
const realSleep: Sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

/** Process groups of the commands running now, so a cancelled job can kill them all. */
const running = new Set<number>()

/** Containers the action runs now (verify-command): killing the CLI leaves a container running, so a cancel removes them. */
const containers = new Set<string>()

/** Set once the job is cancelled: from then on no command starts (no restore or read-back lands after the report). */
let cancelled = false

/** A command refused because the job was cancelled. */
export class CancelledError extends Error {
  override name = 'CancelledError'
}

/** Whether the job was cancelled ({@link cancelCommands}). */
export function isCancelled(): boolean {
  return cancelled
}

/** Records a container the action is about to run, so a cancel removes it; returns the unregistration. */
export function trackContainer(name: string): () => void {
  containers.add(name)
  return () => {
    containers.delete(name)
  }
}

/**
 * A cancelled job (SIGTERM / SIGINT): no further command starts, every command still running is killed with its
 * children, and the containers still running are returned for {@link removeContainers}.
 */
export function cancelCommands(): string[] {
  cancelled = true
  for (const pid of running) killGroup(pid)
  return [...containers]
}

/** `docker rm --force` of the given containers, the one command a cancelled job still runs; never throws. */
export async function removeContainers(names: readonly string[], binary = 'docker'): Promise<void> {
  if (names.length === 0) return
  await spawnBounded(binary, ['rm', '--force', ...names], { silent: true }, { seconds: 30 }).catch(() => undefined)
}

/** Resets the module's cancel state; for unit tests only. */
export function resetCancelForTests(): void {
  cancelled = false
  containers.clear()
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL')
  } catch {
    // already gone
  }
}

/**
 * Runs one command in a process group of its own (so a timeout kills buildx, its plugin and whatever it started),
 * bounded by `timeout`; echoes its output unless silent.
 */
export function runBounded(binary: string, args: readonly string[], options: RunOptions, timeout: CommandTimeout): Promise<CommandResult> {
  if (cancelled) return Promise.reject(new CancelledError(`docker ${describeArgs(args)} was not started: the job was cancelled`))
  if (options.signal?.aborted) return Promise.reject(new CancelledError(`docker ${describeArgs(args)} was not started: ${String(options.signal.reason)}`))
  return spawnBounded(binary, args, options, timeout)
}

function spawnBounded(binary: string, args: readonly string[], options: RunOptions, timeout: CommandTimeout): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const silent = options.silent ?? false
    if (!silent) info(`${options.prefix ?? ''}[command]${binary} ${args.join(' ')}`)
    const child = spawn(binary, [...args], { detached: true, stdio: ['pipe', 'pipe', 'pipe'], env: childEnvironment(process.env, options.env) })
    let stdout = ''
    let stderr = ''
    let timedOut = false
    // both streams to the log (stdout, fenced): the runner reads stderr in no fixed order with stdout
    const echoOut = lineEcho(options.prefix)
    const echoErr = lineEcho(options.prefix)
    const expire = (): void => {
      timedOut = true
      if (child.pid !== undefined) killGroup(child.pid)
    }
    let timer = setTimeout(expire, timeout.seconds * 1000)
    // a transfer's bound counts silence: each line of progress restarts it
    const progressed = (chunk: string): void => {
      if (!timeout.progress || timedOut || !chunk.includes('\n')) return
      clearTimeout(timer)
      timer = setTimeout(expire, timeout.seconds * 1000)
    }
    // a transfer inside a longer command: its silence is bounded only while it is open
    let stalled: number | undefined
    const stall = timeout.stall
      ? watchStall(timeout.stall, seconds => {
          stalled = seconds
          expire()
        })
      : undefined
    const stallOut = stall?.stream()
    const stallErr = stall?.stream()
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
      progressed(chunk)
      stallOut?.(chunk)
      if (!silent) echoOut.push(chunk)
    })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk
      progressed(chunk)
      stallErr?.(chunk)
      if (!silent) echoErr.push(chunk)
    })
    if (child.pid !== undefined) running.add(child.pid)
    const abort = (): void => {
      if (child.pid !== undefined) killGroup(child.pid)
    }
    options.signal?.addEventListener('abort', abort, { once: true })
    child.on('error', error => {
      options.signal?.removeEventListener('abort', abort)
      clearTimeout(timer)
      if (child.pid !== undefined) running.delete(child.pid)
      reject(new Error(`cannot run "${binary}": ${error.message}. Install the docker CLI with the buildx plugin on the runner.`, { cause: error }))
    })
    child.on('close', code => {
      options.signal?.removeEventListener('abort', abort)
      clearTimeout(timer)
      stall?.stop()
      if (child.pid !== undefined) running.delete(child.pid)
      echoOut.flush()
      echoErr.flush()
      if (timedOut) {
        const bound: CommandTimeout = stalled !== undefined && timeout.stall ? { seconds: stalled, input: timeout.stall.input, progress: true } : timeout
        stderr += `\ntimed out: ${timeoutSentence(args, bound)}\n`
        resolve({ exitCode: code ?? 137, stdout, stderr, timedOut: bound })
      } else resolve({ exitCode: code ?? 1, stdout, stderr })
    })
    child.stdin.on('error', () => undefined)
    child.stdin.end(options.input ?? '')
  })
}

/**
 * Reads a command's output line by line for a {@link StallBound} (each stream its own lines: a line split across
 * chunks of stderr is never joined with stdout); calls `expire` once an open transfer is silent too long.
 */
function watchStall(bound: StallBound, expire: (seconds: number) => void): { stream: () => (chunk: string) => void; stop: () => void } {
  const track = bound.tracker()
  let timer: NodeJS.Timeout | undefined
  let armed: number | undefined
  const stop = (): void => {
    if (timer) clearTimeout(timer)
    timer = undefined
    armed = undefined
  }
  const read = (line: string): void => {
    const { seconds, progress } = track(line)
    if (seconds === undefined) stop()
    else if (progress || seconds !== armed) {
      stop()
      armed = seconds
      timer = setTimeout(() => expire(seconds), seconds * 1000)
    }
  }
  return {
    stream: () => {
      let partial = ''
      return chunk => {
        const lines = `${partial}${chunk}`.split('\n')
        partial = lines.pop() ?? ''
        lines.forEach(read)
      }
    },
    stop
  }
}

/** The bound of one attempt: the command's own, else the retry policy's registry timeout, else the default. */
export function boundOf(options: RunOptions): CommandTimeout {
  if (options.timeout) return options.timeout
  if (options.retry?.timeoutSeconds !== undefined) return { seconds: options.retry.timeoutSeconds, input: 'registry-timeout' }
  return DEFAULT_TIMEOUT
}

/** The real docker CLI. */
export function createDocker(binary = 'docker', sleep: Sleep = realSleep): Docker {
  const once = (args: readonly string[], options: RunOptions): Promise<CommandResult> => runBounded(binary, args, options, boundOf(options))
  const tool = binary.split('/').pop() ?? binary
  return { run: (args, options = {}) => runWithRetries(once, args, options, sleep, tool) }
}

/** Runs `once` until it succeeds, fails for good, or the policy's attempts are spent. */
export async function runWithRetries(
  once: (args: readonly string[], options: RunOptions) => Promise<CommandResult>,
  args: readonly string[],
  options: RunOptions,
  sleep: Sleep,
  tool = 'docker'
): Promise<CommandResult> {
  const policy = options.allowFailure ? NO_RETRY : (options.retry ?? NO_RETRY)
  for (let attempt = 1; ; attempt++) {
    const result = await once(args, options)
    if (result.exitCode === 0 || options.allowFailure) return result
    const error = new DockerCommandError(args, result, attempt)
    if (!isRetryable(error.failure.kind) || attempt >= policy.attempts) throw error
    if (cancelled || options.signal?.aborted) throw error
    const delay = retryDelayMs(policy, attempt, error.failure)
    const cause = result.timedOut ? `killed after ${result.timedOut.seconds} s${result.timedOut.progress ? ' without progress' : ''}` : error.failure.cause
    core.warning(
      `${tool} ${describeArgs(args)}: ${cause} (attempt ${attempt} of ${policy.attempts}); retrying in ${Math.round(delay / 100) / 10}s: ${lastLines(result.stderr || result.stdout, 1)}`
    )
    await sleep(delay)
  }
}

/** Run options of a command that moves image layers: retried, and bounded by a multiple of `registry-timeout`. */
export function withLayerBound(retry: RetryPolicy): RunOptions {
  const timeout = layerTransferTimeout(retry)
  return timeout ? { retry, timeout } : { retry }
}
