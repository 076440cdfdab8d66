/**
 * The pipeline of each mode, stage by stage (stages.ts): `all` builds and publishes in one job; `leg` builds its
 * platforms and hands them to the merge without moving a tag; `merge` publishes the legs; `check` looks for newer
 * toolchain releases (check.ts) without docker: no login, no QEMU, no builder. No logic of its own.
 */
import * as core from '@actions/core'
import type { CancelHook } from './core/cancel.js'
import { runCheck } from './check/check.js'
import { createDocker, type Docker } from './core/docker.js'
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
import { MoveJournal } from './publish/transaction.js'

export async function run(docker: Docker = createDocker(), cancel?: CancelHook): Promise<void> {
  saveState(State.IsPost, 'true')
  const phases = new Phases()
  const journal = new MoveJournal()
  // a cancel kills the running command, which fails the pipeline too: the failure is reported once
  let reported: Promise<void> | undefined
  const report = (message: string): Promise<void> => (reported ??= reportFailure(message, phases, journal))
  let cancelled: Promise<void> | undefined
  const unregister = cancel?.(signal => {
    const message = `the job was cancelled (${signal}) during the run`
    core.setFailed(message)
    return (cancelled = report(message))
  })
  try {
    await runMode(docker, phases, journal)
  } catch (error) {
    // a cancel already reported (once) and ends the step; the pipeline's own failure is its consequence
    if (cancelled) return cancelled
    await report(errorMessage(error))
    throw error
  } finally {
    unregister?.()
  }
}

/** Runs the job's mode: the same stages, composed three ways; `check` builds nothing, so needs no job (work directory, login). */
async function runMode(docker: Docker, phases: Phases, journal: MoveJournal): Promise<void> {
  const settings = readJobSettings()
  if (settings.mode === 'check') return runCheck(settings, phases)
  const job = await startJob(docker, phases, journal, settings)
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
