/**
 * The one wrapper through which every docker / buildx command runs: argv arrays (never shell strings), captured
 * output, a time bound on every command (its whole process group is killed on expiry), retries of transient
 * registry faults, output echoed into the fenced log (log.ts), where it cannot issue workflow commands, a child
 * environment without the step's inputs or the runner's credentials, and errors that say which command failed and
 * why.
 */
import * as core from '@actions/core'
import { spawn } from 'node:child_process'
import { stat } from 'node:fs/promises'
import { homedir } from 'node:os'
import { basename, isAbsolute, join } from 'node:path'
import type { Writable } from 'node:stream'
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
   * transfer is open), whether the line was a transfer's progress, and whether the open transfer is quiet (moves
   * its bytes without printing).
   */
  tracker: () => (line: string) => { seconds?: number; progress: boolean; quiet?: boolean }
  /**
   * For a quiet transfer (BuildKit's layer upload): a count of bytes that moves with its bytes, read every few
   * seconds while one is open. `seconds` without it growing by `step` bytes, nor a line of the transfer, kills the
   * command, sooner than the tracker's bound of silence; a count that cannot be read (undefined) decides nothing.
   */
  activity?: { seconds: number; step: number; read: () => Promise<number | undefined> }
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
   * Where the command's standard output goes instead of the result: a fresh stream for each attempt (a build's export
   * as a tar, read as it comes). Not echoed, not text; the bounds read standard error only. Should the stream fail
   * or close early, the rest of the output is drained, so the command is never blocked on its output.
   */
  stdoutTo?: () => Writable
  /**
   * The command puts back what this run did (a tag it moved) after the job was cancelled: it may start while the
   * cancel's window lasts ({@link cancelCommands}), bounded by what is left of it; a second signal kills it too.
   */
  afterCancel?: boolean
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

/**
 * The command's subcommand words, without flags' values, for messages: `buildx imagetools inspect`. A leading
 * `--context NAME` (the engine's builder runs from its own docker context) is not the command.
 */
