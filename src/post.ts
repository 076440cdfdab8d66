/**
 * The post step: cleanup only. Each cleanup runs on its own, and a failure is a warning, never a failed job.
 */
import * as core from '@actions/core'
import { rm } from 'node:fs/promises'
import { removeBuilder } from './builder.js'
import { createDocker, type Docker } from './docker.js'
import { errorMessage } from './errors.js'
import { logoutFrom } from './login.js'
import { loadListState, loadState, State } from './state.js'

export async function runPost(docker: Docker = createDocker()): Promise<void> {
  for (const registry of loadListState(State.Logins)) {
    await cleanup(`logging out of ${registry || 'docker.io'}`, async () => {
      await logoutFrom(docker, registry)
      core.info(`logged out of ${registry || 'docker.io'}`)
    })
  }
  const localImages = loadListState(State.LocalImages)
  for (const name of localImages) {
    await cleanup(`removing the local image name ${name}`, async () => {
      const result = await docker.run(['image', 'rm', name], { silent: true, allowFailure: true })
      if (result.exitCode === 0) core.info(`removed the local image name ${name}`)
      else if (!/no such image/i.test(result.stderr)) throw new Error(result.stderr.trim())
    })
  }
  const builder = loadState(State.Builder)
  const context = loadState(State.DockerContext)
  if (builder || context) {
    await cleanup('removing the builder this action created', async () => {
      for (const line of await removeBuilder(docker, builder, context)) core.info(line)
    })
  }
  const workDir = loadState(State.WorkDir)
  if (workDir) {
    await cleanup('removing the work directory', async () => {
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
