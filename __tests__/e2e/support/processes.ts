/**
 * The processes of one action run, found by a marker in their environment: the test gives the run a variable of its
 * own (`stepMarker()`), the step's process has it, and so has every process it starts that keeps its environment
 * (docker, buildx and its plugin, cosign, sh). So what a run left behind can be listed after it, and its step
 * signalled while it runs, as the runner cancels a job (SIGINT first). Linux /proc; the tests run as root.
 */
import { readdirSync, readFileSync } from 'node:fs'

export interface Proc {
  pid: number
  ppid: number
  cmdline: string
}

export const MARKER_VARIABLE = 'GO_BUILD_ACTION_E2E_MARKER'

/** A marker no other run has: give it to the run as `env: { [MARKER_VARIABLE]: marker }`. */
export function stepMarker(): string {
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`
}

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined // gone meanwhile, or not ours to read
  }
}

/** Every live process whose environment holds the marker (zombies, which hold nothing, are not listed). */
export function processesWith(marker: string): Proc[] {
  const found: Proc[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const environ = read(`/proc/${entry}/environ`)
    if (!environ?.split('\0').includes(`${MARKER_VARIABLE}=${marker}`)) continue
    const stat = read(`/proc/${entry}/stat`) ?? ''
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (fields[0] === 'Z') continue
    found.push({ pid: Number(entry), ppid: Number(fields[1]), cmdline: (read(`/proc/${entry}/cmdline`) ?? '').split('\0').join(' ').trim() })
  }
  return found
}

/** The run's main step: the marked process this test process started (run-action spawns it). */
export function stepProcess(marker: string): Proc | undefined {
  return processesWith(marker).find(p => p.ppid === process.pid && p.cmdline.includes('dist/index.js'))
}

export interface Interruption {
  /** When SIGINT was sent to the main step, and when that process was gone (ms since the epoch). */
  signalledAt: number
  endedAt: number
  /** The marked processes when the signal was sent: the step, and what it had started. */
  atSignal: Proc[]
}

/**
 * Sends the main step SIGINT, as the runner does first when a job is cancelled, once `ready(step)` says so (asked
 * every 100 ms while the step runs), and follows it until that process is gone. Rejects if the step ended first.
 */
export async function interruptWhen(marker: string, ready: (step: Proc) => boolean | Promise<boolean>, deadlineMs = 10 * 60_000): Promise<Interruption> {
  const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))
  const started = Date.now()
  let seen: Proc | undefined
  for (;;) {
    const step = stepProcess(marker)
    // the main step is the first one seen; another one (the post step) means the main step ended first
    if (seen && step?.pid !== seen.pid) throw new Error('the main step ended before it was ready to be interrupted')
    seen ??= step
    if (step && (await ready(step))) {
      const atSignal = processesWith(marker)
      process.kill(step.pid, 'SIGINT')
      const signalledAt = Date.now()
      while (stepProcess(marker)?.pid === step.pid) await sleep(50)
      return { signalledAt, endedAt: Date.now(), atSignal }
    }
    if (Date.now() - started > deadlineMs) throw new Error(`the step was not ready to be interrupted within ${deadlineMs / 1000} s`)
    await sleep(100)
  }
}
