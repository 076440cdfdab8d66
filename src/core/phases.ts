/**
 * The pipeline's phases: each runs in its own log group and its duration is kept for the job summary.
 */
import * as core from '@actions/core'

/** The phase in which tags users pull move; the failure summary says whether it began. */
export const PUBLISH_PHASE = 'Move tags'

export interface PhaseTiming {
  name: string
  /** Milliseconds since the first phase started. */
  startMs: number
  durationMs: number
  ok: boolean
}

export class Phases {
  readonly timings: PhaseTiming[] = []
  private readonly origin: number

  constructor(private readonly now: () => number = Date.now) {
    this.origin = now()
  }

  /** Runs `body` in a log group named `name`, timing it (failed phases are kept too). */
  async run<T>(name: string, body: () => Promise<T>): Promise<T> {
    const start = this.now()
    let ok = false
    try {
      const result = await core.group(name, body)
      ok = true
      return result
    } finally {
      this.timings.push({ name, startMs: start - this.origin, durationMs: this.now() - start, ok })
    }
  }
}
