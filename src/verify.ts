/**
 * Checks that what the registry serves is what was asked for.
 */
import { formatPlatform, parsePlatform, samePlatform, type Platform } from './platform.js'
import { inspectIndex, isAttestation, platformDigests, type ImageIndex, type RegistryIndex } from './registry.js'
import type { Docker } from './docker.js'

export interface IndexCheck {
  missing: string[]
  unexpected: string[]
  attestations: number
}

/** Compares the image entries of an index with the requested platforms. */
export function checkIndexPlatforms(index: ImageIndex, requested: readonly Platform[]): IndexCheck {
  const present = Object.keys(platformDigests(index)).map(p => parsePlatform(p))
  return {
    missing: requested.filter(r => !present.some(p => samePlatform(p, r))).map(formatPlatform),
    unexpected: present.filter(p => !requested.some(r => samePlatform(p, r))).map(formatPlatform),
    attestations: index.manifests.filter(isAttestation).length
  }
}

/**
 * Reads every published reference back from its registry; they must all serve one index that lists exactly the
 * requested platforms.
 */
export async function verifyPublished(
  docker: Docker,
  references: readonly string[],
  platforms: readonly Platform[]
): Promise<RegistryIndex> {
  const [first, ...rest] = references
  if (first === undefined) throw new Error('nothing was published: no references')
  const published = await inspectIndex(docker, first)
  const check = checkIndexPlatforms(published.index, platforms)
  if (check.missing.length > 0 || check.unexpected.length > 0) {
    const parts = [
      check.missing.length ? `missing ${check.missing.join(', ')}` : '',
      check.unexpected.length ? `not requested ${check.unexpected.join(', ')}` : ''
    ].filter(Boolean)
    throw new Error(`${first} does not list exactly the requested platforms: ${parts.join('; ')}`)
  }
  for (const reference of rest) {
    const other = await inspectIndex(docker, reference)
    if (other.digest !== published.digest) {
      throw new Error(`${reference} serves ${other.digest}, but ${first} serves ${published.digest}`)
    }
  }
  return published
}
