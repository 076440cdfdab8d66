/**
 * The versions an image is named after (Go, LLVM, Kubernetes, …), from three sources in order of precedence:
 *
 * 1. inputs `go-version`, `llvm-version`, `k8s-version`;
 * 2. a versions file (`versions-file`, default `versions.yaml` next to the Dockerfile when it exists), in the
 *    established nested form (`golang.version`, `llvm.version`, `kubernetes.version`; other keys such as
 *    `golang.checksum.sha256.amd64` are ignored) or the flat form (`go:`, `llvm:`, `k8s:`);
 * 3. the defaults of the Dockerfile's `ARG`s (`ARG GO_VERSION=1.25.4`), read with a Dockerfile parser.
 *
 * Which `ARG` carries which version is the `version-args` input. The resolved versions are passed back to the
 * build under those `ARG` names, so the tag and what the Dockerfile builds cannot disagree.
 *
 * Versions are written without a leading `v`; a `v` before a digit (`v1.34.1`, as Kubernetes releases are
 * named) is dropped, so the tag reads `k8s1.34.1`. Anything else that could not sit in a tag is rejected.
 */
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import * as path from 'node:path'
import { DockerfileParser } from 'dockerfile-ast'
import { isMap, isScalar, LineCounter, parseDocument, type Node } from 'yaml'
import { InputError, splitList, type BuildArg, type InputReader } from '../core/input.js'

/** The ARG each version is passed as, unless `version-args` says otherwise. */
export const DEFAULT_VERSION_ARGS: Readonly<Record<string, string>> = {
  go: 'GO_VERSION',
  llvm: 'LLVM_VERSION',
  k8s: 'K8S_VERSION'
}

/** The input that sets each version directly. */
export const VERSION_INPUTS: Readonly<Record<string, string>> = {
  go: 'go-version',
  llvm: 'llvm-version',
  k8s: 'k8s-version'
}

/** The keys a version may have in a versions file: `golang: {version: …}` or `go: 1.25.4` (mode: check rewrites them). */
export const FILE_KEYS: Readonly<Record<string, readonly string[]>> = {
  go: ['golang', 'go'],
  llvm: ['llvm'],
  k8s: ['kubernetes', 'k8s']
}

export const DEFAULT_VERSIONS_FILE = 'versions.yaml'

export interface VersionSettings {
  /** Version name (`go`) → ARG name (`GO_VERSION`), in placeholder order. */
  args: Record<string, string>
  /** Version name → value given as an input (only the inputs that are set). */
  inputs: Record<string, string>
  /** The `versions-file` input; undefined means `versions.yaml` next to the Dockerfile, if present. */
  file?: string
}

export interface ResolvedVersion {
  value: string
  /** Where it came from, for the log and for messages: `input "go-version"`, `versions.yaml:2 (golang.version)`. */
  source: string
}

/** A version a source gives, or why that source's entry is unusable (thrown only when the entry is needed). */
export type FoundVersion = ResolvedVersion | { error: SourceFileError }

export interface Versions {
  /** Version name → ARG name (as in the settings). */
  args: Record<string, string>
  /** Version name → the value found (versions found nowhere are absent). */
  resolved: Record<string, ResolvedVersion>
  /** Version name → every place looked in, in order of precedence, for "found nowhere" messages. */
  searched: Record<string, string[]>
}

/** A problem in a file the user wrote (versions file, Dockerfile); the message names the file and line. */
export class SourceFileError extends Error {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    problem: string
  ) {
    super(`${line === undefined ? file : `${file}:${line}`}: ${problem}`)
    this.name = 'SourceFileError'
  }
}

const VERSION_NAME_RE = /^[a-z][a-z0-9_]*$/
const ARG_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/

