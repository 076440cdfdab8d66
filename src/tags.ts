/**
 * The tag plan: which full references get published.
 */

/** Every `image:tag` pair, images first, in the order given. */
export function imageReferences(images: readonly string[], tags: readonly string[]): string[] {
  return images.flatMap(image => tags.map(tag => `${image}:${tag}`))
}
