/**
 * What the main step leaves for the post step. Never a secret.
 *
 * The runner keeps a step's state (GITHUB_STATE), but anything the main step runs that prints to stdout can add to
 * it: a build's output or a `verify-command` read as a `save-state` command. So the post step takes one value from
 * the runner's state, the run marker (random, made by the main step), and only to find the work directory the
 * main step made for it: `go-build-action-MARKER` directly in RUNNER_TEMP, a real directory of this user. What
 * the post step acts on it reads from the ledger the main step wrote there (`run-state.json`), which no command
 * reaches; the runner's copy of each value is for the log and the tests, and a value of it the ledger does not
 * hold is ignored, with a warning. A forger who knows this scheme can name only a work directory an action run
 * made and recorded under its own marker: never a directory, builder, context, image or docker config of theirs.
 */
import * as core from '@actions/core'
import { randomBytes } from 'node:crypto'
import { renameSync, writeFileSync } from 'node:fs'
import { lstat, mkdir, readFile, realpath } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'

export const State = {
  /** Set by the main step; the post step is the same bundle started again with this in STATE_isPost. */
  IsPost: 'isPost',
  /** The run marker: the only value the post step takes from the runner's state (it finds the work directory). */
  Run: 'run',
  /** Temporary directory for metadata and secret files; removed by the post step. */
  WorkDir: 'workDir',
  /** JSON list of the registries this action logged into ('' for Docker Hub), in the job's own docker config. */
  Logins: 'logins',
  /** JSON list of image names this action created in the engine's store; removed by the post step. */
  LocalImages: 'localImages',
  /** A buildx builder this action created (docker-container driver); the post step removes it. */
  Builder: 'builder',
  /** JSON list of the builders this action created for its build nodes (nodes.ts); the post step removes them. */
  NodeBuilders: 'nodeBuilders',
  /** A docker context this action created for its docker-driver builder; the post step removes it. */
  DockerContext: 'dockerContext',
  /** The job's own DOCKER_CONFIG (docker-config.ts); the post step's docker commands use it too, then remove it. */
  DockerConfig: 'dockerConfig'
} as const

export type StateName = (typeof State)[keyof typeof State]

/** The values the post step acts on: all but the marker and the post flag. */
const RECORDED = Object.values(State).filter(name => name !== State.IsPost && name !== State.Run)

/** A run marker: 128 random bits, as hex. */
const RUN_MARKER = /^[0-9a-f]{32}$/

/** The ledger's file name in the work directory. */
export const LEDGER = 'run-state.json'

/**
 * What this run names what it creates, its work directory in RUNNER_TEMP, its builder and docker context: the
 * action's prefix and the run marker.
 */
export function ownName(marker: string): string {
  return `go-build-action-${marker}`
}

/** RUNNER_TEMP (the job's temporary directory, emptied by the runner before each job), else the system's. */
function runnerTemp(env: NodeJS.ProcessEnv): string {
  return env.RUNNER_TEMP || tmpdir()
}

/** The ledger of this run (set once its work directory exists): every value saved, by name. */
let ledger: { file: string; values: Record<string, string> } | undefined

/**
 * The run's work directory `RUNNER_TEMP/go-build-action-MARKER` (0700, made here: an existing one fails), with its
 * ledger, and the marker in the runner's state, in that order: the post step never finds a marker without both.
 */
export async function createWorkDir(env: NodeJS.ProcessEnv = process.env, marker: string = randomBytes(16).toString('hex')): Promise<{ workDir: string; marker: string }> {
  const workDir = path.join(await realpath(runnerTemp(env)), ownName(marker))
  await mkdir(workDir, { mode: 0o700 })
  ledger = { file: path.join(workDir, LEDGER), values: { [State.Run]: marker } }
  writeLedger()
  core.saveState(State.Run, marker)
  saveState(State.WorkDir, workDir)
  return { workDir, marker }
}

/** Forgets the ledger of an earlier run in this process (unit tests run many main steps in one process). */
export function resetStateForTests(): void {
  ledger = undefined
}

