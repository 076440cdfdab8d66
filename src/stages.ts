/**
 * The pipeline's stages, each a phase (a log group, timed for the summary) that calls its domain's module. main.ts
 * composes them into the three modes; no stage belongs to one mode.
 */
import * as core from '@actions/core'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { checkBuildFiles, chooseOutput, engineLoadsIndexes, runBuild, writeSecretFiles, type BuildMetadata, type BuildOutput } from './build.js'
import { resolveCache } from './cache.js'
import { checkArchitectures } from './architecture.js'
import { Cleanup } from './cleanup.js'
import { buildTimesFromProgress, type PlatformBuildTime } from './build-times.js'
import { setUpBuilder, type BuilderResult } from './builder.js'
import { installBuildx } from './buildx-install.js'
import type { Docker } from './docker.js'
import { checkEmulation } from './emulation.js'
import { errorMessage } from './errors.js'
import { contextListing, fingerprintAnnotationArg, type ContextEntry } from './fingerprint.js'
import {
  collectLegs,
  createMergedIndex,
  describeRunner,
  ownEarlierPublish,
  readLegRecord,
  readWorkflowRun,
  recordLeg,
  type CollectedLegs,
  type LegRecord
} from './handoff.js'
import { directoryLayerCache } from './layer-cache.js'
import { logInAll, loginBackupFile } from './login.js'
import { OciLayout } from './oci-layout.js'
import { Output, reportOutputs, setOutputs } from './outputs.js'
import { PUBLISH_PHASE, type Phases } from './phases.js'
import { formatPlatform } from './platform.js'
import { copyByDigest, stageIndex, stagingTag, type PublishResult, type StagedIndex } from './publish.js'
import { setUpQemu } from './qemu.js'
import { platformDigests } from './registry.js'
import { readSettings, type Settings } from './settings.js'
import { saveJsonState, saveState, State } from './state.js'
import { writeSummary, type LegsSummary } from './summary.js'
import { executeMoves, planMoves, type MoveJournal, type MoveRecord } from './transaction.js'
import { annotationArgs, buildTime, labelArgs, planTags, readGitHubContext, shouldPush, type TagPlan } from './tags.js'
import { runVerifyCommand, verifyStagedIndex, type PlatformReport, type VerifiedIndex } from './verify.js'
import { checkUnchanged, fingerprintOrWarn, fingerprintRequest, reportUnchanged } from './unchanged.js'
import { resolveVersions, versionValues, withVersionBuildArgs, type Versions } from './versions.js'

/** One run of the action: what every stage needs. */
export interface Job {
  docker: Docker
  settings: Settings
  phases: Phases
  journal: MoveJournal
  workDir: string
  /** What the run removes as soon as it is no longer needed (cleanup.ts). */
  cleanup: Cleanup
  /** The build context's listing for the fingerprint, begun at the start so it runs beside the logins and the version reads. */
  contextListing?: Promise<ContextEntry[]>
}

/** Inputs read and checked, secrets masked, a work directory. */
export async function startJob(docker: Docker, phases: Phases, journal: MoveJournal): Promise<Job> {
  const settings = readSettings(name => core.getInput(name), secret => core.setSecret(secret))
  maskSecrets(settings)
  const workDir = await mkdtemp(path.join(process.env.RUNNER_TEMP || tmpdir(), 'go-build-action-'))
  saveState(State.WorkDir, workDir)
  await checkBuildFiles(settings.context, settings.file)
  // a merge builds nothing and a run that does not push compares nothing: neither needs the context hashed
  const listing = settings.mode !== 'merge' && shouldPush(settings.tagging.push, readGitHubContext()) ? contextListing(settings.context, settings.file) : undefined
  // awaited by the fingerprint; a failure there is its warning, never an unhandled rejection here
  listing?.catch(() => undefined)
  return { docker, settings, phases, journal, workDir, cleanup: new Cleanup(docker), contextListing: listing }
}

export async function logIn({ docker, settings, phases, workDir }: Job): Promise<void> {
  await phases.run('Log in', () =>
    logInAll(docker, settings.logins, settings.retry, registries => saveJsonState(State.Logins, registries), loginBackupFile(workDir))
  )
}

export interface Tagged {
  versions: Versions
  plan: TagPlan
  fingerprint?: string
}

