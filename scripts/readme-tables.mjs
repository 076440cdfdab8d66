#!/usr/bin/env node
// Writes the README's inputs and outputs tables from action.yml, between the markers
// <!-- inputs:start --> … <!-- inputs:end --> and <!-- outputs:start --> … <!-- outputs:end -->, and the event
// table (scripts/event-table.mjs) between <!-- events:start --> … <!-- events:end --> in README.md (one row per
// event, default inputs) and in docs/tags.md (every row).
// The inputs are grouped by what they control, each with the type of value it takes (GROUPS below); every input
// of action.yml must be in exactly one group, and every output must have a format (OUTPUT_FORMATS), so a new
// input or output cannot reach action.yml without its place in the README.
//   node scripts/readme-tables.mjs          rewrite README.md and docs/tags.md
//   node scripts/readme-tables.mjs --check  exit 1 when either is out of date
import { readFileSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { renderDocsTables, renderReadmeTable } from './event-table.mjs'

/** A choice among fixed words, as the type column writes it. */
const oneOf = (...words) => ({ choices: words, text: words.map(w => `\`${w}\``).join(' / ') })
const BOOLEAN = oneOf('true', 'false')

/** The inputs, grouped by what they control, in pipeline order; each input with its type. */
export const GROUPS = [
  {
    title: 'What to publish',
    inputs: {
      images: 'list (newline or comma)',
      mode: oneOf('all', 'leg', 'merge', 'check'),
      platforms: 'list (newline or comma)',
      push: oneOf('auto', 'true', 'false'),
      'state-repository': 'repository'
    }
  },
  {
    title: 'Tags',
    inputs: {
      'tag-template': 'template',
      tags: 'list of templates',
      'tag-prefix': 'string',
      'tag-suffix': 'string',
      'platform-tags': BOOLEAN,
      'if-tag-exists': oneOf('suffix', 'overwrite', 'fail'),
      latest: oneOf('true', 'false', 'always')
    }
  },
  {
    title: 'Versions',
    inputs: {
      'go-version': 'version',
      'llvm-version': 'version',
      'k8s-version': 'version',
      'versions-file': 'path',
      'version-args': 'list of `name=ARG`'
    }
  },
  {
    title: 'The build',
    inputs: {
      context: 'path',
      file: 'path',
      target: 'string',
      'build-args': 'lines of `NAME=value`',
      labels: 'lines of `key=value`',
      annotations: 'lines of `[type:]key=value`',
      provenance: '`mode=min` / `mode=max` / `true` / `false`',
      sbom: '`false` / `true` / `generator=IMAGE`',
      secrets: 'lines of `id=value` (secret)',
      'secret-envs': 'lines of `id=ENV_NAME`',
      'secret-files': 'lines of `id=PATH`',
      ssh: 'lines',
      'build-contexts': 'lines of `name=value`',
      network: oneOf('default', 'none', 'host'),
      'add-hosts': 'list of `host:ip`',
      allow: 'list',
      'shm-size': 'size',
      ulimit: 'lines of `type=soft[:hard]`'
    }
  },
  {
    title: 'Cache and reruns',
    inputs: {
      cache: oneOf('auto', 'gha', 'registry', 'inline', 'none'),
      'cache-ref': 'reference',
      'cache-from': 'lines',
      'cache-to': 'lines',
      'no-cache': BOOLEAN,
      pull: BOOLEAN,
      'skip-unchanged': oneOf('auto', 'true', 'false')
    }
  },
  {
    title: 'Logins',
    inputs: {
      registry: 'registry host',
      username: 'string',
      password: 'secret',
      logins: 'YAML list (secret)',
      'github-token': 'secret'
    }
  },
  {
    title: 'QEMU and the builder',
    inputs: {
      qemu: oneOf('auto', 'image', 'host', 'off'),
      'binfmt-image': 'image reference',
      'qemu-compile-check': oneOf('warn', 'error', 'ignore'),
      builder: 'builder name',
      driver: oneOf('docker-container', 'docker'),
      'driver-opts': 'list of `key=value`',
      'buildkit-image': 'image reference',
      'buildkitd-config': 'path',
      'buildx-version': 'version',
      'buildx-download-url': 'URL template'
    }
  },
  {
    title: 'Build nodes',
    inputs: {
      nodes: 'YAML list',
      'nodes-cacert': 'secret (PEM)',
      'nodes-cert': 'secret (PEM)',
      'nodes-key': 'secret (PEM)'
    }
  },
  {
    title: 'Verification',
    inputs: {
      'verify-command': 'command line',
      'verify-timeout': 'seconds',
      'architecture-check': oneOf('error', 'warn', 'off'),
      'architecture-check-skip': 'list of paths (globs)'
    }
  },
  {
    title: 'Signing',
    inputs: {
      sign: BOOLEAN,
      'sign-key': 'secret (PEM)',
      'sign-key-password': 'secret',
      'sign-attestations': BOOLEAN,
      'sign-transparency-log': BOOLEAN,
      'sign-fulcio-url': 'URL',
      'sign-rekor-url': 'URL',
      'cosign-version': 'version / `installed`',
      'cosign-download-url': 'URL template'
    }
  },
  {
    title: 'Registry retries and timeouts',
    inputs: {
      'retry-attempts': 'number (1–10)',
      'retry-delay': 'seconds (0–60)',
      'registry-timeout': 'seconds'
    }
  },
  {
    title: 'The update check (`mode: check`)',
    inputs: {
      update: oneOf('patch', 'minor'),
      'update-versions': BOOLEAN,
      'go-releases-url': 'URL',
      'k8s-releases-url': 'URL',
      'llvm-releases-url': 'URL'
    }
  }
]

/** Each output's format. */
export const OUTPUT_FORMATS = {
  result: '`published` / `unchanged` / `built` / `leg` / `skipped` / `checked` / `failed`',
  pushed: '`true` / `false`',
  platforms: 'JSON array',
  json: 'JSON object',
  digest: '`sha256:…`',
  tag: 'tag',
  tags: 'lines of `image:tag`',
  images: 'lines',
  references: 'lines of `image@sha256:…`',
  versions: 'JSON object',
  'platform-digests': 'JSON object',
  manifest: 'JSON (OCI index)',
  metadata: 'JSON object',
  attestations: 'JSON array',
  moves: 'JSON array',
  signatures: 'JSON array',
  'qemu-platforms': 'comma separated',
  builder: 'builder name',
  'builder-platforms': 'comma separated',
  'built-on': 'JSON object',
  updates: 'JSON array',
  changed: '`true` / `false`'
}

const cell = text => String(text ?? '').trim().replace(/\s*\n\s*/g, ' ').replace(/\|/g, '\\|')
const typeText = type => (typeof type === 'string' ? type : type.text).replace(/\|/g, '\\|')

/** The tables' markdown, from action.yml; throws where action.yml and the groups or formats disagree. */
export function renderTables(action) {
  const declared = Object.keys(action.inputs ?? {})
  const grouped = GROUPS.flatMap(g => Object.keys(g.inputs))
  const problems = [
    ...declared.filter(name => !grouped.includes(name)).map(name => `input "${name}" is in no group of scripts/readme-tables.mjs`),
    ...grouped.filter(name => !declared.includes(name)).map(name => `scripts/readme-tables.mjs groups "${name}", which action.yml does not declare`),
    ...grouped.filter((name, i) => grouped.indexOf(name) !== i).map(name => `input "${name}" is in two groups`),
    ...Object.keys(action.outputs ?? {})
      .filter(name => !(name in OUTPUT_FORMATS))
      .map(name => `output "${name}" has no format in scripts/readme-tables.mjs`),
    ...Object.keys(OUTPUT_FORMATS)
      .filter(name => !(name in (action.outputs ?? {})))
      .map(name => `scripts/readme-tables.mjs has a format for "${name}", which action.yml does not declare`)
  ]
  // a choice's default is one of its words
  for (const group of GROUPS) {
    for (const [name, type] of Object.entries(group.inputs)) {
      const fallback = String(action.inputs?.[name]?.default ?? '')
      if (typeof type !== 'string' && fallback !== '' && !type.choices.includes(fallback)) {
        problems.push(`input "${name}" defaults to "${fallback}", which is not one of its choices ${type.choices.join(', ')}`)
      }
    }
  }
  if (problems.length > 0) throw new Error(`readme-tables: ${problems.join('; ')}`)

  // one table, a row naming each group before its inputs
  const inputs = [
    '| Input | Type | Default | Description |',
    '| --- | --- | --- | --- |',
    ...GROUPS.flatMap(group => [
      `| **${group.title}** | | | |`,
      ...Object.entries(group.inputs).map(([name, type]) => {
        const spec = action.inputs[name]
        const fallback = spec.default === undefined || spec.default === '' ? (spec.required ? '*required*' : '') : `\`${cell(spec.default)}\``
        return `| \`${name}\` | ${typeText(type)} | ${fallback} | ${cell(spec.description)} |`
      })
    ])
  ].join('\n')
  const outputs = [
    '| Output | Format | Description |',
    '| --- | --- | --- |',
    ...Object.entries(action.outputs ?? {}).map(([name, spec]) => `| \`${name}\` | ${typeText(OUTPUT_FORMATS[name])} | ${cell(spec.description)} |`)
  ].join('\n')
  return { inputs, outputs }
}

function replaceBetween(text, marker, body) {
  const start = `<!-- ${marker}:start -->`
  const end = `<!-- ${marker}:end -->`
  const from = text.indexOf(start)
  const to = text.indexOf(end)
  if (from === -1 || to === -1) throw new Error(`no ${start} … ${end} markers`)
  return `${text.slice(0, from + start.length)}\n${body}\n${text.slice(to)}`
}

/** README.md with its tables rewritten from action.yml and the event table. */
export function updatedReadme(readme, action) {
  const { inputs, outputs } = renderTables(action)
  return replaceBetween(replaceBetween(replaceBetween(readme, 'inputs', inputs), 'outputs', outputs), 'events', renderReadmeTable())
}

/** docs/tags.md with its tables rewritten from the event table. */
export function updatedTagsPage(page) {
  return replaceBetween(page, 'events', renderDocsTables())
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
  const action = parse(readFileSync(path.join(root, 'action.yml'), 'utf8'))
  const pages = [
    { file: 'README.md', update: text => updatedReadme(text, action), what: "the inputs/outputs tables (action.yml) or the event table (scripts/event-table.mjs)" },
    { file: path.join('docs', 'tags.md'), update: updatedTagsPage, what: 'the event table (scripts/event-table.mjs)' }
  ]
  let stale = 0
  for (const { file, update, what } of pages) {
    const text = readFileSync(path.join(root, file), 'utf8')
    let updated
    try {
      updated = update(text)
    } catch (error) {
      console.error(`readme-tables: ${file}: ${error.message}`)
      process.exit(1)
    }
    if (!process.argv.includes('--check')) writeFileSync(path.join(root, file), updated)
    else if (updated !== text) {
      console.error(`readme-tables: ${file} differs from ${what}: run 'npm run readme'`)
      stale++
    }
  }
  if (stale > 0) process.exit(1)
  if (process.argv.includes('--check')) console.log('readme-tables: README.md and docs/tags.md match action.yml and the event table')
}
