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
}

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
  post?: boolean
  /** Send the main step SIGTERM (a cancelled job) once its log matches. */
  cancelWhen?: RegExp
}

export function runAction(options?: RunActionOptions): Promise<ActionRun>

export interface PostStepOptions {
  /** The state the runner hands the post step (default: what the main step saved). */
  state?: Record<string, string>
  env?: Record<string, string>
}

export function runPostStep(run: ActionRun, options?: PostStepOptions): Promise<StepResult>
