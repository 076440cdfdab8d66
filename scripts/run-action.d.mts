export const repoRoot: string
export function runnerNode(): string
export function inputVariable(name: string): string
export function parseCommandFile(text: string): Record<string, string>

export interface StepResult {
  exitCode: number
  /** Both streams, in the order they arrived. */
  log: string
  /** Each stream on its own: the runner reads them apart (and in no fixed order between them). */
  stdout: string
  stderr: string
  /** With `measureDisk`: bytes the step's processes wrote to disk, and of them those cancelled (files removed before writeback). */
  writeBytes?: number
  cancelledWriteBytes?: number
  /** The runner's signals sent to a cancelled step, each with when it was sent (ms since the epoch). */
  signals: Array<{ signal: NodeJS.Signals; at: number }>
  /** When the step's process ended (ms since the epoch). */
  endedAt: number
}

/** What the runner does to a cancelled step: each signal, so many ms after the one before, while the step runs. */
export const RUNNER_CANCEL: ReadonlyArray<{ signal: NodeJS.Signals; afterMs: number }>

export interface ActionRun {
  main: StepResult
  post?: StepResult
  outputs: Record<string, string>
  state: Record<string, string>
  summary: string
  runnerDir: string
  /** The DOCKER_CONFIG both steps ran with (undefined: the docker CLI's default). */
  dockerConfig?: string
}

export interface RunActionOptions {
  inputs?: Record<string, string>
  env?: Record<string, string>
  cwd?: string
  echo?: boolean
  /** Run the post step right after the main step (default); `false`: later, with {@link runPostStep}. */
  post?: boolean
  /** Another action's bundle to run instead of dist/index.js. */
  entry?: string
  /** Measure the bytes each step's processes wrote to disk. */
  measureDisk?: boolean
  /**
   * Cancel the main step as the runner cancels a job (SIGINT, then SIGTERM 7.5 s later, then SIGKILL 2.5 s later,
   * while it runs) once its log matches, or once the function (asked every 100 ms with the log so far) says so.
   */
  cancelWhen?: RegExp | ((log: string) => boolean | Promise<boolean>)
}

export function runAction(options?: RunActionOptions): Promise<ActionRun>

export interface PostStepOptions {
  /** The state the runner hands the post step (default: what the main step saved). */
  state?: Record<string, string>
  env?: Record<string, string>
}

export function runPostStep(run: ActionRun, options?: PostStepOptions): Promise<StepResult>
