/**
 * The one wrapper through which every docker / buildx command runs: argv arrays (never shell strings), captured
 * output, retries of transient registry faults, and errors that say which command failed and why.
 */
import * as core from '@actions/core'
import * as exec from '@actions/exec'
import { classifyFailure, isRetryable, NO_RETRY, retryDelayMs, type Classified, type RetryPolicy } from './retry.js'

export interface CommandResult {
  exitCode: number
  stdout: string
  stderr: string
}

export interface RunOptions {
  /** Written to the command's standard input (for `--password-stdin`, never argv). */
  input?: string
  /** Do not echo the command and its output to the log (for commands whose output is data, not progress). */
  silent?: boolean
  /** Return a non-zero exit instead of throwing (no retries either: the caller judges the result). */
  allowFailure?: boolean
  /** Retry transient registry faults (HTTP 5xx, 429, resets, EOF, timeouts) with bounded exponential backoff. */
  retry?: RetryPolicy
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
    super(`docker ${describeArgs(args)} failed${tries} (exit ${result.exitCode}): ${lastLines(result.stderr || result.stdout)}`)
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

/** The real docker CLI through `@actions/exec`. */
export function createDocker(binary = 'docker', sleep: Sleep = realSleep): Docker {
  const once = async (args: readonly string[], options: RunOptions): Promise<CommandResult> => {
    try {
      const out = await exec.getExecOutput(binary, [...args], {
        ignoreReturnCode: true,
        silent: options.silent ?? false,
        input: options.input === undefined ? undefined : Buffer.from(options.input)
      })
      return { exitCode: out.exitCode, stdout: out.stdout, stderr: out.stderr }
    } catch (error) {
      const cause = error instanceof Error ? error.message : String(error)
      throw new Error(`cannot run "${binary}": ${cause}. Install the docker CLI with the buildx plugin on the runner.`, {
        cause: error
      })
    }
  }
  return { run: (args, options = {}) => runWithRetries(once, args, options, sleep) }
}

/** Runs `once` until it succeeds, fails for good, or the policy's attempts are spent. */
export async function runWithRetries(
  once: (args: readonly string[], options: RunOptions) => Promise<CommandResult>,
  args: readonly string[],
  options: RunOptions,
  sleep: Sleep
): Promise<CommandResult> {
  const policy = options.allowFailure ? NO_RETRY : (options.retry ?? NO_RETRY)
  for (let attempt = 1; ; attempt++) {
    const result = await once(args, options)
    if (result.exitCode === 0 || options.allowFailure) return result
    const error = new DockerCommandError(args, result, attempt)
    if (!isRetryable(error.failure.kind) || attempt >= policy.attempts) throw error
    const delay = retryDelayMs(policy, attempt, error.failure)
    core.warning(
      `docker ${describeArgs(args)}: ${error.failure.cause} (attempt ${attempt} of ${policy.attempts}); retrying in ${Math.round(delay / 100) / 10}s: ${lastLines(result.stderr || result.stdout, 1)}`
    )
    await sleep(delay)
  }
}
