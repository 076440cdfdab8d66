/**
 * Index annotations as buildx takes and writes them: the `--annotation index:KEY=VALUE` arguments of `imagetools
 * create`, and which of the user's typed `annotations` a build puts on the index, so that an index made from other
 * indexes (the merge of legs, the combined builds of nodes) carries what a single build's index would.
 */

/** `--annotation index:KEY=VALUE` arguments of `imagetools create` (buildx reads a value up to a comma). */
export function indexAnnotationArgs(values: Record<string, string>): string[] {
  return Object.entries(values).flatMap(([key, value]) => ['--annotation', `index:${key}=${value.replace(/,/g, ' ')}`])
}

const ANNOTATION_TYPES = String.raw`(?:manifest|index|manifest-descriptor|index-descriptor)`
const TYPED_ANNOTATION = new RegExp(String.raw`^(${ANNOTATION_TYPES}(?:,${ANNOTATION_TYPES})*)(\[[^\]]*\])?:(.+)$`)

/**
 * The user's `annotations` that buildx puts on the index (`index:KEY=VALUE`, `index,manifest:KEY=VALUE`), as an index
 * made from other indexes must carry them; the others (untyped ones go on the manifests) the manifests it lists
 * already carry.
 */
export function indexAnnotationsOf(annotations: readonly string[]): Record<string, string> {
  const result: Record<string, string> = {}
  for (const annotation of annotations) {
    const eq = annotation.indexOf('=')
    if (eq <= 0) continue
    const typed = TYPED_ANNOTATION.exec(annotation.slice(0, eq))
    if (!typed || typed[2] !== undefined || !typed[1]!.split(',').includes('index')) continue
    result[typed[3]!] = annotation.slice(eq + 1)
  }
  return result
}
