/**
 * The pipeline of each mode, stage by stage (stages.ts): `all` builds and publishes in one job; `leg` builds its
 * platforms and hands them to the merge without moving a tag; `merge` publishes the legs; `check` looks for newer
 * toolchain releases (check.ts) without docker: no login, no QEMU, no builder. No logic of its own.
 */
import * as core from '@actions/core'
import type { CancelHook } from './core/cancel.js'
import { runCheck } from './check/check.js'
import { cancelWindowMs, createDocker, type Docker } from './core/docker.js'
import { errorMessage } from './core/errors.js'
import { completeOutputs, failureOutputs, setOutputs } from './report/outputs.js'
import { Phases } from './core/phases.js'
import type { Mode } from './settings.js'
import { saveState, State } from './core/state.js'
import {
  build,
  collect,
  earlierLegOfThisRun,
  handOff,
  logIn,
  mergeLegs,
  moveTags,
  notBuilding,
  prepareSigning,
  published,
  readJobSettings,
  report,
  setUpBuild,
  sign,
  skipIfUnchanged,
  stage,
  startJob,
  unpublished,
  verifyLegs,
  verifyStaged,
  versionsAndTags,
  type Job
} from './stages.js'
import { writeFailureSummary } from './report/summary.js'
import { MoveError, MoveJournal } from './publish/transaction.js'

/** `runnerFor`: how another tool (cosign) is run, as `docker` is: the exec wrapper; unit tests pass fakes of both CLIs. */
export async function run(docker: Docker = createDocker(), cancel?: CancelHook, runnerFor: (binary: string) => Docker = createDocker): Promise<void> {
  saveState(State.IsPost, 'true')
  const phases = new Phases()
  const journal = new MoveJournal()
  // a cancel kills the running command, which fails the pipeline too: the failure is reported once
  let reported: Promise<void> | undefined
  const report = (message: string): Promise<void> => (reported ??= reportFailure(message, phases, journal))
  let pipeline: Promise<void> = Promise.resolve()
  let cancelled: Promise<void> | undefined
  const unregister = cancel?.(signal => (cancelled ??= reportCancel(signal, pipeline, report)))
  try {
    pipeline = runMode(docker, phases, journal, runnerFor)
    await pipeline
  } catch (error) {
    // a cancel reports (once) and ends the step; the pipeline's own failure is its consequence
    if (cancelled) return
    await report(errorMessage(error))
    throw error
  } finally {
    // a cancel that came while the run ended is still reported, and a second signal still finds the handler
    if (cancelled) await cancelled
    unregister?.()
  }
}

/**
 * A cancelled job: the pipeline's commands are killed; a run that was moving tags puts back what it moved (within
 * the cancel's window, transaction.ts) and says where every tag ended. Waits for that (never past the window), then
 * fails the step once and reports.
 */
async function reportCancel(signal: string, pipeline: Promise<void>, report: (message: string) => Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const windowEnds = new Promise<undefined>(resolve => (timer = setTimeout(resolve, cancelWindowMs() + CANCEL_REPORT_MARGIN_MS, undefined)))
  const ended = await Promise.race([pipeline.then(() => undefined, (error: unknown) => error), windowEnds])
  clearTimeout(timer)
  const moves = ended instanceof MoveError ? `: ${ended.message}` : ''
  const message = `the job was cancelled (${signal}) during the run${moves}`
  core.setFailed(message)
  await report(message)
}

/** How long past the cancel's window the report waits for the pipeline to end (its last read-back). */
const CANCEL_REPORT_MARGIN_MS = 500

/** Runs the job's mode: the same stages, composed three ways; `check` builds nothing, so needs no job (work directory, login). */
async function runMode(docker: Docker, phases: Phases, journal: MoveJournal, runnerFor: (binary: string) => Docker): Promise<void> {
  const settings = readJobSettings()
  if (settings.mode === 'check') return runCheck(settings, phases)
  const job = await startJob(docker, phases, journal, settings, runnerFor)
  await logIn(job)
  await MODE_PIPELINES[settings.mode](job)
}

const MODE_PIPELINES: Record<Exclude<Mode, 'check'>, (job: Job) => Promise<void>> = { all, leg, merge }

/**
 * One job: versions and tags (a release event that is not a release going out stops here) → signing ready → skip
 * if unchanged → QEMU → builder → build → push by digest → verify → sign → move tags → report.
 */
async function all(job: Job): Promise<void> {
  const tagged = await versionsAndTags(job)
  if (!tagged.plan.build) return notBuilding(tagged)
  const signer = await prepareSigning(job, tagged.plan.push)
  if (await skipIfUnchanged(job, tagged, signer)) return
  const built = await build(job, tagged, await setUpBuild(job, tagged))
  if (!tagged.plan.push) return report(job, unpublished(built.metadata), tagged, [], built)
  const staged = await stage(job, built)
  const verified = await verifyStaged(job, staged, built)
  const signing = await sign(job, signer, staged, verified)
  const records = await moveTags(job, staged, verified, tagged.plan, built)
  await report(job, published(staged, verified, records, built.metadata), tagged, verified.platforms, built, undefined, signing)
}

/** One runner's platforms: the same tags as `all` → signing ready → build → push by digest → verify → hand off (signed); no tag moves. */
async function leg(job: Job): Promise<void> {
  const tagged = await versionsAndTags(job, await earlierLegOfThisRun(job))
  if (!tagged.plan.build) return notBuilding(tagged)
  const signer = await prepareSigning(job, tagged.plan.push)
  const built = await build(job, tagged, await setUpBuild(job, tagged))
  if (!tagged.plan.push) return report(job, unpublished(built.metadata), tagged, [], built)
  const staged = await stage(job, built)
  const verified = await verifyStaged(job, staged, built)
  const records = await handOff(job, staged, tagged, built, verified, signer)
  await report(job, published(staged, verified, [], built.metadata), tagged, verified.platforms, built, { role: 'leg', records })
}

/**
 * The legs of this run → their signatures verified → one index (no rebuild) → verify → sign → move tags, as `all`
 * does → report with the legs.
 */
async function merge(job: Job): Promise<void> {
  const collected = await collect(job)
  if (!collected) return
  const tagged = await versionsAndTags(job, collected)
  const signer = await prepareSigning(job, tagged.plan.push)
  await verifyLegs(job, collected, signer)
  const { staged, plan } = await mergeLegs(job, collected, tagged)
  // no build here: the architecture check and the verify command ran in each leg, natively on a native runner
  const verified = await verifyStaged(job, staged)
  const signing = await sign(job, signer, staged, verified)
  const records = await moveTags(job, staged, verified, plan)
  await report(job, published(staged, verified, records), tagged, verified.platforms, undefined, { role: 'merge', records: collected.legs }, signing)
}

/** A failed run's outputs and summary: where every tag this run was moving ended. Writing them never fails the step twice. */
async function reportFailure(message: string, phases: Phases, journal: MoveJournal): Promise<void> {
  const records = journal.snapshot()
  try {
    setOutputs(failureOutputs(records, message))
    completeOutputs()
  } catch (error) {
    core.warning(`could not set the outputs: ${errorMessage(error)}`)
  }
  await writeFailureSummary(message, phases.timings, records).catch((error: unknown) => {
    core.warning(`could not write the job summary: ${errorMessage(error)}`)
  })
}
