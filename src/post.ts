/**
 * The post step: cleanup only. Each cleanup runs on its own, and a failure is a warning, never a failed job.
 */
import * as core from '@actions/core'
import { rm } from 'node:fs/promises'
import { removeBuilder } from './builder.js'
import { createDocker } from './docker.js'
import { errorMessage } from './errors.js'
import { loadState, State } from './state.js'

export async function runPost(): Promise<void> {
  const builder = loadState(State.Builder)
  const context = loadState(State.DockerContext)
  await cleanup('removing the builder this action created', async () => {
    if (!builder && !context) return
    for (const line of await removeBuilder(createDocker(), builder, context)) core.info(line)
  })
  const workDir = loadState(State.WorkDir)
  await cleanup('removing the work directory', async () => {
    if (!workDir) return
    await rm(workDir, { recursive: true, force: true })
    core.info(`removed ${workDir}`)
  })
}

async function cleanup(what: string, action: () => Promise<void>): Promise<void> {
  try {
    await action()
  } catch (error) {
    core.warning(`post step: ${what} failed: ${errorMessage(error)}`)
  }
}