/**
 * Versions and the tag plan. `decided`: the main tag this workflow run already decided (a re-run leg, the merge),
 * with the `created` time its images carry.
 */
export async function versionsAndTags(job: Job, decided?: { tag: string; created: string }): Promise<Tagged> {
  const { docker, settings, phases } = job
  const tagged = await phases.run('Versions and tags', async () => {
    const versions = await resolveVersions(settings.versions, settings.file)
    for (const [name, version] of Object.entries(versions.resolved)) core.info(`${name} ${version.value} (from ${version.source})`)
    const github = readGitHubContext()
    const request = { ...fingerprintRequest(settings, withVersionBuildArgs(settings.buildArgs, versions), versionValues(versions)), listing: job.contextListing }
    const fingerprint = shouldPush(settings.tagging.push, github) && !decided ? (await fingerprintOrWarn(docker, request, settings.retry))?.value : undefined
    const created = decided?.created ? new Date(decided.created) : buildTime(settings.buildArgs)
    const plan = await planTags(docker, { ...settings, fingerprint, decidedTag: decided?.tag }, versions, github, created)
    core.info(`main tag ${plan.tag}; ${plan.push ? 'pushing' : 'not pushing'}`)
    return { versions, plan, fingerprint }
  })
  setOutputs({ [Output.Tag]: tagged.plan.tag, [Output.Versions]: JSON.stringify(versionValues(tagged.versions)) })
  return tagged
}

/**
 * Skip unchanged (unchanged.ts): when the published tag holds this build's fingerprint, its further index tags
 * move to it (as a transaction) and every output comes from the registry. Returns whether the run is done.
 */
export async function skipIfUnchanged(job: Job, { plan, fingerprint }: Tagged): Promise<boolean> {
  const { docker, settings, phases, journal } = job
  if (!plan.push || !fingerprint) return false
  if (settings.force) {
    core.info('force: true: building and publishing whatever the registry holds')
    return false
  }
  const request = { repositories: settings.images, fingerprint, platforms: settings.platforms, plan, rebuild: settings.tagging.rebuild }
  const answer = await phases.run('Compare with the published tag', async () => {
    const checked = await checkUnchanged(docker, request, settings.retry)
    reportUnchanged(checked)
    return checked
  })
  if (!answer.unchanged) return false
  if (answer.extraTags.length > 0) {
    const staged = { digest: answer.result.digest, repositories: settings.images }
    answer.result.moves = await phases.run(PUBLISH_PHASE, async () => {
      const movePlan = await planMoves(docker, staged, { indexTags: answer.extraTags, platformTags: {}, seen: {} }, {}, settings.retry, journal)
      return executeMoves(docker, movePlan, settings.retry, journal)
    })
  }
  await core.group('Report', async () => {
    reportOutputs(answer.result, answer.tag)
    await writeSummary(answer.result, [], phases.timings, [], `skipped: unchanged: ${answer.tag} already holds this build`)
  })
  return true
}

/** Where the build runs: the builder, and the runner's architecture (what QEMU emulates is the rest). */
export interface BuildEnvironment {
  builder: BuilderResult
  hostArch: string
}

/** QEMU where the platforms need it, the emulation advisor, a pinned buildx if asked, the builder. */
export async function setUpBuild({ docker, settings, phases }: Job, { versions }: Tagged): Promise<BuildEnvironment> {
  const qemu = await phases.run('Set up QEMU', () => setUpQemu(docker, settings.qemu, settings.platforms))
  setOutputs({ [Output.QemuPlatforms]: qemu.emulated.map(formatPlatform).join(',') })
  if (settings.emulation !== 'ignore') {
    await phases.run('Check the Dockerfile for compiles under QEMU', () =>
      checkEmulation({
        mode: settings.emulation,
        file: settings.file,
        context: settings.context,
        buildArgs: withVersionBuildArgs(settings.buildArgs, versions),
        platforms: settings.platforms,
        hostArchitecture: qemu.hostArch,
        target: settings.target || undefined
      })
    )
  }
  if (settings.buildx.version) await phases.run('Install buildx', () => installBuildx(docker, settings.buildx))
  const builder = await phases.run('Set up the builder', () => setUpBuilder(docker, settings.builder, settings.platforms, qemu.emulated))
  setOutputs({ [Output.Builder]: builder.name, [Output.BuilderPlatforms]: builder.platforms.join(',') })
  return { builder, hostArch: qemu.hostArch }
}

