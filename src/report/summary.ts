/**
 * The job summary: what was published, per platform, and how long each phase took, at a glance.
 */
import * as core from '@actions/core'
import type { PlatformBuildTime } from '../build/build-times.js'
import { formatBytes } from '../core/format.js'
import { legRows, type LegRecord } from '../publish/handoff.js'
import type { PhaseTiming } from '../core/phases.js'
import type { PublishResult } from '../publish/result.js'
import type { SigningReport } from '../publish/sign.js'
import type { MoveOutcome, MoveRecord } from '../publish/transaction.js'
import type { PlatformReport } from '../verify/verify.js'

const code = (text: string): string => `<code>${escapeHtml(text)}</code>`

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

/** `pushed`: what a pushed platform's row says (a leg's platforms are pushed by digest, not published). */
export function platformRows(platforms: readonly PlatformReport[], result: PublishResult, pushed = 'published'): string[][] {
  return platforms.map(p => [escapeHtml(p.platform), code(p.digest), formatBytes(p.size), result.pushed ? pushed : 'built'])
}

/** The timing table and chart, for success and failure alike. */
function addTimings(summary: typeof core.summary, timings: readonly PhaseTiming[]): void {
  if (timings.length === 0) return
  summary.addHeading('Phases', 3)
  summary.addTable([
    [
      { data: 'Phase', header: true },
      { data: 'Time', header: true }
    ],
    ...timings.map(t => [escapeHtml(t.name), `${formatDuration(t.durationMs)}${t.ok ? '' : ' (failed)'}`])
  ])
  summary.addRaw(`\n${timingChart(timings)}\n`, true)
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
  const digest = (d: string): string => (d ? code(d) : 'none')
  return records.map(r => {
    const created = r.previous === '' && (r.outcome === 'moved' || r.outcome === 'restore-failed')
    const note = created ? ' (created by this run: a tag cannot be deleted portably; a re-run completes the publish)' : ''
    return [code(r.reference), digest(r.previous), digest(r.target), `${escapeHtml(OUTCOME_WORDS[r.outcome])}${escapeHtml(note)}`]
  })
}

/**
 * A failed run's summary: the error, how far the pipeline got, and, when tags had begun to move, where every
 * reference ended (before → planned digest). No tag a user pulls moves before the "Move tags" phase.
 */
export async function writeFailureSummary(message: string, timings: readonly PhaseTiming[], records: readonly MoveRecord[] = []): Promise<void> {
  const summary = core.summary.addHeading('go-build-action failed', 2)
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
  addTimings(summary, timings)
  await summary.write()
}

/** Rows of the per-platform build time table: platform, step time, under QEMU, slowest emulated step. */
export function buildTimeRows(times: readonly PlatformBuildTime[]): string[][] {
  return times.map(t => [
    escapeHtml(t.platform),
    formatDuration(t.seconds * 1000),
    t.emulatedSeconds > 0 ? formatDuration(t.emulatedSeconds * 1000) : t.native ? 'none (native)' : 'none (emulated, but no RUN step ran)',
    t.slowestEmulated ? `${code(t.slowestEmulated.name)} (${formatDuration(t.slowestEmulated.seconds * 1000)})` : ''
  ])
}

/** Per-platform build time from BuildKit's step records, so the cost of QEMU shows. */
function addBuildTimes(summary: typeof core.summary, times: readonly PlatformBuildTime[]): void {
  if (!times.some(t => t.steps > 0)) return
  summary.addHeading('Build time per platform', 3)
  summary.addTable([
    [
      { data: 'Platform', header: true },
      { data: 'Step time', header: true },
      { data: 'RUN steps under QEMU', header: true },
      { data: 'Slowest step under QEMU', header: true }
    ],
    ...buildTimeRows(times)
  ])
  summary.addRaw(
    '<p>Sums of BuildKit\'s step times (steps run in parallel; a step shared by several platforms counts once; cached steps take no time).</p>',
    true
  )
}

/** A distributed build's part in the summary: a leg's records, or the legs a merge published. */
export interface LegsSummary {
  role: 'leg' | 'merge'
  records: readonly LegRecord[]
}