/** Reads `version-args`, `versions-file` and the version inputs. Called from `readSettings`. */
export function readVersionSettings(read: InputReader): VersionSettings {
  const args: Record<string, string> = { ...DEFAULT_VERSION_ARGS }
  for (const item of splitList(read('version-args'))) {
    const eq = item.indexOf('=')
    const name = item.slice(0, eq).trim()
    const arg = item.slice(eq + 1).trim()
    if (eq <= 0 || !VERSION_NAME_RE.test(name) || !ARG_NAME_RE.test(arg)) {
      throw new InputError(
        'version-args',
        `"${item}" is not name=ARG_NAME (e.g. go=GO_VERSION): the name is lowercase letters, digits and _, the ARG a Dockerfile ARG name`
      )
    }
    args[name] = arg
  }
  const byArg = new Map<string, string>()
  for (const [name, arg] of Object.entries(args)) {
    const other = byArg.get(arg)
    if (other !== undefined) {
      throw new InputError('version-args', `ARG ${arg} is mapped to both "${other}" and "${name}": give each version its own ARG`)
    }
    byArg.set(arg, name)
  }
  const inputs: Record<string, string> = {}
  for (const [name, input] of Object.entries(VERSION_INPUTS)) {
    const raw = read(input).trim()
    if (raw === '') continue
    const checked = checkVersion(raw)
    if ('problem' in checked) throw new InputError(input, `"${raw}" ${checked.problem}`)
    inputs[name] = checked.value
  }
  const file = read('versions-file').trim()
  return file === '' ? { args, inputs } : { args, inputs, file }
}

/**
 * Checks one version: what a tag can hold, starting with a digit. A leading `v` before a digit is dropped
 * (`v1.34.1` → `1.34.1`).
 */
export function checkVersion(raw: string): { value: string } | { problem: string } {
  if (raw === '') return { problem: 'is empty: give a version such as 1.25.4' }
  if (/\s/.test(raw)) return { problem: 'contains whitespace: write one word such as 1.25.4' }
  const value = /^v[0-9]/.test(raw) ? raw.slice(1) : raw
  if (/^go[0-9]/.test(value)) return { problem: `starts with "go": write ${value.slice(2)}` }
  if (value.length > 64) return { problem: `is ${value.length} characters long: a version is at most 64` }
  if (!/^[0-9]/.test(value)) return { problem: 'does not start with a digit: write a version such as 1.25.4 (a leading v is allowed)' }
  if (!/^[0-9A-Za-z._-]+$/.test(value)) {
    const bad = [...new Set(value.replace(/[0-9A-Za-z._-]/g, ''))].map(c => `"${c}"`).join(', ')
    return { problem: `contains ${bad}: a version is letters, digits, . _ and - only, so that it fits in a tag` }
  }
  return { value }
}

/** The versions file to read: the input's (which must exist), else `versions.yaml` next to the Dockerfile. */
export function versionsFilePath(settings: VersionSettings, dockerfile: string): string | undefined {
  if (settings.file !== undefined) {
    if (!existsSync(settings.file)) {
      throw new InputError(
        'versions-file',
        `"${settings.file}" does not exist (relative to ${process.cwd()}): fix the path, or leave the input empty to use ${DEFAULT_VERSIONS_FILE} next to the Dockerfile`
      )
    }
    return settings.file
  }
  const beside = path.join(path.dirname(dockerfile), DEFAULT_VERSIONS_FILE)
  return existsSync(beside) ? beside : undefined
}

/** Resolves every version from inputs, the versions file and the Dockerfile's ARG defaults. */
export async function resolveVersions(settings: VersionSettings, dockerfile: string): Promise<Versions> {
  const file = versionsFilePath(settings, dockerfile)
  const fromFile = file === undefined ? {} : parseVersionsFile(await readFile(file, 'utf8'), file, Object.keys(settings.args))
  let dockerfileText: string
  try {
    dockerfileText = await readFile(dockerfile, 'utf8')
  } catch (error) {
    throw new InputError('file', `cannot read the Dockerfile "${dockerfile}" (${(error as NodeJS.ErrnoException).code ?? 'error'}): fix "file" or "context"`)
  }
  const fromArgs = dockerfileArgDefaults(dockerfileText, dockerfile, Object.values(settings.args))

  const resolved: Record<string, ResolvedVersion> = {}
  const searched: Record<string, string[]> = {}
  for (const [name, arg] of Object.entries(settings.args)) {
    const places: string[] = []
    const input = VERSION_INPUTS[name]
    if (input !== undefined) places.push(`input "${input}"`)
    places.push(
      file === undefined
        ? `a versions file (none given in "versions-file", no ${path.join(path.dirname(dockerfile), DEFAULT_VERSIONS_FILE)})`
        : `${file} (${fileKeys(name).join(' or ')})`
    )
    places.push(`the default of ARG ${arg} in ${dockerfile}`)
    searched[name] = places

    const given = settings.inputs[name]
    const found: FoundVersion | undefined =
      input !== undefined && given !== undefined ? { value: given, source: `input "${input}"` } : (fromFile[name] ?? fromArgs[arg])
    if (found && 'error' in found) throw found.error
    if (found) resolved[name] = found
  }
  return { args: { ...settings.args }, resolved, searched }
}

