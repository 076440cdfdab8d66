/**
 * A cancelled job: the runner sends the step SIGINT, then SIGTERM, then kills it. The commands the action runs
 * are in process groups of their own (docker.ts), so they are killed here, and no further command starts: the
 * pipeline cannot start a restore or a read-back that lands after the report. A verify-command container still
 * running is removed (killing the CLI leaves it running), and the secret files of the stopped commands (a build's
 * secrets, the signing key) are removed at once. The pipeline then reports what it had moved so far, and the step
 * ends failed.
 */
import { cancelCommands, removeContainers } from './docker.js'
import { removeSecretFiles } from './secret-files.js'

/** Registers what a cancelled job does; returns the unregistration. */
export type CancelHook = (handler: (signal: string) => Promise<void>) => () => void

/**
 * Stops every command (and the verify containers), removes the secret files of the commands it stopped, runs
 * `handler` (the report), and ends the step failed.
 */
export const onCancel: CancelHook = handler => {
  const listener = (signal: NodeJS.Signals): void => {
    const containers = cancelCommands()
    // before anything that could outlast the runner's patience (it kills the step a few seconds after SIGTERM)
    removeSecretFiles()
    void Promise.allSettled([removeContainers(containers), handler(signal)]).finally(() => process.exit(1))
  }
  process.once('SIGTERM', listener)
  process.once('SIGINT', listener)
  return () => {
    process.off('SIGTERM', listener)
    process.off('SIGINT', listener)
  }
}
