/**
 * The tag plan: which tags point at the index, which at each platform's manifest, and whether to push.
 */
import type { Settings } from './settings.js'
import { archTagSuffix, formatPlatform } from './platform.js'

export interface TagPlan {
  /** The main tag after rebuild handling, e.g. `1.25.4-llvm18.1.8-k8s1.34.1` or `1.25.4-llvm18.1.8-k8s1.34.1-1`. */
  tag: string
  /** Every tag that points at the multi-arch index, main tag first, then release tag, `latest`, extra `tags`. */
  indexTags: string[]
  /** Per-platform tags keyed by formatPlatform(platform) (`linux/amd64` → `TAG-amd64`); {} when switched off. */
  platformTags: Record<string, string>
  /** Whether this run pushes (event-aware). */
  push: boolean
  /** OCI labels for the image config and annotations for the index/manifests. */
  labels: Record<string, string>
  annotations: Record<string, string>
}

/** The plan from the `tags` input alone: the first tag is the main one, and every platform gets `TAG-ARCH`. */
export function basicTagPlan(settings: Pick<Settings, 'tags' | 'platforms' | 'push'>): TagPlan {
  const [tag] = settings.tags as [string, ...string[]]
  return {
    tag,
    indexTags: [...settings.tags],
    platformTags: Object.fromEntries(settings.platforms.map(p => [formatPlatform(p), `${tag}-${archTagSuffix(p)}`])),
    push: settings.push,
    labels: {},
    annotations: {}
  }
}

/** Every `image:tag` pair, images first, in the order given. */
export function imageReferences(images: readonly string[], tags: readonly string[]): string[] {
  return images.flatMap(image => tags.map(tag => `${image}:${tag}`))
}
