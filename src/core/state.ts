/**
 * What the main step leaves for the post step, through GITHUB_STATE. Never a secret.
 */
import * as core from '@actions/core'
import { tmpdir } from 'node:os'

export const State = {
  /** Set by the main step; the post step is the same bundle started again with this in STATE_isPost. */
  IsPost: 'isPost',
  /** Temporary directory for metadata and secret files; removed by the post step. */
  WorkDir: 'workDir',
  /** JSON list of the registries this action logged into ('' for Docker Hub); logged out by the post step. */
  Logins: 'logins',
  /** JSON list of image names this action created in the engine's store; removed by the post step. */
  LocalImages: 'localImages',
  /** A buildx builder this action created (docker-container driver); the post step removes it. */
  Builder: 'builder',
  /** A docker context this action created for its docker-driver builder; the post step removes it. */
  DockerContext: 'dockerContext',
  /** The job's own DOCKER_CONFIG (docker-config.ts); the post step's docker commands use it too, then remove it. */
  DockerConfig: 'dockerConfig'
} as const

export type StateName = (typeof State)[keyof typeof State]

/** RUNNER_TEMP (the job's temporary directory, emptied by the runner before each job), else the system's. */
export function runnerTemp(env: NodeJS.ProcessEnv): string {
  return env.RUNNER_TEMP || tmpdir()
}

export function saveState(name: StateName, value: string): void {
  core.saveState(name, value)
}

export function loadState(name: StateName): string {
  return core.getState(name)
}

export function saveJsonState(name: StateName, value: unknown): void {
  core.saveState(name, JSON.stringify(value))
}

/** A JSON list saved with {@link saveJsonState}; [] when absent or unreadable. */
export function loadListState(name: StateName): string[] {
  try {
    const value = JSON.parse(loadState(name) || '[]') as unknown
    return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []
  } catch {
    return []
  }
}

export function isPostStep(): boolean {
  return loadState(State.IsPost) === 'true'
}
