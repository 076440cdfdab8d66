/**
 * `mode: check`: the toolchain update check. Reads the versions a publish would read (inputs, the versions file,
 * the Dockerfile's ARG defaults), asks the release sources (releases.ts) what is newer under the `update` policy,
 * and, with `update-versions: true`, rewrites the versions where they live: the versions file in place (only the
 * changed scalars; comments, layout, key order and every other key stay byte for byte), or the Dockerfile's ARG
 * defaults. Every source is asked before any file is written, so a source that fails changes nothing.
 *
 * It needs no docker: no login, no QEMU, no builder, nothing for the post step to clean.
 */
import * as core from '@actions/core'
import { readFile, writeFile } from 'node:fs/promises'
import { DockerfileParser } from 'dockerfile-ast'
import { Composer, CST, isMap, isScalar, Parser, type Document, type Node, type YAMLMap } from 'yaml'
import { errorMessage } from '../core/errors.js'
import { completeOutputs, Output, setOutputs, type RunResult } from '../report/outputs.js'
import type { Phases } from '../core/phases.js'
import type { Platform } from '../core/platform.js'
import {
  allowed,
  fetchGoReleases,
  fetchK8sMarker,
  fetchLlvmReleases,
  goArch,
  goChecksums,
  k8sMarkerUrl,
  newestAllowed,
  parseReleaseVersion,
  type CheckSettings
} from './releases.js'
import { escapeHtml } from '../report/summary.js'
import { mainTagOf, readGitHubContext, type TagSettings } from '../tags/tags.js'
import {
  dockerfileArgDefaults,
  FILE_KEYS,
  parseVersionsFile,
  resolveVersions,
  SourceFileError,
  VERSION_INPUTS,
  versionValues,
  versionsFilePath,
  type VersionSettings,
  type Versions
} from '../tags/versions.js'
import * as log from '../core/log.js'

/** One version that has a newer release: what the `updates` output lists. */
export interface VersionUpdate {
  name: string
  from: string
  to: string
  /** The URL that said so. */
  source: string
}

/** Where a version lives, so the check can rewrite it there. */
export type Home = { kind: 'input'; input: string } | { kind: 'file'; file: string } | { kind: 'arg'; file: string; arg: string }

export interface TrackedVersion {
  name: string
  current: string
  home: Home
}

/** What a source said about one version: a newer release (with the Go checksums), or that it is current. */
export interface Finding {
  name: string
  current: string
  /** The newer release; undefined when the version in use is the newest the policy allows. */
  newer?: string
  source: string
  /** For Go: checksum key (`amd64`) → sha256 of that release's `linux-ARCH` archive. */
  checksums?: Record<string, string>
}

/** The versions the check knows a source for: Go and Kubernetes always, LLVM with `llvm-releases-url`. */
export const CHECKED = ['go', 'k8s', 'llvm'] as const

/** What the check reads of the job's settings (the job's Settings has them all). */
export interface CheckJob {
  check: CheckSettings
  versions: VersionSettings
  file: string
  platforms: Platform[]
  tagging: TagSettings
}

export async function runCheck(settings: CheckJob, phases: Phases): Promise<void> {
  const located = await phases.run('Versions', () => locateVersions(settings))
  const checksumKeys = located.yaml ? goChecksumKeys(located.yaml.doc, settings.platforms) : []
  const findings = await phases.run('Ask the release sources', () => askSources(located.tracked, settings.check, checksumKeys))
  const updates = findings.flatMap(f => (f.newer === undefined ? [] : [{ name: f.name, from: f.current, to: f.newer, source: f.source }]))
  const newValues = { ...versionValues(located.versions), ...Object.fromEntries(updates.map(u => [u.name, u.to])) }
  // named as a publish names it: the versioned template, or (a template the versions cannot fill) the first-run tag
  const tag = mainTagOf(settings.tagging, { ...located.versions, resolved: withValues(located.versions, newValues) }, readGitHubContext())
  const written = settings.check.updateVersions
    ? await phases.run('Rewrite the versions', () => rewriteVersions(located, findings))
    : []
  if (!settings.check.updateVersions && updates.length > 0) log.info('update-versions: false: no file was changed')
  setOutputs({
    [Output.Result]: 'checked' satisfies RunResult,
    [Output.Pushed]: 'false',
    [Output.Updates]: JSON.stringify(updates),
    [Output.Tag]: tag,
    [Output.Changed]: String(updates.length > 0),
    [Output.Versions]: JSON.stringify(newValues)
  })
  completeOutputs()
  await core.group('Report', () =>
    writeCheckSummary(settings.check, findings, located.tracked, tag, written).catch((error: unknown) => {
      core.warning(`the check is done, but could not write the job summary: ${errorMessage(error)}`)
    })
  )
}

