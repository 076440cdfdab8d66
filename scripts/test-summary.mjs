#!/usr/bin/env node
// The closing lines of scripts/test.sh, from jest's --json results of its runs (unit, then e2e):
//
//   node scripts/test-summary.mjs --results unit.json,e2e.json --path-times FILE --shared-buildkit DIR [--files FILE]
//
// prints the failed tests (file, title and the head of the failure message: a long log's closing lines still say
// which test failed and why), each runner path's e2e counts and what its action runs cost, then, as the LAST line,
// the count of passed and failed tests over all the runs. A results file that is missing (jest died before writing
// it) counts as a failure. `--files FILE` writes each test file's time (seconds, tab, file, one a line, slowest
// first) for .ci/run.
// Exits 3 when the hosted path was skipped on a machine where the shared BuildKit build is there to run it, 4 when
// a results file is missing, 0 otherwise (jest's own exit status says whether tests failed).
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'

const PATHS = { hosted: '[hosted path', engine: '[engine path' }

/** jest's --json results: every test's path and status, and every file's time. */
function summarize(runs, pathTimes) {
  const count = { hosted: {}, engine: {} }
  const total = { passed: 0, failed: 0, pending: 0 }
  const files = []
  const failures = []
  for (const run of runs) {
    total.passed += run.numPassedTests
    total.failed += run.numFailedTests
    total.pending += run.numPendingTests + (run.numTodoTests ?? 0)
    for (const suite of run.testResults) {
      files.push({ file: suite.name, seconds: (suite.endTime - suite.startTime) / 1000, status: suite.status })
      for (const t of suite.assertionResults) {
        const name = Object.keys(PATHS).find(p => t.fullName.startsWith(PATHS[p]))
        if (name) count[name][t.status] = (count[name][t.status] ?? 0) + 1
        if (t.status === 'failed') failures.push({ file: suite.name, title: t.fullName, messages: t.failureMessages ?? [] })
      }
    }
  }
  // the time the action ran on each path, summed over its runs (runs of one suite overlap when it starts them together)
  const spent = { hosted: { runs: 0, ms: 0 }, engine: { runs: 0, ms: 0 } }
  for (const row of pathTimes.split('\n')) {
    const [name, ms] = row.split(' ')
    if (spent[name]) {
      spent[name].runs++
      spent[name].ms += Number(ms)
    }
  }
  files.sort((a, b) => b.seconds - a.seconds)
  return { count, total, spent, files, failures }
}

/**
 * The failed tests, each with the head of its first failure message (colour codes and stack frames dropped), so
 * that the closing lines of a long log still say which test failed and why.
 */
export function failureLines(failures, root, { tests = 10, lines = 12 } = {}) {
  const out = []
  for (const f of failures.slice(0, tests)) {
    out.push(`FAILED ${path.relative(root, f.file)} › ${f.title}`)
    // eslint-disable-next-line no-control-regex -- jest's colour codes begin with ESC
    const text = (f.messages[0] ?? '').replace(/\u001b\[[0-9;]*m/g, '')
    const head = text.split('\n').filter(l => l.trim() !== '' && !/^\s+at /.test(l)).slice(0, lines)
    for (const l of head) out.push(`    ${l.slice(0, 300)}`)
  }
  if (failures.length > tests) out.push(`… and ${failures.length - tests} more failed tests`)
  return out
}

const line = c => `${c.passed ?? 0} passed, ${c.failed ?? 0} failed, ${(c.pending ?? 0) + (c.skipped ?? 0) + (c.todo ?? 0)} skipped`
const cost = s => `${s.runs} action runs, ${Math.round(s.ms / 1000)} s of runs`

function main(argv) {
  const arg = name => {
    const i = argv.indexOf(`--${name}`)
    return i >= 0 ? argv[i + 1] : undefined
  }
  const resultFiles = (arg('results') ?? '').split(',').filter(Boolean)
  const missing = resultFiles.filter(f => !existsSync(f) || readFileSync(f, 'utf8').trim() === '')
  const runs = resultFiles.filter(f => !missing.includes(f)).map(f => JSON.parse(readFileSync(f, 'utf8')))
  const timesFile = arg('path-times')
  const { count, total, spent, files, failures } = summarize(runs, timesFile && existsSync(timesFile) ? readFileSync(timesFile, 'utf8') : '')
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
  const filesOut = arg('files')
  if (filesOut) {
    writeFileSync(filesOut, files.map(f => `${f.seconds.toFixed(1)}\t${path.relative(root, f.file)}\n`).join(''))
  }
  for (const l of failureLines(failures, root)) console.log(l)
  console.log(`hosted path (docker-container, buildx 0.30.1) ${line(count.hosted)}; ${cost(spent.hosted)}`)
  console.log(`engine path (docker driver, buildx 0.13.1) ${line(count.engine)}; ${cost(spent.engine)}`)
  let status = 0
  const hostedSkipped = (count.hosted.pending ?? 0) + (count.hosted.skipped ?? 0)
  const sharedBuildkit = arg('shared-buildkit')
  if (hostedSkipped > 0 && sharedBuildkit && existsSync(`${sharedBuildkit}/buildkit-bin.tar.gz`)) {
    console.log(`FAILED: ${hostedSkipped} hosted-path tests were skipped, yet ${sharedBuildkit} is here to run them: see "bash scripts/e2e-env.sh status"`)
    status = 3
  }
  for (const file of missing) {
    console.log(`FAILED: no results in ${file} (jest exited before writing them)`)
    status = 4
  }
  console.log(`Tests: ${total.passed} passed, ${total.failed} failed` + (total.pending ? `, ${total.pending} skipped` : '') + (missing.length ? ', and a jest run wrote no results' : ''))
  return status
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exit(main(process.argv.slice(2)))
