/**
 * The post step: cleanup only. Each cleanup runs on its own, and a failure is a warning, never a failed job.
 */
import * as core from '@actions/core'
import { readFile, rm } from 'node:fs/promises'
import { removeBuilder } from './setup/builder.js'
import { createDocker, type Docker } from './core/docker.js'
import { removeLocalImages } from './core/cleanup.js'
import { errorMessage } from './core/errors.js'
import { authKey, loginBackupFile, undoLogin, type CredentialsBefore } from './setup/login.js'
import { loadListState, loadState, State } from './core/state.js'
import * as log from './core/log.js'

export async function runPost(docker: Docker = createDocker()): Promise<void> {
  // the job's own DOCKER_CONFIG (a pinned buildx): its builder and logins are undone with it, before it is removed
  const dockerConfig = loadState(State.DockerConfig)
  if (dockerConfig) process.env.DOCKER_CONFIG = dockerConfig
  const workDir = loadState(State.WorkDir)
  const before = workDir ? await readBackup(loginBackupFile(workDir)) : {}
  for (const registry of loadListState(State.Logins)) {
    const where = registry || 'docker.io'
    // a self-hosted runner's own login is put back (in config.json or its credential helper) rather than logged out
    await cleanup(`logging out of ${where} (or putting back what it held before)`, async () => {
      log.info(await undoLogin(docker, registry, before[authKey(registry)]))
    })
  }
  const localImages = loadListState(State.LocalImages)
  if (localImages.length > 0) {
    await cleanup('removing the local image names this action created', async () => {
      for (const line of await removeLocalImages(docker, localImages)) log.info(line)
    })
  }
  const builder = loadState(State.Builder)
  const context = loadState(State.DockerContext)
  if (builder || context) {
    await cleanup('removing the builder this action created', async () => {
      for (const line of await removeBuilder(docker, builder, context)) log.info(line)
    })
  }
  if (workDir) {
    await cleanup('removing the work directory', async () => {
      await rm(workDir, { recursive: true, force: true })
      log.info(`removed ${workDir}`)
    })
  }
}


/** What the registries held before the main step logged in, by docker's key ({} when the main step kept nothing). */
async function readBackup(file: string): Promise<Record<string, CredentialsBefore | undefined>> {
  try {
    const parsed: unknown = JSON.parse(await readFile(file, 'utf8'))
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, CredentialsBefore>) : {}
  } catch {
    return {}
  }
}

async function cleanup(what: string, action: () => Promise<void>): Promise<void> {
  try {
    await action()
  } catch (error) {
    core.warning(`post step: ${what} failed: ${errorMessage(error)}`)
  }
}