interface Located {
  versions: Versions
  tracked: TrackedVersion[]
  /** The versions file, parsed so that it can be rewritten exactly; undefined when there is none. */
  yaml?: EditableYaml
}

/** The versions as a publish resolves them, and where each lives. */
export async function locateVersions(settings: Pick<CheckJob, 'versions' | 'file'>): Promise<Located> {
  const versions = await resolveVersions(settings.versions, settings.file)
  const file = versionsFilePath(settings.versions, settings.file)
  const yaml = file === undefined ? undefined : loadYaml(await readFile(file, 'utf8'), file)
  const fromFile = yaml ? parseVersionsFile(yaml.text, yaml.file, Object.keys(settings.versions.args)) : {}
  const tracked: TrackedVersion[] = []
  for (const [name, version] of Object.entries(versions.resolved)) {
    const input = settings.versions.inputs[name]
    const inFile = fromFile[name]
    const home: Home =
      input !== undefined
        ? { kind: 'input', input: VERSION_INPUTS[name] ?? name }
        : inFile !== undefined && 'value' in inFile && yaml
          ? { kind: 'file', file: yaml.file }
          : { kind: 'arg', file: settings.file, arg: versions.args[name] ?? '' }
    log.info(`${name} ${version.value} (from ${version.source})`)
    tracked.push({ name, current: version.value, home })
  }
  return { versions, tracked, ...(yaml ? { yaml } : {}) }
}

/** Asks every source the tracked versions need, all at once; any failure fails the check before anything is written. */
export async function askSources(tracked: readonly TrackedVersion[], check: CheckSettings, checksumKeys: readonly string[]): Promise<Finding[]> {
  const asks: Array<Promise<Finding>> = []
  for (const version of tracked) {
    if (!(CHECKED as readonly string[]).includes(version.name)) continue
    if (version.name === 'llvm' && check.llvmUrl === undefined) {
      log.info(`llvm ${version.current}: not checked (set llvm-releases-url to check LLVM releases)`)
      continue
    }
    const current = parseReleaseVersion(version.current)
    if (!current) {
      core.warning(`${version.name} ${version.current} is not a release version such as 1.25.4, so newer releases cannot be compared with it: not checked`)
      continue
    }
    const { name } = version
    if (name === 'go') {
      asks.push(
        fetchGoReleases(check.goUrl).then(releases => {
          const best = newestAllowed(check.policy, current, releases)
          const keys = version.home.kind === 'file' ? checksumKeys : []
          return best
            ? { name, current: version.current, newer: best.version.text, source: check.goUrl, checksums: goChecksums(best, keys, check.goUrl) }
            : { name, current: version.current, source: check.goUrl }
        })
      )
    } else if (name === 'k8s') {
      const url = k8sMarkerUrl(check.k8sUrl, check.policy, current)
      asks.push(
        fetchK8sMarker(url).then(marker =>
          allowed(check.policy, current, marker) ? { name, current: version.current, newer: marker.text, source: url } : { name, current: version.current, source: url }
        )
      )
    } else if (check.llvmUrl !== undefined) {
      const url = check.llvmUrl
      asks.push(
        fetchLlvmReleases(url).then(releases => {
          const best = newestAllowed(check.policy, current, releases)
          return best ? { name, current: version.current, newer: best.version.text, source: url } : { name, current: version.current, source: url }
        })
      )
    }
  }
  const findings = await Promise.all(asks)
  for (const f of findings) log.info(f.newer === undefined ? `${f.name} ${f.current}: current (${f.source})` : `${f.name} ${f.current} → ${f.newer} (${f.source})`)
  return findings
}

