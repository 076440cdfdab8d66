/** What a run published: the one record outputs, the summary and skip-unchanged read. */
import type { BuildMetadata } from '../build/build.js'
import type { AttestationReport } from '../verify/verify.js'
import type { MoveRecord } from './transaction.js'

/** What a run published. */
export interface PublishResult {
  /** Whether anything was pushed (false with `push: false`). */
  pushed: boolean
  /** Every full reference published: index tags, then per-platform tags. */
  references: string[]
  /** Digest of the index the references point at. */
  digest: string
  /** `repo@digest` for every repository. */
  pinned: string[]
  /** Platform → manifest digest, attestations left out. */
  platformDigests: Record<string, string>
  /** The index exactly as the registry serves it. */
  manifest: string
  /** Attestation manifests in the index (provenance, SBOM). */
  attestations: AttestationReport[]
  metadata: BuildMetadata
  /** Every tag move: reference, what it held before, the digest it holds now. */
  moves: MoveRecord[]
}
