#!/usr/bin/env node
// Puts a real run's job summary into README.md, between <!-- summary:start --> and <!-- summary:end -->: the
// summary `npm run readme-summary` (scripts/demo.sh with DEMO_README=1) wrote, with the run's local repository
// replaced, mechanically, by the name a reader knows, and the folded timeline left out.
//
//   node scripts/readme-summary.mjs --summary demo-out/hosted/summary.md --repository localhost:5000/readme/hello-x
import { readFileSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'

/** What the README shows in place of the run's repository. */
export const SHOWN_REPOSITORY = 'ghcr.io/OWNER/hello'

/** The README's summary block from a run's summary: the repository renamed, the timeline out, a line saying so. */
export function readmeSummary(summary, repository) {
  const renamed = summary.split(repository).join(SHOWN_REPOSITORY)
  const shown = renamed.replace(/\n*<details><summary>Timeline[\s\S]*?<\/details>\n*/, '\n').trim()
  if (/localhost|127\.0\.0\.1/.test(shown)) throw new Error('readme-summary: the summary still names a loopback registry')
  return [
    shown,
    '',
    `(A real run on the hosted path against a local registry: \`npm run readme-summary\` wrote it, with the run's repository \`${repository.replace(/-[a-z0-9]+$/, '-…')}\` replaced by \`${SHOWN_REPOSITORY}\` and the folded timeline left out.)`
  ].join('\n')
}

export function withSummary(readme, block) {
  const start = '<!-- summary:start -->'
  const end = '<!-- summary:end -->'
  const from = readme.indexOf(start)
  const to = readme.indexOf(end)
  if (from === -1 || to === -1) throw new Error(`README.md has no ${start} … ${end} markers`)
  return `${readme.slice(0, from + start.length)}\n\n${block}\n\n${readme.slice(to)}`
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = name => process.argv[process.argv.indexOf(name) + 1]
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
  const readmePath = path.join(root, 'README.md')
  const block = readmeSummary(readFileSync(arg('--summary'), 'utf8'), arg('--repository'))
  writeFileSync(readmePath, withSummary(readFileSync(readmePath, 'utf8'), block))
  console.log(`readme-summary: README.md shows the summary of ${arg('--summary')}`)
}
