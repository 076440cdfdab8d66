/**
 * The job summary, most important first: a heading naming the image and its main tag, the `docker pull` line, the
 * tags per repository, per platform its digest, whether it ran natively or under QEMU and its build time, why the
 * tag has a rebuild suffix, what was signed with the command that verifies it, and the phase timeline (folded).
 * Digests are short (`sha256:` and 12 hex digits), the whole digest on hover; the step outputs keep them whole.
 */
import * as core from '@actions/core'
import type { PlatformBuildTime } from '../build/build-times.js'
import { formatBytes } from '../core/format.js'
import type { PhaseTiming } from '../core/phases.js'
import type { LegRecord } from '../publish/handoff.js'
import type { PublishResult } from '../publish/result.js'
import { describeTarget, type SigningReport } from '../publish/sign.js'
import type { MoveOutcome, MoveRecord } from '../publish/transaction.js'
import type { RebuildMode, TagPlan } from '../tags/tags.js'
import type { PlatformReport } from '../verify/verify.js'
import { rebuildReason, splitReferences, type RunResult } from './outputs.js'

const code = (text: string): string => `<code>${escapeHtml(text)}</code>`

/** An empty table cell (core.summary writes an empty one as an unclosed `<td>`). */
const EMPTY = '–'

/** `sha256:` and the first 12 hex digits, the whole digest on hover: `<code title="sha256:…">sha256:abcdef123456</code>`. */
export function shortDigest(digest: string): string {
  const match = /^([a-z0-9]+):([0-9a-f]{13,})$/.exec(digest)
  return match ? `<code title="${escapeHtml(digest)}">${match[1]}:${match[2]!.slice(0, 12)}</code>` : code(digest)
}

/** A signature's reference (`repo:sha256-<hex>.sig`) with its digest shortened, the whole reference on hover. */
function shortSignature(reference: string): string {
  const match = /^(.*:[a-z0-9]+-)([0-9a-f]{13,})(\.[a-z]+)$/.exec(reference)
  return match ? `<code title="${escapeHtml(reference)}">${escapeHtml(match[1]!)}${match[2]!.slice(0, 12)}…${escapeHtml(match[3]!)}</code>` : code(reference)
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c)
}

