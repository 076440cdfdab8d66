#!/usr/bin/env node
// The coverage guard: each file of src/ keeps at least the line coverage the unit tests gave it when its floor was
// written (coverage-floor.json: the percentage, rounded down to a whole one). Reads jest's json-summary report
// (`jest --coverage --coverageReporters=json-summary`: coverage/coverage-summary.json).
//
//   node scripts/coverage-guard.mjs [--summary FILE] [--floor FILE]   fails naming each file below its floor
//   node scripts/coverage-guard.mjs --write                           writes every file's floor from the summary
//
// `npm run coverage:guard` runs the unit tests with coverage, then this check (`-- --write` to update the floors).
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** Line coverage per file of src/, by path relative to the repository: { 'src/main.ts': 78.57, … }. */
export function lineCoverage(summary, base = root) {
  return Object.fromEntries(
    Object.entries(summary)
      .filter(([file]) => file !== 'total')
      .map(([file, metrics]) => [path.relative(base, file).split(path.sep).join('/'), metrics.lines.pct])
      .sort(([a], [b]) => a.localeCompare(b))
  )
}

/** The floors `--write` records: each file's line coverage, rounded down to a whole percent. */
export function floorsOf(coverage) {
  return Object.fromEntries(Object.entries(coverage).map(([file, pct]) => [file, Math.floor(pct)]))
}

/** What fails the guard (a file below its floor, or with a floor but no coverage measured) and what is only said (a file without a floor). */
export function checkFloors(coverage, floors) {
  const failures = []
  for (const [file, floor] of Object.entries(floors)) {
    const pct = coverage[file]
    if (pct === undefined) failures.push(`${file}: has a floor of ${floor}% but no coverage was measured (removed or renamed?)`)
    else if (pct < floor) failures.push(`${file}: ${pct}% of its lines covered, below its floor of ${floor}%`)
  }
  const unfloored = Object.keys(coverage).filter(file => !(file in floors))
  return { failures, unfloored }
}

const UPDATE = 'cover the lines again with unit tests, or, where the drop is meant (code removed or moved), write the floors anew with `npm run coverage:guard -- --write` and commit coverage-floor.json'

function main(argv) {
  const option = (name, fallback) => {
    const i = argv.indexOf(name)
    return i >= 0 && argv[i + 1] ? path.resolve(argv[i + 1]) : fallback
  }
  const summaryFile = option('--summary', path.join(root, 'coverage', 'coverage-summary.json'))
  const floorFile = option('--floor', path.join(root, 'coverage-floor.json'))
  if (!existsSync(summaryFile)) {
    console.error(`coverage guard: no ${path.relative(root, summaryFile)}: run the unit tests with --coverage --coverageReporters=json-summary first (npm run coverage:guard does)`)
    return 2
  }
  const coverage = lineCoverage(JSON.parse(readFileSync(summaryFile, 'utf8')))
  if (argv.includes('--write')) {
    writeFileSync(floorFile, `${JSON.stringify(floorsOf(coverage), null, 2)}\n`)
    console.log(`coverage guard: wrote the line coverage floor of ${Object.keys(coverage).length} files to ${path.relative(root, floorFile)}`)
    return 0
  }
  const floors = JSON.parse(readFileSync(floorFile, 'utf8'))
  const { failures, unfloored } = checkFloors(coverage, floors)
  for (const file of unfloored) console.log(`coverage guard: ${file} (${coverage[file]}% of its lines) has no floor yet: \`npm run coverage:guard -- --write\` records it`)
  if (failures.length > 0) {
    console.error(`coverage guard: ${failures.length} file(s) below their line coverage floor (${path.relative(root, floorFile)}):`)
    for (const failure of failures) console.error(`  ${failure}`)
    console.error(`Fix: ${UPDATE}.`)
    return 1
  }
  console.log(`coverage guard: all ${Object.keys(floors).length} files at or above their line coverage floor`)
  return 0
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exit(main(process.argv.slice(2)))