/** A successful run's summary; `skipped` says why nothing was built (the references are what was published before). */
export async function writeSummary(
  result: PublishResult,
  platforms: readonly PlatformReport[],
  timings: readonly PhaseTiming[],
  buildTimes: readonly PlatformBuildTime[] = [],
  skipped?: string,
  legs?: LegsSummary,
  signing?: SigningReport
): Promise<void> {
  const summary = core.summary.addHeading('go-build-action', 2)
  if (skipped) {
    summary.addRaw(`<p><strong>${escapeHtml(skipped)}</strong>: nothing was built or pushed. Index ${code(result.digest)} under:</p>`, true)
    summary.addList(result.references.map(code))
    summary.addRaw('<p>Set <code>skip-unchanged: false</code> (or run the workflow by hand) to build and publish anyway.</p>', true)
  } else if (legs?.role === 'leg') {
    summary.addRaw(`<p>Pushed ${code(result.digest)} by digest (no tag users pull moved) and recorded it for the merge as:</p>`, true)
    summary.addList(legs.records.map(r => `${code(r.reference)} (${code(r.recordDigest)})`))
  } else if (result.pushed) {
    summary.addRaw(`<p>Published index ${code(result.digest)} under:</p>`, true)
    summary.addList(result.references.map(code))
  } else {
    summary.addRaw('<p>Built every platform without pushing (input <code>push</code> is <code>false</code>, or <code>auto</code> on an event not known to be trusted for publishing, such as a pull request).</p>', true)
  }
  if (legs?.role === 'merge') {
    summary.addHeading('Legs', 3)
    summary.addTable([
      [
        { data: 'Platform', header: true },
        { data: 'Runner', header: true },
        { data: 'Build time', header: true },
        { data: 'Digest', header: true },
        { data: 'Attempt', header: true }
      ],
      ...legRows(legs.records).map(([platform, runner, time, digest, attempt]) => [escapeHtml(platform ?? ''), escapeHtml(runner ?? ''), escapeHtml(time ?? ''), code(digest ?? ''), escapeHtml(attempt ?? '')])
    ])
  }
  if (platforms.length > 0) {
    summary.addTable([
      [
        { data: 'Platform', header: true },
        { data: 'Manifest digest', header: true },
        { data: 'Size', header: true },
        { data: 'Result', header: true }
      ],
      ...platformRows(platforms, result, legs?.role === 'leg' ? 'pushed by digest, handed to the merge' : 'published')
    ])
  }
  if (result.attestations.length > 0) {
    const types = [...new Set(result.attestations.flatMap(a => a.predicateTypes))]
    summary.addRaw(
      `<p>The index also holds ${result.attestations.length} attestation manifest(s) (${types.map(code).join(', ') || 'no predicate type'}), one per platform image; they are not platforms.</p>`,
      true
    )
  }
  if (signing) summary.addRaw(signingHtml(signing), true)
  addBuildTimes(summary, buildTimes)
  addTimings(summary, timings)
  await summary.write()
}

/** What was signed, by whom, where the signatures are, and the command that verifies the index. */
export function signingHtml(signing: SigningReport): string {
  const repositories = new Set(signing.signatures.map(s => s.repository)).size
  const perRepository = signing.signatures.length / Math.max(1, repositories)
  const now = signing.signedNow < signing.signatures.length ? ` (${signing.signedNow} signed by this run, the rest carried a valid signature already)` : ''
  const rows = signing.signatures.map(s => [
    code(s.repository),
    escapeHtml(s.signed === 'index' ? 'index' : s.signed === 'platform' ? `${s.platform ?? ''} manifest` : `attestation of ${s.platform ?? 'unknown'}`),
    code(s.digest),
    code(s.signature)
  ])
  const table = [
    '<table><tr><th>Repository</th><th>Signed</th><th>Digest</th><th>Signature</th></tr>',
    ...rows.map(r => `<tr>${r.map(c => `<td>${c}</td>`).join('')}</tr>`),
    '</table>'
  ].join('\n')
  const key = signing.publicKey ? `<details><summary>The public key (<code>cosign.pub</code>)</summary>\n\n<pre>${escapeHtml(signing.publicKey.trim())}</pre>\n</details>` : ''
  return [
    '<h3>Signatures</h3>',
    `<p>${signing.signatures.length} signature(s) (${perRepository} digest(s) in each of ${repositories} repository(ies))${escapeHtml(now)}, by ${escapeHtml(signing.identity)}, each verified with <code>cosign verify</code> before any tag moved. cosign stores them as <code>sha256-&lt;digest&gt;.sig</code> tags in each repository. Verify the index as a user would:</p>`,
    `<pre>${escapeHtml(signing.verifyCommand)}</pre>`,
    key,
    table
  ]
    .filter(Boolean)
    .join('\n')
}
