/**
 * The post step: cleanup only, of what this run's main step made and recorded (state.ts: the runner's state only
 * leads to the run's own work directory and ledger, so a value something else saved steers nothing). Each cleanup
 * runs on its own, and a failure is a warning, never a failed job.
 */
import * as core from '@actions/core'
import { lstat, rm } from 'node:fs/promises'
import * as path from 'node:path'
import { removeBuilder } from './setup/builder.js'
import { useDockerConfig } from './setup/docker-config.js'
import { createDocker, type Docker } from './core/docker.js'
import { removeLocalImages } from './core/cleanup.js'
import { errorMessage } from './core/errors.js'
import * as log from './core/log.js'
import { listValue, ownName, readRunState, State, type StateName } from './core/state.js'

export async function runPost(docker: Docker = createDocker(), env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const { workDir, marker = '', values, problems } = await readRunState(env)
  for (const problem of problems) core.warning(`post step: ${problem}`)
  if (!workDir) return
  // the job's own docker config (its builders and contexts, the run's logins), derived from the work directory
  const dockerConfig = path.join(workDir, 'docker-config')
  if (values[State.DockerConfig] === dockerConfig && (await lstat(dockerConfig).catch(() => undefined))?.isDirectory()) {
    useDockerConfig({ dir: dockerConfig, bin: path.join(workDir, 'bin') }, env)
  }
  const localImages = listValue(values[State.LocalImages])
  if (localImages.length > 0) {
    await cleanup('removing the local image names this action created', async () => {
      for (const line of await removeLocalImages(docker, localImages)) log.info(line)
    })
  }
  // only a builder or context of this run's own name
  const own = (name: StateName): string => {
    const value = values[name] ?? ''
    if (value && value !== ownName(marker)) core.warning(`post step: the recorded "${name}" is not this run's own name: not removed`)
    return value === ownName(marker) ? value : ''
  }
  const builder = own(State.Builder)
  const context = own(State.DockerContext)
  if (builder || context) {
    await cleanup('removing the builder this action created', async () => {
      for (const line of await removeBuilder(docker, builder, context)) log.info(line)
    })
  }
  // only the build nodes' builders of this run's own name (the run's name, then the node's)
  const nodeBuilders = listValue(values[State.NodeBuilders]).filter(name => {
    const ours = new RegExp(`^${ownName(marker)}-[a-z0-9][a-z0-9_.-]*$`).test(name)
    if (!ours) core.warning(`post step: the recorded node builder "${name}" is not of this run's own name: not removed`)
    return ours
  })
  if (nodeBuilders.length > 0) {
    await cleanup('removing the builders of the build nodes', async () => {
      for (const builder of nodeBuilders) for (const line of await removeBuilder(docker, builder, '')) log.info(line)
    })
  }
  const logins = listValue(values[State.Logins])
  await cleanup('removing the work directory', async () => {
    // the job's config.json first: it holds this run's logins
    await rm(path.join(dockerConfig, 'config.json'), { force: true })
    for (const registry of logins) log.info(`logged out of ${registry || 'docker.io'} (its login was in the job's docker config only, now removed)`)
    // links in it (the job's docker config) are removed, never what they point at
    await rm(workDir, { recursive: true, force: true })
    log.info(`removed ${workDir}`)
  })
}

async function cleanup(what: string, action: () => Promise<void>): Promise<void> {
  try {
    await action()
  } catch (error) {
    core.warning(`post step: ${what} failed: ${errorMessage(error)}`)
  }
}
