export function parseOutputValue(name: string, value: string): unknown
export function parseOutputs(outputs: Record<string, string>): Record<string, unknown>
export function shortDigest(digest: string): string
export function formatSeconds(seconds: number): string

export interface DemoRun {
  exitCode?: number
  postExitCode?: number
  /** The outputs as parseOutputs returns them. */
  outputs: Record<string, unknown>
  /** The repository the demo asked for, shown when no output names one. */
  image: string
  seconds?: number
  runnerPath?: string
  files?: string[]
}

export function resultLines(run: DemoRun): string[]
