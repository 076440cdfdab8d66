/**
 * The post step: cleanup only. Each cleanup runs on its own, and a failure is a warning, never a failed job.
 */
import * as core from '@actions/core'
import { rm } from 'node:fs/promises'
import { removeBuilder } from './setup/builder.js'
import { createDocker, type Docker } from './core/docker.js'
import { removeLocalImages } from './core/cleanup.js'
import { errorMessage } from './core/errors.js'
import { loadListState, loadState, State } from './core/state.js'

export async function runPost(docker: Docker = createDocker()): Promise<void> {
  // the job's own DOCKER_CONFIG: its builders, and the run's logins, which go with it (in the work directory)
  const dockerConfig = loadState(State.DockerConfig)
  if (dockerConfig) process.env.DOCKER_CONFIG = dockerConfig
  const workDir = loadState(State.WorkDir)
  const localImages = loadListState(State.LocalImages)
  if (localImages.length > 0) {
    await cleanup('removing the local image names this action created', async () => {
      for (const line of await removeLocalImages(docker, localImages)) core.info(line)
    })
  }
  const builder = loadState(State.Builder)
  const context = loadState(State.DockerContext)
  if (builder || context) {
    await cleanup('removing the builder this action created', async () => {
      for (const line of await removeBuilder(docker, builder, context)) core.info(line)
    })
  }
  if (workDir) {
    await cleanup('removing the work directory', async () => {
      for (const registry of loadListState(State.Logins)) core.info(`logged out of ${registry || 'docker.io'} (its login was in the job's docker config only, now removed)`)
      await rm(workDir, { recursive: true, force: true })
      core.info(`removed ${workDir}`)
    })
  }
}


async function cleanup(what: string, action: () => Promise<void>): Promise<void> {
  try {
    await action()
  } catch (error) {
    core.warning(`post step: ${what} failed: ${errorMessage(error)}`)
  }
}
