/**
 * A scripted stand-in for the docker CLI in unit tests: each call is recorded, and answered by the first
 * handler whose argv prefix matches. (e2e tests use the real CLI.)
 */
import { DockerCommandError, type CommandResult, type Docker, type RunOptions } from '../src/core/docker.js'

/** What a command answers; a function also gets the run's options (a build writes its export to `stdoutTo`). */
export type Answer = Partial<CommandResult> | ((args: readonly string[], options: RunOptions) => Partial<CommandResult>)

export class FakeDocker implements Docker {
  readonly calls: Array<{ args: string[]; options: RunOptions }> = []
  private readonly handlers: Array<{ prefix: string[]; answer: Answer }> = []

  on(prefix: string[], answer: Answer): this {
    this.handlers.push({ prefix, answer })
    return this
  }

  async run(args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    this.calls.push({ args: [...args], options })
    const handler = this.handlers.find(h => h.prefix.every((word, i) => args[i] === word))
    if (!handler) throw new Error(`FakeDocker: no answer for docker ${args.join(' ')}`)
    const partial = typeof handler.answer === 'function' ? handler.answer(args, options) : handler.answer
    const result: CommandResult = { exitCode: 0, stdout: '', stderr: '', ...partial }
    if (result.exitCode !== 0 && !options.allowFailure) throw new DockerCommandError(args, result)
    return result
  }
}
