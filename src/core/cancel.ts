/**
 * A cancelled job. The runner (ProcessInvoker.cs) sends the step's process SIGINT, waits 7.5 s for it to end, sends
 * SIGTERM, waits 2.5 s more, then kills it. The commands the action runs are in process groups of their own
 * (docker.ts), so at the first signal they are killed here and no command of the pipeline starts any more; for a
 * window that ends before the runner's next signal, only the commands that put back what the run did may start (a
 * cancel during the tag moves puts back what this run moved, transaction.ts). A second signal kills those too. A
 * verify-command container still running is removed (killing the CLI leaves it running), and the secret files of the
 * stopped commands (a build's secrets, the signing key) are removed at once. The pipeline then reports where every
 * tag ended, and the step ends failed.
 */
import { cancelCommands, removeContainers, stopCommands } from './docker.js'
import { removeSecretFiles } from './secret-files.js'

/** Registers what a cancelled job does; returns the unregistration. */
export type CancelHook = (handler: (signal: string) => Promise<void>) => () => void

/**
 * How long after the first signal a cancelled run may still put back what it did: the runner sends its next signal
 * 7.5 s after SIGINT and kills the process 2.5 s after SIGTERM; the rest of each (2 s, 1 s) is left for the report
 * and a loaded machine.
 */
export const CANCEL_WINDOW_MS: Readonly<Record<string, number>> = { SIGINT: 5500, SIGTERM: 1500 }

/**
 * Stops every command (and the verify containers), removes the secret files of the commands it stopped, runs
 * `handler` (the put-back and the report), and ends the step failed.
 */
export const onCancel: CancelHook = handler => {
  let first: string | undefined
  const listener = (signal: NodeJS.Signals): void => {
    if (first !== undefined) {
      // the runner's second signal: whatever still runs is killed, and the handler reports what is known now
      stopCommands()
      return
    }
    first = signal
    const containers = cancelCommands(CANCEL_WINDOW_MS[signal] ?? 0)
    // before anything that could outlast the runner's patience (it kills the step a few seconds after SIGTERM)
    removeSecretFiles()
    void Promise.allSettled([removeContainers(containers), handler(signal)]).finally(() => process.exit(1))
  }
  process.on('SIGTERM', listener)
  process.on('SIGINT', listener)
  return () => {
    process.off('SIGTERM', listener)
    process.off('SIGINT', listener)
  }
}
