/**
 * Step outputs: typed names, so a typo is a compile error, and one place that sets them all.
 */
import * as core from '@actions/core'

export const Output = {
  /** Digest of the pushed multi-arch index. */
  Digest: 'digest',
  /** The main tag (after rebuild handling). */
  Tag: 'tag',
  /** Every full reference published, newline separated. */
  Tags: 'tags',
  /** JSON object: version name (`go`) → the version the image was built with. */
  Versions: 'versions',
  /** JSON object: platform (`linux/arm64`) → manifest digest. */
  PlatformDigests: 'platform-digests',
  /** The index exactly as the registry serves it. */
  Manifest: 'manifest',
  /** buildx's metadata JSON. */
  Metadata: 'metadata'
} as const

export type OutputName = (typeof Output)[keyof typeof Output]

export type Outputs = Record<OutputName, string>

export function setOutputs(outputs: Outputs): void {
  for (const [name, value] of Object.entries(outputs)) core.setOutput(name, value)
}