function withValues(versions: Versions, values: Record<string, string>): Versions['resolved'] {
  return Object.fromEntries(Object.entries(versions.resolved).map(([name, v]) => [name, { ...v, value: values[name] ?? v.value }]))
}



// ---------------------------------------------------------------------------------------------------------------
// Rewriting

/** Writes every finding where its version lives; returns the files changed. Inputs cannot be rewritten: a warning says what to set. */
async function rewriteVersions(located: Located, findings: readonly Finding[]): Promise<string[]> {
  const newer = findings.filter((f): f is Finding & { newer: string } => f.newer !== undefined)
  const homes = new Map(located.tracked.map(t => [t.name, t.home]))
  const fileEdits: VersionEdit[] = []
  const argEdits = new Map<string, ArgEdit[]>()
  for (const finding of newer) {
    const home = homes.get(finding.name)
    if (!home) continue
    if (home.kind === 'input') {
      core.warning(`${finding.name} ${finding.newer} is out, but ${finding.name} ${finding.current} comes from the input "${home.input}", which no file holds: set "${home.input}" to ${finding.newer}`)
    } else if (home.kind === 'file') {
      fileEdits.push({ name: finding.name, from: finding.current, to: finding.newer, checksums: finding.checksums })
    } else {
      argEdits.set(home.file, [...(argEdits.get(home.file) ?? []), { arg: home.arg, from: finding.current, to: finding.newer }])
    }
  }
  // every new text is made before any is written
  const writes: Array<{ file: string; text: string }> = []
  if (fileEdits.length > 0 && located.yaml) writes.push({ file: located.yaml.file, text: rewriteVersionsFile(located.yaml, fileEdits) })
  for (const [file, edits] of argEdits) writes.push({ file, text: rewriteDockerfileArgs(await readFile(file, 'utf8'), file, edits) })
  for (const { file, text } of writes) {
    await writeFile(file, text)
    log.info(`rewrote ${file}`)
  }
  return writes.map(w => w.file)
}

/** A versions file parsed to its concrete syntax tree, so that changing a scalar keeps every other byte. */
export interface EditableYaml {
  file: string
  text: string
  tokens: CST.Token[]
  doc: Document.Parsed
}

export function loadYaml(text: string, file: string): EditableYaml {
  // the same checks (valid YAML, a mapping, the version keys) as a publish, with the same messages
  parseVersionsFile(text, file, [])
  const tokens = [...new Parser().parse(text)]
  const [doc] = [...new Composer({ schema: 'failsafe', keepSourceTokens: true, uniqueKeys: true }).compose(tokens)]
  if (!doc) throw new SourceFileError(file, undefined, 'is empty: give the versions as "golang:\\n  version: 1.25.4"')
  return { file, text, tokens, doc }
}

export interface VersionEdit {
  name: string
  from: string
  to: string
  /** Go: checksum key → sha256, written under `golang.checksum.sha256`. */
  checksums?: Record<string, string>
}

/**
 * The versions file with the new versions (every key that holds one: `golang.version`, `go`, …) and, for Go,
 * the new checksums. Only those scalars change, each in the quoting it had (and with its `v` when it had one);
 * a checksum key the file does not list yet is added after the last one, in the same layout.
 */