export interface Built {
  output: BuildOutput
  metadata: BuildMetadata
  /** How long the build took. */
  seconds: number
  /** Per-platform build time from BuildKit's step records. */
  buildTimes: PlatformBuildTime[]
  /** The runner's architecture. */
  hostArch: string
  /** The build's local export (an OCI layout directory), which the architecture check reads. */
  layout: string
}

/**
 * Builds every platform (pushed by digest, or loaded into the engine) with a local export beside it, then runs the
 * verify command on a loaded image. A build that does not push is verified here: loaded into the engine where the
 * verify command needs it, and the architecture check on the local export.
 */
export async function build(job: Job, { versions, plan, fingerprint }: Tagged, { builder, hostArch }: BuildEnvironment): Promise<Built> {
  const { docker, settings, phases, workDir, cleanup } = job
  const [firstRepository] = settings.images as [string, ...string[]]
  const verifyHere = !plan.push && settings.verifyCommand.length > 0 && builder.driver !== 'docker'
  const load = verifyHere && (await engineLoadsIndexes(docker))
  if (verifyHere && !load) {
    core.warning(
      'input "verify-command" is skipped on this build that does not push: the engine cannot load a multi-platform image (it needs the containerd image store); the architecture check still runs on every platform'
    )
  }
  const output = chooseOutput(builder.driver, plan.push, firstRepository, `${firstRepository}:${stagingTag()}`, load)
  if (output.kind === 'load') cleanup.created([output.name])
  const layout = path.join(workDir, 'layout')
  const started = Date.now()
  const metadata = await phases.run(`Build ${settings.platforms.length} platform${settings.platforms.length === 1 ? '' : 's'}`, async () => {
    const cache = await resolveCache(docker, settings.cache, {
      driver: builder.driver,
      firstRepository,
      platforms: settings.platforms,
      previousReference: plan.previous?.reference,
      noCache: settings.noCache
    })
    return runBuild(
      docker,
      {
        context: settings.context,
        file: settings.file,
        platforms: settings.platforms,
        output,
        buildArgs: withVersionBuildArgs(settings.buildArgs, versions),
        metadataFile: path.join(workDir, 'metadata.json'),
        builder: builder.name,
        dockerContext: builder.dockerContext,
        target: settings.target || undefined,
        labels: [...labelArgs(plan.labels), ...settings.labels],
        annotations: [...annotationArgs(plan.annotations), ...(fingerprint ? [fingerprintAnnotationArg(fingerprint)] : []), ...settings.annotations],
        secretFiles: await writeSecretFiles(workDir, settings.secrets),
        cacheFrom: cache.from,
        cacheTo: cache.to,
        noCache: settings.noCache,
        pull: settings.pull,
        provenance: settings.provenance,
        sbom: settings.sbom,
        layout
      },
      settings.retry
    )
  })
  const seconds = (Date.now() - started) / 1000
  const buildTimes = buildTimesFromProgress(metadata.progress ?? '', settings.platforms, hostArch)
  if (output.kind === 'load' && settings.verifyCommand.length > 0) {
    await phases.run('Verify locally, before anything is pushed', () =>
      runVerifyCommand(docker, output.name, settings.platforms, settings.verifyCommand, false, settings.verifyTimeoutSeconds)
    )
  }
  const built = { output, metadata, seconds, buildTimes, hostArch, layout }
  if (!plan.push) {
    // nothing goes to a registry: the loaded image and the local export are done with once checked
    if (output.kind === 'load') cleanup.removeImages([output.name])
    try {
      await phases.run('Check the architectures (not pushed)', () => checkBuiltArchitectures(job, built))
    } finally {
      cleanup.removeDirectory(layout)
    }
  }
  return built
}

/** The architecture check on the build's local export; `expected`: the platform digests a registry serves. */
function checkBuiltArchitectures({ settings }: Job, built: Built, expected?: Record<string, string>): Promise<unknown> {
  return checkArchitectures(new OciLayout(built.layout), built.hostArch, { expected, cache: directoryLayerCache(), retry: settings.retry })
}

