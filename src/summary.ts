/**
 * The job summary: what was published, per platform, at a glance.
 */
import * as core from '@actions/core'
import type { PublishResult } from './publish.js'

const code = (text: string): string => `<code>${escapeHtml(text)}</code>`

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c)
}

/** One row per platform: platform, manifest digest. */
export function platformRows(result: PublishResult): string[][] {
  return Object.entries(result.platformDigests).map(([platform, digest]) => [escapeHtml(platform), code(digest)])
}

export async function writeSummary(result: PublishResult): Promise<void> {
  const summary = core.summary.addHeading('go-build-action', 2)
  if (result.pushed) {
    summary.addRaw(`<p>Published index ${code(result.digest)} under:</p>`, true)
    summary.addList(result.references.map(code))
  } else {
    summary.addRaw('<p>Built every platform without pushing (input <code>push</code> is <code>false</code>, or <code>auto</code> on a pull request).</p>', true)
  }
  const rows = platformRows(result)
  if (rows.length > 0) {
    summary.addTable([
      [
        { data: 'Platform', header: true },
        { data: 'Manifest digest', header: true }
      ],
      ...rows
    ])
  }
  await summary.write()
}