export function rewriteVersionsFile(yaml: EditableYaml, edits: readonly VersionEdit[]): string {
  const root = yaml.doc.contents
  if (!isMap(root)) throw new SourceFileError(yaml.file, undefined, 'expected a mapping at the top level')
  for (const edit of edits) {
    let changed = 0
    for (const key of FILE_KEYS[edit.name] ?? [edit.name]) {
      const entry = root.get(key, true) as Node | undefined
      const node = isMap(entry) ? (entry.get('version', true) as Node | undefined) : entry
      if (!isScalar(node) || !node.srcToken) continue
      const raw = String(node.value)
      if (raw !== edit.from && raw !== `v${edit.from}`) continue
      CST.setScalarValue(node.srcToken, raw.startsWith('v') ? `v${edit.to}` : edit.to)
      changed++
    }
    if (changed === 0) throw new SourceFileError(yaml.file, undefined, `no key holds ${edit.name} ${edit.from} any more: was the file changed during the check?`)
    if (edit.checksums && Object.keys(edit.checksums).length > 0) setChecksums(yaml, edit.checksums)
  }
  return yaml.tokens.map(token => CST.stringify(token)).join('')
}

/** The `golang.checksum.sha256` (or `go.checksum.sha256`) mapping, when the versions file has one. */
function checksumMap(doc: Document.Parsed): YAMLMap | undefined {
  const root = doc.contents
  if (!isMap(root)) return undefined
  for (const key of FILE_KEYS.go ?? []) {
    const sums = root.getIn([key, 'checksum', 'sha256'], true)
    if (isMap(sums)) return sums
  }
  return undefined
}

/**
 * The checksum keys a Go update writes: those the versions file lists under `golang.checksum.sha256`, then the
 * architecture of every platform built that it does not list yet. None when the file keeps no checksums.
 */
export function goChecksumKeys(doc: Document.Parsed, platforms: readonly Platform[]): string[] {
  const sums = checksumMap(doc)
  if (!sums) return []
  const keys = sums.items.map(pair => String(isScalar(pair.key) ? pair.key.value : pair.key))
  const covered = new Set(keys.map(goArch))
  for (const platform of platforms) {
    if (platform.os !== 'linux') continue
    const arch = goArch(platform.architecture)
    if (covered.has(arch)) continue
    covered.add(arch)
    keys.push(arch)
  }
  return keys
}

function setChecksums(yaml: EditableYaml, checksums: Record<string, string>): void {
  const sums = checksumMap(yaml.doc)
  if (!sums) return
  const token = sums.srcToken
  for (const [key, sum] of Object.entries(checksums)) {
    const node = sums.get(key, true) as Node | undefined
    if (isScalar(node) && node.srcToken) {
      CST.setScalarValue(node.srcToken, sum)
      continue
    }
    if (token?.type !== 'block-map' || token.items.length === 0) {
      core.warning(`${yaml.file}: golang.checksum.sha256 has no "${key}" and is not a block mapping it can be added to: add "${key}: ${sum}" to it`)
      continue
    }
    token.items.push(cloneItem(token.items[token.items.length - 1]!, key, sum))
  }
}

/** A new `key: value` line laid out as `last` (its indentation, separator and quoting), without its comment. */
function cloneItem(last: CST.BlockMap['items'][number], key: string, value: string): CST.BlockMap['items'][number] {
  const item = structuredClone(last)
  if (item.value && 'end' in item.value && item.value.end) {
    const hadNewline = item.value.end.some(t => t.type === 'newline')
    item.value.end = item.value.end.filter(t => t.type === 'newline')
    if (!hadNewline && last.value && 'end' in last.value) {
      // the last line had no newline (end of file): it needs one before the new line
      last.value.end = [...(last.value.end ?? []), { type: 'newline', offset: 0, indent: 0, source: '\n' }]
    }
  }
  item.sep = item.sep?.filter(t => t.type !== 'comment')
  if (item.key && CST.isScalar(item.key)) CST.setScalarValue(item.key, key)
  if (item.value && CST.isScalar(item.value)) CST.setScalarValue(item.value, value)
  return item
}

export interface ArgEdit {
  arg: string
  from: string
  to: string
}