/** The built index into every repository, by digest: no tag users pull moves. */
export async function stage({ docker, settings, phases }: Job, { output, metadata }: Built): Promise<StagedIndex> {
  return phases.run('Push (by digest, no tag moves)', () => stageIndex(docker, output, metadata.digest, settings.images, settings.retry))
}

/**
 * Reads the staged index back from every repository (platforms, configs). What this job `built` is also checked
 * for its executables' architecture, and runs the verify command in each platform's image unless it ran on the
 * loaded image already.
 */
export async function verifyStaged(job: Job, staged: StagedIndex, built?: Built): Promise<VerifiedIndex> {
  const { docker, settings, phases, cleanup } = job
  return phases.run('Verify what the registries hold', async () => {
    const checked = await verifyStagedIndex(docker, staged.repositories, staged.digest, settings.platforms, settings.retry)
    const [first = ''] = staged.repositories
    if (built) {
      // the registry serves these digests (content hashes): reading the local export checks the same bytes
      try {
        await checkBuiltArchitectures(job, built, platformDigests(checked.index.index))
      } finally {
        cleanup.removeDirectory(built.layout)
      }
    }
    if (built && built.output.kind !== 'load' && settings.verifyCommand.length > 0) {
      const image = `${first}@${staged.digest}`
      // pulled for the verify command only: removed once it ran, unless the engine held it before this run
      const pulled = (await docker.run(['image', 'inspect', '--format', '{{.Id}}', image], { silent: true, allowFailure: true })).exitCode !== 0
      if (pulled) cleanup.created([image])
      try {
        await runVerifyCommand(docker, image, settings.platforms, settings.verifyCommand, true, settings.verifyTimeoutSeconds)
      } finally {
        if (pulled) cleanup.removeImages([image])
      }
    }
    return checked
  })
}

/**
 * The transaction: plan every move, move per-platform tags then index tags, read them back (transaction.ts). The
 * engine's local names (of `built`, and of the moves) are removed once the moves are read back, while the run
 * reports; what a failed run leaves is the post step's.
 */
export async function moveTags(job: Job, staged: StagedIndex, verified: VerifiedIndex, plan: TagPlan, built?: Built): Promise<MoveRecord[]> {
  const { docker, settings, phases, journal, cleanup } = job
  const localNames = built?.output.kind === 'load' ? [built.output.name] : []
  return phases.run(PUBLISH_PHASE, async () => {
    let done = false
    try {
      const movePlan = await planMoves(docker, staged, plan, platformDigests(verified.index.index), settings.retry, journal)
      cleanup.created(journal.localNames)
      core.info(`${movePlan.moves.length} tag(s) to move: ${movePlan.moves.map(m => `${m.reference} (${m.previous || 'new'})`).join(', ')}`)
      const records = await executeMoves(docker, movePlan, settings.retry, journal)
      done = true
      return records
    } finally {
      cleanup.created(journal.localNames)
      if (done) cleanup.removeImages([...localNames, ...journal.localNames])
    }
  })
}

/** A leg: records its staged index for the merge, under the fixed per-platform tags (handoff.ts). */
export async function handOff({ docker, settings, phases, cleanup }: Job, staged: StagedIndex, { plan }: Tagged, built: Built): Promise<LegRecord[]> {
  // pushed and verified: a leg moves no tag, so the engine's loaded image is done with
  if (built.output.kind === 'load') cleanup.removeImages([built.output.name])
  return phases.run('Hand off to the merge', () =>
    recordLeg(
      docker,
      staged.repositories[0] ?? '',
      staged.digest,
      settings.platforms,
      {
        run: readWorkflowRun(settings.mode),
        runner: describeRunner(),
        buildSeconds: built.seconds,
        tag: plan.tag,
        created: plan.annotations['org.opencontainers.image.created'] ?? ''
      },
      settings.retry
    )
  )
}

/**
 * A re-run leg takes the main tag its platform's leg of this run decided (the first attempt's merge may have
 * published it since): the tag is decided once per workflow run.
 */
