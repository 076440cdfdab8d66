/**
 * The one wrapper through which every docker / buildx command runs: argv arrays (never shell strings), captured
 * output, and errors that say which command failed and why.
 */
import * as exec from '@actions/exec'

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
  /** Return a non-zero exit instead of throwing. */
  allowFailure?: boolean
}

/** Runs the docker CLI. Tests pass a fake object; e2e tests and the action use {@link createDocker}. */
export interface Docker {
  run(args: readonly string[], options?: RunOptions): Promise<CommandResult>
}

export class DockerCommandError extends Error {
  constructor(
    readonly args: readonly string[],
    readonly result: CommandResult
  ) {
    super(`docker ${describeArgs(args)} failed (exit ${result.exitCode}): ${lastLines(result.stderr || result.stdout)}`)
    this.name = 'DockerCommandError'
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

export function createDocker(binary = 'docker'): Docker {
  return {
    async run(args, options = {}) {
      let out: exec.ExecOutput
      try {
        out = await exec.getExecOutput(binary, [...args], {
          ignoreReturnCode: true,
          silent: options.silent ?? false,
          input: options.input === undefined ? undefined : Buffer.from(options.input)
        })
      } catch (error) {
        const cause = error instanceof Error ? error.message : String(error)
        throw new Error(`cannot run "${binary}": ${cause}. Install the docker CLI with the buildx plugin on the runner.`, {
          cause: error
        })
      }
      const result: CommandResult = { exitCode: out.exitCode, stdout: out.stdout, stderr: out.stderr }
      if (result.exitCode !== 0 && !options.allowFailure) throw new DockerCommandError(args, result)
      return result
    }
  }
}