function fileKeys(name: string): string[] {
  const keys = FILE_KEYS[name] ?? [name]
  return keys.flatMap(key => [`${key}.version`, key])
}

/**
 * Orders two versions (`1.24.10` < `1.25.4`, `v1.2.3` = `1.2.3`, `1.25rc1` < `1.25.0` < `1.25.0-1`): runs of digits
 * compare as numbers, other runs as text, a number after text; where one runs out, a following word is a
 * prerelease (smaller) and a following number a later release (greater).
 */
export function compareVersions(a: string, b: string): number {
  const tokens = (v: string): string[] => v.replace(/^v(?=[0-9])/, '').match(/[0-9]+|[A-Za-z]+/g) ?? []
  const x = tokens(a)
  const y = tokens(b)
  const numeric = (t: string): boolean => /^[0-9]/.test(t)
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const p = x[i]
    const q = y[i]
    if (p === undefined) return numeric(q!) ? -1 : 1
    if (q === undefined) return numeric(p) ? 1 : -1
    if (numeric(p) && numeric(q)) {
      const d = Number(p) - Number(q)
      if (d !== 0) return Math.sign(d)
    } else if (numeric(p) !== numeric(q)) return numeric(p) ? 1 : -1
    else if (p !== q) return p < q ? -1 : 1
  }
  return 0
}

/** Version name → value: what the `versions` output reports. */
export function versionValues(versions: Versions): Record<string, string> {
  return Object.fromEntries(Object.entries(versions.resolved).map(([name, v]) => [name, v.value]))
}

/**
 * The user's build args plus one per resolved version (`GO_VERSION=1.25.4`). A user build arg that sets a
 * version ARG to something else is an error: the tag would lie about the build.
 */
export function withVersionBuildArgs(buildArgs: readonly BuildArg[], versions: Versions): BuildArg[] {
  const merged = [...buildArgs]
  for (const [name, version] of Object.entries(versions.resolved)) {
    const arg = versions.args[name]
    if (arg === undefined) continue
    const user = buildArgs.find(b => b.name === arg)
    if (user === undefined) {
      merged.push({ name: arg, value: version.value })
    } else if (user.value !== version.value) {
      const input = VERSION_INPUTS[name]
      throw new InputError(
        'build-args',
        `${arg}=${user.value} disagrees with the ${name} version ${version.value} (from ${version.source}), which names the tag: remove ${arg} from build-args${input ? ` and set "${input}"` : ''} instead`
      )
    }
  }
  return merged
}

/**
 * Reads the versions a versions file holds: version name → value with its file and line. Mappings such as
 * `golang: {version: 1.25.4, checksum: {sha256: {amd64: …}}}` give their `version`; scalars (`go: 1.25.4`) are
 * the version itself. Everything is read as text (YAML's failsafe schema), so `18.10` stays `18.10`.
 */
