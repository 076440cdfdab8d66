#!/usr/bin/env node
// The end of `npm run demo`: reads what `scripts/run-action.mjs` printed (exit codes, outputs, job summary), writes
// the step outputs (parsed) to DIR/outputs.json and the job summary to DIR/summary.md, and prints a short result.
//
//   node scripts/demo-result.mjs --run RUN.json --out DIR --image IMAGE [--seconds N] [--path hosted|engine]
//
// Outputs are read by name and each one is optional, so outputs added or renamed later do not break the demo.
// Exits 0 when both steps succeeded, else 1.
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'

/** Outputs action.yml documents as lists: newline separated, or comma separated (the platform lists). */
const lineLists = new Set(['tags', 'images', 'references'])
const commaLists = new Set(['qemu-platforms', 'builder-platforms'])

/**
 * One output value as a reader wants it: the documented lists as arrays (always, so one item or none keeps the
 * type), JSON objects and arrays decoded, `true`/`false` as booleans, everything else as the string it is.
 */
export function parseOutputValue(name, value) {
  if (lineLists.has(name) || commaLists.has(name)) {
    return value
      .split(lineLists.has(name) ? '\n' : ',')
      .map(item => item.trim())
      .filter(item => item !== '')
  }
  const text = value.trim()
  if (text === 'true') return true
  if (text === 'false') return false
  if (text.startsWith('{') || text.startsWith('[')) {
    try {
      return JSON.parse(text)
    } catch {
      // not JSON after all: kept as it is
    }
  }
  return value
}

/** Every step output parsed with parseOutputValue, in the order the action set them. */
export function parseOutputs(outputs) {
  return Object.fromEntries(Object.entries(outputs).map(([name, value]) => [name, parseOutputValue(name, value)]))
}

/** `sha256:` and the first 12 hex digits, as `docker images` shows a digest. */
export function shortDigest(digest) {
  const match = /^(sha256:)?([0-9a-f]{12})[0-9a-f]*$/.exec(digest)
  return match ? `${match[1] ?? ''}${match[2]}` : digest
}

/** Seconds as the job summary writes times: `8.4 s`, `2 min 5 s`. */
export function formatSeconds(seconds) {
  if (seconds < 60) return `${seconds.toFixed(1)} s`
  const whole = Math.round(seconds)
  return `${Math.floor(whole / 60)} min ${whole % 60} s`
}

function list(value) {
  if (value === undefined || value === '') return []
  if (Array.isArray(value)) return value.map(String)
  return String(value)
    .split(/[\n,]/)
    .map(item => item.trim())
    .filter(item => item !== '')
}

/**
 * The demo's result lines from a run (`exitCode`, `postExitCode`, `outputs` as parsed by parseOutputs).
 * `image` is the repository the demo asked for, used when no output names one; `files` are the paths written.
 */
export function resultLines({ exitCode, postExitCode, outputs, image, seconds, runnerPath, files }) {
  const ok = exitCode === 0 && postExitCode === 0
  // `images`: `repository@digest` today, the repositories alone in later versions; the first one either way
  const repository = list(outputs.images)[0]?.split('@')[0] || image
  const tag = typeof outputs.tag === 'string' ? outputs.tag : ''
  const digest = typeof outputs.digest === 'string' ? outputs.digest : ''
  const platforms = list(outputs.platforms).length
    ? list(outputs.platforms)
    : Object.keys(outputs['platform-digests'] ?? {})
  const emulated = list(outputs['qemu-platforms'])
  const references = list(outputs.tags)

  // the `result` output where the action sets one, else what the exit codes and the list of tag moves say
  let result = typeof outputs.result === 'string' && outputs.result ? outputs.result : ok ? 'succeeded' : 'failed'
  if (result === 'succeeded' && Array.isArray(outputs.moves) && outputs.moves.length === 0) {
    result = 'succeeded; no tag moved (the summary says why)'
  }
  if (!ok) {
    const post = postExitCode ?? 'not run'
    const codes = `main step exit ${exitCode ?? 'unknown'}, post step exit ${post} (the log above says why)`
    result += result === 'failed' ? `: ${codes}` : `, but the run failed: ${codes}`
  }
  const rows = [['result', result]]
  if (runnerPath) rows.push(['path', runnerPath])
  rows.push(['image', repository])
  if (tag) {
    const more = references.length > 1 ? ` (${references.length} references in all, in outputs.json)` : ''
    rows.push(['tag', `${tag}${more}`])
  }
  if (digest) rows.push(['digest', `${shortDigest(digest)} (the index; full digest in outputs.json)`])
  if (platforms.length) {
    const short = emulated.map(platform => platform.replace(/^linux\//, ''))
    const through = emulated.length ? ` (${short.join(', ')} run through QEMU here)` : ''
    rows.push(['platforms', `${platforms.join(', ')}${through}`])
  }
  if (seconds !== undefined) rows.push(['time', `${formatSeconds(seconds)} (the action's main and post steps)`])
  if (ok && tag && digest) {
    const tryPlatform = platforms.includes('linux/s390x') ? 'linux/s390x' : (emulated.at(-1) ?? platforms[0])
    const platformFlag = tryPlatform ? ` --platform ${tryPlatform}` : ''
    rows.push(['try', `docker run --rm${platformFlag} ${repository}:${tag}`])
  }
  if (files?.length) {
    rows.push(['wrote', files[0]])
    for (const file of files.slice(1)) rows.push(['', file])
  }
  const width = Math.max(...rows.map(([label]) => label.length))
  return rows.map(([label, text]) => `  ${label.padEnd(width)}  ${text}`)
}

function parseArgs(argv) {
  const args = {}
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i]
    const value = argv[i + 1]
    if (!name?.startsWith('--') || value === undefined) {
      throw new Error(`expected --name value, got ${argv.slice(i).join(' ')}`)
    }
    args[name.slice(2)] = value
  }
  for (const required of ['run', 'out', 'image']) if (!args[required]) throw new Error(`--${required} is required`)
  return args
}

async function cli(argv) {
  const args = parseArgs(argv)
  const text = await readFile(args.run, 'utf8')
  let run
  try {
    run = JSON.parse(text)
  } catch {
    process.stderr.write(`demo: the action run printed no result (run-action.mjs failed; see above)\n`)
    return 1
  }
  const outputs = parseOutputs(run.outputs ?? {})
  await mkdir(args.out, { recursive: true })
  const files = [
    [path.join(args.out, 'outputs.json'), `${JSON.stringify(outputs, null, 2)}\n`, 'the step outputs, parsed'],
    [path.join(args.out, 'summary.md'), run.summary ?? '', 'the job summary, as GITHUB_STEP_SUMMARY received it']
  ]
  for (const [file, content] of files) await writeFile(file, content)
  const seconds = args.seconds === undefined ? undefined : Number(args.seconds)
  const lines = resultLines({
    exitCode: run.exitCode,
    postExitCode: run.postExitCode,
    outputs,
    image: args.image,
    seconds: Number.isFinite(seconds) ? seconds : undefined,
    runnerPath: args.path,
    files: files.map(([file, , what]) => `${file} (${what})`)
  })
  process.stdout.write(`\ngo-build-action demo:\n${lines.join('\n')}\n`)
  return run.exitCode === 0 && run.postExitCode === 0 ? 0 : 1
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  cli(process.argv.slice(2)).then(
    code => process.exit(code),
    error => {
      process.stderr.write(`demo-result: ${error.message}\n`)
      process.exit(2)
    }
  )
}
