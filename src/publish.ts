/**
 * What a run published.
 */
import type { BuildMetadata } from './build.js'

export interface PublishResult {
  /** Whether anything was pushed (false with `push: false`). */
  pushed: boolean
  /** Every full reference published. */
  references: string[]
  /** Digest of the index the references point at. */
  digest: string
  /** Platform → manifest digest, attestations left out. */
  platformDigests: Record<string, string>
  /** The index exactly as the registry serves it. */
  manifest: string
  metadata: BuildMetadata
}