export function parseVersionsFile(text: string, file: string, names: readonly string[]): Record<string, FoundVersion> {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { schema: 'failsafe', lineCounter, prettyErrors: false, uniqueKeys: true })
  const lineOf = (offset: number | undefined): number | undefined =>
    offset === undefined ? undefined : lineCounter.linePos(offset).line
  const firstError = doc.errors[0]
  if (firstError) {
    throw new SourceFileError(
      file,
      lineOf(firstError.pos[0]),
      `not valid YAML (${firstError.message.split('\n')[0]}): fix the syntax; the expected form is "golang:\\n  version: 1.25.4" or "go: 1.25.4"`
    )
  }
  const root = doc.contents
  if (root === null) return {}
  if (!isMap(root)) {
    throw new SourceFileError(file, lineOf(root.range?.[0]), 'expected a mapping such as "golang:\\n  version: 1.25.4" or "go: 1.25.4" at the top level')
  }

  const found: Record<string, FoundVersion> = {}
  for (const name of names) {
    const entries: Array<{ value: string; line: number | undefined; where: string }> = []
    for (const key of FILE_KEYS[name] ?? [name]) {
      const entry = root.get(key, true) as Node | null | undefined
      if (entry === undefined) continue
      let valueNode: Node | null | undefined = entry
      let where = key
      if (isMap(entry)) {
        valueNode = entry.get('version', true) as Node | null | undefined
        where = `${key}.version`
        if (valueNode === undefined) continue
      }
      const line = lineOf((valueNode ?? entry)?.range?.[0])
      if (valueNode === null || !isScalar(valueNode)) {
        found[name] ??= {
          error: new SourceFileError(file, line, `${where} must be a version such as 1.25.4 (found ${describeNode(valueNode)})`)
        }
        continue
      }
      const raw = String(valueNode.value)
      const checked = checkVersion(raw)
      if ('problem' in checked) {
        found[name] ??= { error: new SourceFileError(file, line, `${where}: "${raw}" ${checked.problem}`) }
        continue
      }
      const previous = entries[0]
      if (previous && previous.value !== checked.value) {
        found[name] = {
          error: new SourceFileError(file, line, `${where} (${checked.value}) and ${previous.where} (${previous.value}) disagree: keep one of them`)
        }
      }
      entries.push({ value: checked.value, line, where })
      found[name] ??= { value: checked.value, source: `${file}:${line ?? '?'} (${where})` }
    }
  }
  return found
}

function describeNode(node: Node | null | undefined): string {
  if (node === null || node === undefined) return 'nothing'
  if (isMap(node)) return 'a mapping'
  return 'a list'
}

/**
 * The defaults of the given ARGs in a Dockerfile: ARG name → value with file and line. An ARG declared with
 * different defaults in two places, or whose default refers to another variable, is an error.
 */
export function dockerfileArgDefaults(text: string, file: string, argNames: readonly string[]): Record<string, FoundVersion> {
  const wanted = new Set(argNames)
  const found: Record<string, FoundVersion> = {}
  const firstLine: Record<string, number> = {}
  const dockerfile = DockerfileParser.parse(text)
  for (const instruction of dockerfile.getARGs()) {
    for (const property of instruction.getProperties()) {
      const name = property.getName()
      const raw = property.getValue()
      if (!wanted.has(name) || raw === null) continue
      const line = property.getRange().start.line + 1
      const previous = found[name]
      if (previous && 'error' in previous) continue
      if (/\$/.test(raw)) {
        found[name] = {
          error: new SourceFileError(
            file,
            line,
            `the default of ARG ${name} ("${raw}") refers to a variable; write the version itself, or give it in the versions file or an input`
          )
        }
        continue
      }
      const checked = checkVersion(raw)
      if ('problem' in checked) {
        found[name] = { error: new SourceFileError(file, line, `ARG ${name}: "${raw}" ${checked.problem}`) }
        continue
      }
      if (previous && previous.value !== checked.value) {
        found[name] = {
          error: new SourceFileError(
            file,
            line,
            `ARG ${name} defaults to ${checked.value} here but to ${previous.value} on line ${firstLine[name]}: keep one default (or set the version in the versions file or an input)`
          )
        }
        continue
      }
      if (!previous) {
        found[name] = { value: checked.value, source: `${file}:${line} (ARG ${name})` }
        firstLine[name] = line
      }
    }
  }
  return found
}
