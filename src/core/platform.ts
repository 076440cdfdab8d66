/**
 * Platforms as buildx and OCI name them: `os/architecture[/variant]`, normalized the way containerd normalizes
 * them (`arm64/v8` → `arm64`, `amd64/v1` → `amd64`, `arm` → `arm/v7`, `aarch64` → `arm64`), so one platform has
 * one spelling everywhere downstream: the tag plan, the index entries, the per-platform digests.
 */

export interface Platform {
  os: string
  architecture: string
  variant?: string
}

/** The platforms this action publishes when the `platforms` input is not set. */
export const DEFAULT_PLATFORMS = ['linux/amd64', 'linux/arm64', 'linux/ppc64le', 'linux/s390x'] as const

/** Architectures Go and buildx can target on Linux, with the variants each accepts. */
const KNOWN_ARCHITECTURES: Readonly<Record<string, readonly string[]>> = {
  amd64: ['v1', 'v2', 'v3', 'v4'],
  arm64: ['v8'],
  arm: ['v5', 'v6', 'v7'],
  '386': [],
  ppc64le: [],
  s390x: [],
  riscv64: [],
  mips64le: [],
  mips64: [],
  loong64: []
}

/** Common spellings people write that have one canonical OCI name. */
const ALIASES: Readonly<Record<string, string>> = {
  x86_64: 'amd64',
  'x86-64': 'amd64',
  aarch64: 'arm64',
  ppc64el: 'ppc64le',
  armhf: 'arm/v7',
  armel: 'arm/v6',
  i386: '386'
}

export class PlatformError extends Error {}

/** Parses `linux/arm64`, `linux/arm/v7`, or a bare architecture (`arm64`, meaning linux). */
export function parsePlatform(text: string): Platform {
  const trimmed = text.trim()
  const parts = trimmed.split('/')
  if (parts.length === 1) parts.unshift('linux')
  const [os, rawArch, ...rest] = parts
  const alias = ALIASES[rawArch ?? '']
  const [architecture, aliasVariant] = alias ? alias.split('/') : [rawArch]
  const variant = rest.length > 0 ? rest.join('/') : aliasVariant
  if (!os || !architecture || parts.length > 3 || (variant !== undefined && variant === '')) {
    throw new PlatformError(`"${trimmed}" is not a platform: write it as os/architecture[/variant], e.g. linux/arm64`)
  }
  if (os !== 'linux') {
    throw new PlatformError(`"${trimmed}": only linux platforms can be built into these images (got os "${os}"): write linux/ARCHITECTURE, e.g. linux/arm64`)
  }
  const variants = KNOWN_ARCHITECTURES[architecture]
  if (!variants) {
    throw new PlatformError(
      `"${trimmed}" is not a known platform: write linux/ARCHITECTURE, e.g. linux/arm64; known architectures: ${Object.keys(KNOWN_ARCHITECTURES).join(', ')}`
    )
  }
  if (variant !== undefined && !variants.includes(variant)) {
    const allowed = variants.length ? `one of ${variants.join(', ')}` : 'none'
    throw new PlatformError(`"${trimmed}": architecture ${architecture} has no variant "${variant}" (variants: ${allowed}): write it without the variant, or with one of those`)
  }
  return normalizePlatform(variant === undefined ? { os, architecture } : { os, architecture, variant })
}

/**
 * containerd's normalization (platforms.Normalize): the default variant of an architecture is not written
 * (`arm64/v8` → `arm64`, `amd64/v1` → `amd64`), and `arm` without a variant means `arm/v7`.
 */
export function normalizePlatform(p: Platform): Platform {
  if ((p.architecture === 'arm64' && p.variant === 'v8') || (p.architecture === 'amd64' && p.variant === 'v1')) {
    return { os: p.os, architecture: p.architecture }
  }
  if (p.architecture === 'arm' && p.variant === undefined) return { os: p.os, architecture: 'arm', variant: 'v7' }
  return p
}

export function formatPlatform(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`
}

/**
 * The suffix of a per-architecture tag: `amd64`, `arm64`, and for variants `arm-v7` (a `/` is not allowed in a
 * tag, and `armv7` could be misread as an architecture of its own).
 */
export function archTagSuffix(p: Platform): string {
  return p.variant ? `${p.architecture}-${p.variant}` : p.architecture
}

/** The normalized spelling of a platform, the key of every per-platform map (`linux/arm64/v8` → `linux/arm64`). */
export function platformKey(p: Platform): string {
  return formatPlatform(normalizePlatform(p))
}

/** Whether two platforms name the same thing (arm64 and arm64/v8 are the same platform). */
export function samePlatform(a: Platform, b: Platform): boolean {
  return platformKey(a) === platformKey(b)
}
