/**
 * What the main step leaves for the post step, through GITHUB_STATE. Never a secret.
 */
import * as core from '@actions/core'

export const State = {
  /** Set by the main step; the post step is the same bundle started again with this in STATE_isPost. */
  IsPost: 'isPost',
  /** Temporary directory for metadata files; removed by the post step. */
  WorkDir: 'workDir',
  /** A buildx builder this action created (docker-container driver); the post step removes it. */
  Builder: 'builder',
  /** A docker context this action created for its docker-driver builder; the post step removes it. */
  DockerContext: 'dockerContext'
} as const

export type StateName = (typeof State)[keyof typeof State]

export function saveState(name: StateName, value: string): void {
  core.saveState(name, value)
}

export function loadState(name: StateName): string {
  return core.getState(name)
}

export function isPostStep(): boolean {
  return loadState(State.IsPost) === 'true'
}