/** The Dockerfile with the new ARG defaults (every declaration of that ARG), nothing else changed. */
export function rewriteDockerfileArgs(text: string, file: string, edits: readonly ArgEdit[]): string {
  const lineStarts = [0]
  for (let i = 0; i < text.length; i++) if (text[i] === '\n') lineStarts.push(i + 1)
  const offset = (p: { line: number; character: number }): number => (lineStarts[p.line] ?? text.length) + p.character
  const replacements: Array<{ start: number; end: number; text: string }> = []
  const byArg = new Map(edits.map(e => [e.arg, e]))
  const found = dockerfileArgDefaults(text, file, [...byArg.keys()])
  for (const instruction of DockerfileParser.parse(text).getARGs()) {
    for (const property of instruction.getProperties()) {
      const edit = byArg.get(property.getName())
      const range = property.getValueRange()
      if (!edit || !range) continue
      const start = offset(range.start)
      const end = offset(range.end)
      const raw = text.slice(start, end)
      const at = raw.indexOf(edit.from)
      if (at === -1) throw new SourceFileError(file, range.start.line + 1, `ARG ${edit.arg} no longer defaults to ${edit.from}: was the file changed during the check?`)
      replacements.push({ start: start + at, end: start + at + edit.from.length, text: edit.to })
    }
  }
  for (const edit of edits) {
    if (!(edit.arg in found)) throw new SourceFileError(file, undefined, `has no ARG ${edit.arg} with a default to rewrite`)
  }
  let result = text
  for (const r of replacements.sort((a, b) => b.start - a.start)) result = result.slice(0, r.start) + r.text + result.slice(r.end)
  return result
}

// ---------------------------------------------------------------------------------------------------------------
// The summary

const code = (text: string): string => `<code>${escapeHtml(text)}</code>`

export function checkSummaryRows(findings: readonly Finding[]): string[][] {
  return findings.map(f => [escapeHtml(f.name), code(f.current), f.newer === undefined ? 'current' : code(f.newer), code(f.source)])
}

async function writeCheckSummary(
  check: CheckSettings,
  findings: readonly Finding[],
  tracked: readonly TrackedVersion[],
  tag: string,
  written: readonly string[]
): Promise<void> {
  const updates = findings.filter(f => f.newer !== undefined)
  const asked = new Set(findings.map(f => f.name))
  const unchecked = tracked.filter(t => !asked.has(t.name))
  const summary = core.summary.addHeading('Toolchain update check', 2)
  summary.addRaw(
    `<p>${
      findings.length === 0
        ? `No version with a release source to ask (${CHECKED.map(name => `{${name}}`).join(', ')}; LLVM with <code>llvm-releases-url</code>) was found`
        : updates.length === 0
          ? 'Every version checked is the newest'
          : `${updates.length} update${updates.length === 1 ? '' : 's'}`
    } under <code>update: ${check.policy}</code> (prereleases never). The versions render to the tag ${code(tag)}.</p>`,
    true
  )
  if (findings.length > 0) {
    summary.addTable([
      [
        { data: 'Version', header: true },
        { data: 'In use', header: true },
        { data: 'Newest allowed', header: true },
        { data: 'Source', header: true }
      ],
      ...checkSummaryRows(findings)
    ])
  }
  const sums = written.length > 0 ? Object.keys(updates.find(f => f.checksums)?.checksums ?? {}) : []
  if (written.length > 0) {
    summary.addRaw(`<p>Rewritten: ${written.map(code).join(', ')}${sums.length > 0 ? `, with the sha256 of the Go archive for ${sums.map(code).join(', ')}` : ''}</p>`, true)
  }
  else if (updates.length > 0 && !check.updateVersions) summary.addRaw('<p>No file changed (<code>update-versions: false</code>).</p>', true)
  if (unchecked.length > 0) summary.addRaw(`<p>Not checked: ${unchecked.map(t => `${escapeHtml(t.name)} ${code(t.current)}`).join(', ')}</p>`, true)
  await summary.write()
}
