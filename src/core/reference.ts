/**
 * The OCI distribution grammar for repository names and tags.
 */

// The distribution reference grammar: [host[:port]/]path where path components are lowercase.
const HOST = String.raw`(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?`
const COMPONENT = String.raw`[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`
const REPOSITORY_RE = new RegExp(`^(?:${HOST}/)?${COMPONENT}(?:/${COMPONENT})*$`)
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/

/** Checks a repository name (no tag, no digest) against the distribution reference grammar. */
export function validateRepository(image: string): string | undefined {
  if (image.includes('@')) return 'give the repository without a digest'
  const lastSlash = image.lastIndexOf('/')
  if (image.slice(lastSlash + 1).includes(':')) return 'give the repository without a tag (tags come from "tag-template" and "tags")'
  if (image.length > 255) return 'a repository name is at most 255 characters'
  if (!REPOSITORY_RE.test(image)) {
    const lower = image.toLowerCase()
    if (lower !== image && REPOSITORY_RE.test(lower.replace(/^[^/]*\//, m => m))) {
      return `repository names must be lowercase: write "${lower}"`
    }
    return 'not a valid repository name: write [registry[:port]/]path with lowercase letters, digits and . _ - / separators'
  }
  return undefined
}

/** Checks a tag against the OCI tag grammar `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`. */
export function validateTag(tag: string): string | undefined {
  if (tag.length > 128) return `a tag is at most 128 characters (this one has ${tag.length}): shorten it`
  if (!TAG_RE.test(tag)) return 'a tag is letters, digits, _ . and -, starts with a letter, digit or _: use only those characters'
  return undefined
}

/** The registry host of a repository (`localhost:5000/a/b` → `localhost:5000`; Docker Hub for bare names). */
export function registryOf(repository: string): string {
  const first = repository.split('/')[0] ?? ''
  return repository.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost') ? first : 'docker.io'
}

/**
 * An image reference in the short form docker and BuildKit compare names in (distribution's `FamiliarString`, then
 * without `:latest`): `docker.io/library/alpine:latest` → `alpine`, `index.docker.io/foo/bar:1` → `foo/bar:1`; a
 * reference on another registry is left as it is. buildx stores each `--build-context` name in this form, and the
 * Dockerfile frontend looks a `FROM`, `COPY --from` or mount `from` name up in it.
 */
export function familiarName(reference: string): string {
  const slash = reference.indexOf('/')
  const first = slash === -1 ? '' : reference.slice(0, slash)
  const hasDomain = first.includes('.') || first.includes(':') || first === 'localhost'
  let name = reference
  if (hasDomain && (first === 'docker.io' || first === 'index.docker.io')) name = reference.slice(slash + 1)
  if (!hasDomain || name !== reference) {
    const library = /^library\/([^/]+)$/.exec(name.replace(/[:@].*$/, ''))
    if (library) name = name.slice('library/'.length)
  }
  return name.replace(/:latest$/, '')
}