/** Written whole and renamed into place, synchronously: a cancel or a kill leaves the last complete ledger. */
function writeLedger(): void {
  if (!ledger) return
  const temporary = `${ledger.file}.tmp`
  writeFileSync(temporary, JSON.stringify(ledger.values), { mode: 0o600 })
  renameSync(temporary, ledger.file)
}

/** Saves a value for the post step: in the run's ledger (what the post step acts on) and in the runner's state. */
export function saveState(name: StateName, value: string): void {
  if (ledger) {
    ledger.values[name] = value
    writeLedger()
  }
  core.saveState(name, value)
}

export function saveJsonState(name: StateName, value: unknown): void {
  saveState(name, JSON.stringify(value))
}

export function isPostStep(): boolean {
  return core.getState(State.IsPost) === 'true'
}

/** What the post step may act on: this run's work directory and the values its ledger holds. */
export interface RunState {
  /** The work directory the main step made; undefined: none was found, and the post step does nothing. */
  workDir?: string
  marker?: string
  /** The ledger's values (what the main step saved), by name. */
  values: Partial<Record<StateName, string>>
  /** What was refused or ignored, for the post step's warnings (never quoting a value). */
  problems: string[]
}

/** A value as the runner's state holds it (STATE_name). */
function runnerValue(name: StateName): string {
  return core.getState(name)
}

/**
 * The post step's view of the state: the work directory the runner's marker names, if the main step made it
 * (directly in RUNNER_TEMP, resolved, a directory and not a link, this user's, holding a ledger with that
 * marker), and the ledger's values. Every value of the runner's state the ledger does not hold is a problem,
 * and ignored.
 */
export async function readRunState(env: NodeJS.ProcessEnv = process.env): Promise<RunState> {
  const marker = runnerValue(State.Run)
  const found = marker ? await findLedger(marker, env) : undefined
  const run: Omit<RunState, 'problems'> = found && 'workDir' in found ? { workDir: found.workDir, marker, values: found.values } : { values: {} }
  const problems = found && 'problem' in found ? [found.problem] : []
  for (const name of RECORDED) {
    const value = runnerValue(name)
    if (value !== '' && value !== run.values[name]) {
      problems.push(`the state "${name}" holds a value this run's main step did not record (something other than the action wrote the step's state): ignored`)
    }
  }
  return { ...run, problems }
}

async function findLedger(marker: string, env: NodeJS.ProcessEnv): Promise<{ workDir: string; values: Partial<Record<StateName, string>> } | { problem: string }> {
  const refused = (why: string): { problem: string } => ({ problem: `the state "run" ${why}: nothing of this run is removed` })
  if (!RUN_MARKER.test(marker)) return refused('is not a run marker of this action')
  let workDir: string
  try {
    workDir = path.join(await realpath(runnerTemp(env)), ownName(marker))
  } catch {
    return refused(`names a work directory in ${runnerTemp(env)}, which does not exist`)
  }
  const info = await lstat(workDir).catch(() => undefined)
  const uid = process.getuid?.()
  if (!info?.isDirectory() || (uid !== undefined && info.uid !== uid)) return refused('names no work directory this run made')
  const file = path.join(workDir, LEDGER)
  let values: unknown
  try {
    if ((await lstat(file)).isFile()) values = JSON.parse(await readFile(file, 'utf8'))
  } catch {
    // no ledger, or not JSON: refused below
  }
  if (typeof values !== 'object' || values === null) return refused('names a work directory without a readable ledger')
  const recorded = values as Record<string, unknown>
  if (recorded[State.Run] !== marker) return refused('does not match the ledger of the work directory it names')
  const strings = Object.fromEntries(RECORDED.filter(name => typeof recorded[name] === 'string').map(name => [name, recorded[name] as string]))
  return { workDir, values: strings }
}

/** A JSON list saved with {@link saveJsonState}; [] when absent or unreadable. */
export function listValue(value: string | undefined): string[] {
  try {
    const parsed = JSON.parse(value || '[]') as unknown
    return Array.isArray(parsed) ? parsed.filter((v): v is string => typeof v === 'string') : []
  } catch {
    return []
  }
}