export function describeArgs(args: readonly string[]): string {
  const words: string[] = []
  for (const a of args[0] === '--context' ? args.slice(2) : args) {
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

/**
 * The job's cancel, once a signal came: until `windowEnd` (ms since the epoch) the commands that put back what the
 * run did ({@link RunOptions.afterCancel}) may still start; `stopped` once a second signal came (nothing starts).
 */
let cancel: { windowEnd: number; stopped: boolean } | undefined

/** A command refused because the job was cancelled. */
export class CancelledError extends Error {
  override name = 'CancelledError'
}

/** Whether the job was cancelled ({@link cancelCommands}). */
export function isCancelled(): boolean {
  return cancel !== undefined
}

/**
 * Milliseconds left for the commands that put back what a cancelled run did: 0 while the job is not cancelled,
 * once the window has passed, and after a second signal.
 */
export function cancelWindowMs(now = Date.now()): number {
  return cancel && !cancel.stopped ? Math.max(0, cancel.windowEnd - now) : 0
}

/**
 * Refuses, with a {@link CancelledError}, a command the job's cancel does not let start: after the first signal
 * every command but those that put back what the run did, and those too once the window has passed or a second
 * signal came. The real wrapper asks before every command; unit tests ask it the same way.
 */
export function refuseIfCancelled(args: readonly string[], options: RunOptions = {}, now = Date.now()): void {
  if (!cancel || (options.afterCancel && cancelWindowMs(now) > 0)) return
  throw new CancelledError(`docker ${describeArgs(args)} was not started: the job was cancelled`)
}

/** Records a container the action is about to run, so a cancel removes it; returns the unregistration. */
export function trackContainer(name: string): () => void {
  containers.add(name)
  return () => {
    containers.delete(name)
  }
}

/**
 * A cancelled job (the runner's first signal): no command of the pipeline starts any more, every command still
 * running is killed with its children, and for `windowMs` only the commands that put back what the run did may
 * start. Returns the containers still running, for {@link removeContainers}.
 */
export function cancelCommands(windowMs = 0, now = Date.now()): string[] {
  cancel ??= { windowEnd: now + windowMs, stopped: false }
  for (const pid of running) killGroup(pid)
  return [...containers]
}

/** The runner's second signal: every command still running is killed (a put-back too), and none starts any more. */
export function stopCommands(): void {
  cancel = { windowEnd: cancel?.windowEnd ?? 0, stopped: true }
  for (const pid of running) killGroup(pid)
}

/** `docker rm --force` of the given containers, which a cancelled job runs whatever its window; never throws. */
export async function removeContainers(names: readonly string[], binary = 'docker'): Promise<void> {
  if (names.length === 0) return
  await spawnBounded(binary, ['rm', '--force', ...names], { silent: true }, { seconds: 30 }).catch(() => undefined)
}

/** Resets the module's cancel state; for unit tests only. */
export function resetCancelForTests(): void {
  cancel = undefined
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
export function runBounded(binary: string, args: readonly string[], options: RunOptions, timeout: CommandTimeout, shownAs = binary): Promise<CommandResult> {
  try {
    refuseIfCancelled(args, options)
  } catch (error) {
    return Promise.reject(error)
  }
  if (options.signal?.aborted) return Promise.reject(new CancelledError(`docker ${describeArgs(args)} was not started: ${String(options.signal.reason)}`))
  // after a cancel, a put-back gets what is left of the window at most
  const left = cancelWindowMs() / 1000
  return spawnBounded(binary, args, options, isCancelled() && left < timeout.seconds ? { seconds: left } : timeout, shownAs)
}

function spawnBounded(binary: string, args: readonly string[], options: RunOptions, timeout: CommandTimeout, shownAs = binary): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const silent = options.silent ?? false
    if (!silent) info(`${options.prefix ?? ''}[command]${shownAs} ${args.join(' ')}`)
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
    if (options.stdoutTo) pipeOut(child.stdout, options.stdoutTo())
    else {
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk
        progressed(chunk)
        stallOut?.(chunk)
        if (!silent) echoOut.push(chunk)
      })
    }
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

/** A command's standard output into `sink`, with backpressure; drained to nowhere once the sink fails or closes early. */
function pipeOut(stdout: NodeJS.ReadableStream, sink: Writable): void {
  const drain = (): void => {
    stdout.unpipe(sink)
    stdout.resume()
  }
  sink.on('error', drain)
  sink.on('close', () => {
    if (!sink.writableFinished) drain()
  })
  stdout.pipe(sink)
}

/**
 * Reads a command's output line by line for a {@link StallBound} (each stream its own lines: a line split across
 * chunks of stderr is never joined with stdout); calls `expire` once an open transfer is silent too long, or a
 * quiet one's activity stands still too long.
 */
function watchStall(bound: StallBound, expire: (seconds: number) => void): { stream: () => (chunk: string) => void; stop: () => void } {
  const track = bound.tracker()
  let timer: NodeJS.Timeout | undefined
  let armed: number | undefined
  const quiet = watchActivity(bound.activity, expire)
  const stop = (): void => {
    if (timer) clearTimeout(timer)
    timer = undefined
    armed = undefined
  }
  const read = (line: string): void => {
    const { seconds, progress, quiet: isQuiet } = track(line)
    if (seconds === undefined) stop()
    else if (progress || seconds !== armed) {
      stop()
      armed = seconds
      timer = setTimeout(() => expire(seconds), seconds * 1000)
    }
    if (progress) quiet.alive()
    if (isQuiet) quiet.start()
    else quiet.stop()
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
    stop: () => {
      stop()
      quiet.stop()
    }
  }
}

/**
 * Samples a quiet transfer's activity ({@link StallBound.activity}) while `start`ed: every fifth of its bound (1 to
 * 5 s); `expire`s once the count has not grown by a step, and `alive` was not called, for the bound.
 */
function watchActivity(
  activity: StallBound['activity'],
  expire: (seconds: number) => void
): { start: () => void; stop: () => void; alive: () => void } {
  let sampler: NodeJS.Timeout | undefined
  let last: { value?: number; at: number } = { at: 0 }
  let reading = false
  const stop = (): void => {
    if (sampler) clearInterval(sampler)
    sampler = undefined
  }
  const start = (): void => {
    if (!activity || sampler) return
    last = { at: Date.now() }
    sampler = setInterval(
      () => {
        if (reading) return
        reading = true
        void activity
          .read()
          .catch(() => undefined)
          .then(value => {
            reading = false
            if (!sampler || value === undefined) return
            // a count that grew by a step, or started again (another process), is a sign of life
            if (last.value === undefined || value - last.value >= activity.step || value < last.value) last = { value, at: Date.now() }
            else if (Date.now() - last.at >= activity.seconds * 1000) {
              stop()
              expire(activity.seconds)
            }
          })
      },
      Math.min(5, Math.max(1, activity.seconds / 5)) * 1000
    )
  }
  return { start, stop, alive: () => (last = { ...last, at: Date.now() }) }
}

/** The bound of one attempt: the command's own, else the retry policy's registry timeout, else the default. */
export function boundOf(options: RunOptions): CommandTimeout {
  if (options.timeout) return options.timeout
  if (options.retry?.timeoutSeconds !== undefined) return { seconds: options.retry.timeoutSeconds, input: 'registry-timeout' }
  return DEFAULT_TIMEOUT
}

/**
 * The real docker CLI (or another tool's, `binary`). docker's `buildx …` commands run docker's own buildx plugin
 * standalone ({@link BuildxPlugin}); the log still shows them as `docker buildx …`.
 */
export function createDocker(binary = 'docker', sleep: Sleep = realSleep): Docker {
  const plugin = basename(binary) === 'docker' ? new BuildxPlugin(binary) : undefined
  const once = async (args: readonly string[], options: RunOptions): Promise<CommandResult> => {
    const buildx = plugin && args[0] === 'buildx' ? await plugin.path() : undefined
    if (buildx) return runBounded(buildx, args.slice(1), options, boundOf(options), `${binary} buildx`)
    return runBounded(binary, args, options, boundOf(options))
  }
  const tool = binary.split('/').pop() ?? binary
  return { run: (args, options = {}) => runWithRetries(once, args, options, sleep, tool) }
}

/** What docker is asked for its buildx plugin: the path of the one it would run, if valid (client information only, no daemon). */
export const BUILDX_PLUGIN_ARGS = ['info', '--format', '{{range .ClientInfo.Plugins}}{{if eq .Name "buildx"}}{{if not .Err}}{{.Path}}{{end}}{{end}}{{end}}']

/**
 * The buildx plugin docker runs, run standalone as buildx allows (`docker-buildx imagetools inspect …`): through
 * the docker CLI, every buildx command starts three programs (docker, the plugin's metadata check, the plugin),
 * standalone one, the same binary with the same DOCKER_CONFIG, context and environment: a registry query or a tag
 * move costs half the CPU (the bench's small image: CONTRIBUTING.md). Which plugin is docker's to say
 * ({@link BUILDX_PLUGIN_ARGS}), asked again whenever DOCKER_CONFIG or its `cli-plugins` directory changes (the job's
 * own config; a pinned buildx put there, buildx-install.ts). When docker names none (no buildx, a docker that cannot
 * say), the command goes through docker as written, and docker's own error says what is missing.
 */
export class BuildxPlugin {
  private key: string | undefined
  private found: Promise<string | undefined> | undefined

  constructor(
    private readonly docker: string,
    private readonly env: NodeJS.ProcessEnv = process.env
  ) {}

  async path(): Promise<string | undefined> {
    const config = this.env.DOCKER_CONFIG || join(homedir(), '.docker')
    const plugins = await stat(join(config, 'cli-plugins')).then(
      s => `${s.ino}:${s.mtimeMs}`,
      () => 'none'
    )
    const key = `${config}\0${plugins}`
    if (key !== this.key || !this.found) {
      this.key = key
      this.found = this.ask()
    }
    return this.found
  }

  /**
   * docker's answer. A docker that could not be asked (not started after a cancel, killed) answers nothing, and is
   * asked again next time: the command goes through docker meanwhile, and the wrapper's own checks decide whether
   * it runs.
   */
  private async ask(): Promise<string | undefined> {
    const result = await runBounded(this.docker, BUILDX_PLUGIN_ARGS, { silent: true }, DEFAULT_TIMEOUT).catch(() => undefined)
    if (result === undefined) this.key = undefined
    const found = result?.exitCode === 0 ? result.stdout.trim() : ''
    return isAbsolute(found) ? found : undefined
  }
}

/**
 * Runs a host tool that is not docker (git, sudo, mount) once, through the same bounds, process group and cancel as
 * every command: its stdout, or an error that says `TOOL ARGS failed (exit N): …`, or why the bound killed it.
 */
export async function runTool(binary: string, args: readonly string[], options: Pick<RunOptions, 'input' | 'silent'> = {}, timeout = DEFAULT_TIMEOUT): Promise<string> {
  const what = `${binary} ${args.join(' ')}`
  const result = await runBounded(binary, args, options, timeout).catch((error: unknown) => {
    if (error instanceof CancelledError) throw error
    // not there: the wrapper's own message is about docker
    throw new Error(`cannot run ${what}: ${error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error)}`, { cause: error })
  })
  if (result.exitCode === 0) return result.stdout
  if (result.timedOut) throw new ToolTimeoutError(`${what} was killed: ${timeoutSentence([], result.timedOut)}`)
  throw new Error(`${what} failed (exit ${result.exitCode}): ${(result.stderr || result.stdout).trim()}`)
}

/** A host tool killed by its bound ({@link runTool}). */
export class ToolTimeoutError extends Error {
  override name = 'ToolTimeoutError'
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
    if (isCancelled() || options.signal?.aborted) throw error
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