export function formatDuration(ms: number): string {
  return ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`
}

/** A mermaid Gantt chart of the phases (GitHub renders mermaid in job summaries). */
export function timingChart(timings: readonly PhaseTiming[]): string {
  const lines = ['```mermaid', 'gantt', '  dateFormat x', '  axisFormat %M:%S', '  section go-build-action']
  for (const t of timings) {
    const name = t.name.replace(/[:;#]/g, ' ')
    lines.push(`  ${name} :${t.ok ? '' : 'crit, '}${t.startMs}, ${Math.max(t.durationMs, 1)}ms`)
  }
  lines.push('```')
  return lines.join('\n')
}

/** What each outcome means, in the failure summary's table. */
const OUTCOME_WORDS: Record<MoveOutcome, string> = {
  moved: 'moved: holds this run\'s content',
  restored: 'moved, then put back to its previous digest',
  'not-moved': 'not moved',
  'restore-failed': 'moved; putting it back failed: holds this run\'s content',
  other: 'holds content of another run',
  unknown: 'unknown: the registry could not be read'
}

/** One row per planned reference: before → planned, and where it ended. */
export function moveRows(records: readonly MoveRecord[]): string[][] {
  const digest = (d: string): string => (d ? shortDigest(d) : 'none')
  return records.map(r => {
    const created = r.previous === '' && (r.outcome === 'moved' || r.outcome === 'restore-failed')
    const note = created ? ' (created by this run: a tag cannot be deleted portably; a re-run completes the publish)' : ''
    return [code(r.reference), digest(r.previous), digest(r.target), `${escapeHtml(OUTCOME_WORDS[r.outcome])}${escapeHtml(note)}`]
  })
}

/** The phase table and chart, folded: `Timeline (N s)`, naming the phase that failed. */
export function timelineHtml(timings: readonly PhaseTiming[]): string {
  if (timings.length === 0) return ''
  const total = Math.max(...timings.map(t => t.startMs + t.durationMs))
  const failed = timings.find(t => !t.ok)
  const rows = timings.map(t => `<tr><td>${escapeHtml(t.name)}</td><td>${formatDuration(t.durationMs)}${t.ok ? '' : ' (failed)'}</td></tr>`)
  return [
    `<details><summary>Timeline (${formatDuration(total)}${failed ? `; failed in ${escapeHtml(failed.name)}` : ''})</summary>`,
    '',
    `<table><tr><th>Phase</th><th>Time</th></tr>${rows.join('')}</table>`,
    '',
    timingChart(timings),
    '',
    '</details>'
  ].join('\n')
}

/**
 * A failed run's summary: the error, how far the pipeline got, and, when tags had begun to move, where every
 * reference ended (before → planned digest). No tag a user pulls moves before the "Move tags" phase.
 */
export async function writeFailureSummary(message: string, timings: readonly PhaseTiming[], records: readonly MoveRecord[] = []): Promise<void> {
  const target = records.find(r => r.kind === 'index')?.reference
  const summary = core.summary.addHeading(escapeHtml(target ? `go-build-action failed publishing ${target}` : 'go-build-action failed'), 2)
  summary.addRaw(`<p>${escapeHtml(message)}</p>`, true)
  const moved = records.filter(r => r.outcome !== 'not-moved')
  if (moved.length === 0) {
    summary.addRaw('<p>No tag a user pulls was moved.</p>', true)
  } else {
    summary.addRaw('<p>The run failed while moving tags. Where every reference it was moving ended:</p>', true)
    summary.addTable([
      [
        { data: 'Reference', header: true },
        { data: 'Before', header: true },
        { data: 'This run', header: true },
        { data: 'Now', header: true }
      ],
      ...moveRows(records)
    ])
  }
  if (timings.length > 0) summary.addRaw(`\n${timelineHtml(timings)}\n`, true)
  await summary.write()
}

/** A distributed build's part in the summary: a leg's records, or the legs a merge published. */
export interface LegsSummary {
  role: 'leg' | 'merge'
  records: readonly LegRecord[]
}

/** What a run that reached its report tells the summary. */
export interface RunSummary {
  /** What the run did, as the `result` output says it. */
  result: Exclude<RunResult, 'skipped' | 'checked' | 'failed'>
  published: PublishResult
  /** The main tag. */
  tag: string
  repositories: readonly string[]
  /** The requested platforms (`linux/arm64`). */
  platforms: readonly string[]
  /** What the registries hold per platform (verify.ts); none where nothing was pushed or nothing was built. */
  reports?: readonly PlatformReport[]
  /** Per platform, BuildKit's step times on this runner; none where nothing was built here (a merge, unchanged). */
  buildTimes?: readonly PlatformBuildTime[]
  timings: readonly PhaseTiming[]
  /** Why the main tag is what it is, when there is something to say ({@link tagChoiceSentence}). */
  rebuild?: string
  /** Why a run that compared with the published tag built all the same, where the summary must say it (a skip refused over signatures). */
  whyBuilt?: string
  legs?: LegsSummary
  signing?: SigningReport
}

/**
 * Why the main tag is what it is ({@link rebuildReason}), when that is worth a sentence: a rebuild suffix
 * (`TAG-2`, because `TAG-1` holds other content), an unfinished publish completed, `if-tag-exists: overwrite`.
 * Undefined for a tag that was free, when not pushing, and for a tag the legs of the run decided (the merge cannot
 * tell a suffix from a free tag; the summary of the leg that chose it says why).
 */
export function tagChoiceSentence(plan: Pick<TagPlan, 'tag' | 'push' | 'previous'>, mode: RebuildMode, decided: boolean): string | undefined {
  if (!plan.push || decided || (mode !== 'overwrite' && !plan.previous)) return undefined
  return rebuildReason(plan, mode, decided)
}

/** The heading: what the run did, to which image (the first repository) and main tag. */
export function headingOf({ result, repositories, tag, platforms }: Pick<RunSummary, 'result' | 'repositories' | 'tag' | 'platforms'>): string {
  const others = repositories.length - 1
  const image = `${repositories[0] ?? ''}:${tag}${others > 0 ? ` and ${others} other ${others === 1 ? 'repository' : 'repositories'}` : ''}`
  const words: Record<RunSummary['result'], string> = {
    published: `Published ${image}`,
    unchanged: `Skipped: unchanged ${image}`,
    built: `Built, not pushed ${image}`,
    leg: `Pushed ${platforms.join(', ')} by digest for the merge of ${image}`
  }
  return words[result]
}

/** `docker pull REPO:TAG` as a fenced code block (copyable); a reference a fence could not hold safely goes in `<pre>`. */
export function pullCommand(repository: string, tag: string): string {
  const command = `docker pull ${repository}:${tag}`
  return /^[A-Za-z0-9._:/@ -]+$/.test(command) ? `\n\`\`\`sh\n${command}\n\`\`\`\n` : `<pre>${escapeHtml(command)}</pre>`
}

/** One row per repository: its index tags, and its `TAG-ARCH` tags. */
export function tagRows(references: readonly string[], repositories: readonly string[], tag: string, platforms: readonly string[]): string[][] {
  const split = splitReferences(references, tag, platforms)
  const perPlatform = Object.values(split.platforms).flat()
  const tagsIn = (repository: string, list: readonly string[]): string =>
    list
      .filter(r => r.startsWith(`${repository}:`) && !r.slice(repository.length + 1).includes('/'))
      .map(r => code(r.slice(repository.length + 1)))
      .join(' ')
  return repositories
    .map(r => [code(r), tagsIn(r, split.index), tagsIn(r, perPlatform)])
    .filter(([, index, platform]) => index || platform)
    .map(row => row.map(cell => cell || EMPTY))
}

/** RUNNER_ARCH (in a leg's runner, `name (Linux/ARM64)`) → the architecture it runs natively. */
const RUNNER_ARCHES: Record<string, string> = { X64: 'amd64', ARM64: 'arm64', ARM: 'arm', X86: '386' }

/** Whether a leg's runner ran its platform natively, from the runner's architecture it recorded. */
function legBuiltOn(leg: LegRecord): string {
  const runner = leg.runner || 'an unnamed runner'
  const attempt = leg.run.attempt > 1 ? ` (run attempt ${leg.run.attempt})` : ''
  const arch = RUNNER_ARCHES[/\/([A-Za-z0-9]+)\)$/.exec(leg.runner)?.[1] ?? '']
  const architecture = leg.platform.split('/')[1] ?? ''
  const how = !arch ? 'architecture unknown' : arch === architecture || (arch === 'amd64' && architecture === '386') ? 'native' : 'emulated (QEMU)'
  return `${escapeHtml(runner)}${attempt}: ${how}`
}

/** What ran under QEMU for a platform built on this runner. */
function underQemu(time: PlatformBuildTime): string {
  if (time.native) return ''
  if (time.emulatedSeconds === 0) return 'no RUN step ran under QEMU'
  const slowest = time.slowestEmulated ? `; slowest ${code(time.slowestEmulated.name)} (${formatDuration(time.slowestEmulated.seconds * 1000)})` : ''
  return `${formatDuration(time.emulatedSeconds * 1000)} of RUN steps${slowest}`
}

/**
 * The platform table: per platform its manifest digest and size (where pushed), where it was built (this runner,
 * natively or under QEMU; a build node; a leg's runner; not at all when unchanged) and its build time. Columns nothing fills are
 * left out.
 */
export function platformTable(input: Pick<RunSummary, 'result' | 'published' | 'platforms' | 'reports' | 'buildTimes' | 'legs'>): string[][] {
  const { result, published, platforms, reports = [], buildTimes = [] } = input
  const legs = input.legs?.role === 'merge' ? input.legs.records : []
  const rows = platforms.map(platform => {
    const report = reports.find(r => r.platform === platform)
    const time = buildTimes.find(t => t.platform === platform)
    const leg = legs.find(l => l.platform === platform)
    const digest = report?.digest ?? published.platformDigests[platform] ?? ''
    let builtOn = ''
    let buildTime = ''
    let qemu = ''
    if (result === 'unchanged') {
      builtOn = 'not built: the tag holds it already'
    } else if (leg) {
      builtOn = legBuiltOn(leg)
      buildTime = `${formatDuration(leg.buildSeconds * 1000)} (the leg's build)`
    } else if (time) {
      // a build node builds its own platforms (nodes.ts)
      builtOn = time.node ? `remote node ${code(time.node)}: native` : time.native ? 'this runner: native' : 'this runner: emulated (QEMU)'
      buildTime = time.steps === 0 ? 'cached: no step ran' : formatDuration(time.seconds * 1000)
      qemu = underQemu(time)
    }
    return {
      Platform: escapeHtml(platform),
      Digest: digest ? shortDigest(digest) : '',
      Size: report ? formatBytes(report.size) : '',
      'Built on': builtOn,
      'Build time': buildTime,
      'Under QEMU': qemu
    }
  })
  const columns = (['Platform', 'Digest', 'Size', 'Built on', 'Build time', 'Under QEMU'] as const).filter(c => c === 'Platform' || rows.some(r => r[c]))
  return [[...columns], ...rows.map(r => columns.map(c => r[c] || EMPTY))]
}

/** A successful run's summary (published, unchanged, built without pushing, a leg, a merge). */
export async function writeSummary(input: RunSummary): Promise<void> {
  const { result, published, tag, repositories, platforms, timings, legs, signing } = input
  const summary = core.summary.addHeading(escapeHtml(headingOf(input)), 2)
  const repository = repositories[0]
  if ((result === 'published' || result === 'unchanged') && repository) summary.addRaw(pullCommand(repository, tag), true)
  const facts = [
    published.digest && result !== 'built' ? `index ${shortDigest(published.digest)}` : '',
    `${platforms.length} platform(s)`,
    repositories.length > 1 ? `${repositories.length} repositories` : ''
  ].filter(Boolean)
  summary.addRaw(`<p>${facts.join(' · ')}</p>`, true)
  if (input.whyBuilt) summary.addRaw(`<p><strong>Why it was built:</strong> ${escapeHtml(input.whyBuilt)}.</p>`, true)
  if (input.rebuild) summary.addRaw(`<p><strong>Why this tag:</strong> ${escapeHtml(input.rebuild)}.</p>`, true)
  if (result === 'unchanged') {
    summary.addRaw(`<p><strong>${escapeHtml(`skipped: unchanged: ${tag} already holds this build`)}</strong> (the same fingerprint): nothing was built or pushed. Set <code>skip-unchanged: false</code> (or run the workflow by hand) to build and publish anyway.</p>`, true)
  } else if (result === 'built') {
    summary.addRaw('<p>Built every platform without pushing (input <code>push</code> is <code>false</code>, or <code>auto</code> on an event not known to be trusted for publishing, such as a pull request).</p>', true)
  } else if (legs?.role === 'leg') {
    summary.addRaw(`<p>Pushed ${shortDigest(published.digest)} by digest (no tag users pull moved) and recorded it for the merge as:</p>`, true)
    summary.addList(legs.records.map(r => `${code(r.reference)} (${shortDigest(r.recordDigest)})`))
  }
  const tags = tagRows(published.references, repositories, tag, platforms)
  if (tags.length > 0) {
    summary.addHeading('Tags', 3)
    summary.addTable([[{ data: 'Repository', header: true }, { data: 'Tags', header: true }, { data: 'Per-platform tags', header: true }], ...tags])
  }
  const [columns = [], ...rows] = platformTable(input)
  if (rows.length > 0) {
    summary.addHeading('Platforms', 3)
    summary.addTable([columns.map(data => ({ data, header: true })), ...rows])
    if (input.buildTimes?.some(t => t.steps > 0)) {
      summary.addRaw(
        '<p>Build time: the sum of BuildKit\'s step times for the platform (steps run in parallel; a step shared by several platforms counts once; cached steps take no time).</p>',
        true
      )
    }
  }
  if (published.attestations.length > 0) {
    const types = [...new Set(published.attestations.flatMap(a => a.predicateTypes))]
    summary.addRaw(
      `<p>The index also holds ${published.attestations.length} attestation manifest(s) (${types.map(code).join(', ') || 'no predicate type'}), one per platform image; they are not platforms.</p>`,
      true
    )
  }
  if (signing) summary.addRaw(signingHtml(signing), true)
  if (timings.length > 0) summary.addRaw(`\n${timelineHtml(timings)}\n`, true)
  await summary.write()
}

/** What was signed, by whom, and the command that verifies the index; every signature folded below. */
export function signingHtml(signing: SigningReport): string {
  const repositories = [...new Set(signing.signatures.map(s => s.repository))]
  const first = signing.signatures.filter(s => s.repository === repositories[0])
  const count = (kind: string): number => first.filter(s => s.signed === kind).length
  const what = [
    count('index') > 0 ? 'the index' : '',
    count('platform') > 0 ? `${count('platform')} platform manifest(s)` : '',
    count('attestation') > 0 ? `${count('attestation')} attestation manifest(s)` : ''
  ].filter(Boolean)
  const listed = what.length > 1 ? `${what.slice(0, -1).join(', ')} and ${what.at(-1)}` : (what[0] ?? 'nothing')
  const where = repositories.length === 1 ? code(repositories[0] ?? '') : `each of ${repositories.length} repositories`
  const now = signing.signedNow < signing.signatures.length ? ` (${signing.signedNow} signed by this run, the rest carried a valid signature already)` : ''
  const rows = signing.signatures.map(s => [
    code(s.repository),
    escapeHtml(describeTarget(s)),
    shortDigest(s.digest),
    shortSignature(s.signature)
  ])
  const table = [
    `<details><summary>Every signature (${signing.signatures.length}; cosign stores them as <code>sha256-&lt;digest&gt;.sig</code> tags)</summary>`,
    '',
    '<table><tr><th>Repository</th><th>Signed</th><th>Digest</th><th>Signature</th></tr>',
    ...rows.map(r => `<tr>${r.map(c => `<td>${c}</td>`).join('')}</tr>`),
    '</table>',
    '</details>'
  ].join('\n')
  const key = signing.publicKey ? `<details><summary>The public key (<code>cosign.pub</code>)</summary>\n\n<pre>${escapeHtml(signing.publicKey.trim())}</pre>\n</details>` : ''
  return [
    '<h3>Signatures</h3>',
    `<p>Signed ${listed} in ${where}: ${signing.signatures.length} signature(s)${escapeHtml(now)}, by ${escapeHtml(signing.identity)}, each verified with <code>cosign verify</code> before any tag moved. Verify the index as a user would:</p>`,
    `<pre>${escapeHtml(signing.verifyCommand)}</pre>`,
    key,
    table
  ]
    .filter(Boolean)
    .join('\n')
}
