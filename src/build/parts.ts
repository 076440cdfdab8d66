/**
 * A build split over several builders (`nodes`, nodes.ts): each builder builds its part of the platforms, all parts
 * side by side, each its own `buildx build` with its own local export and its own push by digest; the run then
 * combines the parts' indexes into one (publish.ts). A part that fails stops the others at once (their process
 * groups are killed), so the build fails as one, naming the node, with nothing published.
 */
import { formatPlatform, samePlatform, type Platform } from '../core/platform.js'
import type { NodeBuilder } from '../setup/nodes.js'
import { nativeArchitectures } from '../setup/qemu.js'
import { BuildError } from './build.js'
import { DockerCommandError } from '../core/docker.js'

/** One builder's share of the platforms. */
export interface BuildPart {
  /** The node it runs on; undefined: this runner's own builder. */
  node?: { name: string; endpoint: string }
  builder: string
  /** Its driver (`docker-container`, `docker`, `remote` for a node). */
  driver: string
  /** The `docker`-driver builder's docker context (this runner's builder only). */
  dockerContext?: string
  platforms: Platform[]
  /** The architectures that run natively where it builds (the rest run under QEMU). */
  native: string[]
  /** The architecture of the machine it builds on, as the architecture check's messages name it. */
  hostArch: string
}

/** The part of this runner's own builder: its platforms run natively or under QEMU. */
export function runnerPart(builder: { name: string; driver: string; dockerContext?: string }, platforms: Platform[], hostArch: string): BuildPart {
  return { builder: builder.name, driver: builder.driver, ...(builder.dockerContext ? { dockerContext: builder.dockerContext } : {}), platforms, native: nativeArchitectures(hostArch), hostArch }
}

/** The part of a build node: its own platforms, all native there. */
export function nodePart({ node, builder, platforms }: NodeBuilder): BuildPart {
  const native = [...new Set(platforms.map(p => p.architecture))]
  return { node: { name: node.name, endpoint: node.endpoint }, builder, driver: 'remote', platforms, native, hostArch: native[0] ?? '' }
}

/** The parts in the order of the platforms they build (a part's first platform), as the run lists them. */
export function inPlatformOrder(parts: readonly BuildPart[], platforms: readonly Platform[]): BuildPart[] {
  const order = (part: BuildPart): number => platforms.findIndex(p => part.platforms.some(q => samePlatform(p, q)))
  return [...parts].sort((a, b) => order(a) - order(b))
}

/** `node "arm64-1" (tcp://…)` or `this runner`. */
export function partPlace(part: Pick<BuildPart, 'node'>): string {
  return part.node ? `node "${part.node.name}" (${part.node.endpoint})` : 'this runner'
}

/** The prefix of the lines a part's build echoes, when parts build side by side. */
export function partPrefix(part: Pick<BuildPart, 'node'>): string {
  return `[${part.node ? part.node.name : 'runner'}] `
}

/** A failed part, named: a node that stopped answering is not the Dockerfile's fault. */
export class PartError extends Error {
  override name = 'PartError'
}

/**
 * buildx's own error lines when the connection to a node's BuildKit is lost during a build (`failed to receive
 * status: rpc error: code = Unavailable … error reading from server: EOF`), or cannot be made again on a retry
 * (`[internal] waiting for connection` … `context deadline exceeded`). Only buildx's lines are read, not a step's
 * output.
 */
const CONNECTION_LOST = /rpc error: code = Unavailable|error reading from server|transport is closing|closing transport|waiting for connection/

/** The error of a failed part, naming where it ran: a node that stopped answering is not the Dockerfile's fault. */
export function partFailure(part: BuildPart, error: unknown): Error {
  const place = partPlace(part)
  const platforms = part.platforms.map(formatPlatform).join(', ')
  const failed = error instanceof BuildError && error.cause instanceof DockerCommandError ? error.cause : error
  if (part.node && failed instanceof DockerCommandError) {
    const buildxLines = `${failed.result.stderr}\n${failed.result.stdout}`.split('\n').map(l => l.trim()).filter(l => /^(?:#\d+ )?ERROR:|^#\d+ \[internal\] waiting for connection/.test(l))
    if (buildxLines.some(l => CONNECTION_LOST.test(l))) {
      const tries = failed.attempts > 1 ? `, ${failed.attempts} attempts` : ''
      const cause = (buildxLines.at(-1) ?? '').replace(/^(?:#\d+ )?ERROR:\s*/, '')
      return new PartError(
        `${place} stopped answering while it built ${platforms} (${cause}${tries}); nothing was published (no tag moved). Check that its buildkitd still runs and that this runner reaches it, or remove the node from "nodes" to build ${platforms} on this runner`,
        { cause: error }
      )
    }
  }
  if (error instanceof Error) return new PartError(`on ${place} (${platforms}): ${error.message}`, { cause: error })
  return new PartError(`on ${place} (${platforms}): ${String(error)}`)
}

/**
 * Runs every part's build side by side. The first part to fail aborts the others (`signal`), and its error, naming
 * where it ran, is the result (the others' are its consequence); all parts have ended when this returns or throws.
 * A build on this runner's builder alone (no nodes) fails with its own error.
 */
export async function runParts<T>(parts: readonly BuildPart[], build: (part: BuildPart, signal: AbortSignal) => Promise<T>): Promise<T[]> {
  const controller = new AbortController()
  if (parts.length === 1 && !parts[0]!.node) return [await build(parts[0]!, controller.signal)]
  let first: Error | undefined
  const settled = await Promise.allSettled(
    parts.map(async part => {
      try {
        return await build(part, controller.signal)
      } catch (error) {
        if (!first) {
          first = partFailure(part, error)
          controller.abort(new Error(`the build on ${partPlace(part)} failed`))
        }
        throw error
      }
    })
  )
  if (first) throw first
  return settled.map(s => (s as PromiseFulfilledResult<T>).value)
}
