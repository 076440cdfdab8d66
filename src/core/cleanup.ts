/**
 * Cleanup a user would wait for, done as soon as a thing is no longer needed and while other work goes on: the
 * engine's local image names of this run (the loaded or pushed build, tags made to push, manifests pulled to tag or
 * to verify) and the build's local export (where there is one). The post step is left only what is still listed
 * when the main step ends (a failed or cancelled run), through the `localImages` state.
 */
import * as core from '@actions/core'
import { rm } from 'node:fs/promises'
import type { Docker } from './docker.js'
import { errorMessage } from './errors.js'
import { saveJsonState, State } from './state.js'
import * as log from './log.js'

export class Cleanup {
  /** Local image names this run created and has not removed yet (what the post step would remove). */
  private readonly names = new Set<string>()
  private readonly running: Array<Promise<void>> = []

  constructor(private readonly docker: Docker) {}

  /** Records local names this run created, for the post step should the run end before they are removed. */
  created(names: readonly string[]): void {
    for (const name of names) this.names.add(name)
    saveJsonState(State.LocalImages, [...this.names])
  }

  /** Removes local names now, in the background (one `docker image rm`); a failure is a warning, and the post step tries again. */
  removeImages(names: readonly string[]): void {
    this.removeImageGroups([names])
  }

  /**
   * Removes local names now, in the background: one `docker image rm` per group, the groups at the same time (the
   * engine takes a while over each image it deletes). Names of one image (a tag and the `repo@digest` it was pulled
   * as) must be in one group: two commands removing one image at once fail with "not found" for the other's name.
   */
  removeImageGroups(groups: readonly (readonly string[])[]): void {
    for (const names of groups) {
      const ours = names.filter(n => this.names.has(n))
      if (ours.length === 0) continue
      this.background(`removing the local image names ${ours.join(', ')}`, async () => {
        for (const line of await removeLocalImages(this.docker, ours)) log.info(line)
        for (const name of ours) this.names.delete(name)
        saveJsonState(State.LocalImages, [...this.names])
      })
    }
  }

  /** Removes a directory in the background (the build's local export, once checked). */
  removeDirectory(dir: string): void {
    this.background(`removing ${dir}`, () => rm(dir, { recursive: true, force: true }))
  }

  private background(what: string, task: () => Promise<void>): void {
    this.running.push(
      task().catch((error: unknown) => {
        core.warning(`${what} failed: ${errorMessage(error)}`)
      })
    )
  }

  /** Waits for every removal started so far (they never reject). */
  async settle(): Promise<void> {
    while (this.running.length > 0) await Promise.all(this.running.splice(0))
  }
}

/**
 * Removes local image names in one `docker image rm` (one engine round trip instead of one per name). A name
 * already gone is fine; any other refusal is an error naming it.
 */
export async function removeLocalImages(docker: Docker, names: readonly string[]): Promise<string[]> {
  const result = await docker.run(['image', 'rm', ...names], { silent: true, allowFailure: true })
  const problems = result.stderr
    .split('\n')
    .map(l => l.trim())
    .filter(l => l !== '' && !/no such image/i.test(l))
  if (problems.length > 0) throw new Error(problems.join(' | '))
  const missing = new Set([...result.stderr.matchAll(/no such image: (\S+)/gi)].map(m => m[1]))
  return names.filter(name => !missing.has(name)).map(name => `removed the local image name ${name}`)
}
