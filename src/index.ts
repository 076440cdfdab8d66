/**
 * Entry point of both the main and the post step (the runner starts the same bundle twice; the post step sees
 * the state the main step saved). Each step's stdout is the fenced log first (core/log.ts), so nothing the step
 * echoes can issue a workflow command.
 */
import * as core from '@actions/core'
import { createDocker } from './core/docker.js'
import { onCancel } from './core/cancel.js'
import { run } from './main.js'
import { errorMessage } from './core/errors.js'
import { runPost } from './post.js'
import { isPostStep } from './core/state.js'
import { fenceStdout } from './core/log.js'

fenceStdout()

if (isPostStep()) {
  await runPost().catch(error => core.warning(`post step: ${errorMessage(error)}`))
} else {
  await run(createDocker(), onCancel).catch(error => core.setFailed(errorMessage(error)))
}