export async function earlierLegOfThisRun({ docker, settings }: Job): Promise<{ tag: string; created: string } | undefined> {
  const run = readWorkflowRun(settings.mode)
  const [first] = settings.images
  const [platform] = settings.platforms
  if (!first || !platform || run.attempt === 1) return undefined
  const earlier = await readLegRecord(docker, first, platform, settings.retry)
  if (earlier?.run.id !== run.id) return undefined
  core.info(`attempt ${run.attempt}: ${earlier.platform}'s leg of attempt ${earlier.run.attempt} decided the main tag ${earlier.tag}`)
  return { tag: earlier.tag, created: earlier.created }
}

/** The merge: every platform's leg of this run, or an error naming the missing ones; undefined when not pushing. */
export async function collect({ docker, settings, phases }: Job): Promise<CollectedLegs | undefined> {
  const run = readWorkflowRun(settings.mode)
  const github = readGitHubContext()
  if (!shouldPush(settings.tagging.push, github)) {
    core.info(`not pushing (push: ${settings.tagging.push}, event ${github.eventName || 'unknown'}): the legs pushed nothing, so there is nothing to merge`)
    return undefined
  }
  return phases.run(`Collect ${settings.platforms.length} legs`, () => collectLegs(docker, settings.images[0] ?? '', settings.platforms, run, settings.retry))
}

/**
 * The merge: the index of the legs' manifests, in every repository by digest (no rebuild, no tag users pull), and
 * the tag plan with the main tag as the transaction may find it (free, or published by an earlier attempt of this run).
 */
export async function mergeLegs(job: Job, collected: CollectedLegs, { plan }: Tagged): Promise<{ staged: StagedIndex; plan: TagPlan }> {
  const { docker, settings, phases } = job
  const run = readWorkflowRun(settings.mode)
  return phases.run('Create the index from the legs', async () => {
    const [first] = settings.images as [string, ...string[]]
    const digest = await createMergedIndex(docker, first, collected.legs, plan.annotations, run, settings.retry)
    await copyByDigest(docker, first, digest, settings.images, settings.retry)
    core.info(`index ${digest} of ${collected.legs.length} legs`)
    const seen = await ownEarlierPublish(docker, plan.seen, run, settings.retry)
    return { staged: { digest, repositories: [...settings.images] }, plan: { ...plan, seen } }
  })
}

/** What a run that pushed nothing reports. */
export function unpublished(metadata: BuildMetadata, digest = metadata.digest ?? ''): PublishResult {
  return { pushed: false, references: [], digest, pinned: [], platformDigests: {}, manifest: '', attestations: [], metadata, moves: [] }
}

/** What a run published, or (a leg) pushed by digest without a tag; a merge built nothing, so has no build metadata. */
export function published(
  staged: StagedIndex,
  verified: VerifiedIndex,
  records: readonly MoveRecord[],
  metadata: BuildMetadata = { imageNames: [], raw: {} }
): PublishResult {
  return {
    pushed: true,
    references: [...records.filter(r => r.kind === 'index'), ...records.filter(r => r.kind === 'platform')].map(r => r.reference),
    digest: staged.digest,
    pinned: staged.repositories.map(r => `${r}@${staged.digest}`),
    platformDigests: platformDigests(verified.index.index),
    manifest: verified.index.raw,
    attestations: verified.attestations,
    metadata,
    moves: [...records]
  }
}

/** Outputs and summary. Once published, a failed output or summary write is a warning: the tags have moved. */
export async function report(
  job: Job,
  result: PublishResult,
  tag: string,
  platforms: readonly PlatformReport[],
  built?: Built,
  legs?: LegsSummary
): Promise<void> {
  await core.group('Report', async () => {
    try {
      reportOutputs(result, tag)
    } catch (error) {
      core.warning(`published, but could not set the outputs: ${errorMessage(error)}`)
    }
    await writeSummary(result, platforms, job.phases.timings, built?.buildTimes ?? [], undefined, legs).catch((error: unknown) => {
      core.warning(`published, but could not write the job summary: ${errorMessage(error)}`)
    })
  })
  // removals started during the run (local names, the local export) end before the step does
  await job.cleanup.settle()
}

/** Masks every secret value before anything can print it. */
function maskSecrets(settings: Settings): void {
  for (const login of settings.logins) core.setSecret(login.password)
  for (const secret of settings.secrets) core.setSecret(secret.value)
}
