#!/usr/bin/env node
// Writes the README's inputs and outputs tables from action.yml, between the markers
// <!-- inputs:start --> … <!-- inputs:end --> and <!-- outputs:start --> … <!-- outputs:end -->.
//   node scripts/readme-tables.mjs          rewrite README.md
//   node scripts/readme-tables.mjs --check  exit 1 when README.md is out of date
import { readFileSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const action = parse(readFileSync(path.join(root, 'action.yml'), 'utf8'))
const readmePath = path.join(root, 'README.md')
const readme = readFileSync(readmePath, 'utf8')

const cell = text => String(text ?? '').trim().replace(/\s*\n\s*/g, ' ').replace(/\|/g, '\\|')

const inputs = [
  '| Input | Default | Description |',
  '| --- | --- | --- |',
  ...Object.entries(action.inputs ?? {}).map(
    ([name, spec]) =>
      `| \`${name}\` | ${spec.default === undefined || spec.default === '' ? (spec.required ? '*required*' : '') : `\`${cell(spec.default)}\``} | ${cell(spec.description)} |`
  )
].join('\n')

const outputs = [
  '| Output | Description |',
  '| --- | --- |',
  ...Object.entries(action.outputs ?? {}).map(([name, spec]) => `| \`${name}\` | ${cell(spec.description)} |`)
].join('\n')

function replaceBetween(text, marker, body) {
  const start = `<!-- ${marker}:start -->`
  const end = `<!-- ${marker}:end -->`
  const from = text.indexOf(start)
  const to = text.indexOf(end)
  if (from === -1 || to === -1) throw new Error(`README.md has no ${start} … ${end} markers`)
  return `${text.slice(0, from + start.length)}\n${body}\n${text.slice(to)}`
}

const updated = replaceBetween(replaceBetween(readme, 'inputs', inputs), 'outputs', outputs)
if (process.argv.includes('--check')) {
  if (updated !== readme) {
    console.error("readme-tables: README.md's inputs/outputs tables differ from action.yml: run 'npm run readme'")
    process.exit(1)
  }
  console.log('readme-tables: README.md matches action.yml')
} else {
  writeFileSync(readmePath, updated)
}
