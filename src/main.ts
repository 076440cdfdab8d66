/**
 * The pipeline, phase by phase. No logic of its own: each phase lives in its module.
 */
import * as core from '@actions/core'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { checkBuildFiles, chooseOutput, runBuild, writeSecretFiles } from './build.js'
import { buildTimesFromProgress } from './build-times.js'
import { checkArchitectures } from './architecture.js'
import { resolveCache } from './cache.js'
import { setUpBuilder } from './builder.js'
import { installBuildx } from './buildx-install.js'
import type { CancelHook } from './cancel.js'
import { createDocker, type Docker } from './docker.js'
import { checkEmulation } from './emulation.js'
import { errorMessage } from './errors.js'
import { fingerprintAnnotationArg } from './fingerprint.js'
import { logInAll, loginBackupFile } from './login.js'
import { failureOutputs, Output, reportOutputs, setOutputs } from './outputs.js'
import { Phases, PUBLISH_PHASE } from './phases.js'
import { formatPlatform } from './platform.js'
import { stageIndex, stagingTag, type PublishResult } from './publish.js'
import { setUpQemu } from './qemu.js'
import { platformDigests } from './registry.js'
import { readSettings, type Settings } from './settings.js'
import { saveJsonState, saveState, State } from './state.js'
import { writeFailureSummary, writeSummary } from './summary.js'
import { executeMoves, MoveJournal, planMoves } from './transaction.js'
import { annotationArgs, buildTime, labelArgs, planTags, readGitHubContext, shouldPush, type TagPlan } from './tags.js'
import { checkUnchanged, fingerprintOrWarn, fingerprintRequest, reportUnchanged } from './unchanged.js'
import { runVerifyCommand, verifyStagedIndex, type PlatformReport } from './verify.js'
import { resolveVersions, versionValues, withVersionBuildArgs } from './versions.js'

export async function run(docker: Docker = createDocker(), cancel?: CancelHook): Promise<void> {
  saveState(State.IsPost, 'true')
  const phases = new Phases()
  const journal = new MoveJournal()
  // a cancel kills the running command, which fails the pipeline too: the failure is reported once
  let reported: Promise<void> | undefined
  const report = (message: string): Promise<void> => (reported ??= reportFailure(message, phases, journal))
  const unregister = cancel?.(async signal => {
    const message = `the job was cancelled (${signal}) during the run`
    core.setFailed(message)
    await report(message)
  })
  try {
    await publish(docker, phases, journal)
  } catch (error) {
    await report(errorMessage(error))
    throw error
  } finally {
    unregister?.()
  }
}

/** Inputs → versions and tags → QEMU → builder → build → push by digest → verify → move tags → report. */
async function publish(docker: Docker, phases: Phases, journal: MoveJournal): Promise<void> {
  const settings = readSettings(name => core.getInput(name), secret => core.setSecret(secret))
  maskSecrets(settings)
  const workDir = await mkdtemp(path.join(process.env.RUNNER_TEMP || tmpdir(), 'go-build-action-'))
  saveState(State.WorkDir, workDir)
  await checkBuildFiles(settings.context, settings.file)

  await phases.run('Log in', () =>
    logInAll(docker, settings.logins, settings.retry, registries => saveJsonState(State.Logins, registries), loginBackupFile(workDir))
  )

  const { versions, buildArgs, plan, fingerprint } = await phases.run('Versions and tags', async () => {
    const resolved = await resolveVersions(settings.versions, settings.file)
    for (const [name, version] of Object.entries(resolved.resolved)) core.info(`${name} ${version.value} (from ${version.source})`)
    const github = readGitHubContext()
    const args = withVersionBuildArgs(settings.buildArgs, resolved)
    // The tag plan needs the fingerprint: a main tag holding an unfinished publish of this very build is completed.
    const fingerprinted = shouldPush(settings.tagging.push, github)
      ? await fingerprintOrWarn(docker, fingerprintRequest(settings, args, versionValues(resolved)), settings.retry)
      : undefined
    const tagPlan = await planTags(docker, { ...settings, fingerprint: fingerprinted?.value }, resolved, github, buildTime(settings.buildArgs))
    core.info(`main tag ${tagPlan.tag}; ${tagPlan.push ? 'pushing' : 'not pushing'}`)
    return { versions: resolved, buildArgs: args, plan: tagPlan, fingerprint: fingerprinted }
  })
  setOutputs({ [Output.Tag]: plan.tag, [Output.Versions]: JSON.stringify(versionValues(versions)) })

  if (plan.push && fingerprint) {
    if (settings.force) core.info('force: true: building and publishing whatever the registry holds')
    else if (await skipUnchanged(docker, phases, journal, settings, plan, fingerprint.value)) return
  }

  const qemu = await phases.run('Set up QEMU', () => setUpQemu(docker, settings.qemu, settings.platforms))
  setOutputs({ [Output.QemuPlatforms]: qemu.emulated.map(formatPlatform).join(',') })
  if (settings.emulation !== 'ignore') {
    await phases.run('Check the Dockerfile for compiles under QEMU', () =>
      checkEmulation({
        mode: settings.emulation,
        file: settings.file,
        context: settings.context,
        buildArgs,
        platforms: settings.platforms,
        hostArchitecture: qemu.hostArch,
        target: settings.target || undefined
      })
    )
  }
  if (settings.buildx.version) await phases.run('Install buildx', () => installBuildx(docker, settings.buildx))
  const builder = await phases.run('Set up the builder', () =>
    setUpBuilder(docker, settings.builder, settings.platforms, qemu.emulated)
  )
  setOutputs({ [Output.Builder]: builder.name, [Output.BuilderPlatforms]: builder.platforms.join(',') })

  const [firstRepository] = settings.images as [string, ...string[]]
  const output = chooseOutput(builder.driver, plan.push, firstRepository, `${firstRepository}:${stagingTag()}`)
  if (output.kind === 'load') saveJsonState(State.LocalImages, [output.name])

  const metadata = await phases.run(`Build ${settings.platforms.length} platforms`, async () => {
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
        buildArgs,
        metadataFile: path.join(workDir, 'metadata.json'),
        builder: builder.name,
        dockerContext: builder.dockerContext,
        target: settings.target || undefined,
        labels: [...labelArgs(plan.labels), ...settings.labels],
        annotations: [
          ...annotationArgs(plan.annotations),
          ...(fingerprint ? [fingerprintAnnotationArg(fingerprint.value)] : []),
          ...settings.annotations
        ],
        secretFiles: await writeSecretFiles(workDir, settings.secrets),
        cacheFrom: cache.from,
        cacheTo: cache.to,
        noCache: settings.noCache,
        pull: settings.pull,
        provenance: settings.provenance,
        sbom: settings.sbom
      },
      settings.retry
    )
  })

  const buildTimes = buildTimesFromProgress(metadata.progress ?? '', settings.platforms, qemu.hostArch)

  if (output.kind === 'load' && settings.verifyCommand.length > 0) {
    await phases.run('Verify locally, before anything is pushed', () =>
      runVerifyCommand(docker, output.name, settings.platforms, settings.verifyCommand, false, settings.verifyTimeoutSeconds)
    )
  }

  let result: PublishResult = {
    pushed: false,
    references: [],
    digest: metadata.digest ?? '',
    pinned: [],
    platformDigests: {},
    manifest: '',
    attestations: [],
    metadata,
    moves: []
  }
  let platforms: PlatformReport[] = []

  if (plan.push) {
    const staged = await phases.run('Push (by digest, no tag moves)', () =>
      stageIndex(docker, output, metadata.digest, settings.images, settings.retry)
    )
    const verified = await phases.run('Verify what the registries hold', async () => {
      const checked = await verifyStagedIndex(docker, staged.repositories, staged.digest, settings.platforms, settings.retry)
      await checkArchitectures(firstRepository, platformDigests(checked.index.index), qemu.hostArch, settings.retry)
      if (output.kind !== 'load' && settings.verifyCommand.length > 0) {
        await runVerifyCommand(docker, `${firstRepository}@${staged.digest}`, settings.platforms, settings.verifyCommand, true, settings.verifyTimeoutSeconds)
      }
      return checked
    })
    const digests = platformDigests(verified.index.index)
    const localNames = output.kind === 'load' ? [output.name] : []
    const records = await phases.run(PUBLISH_PHASE, async () => {
      try {
        const movePlan = await planMoves(docker, staged, plan, digests, settings.retry, journal)
        core.info(`${movePlan.moves.length} tag(s) to move: ${movePlan.moves.map(m => `${m.reference} (${m.previous || 'new'})`).join(', ')}`)
        return await executeMoves(docker, movePlan, settings.retry, journal)
      } finally {
        saveJsonState(State.LocalImages, [...localNames, ...journal.localNames])
      }
    })
    platforms = verified.platforms
    result = {
      pushed: true,
      references: [...records.filter(r => r.kind === 'index'), ...records.filter(r => r.kind === 'platform')].map(r => r.reference),
      digest: staged.digest,
      pinned: staged.repositories.map(r => `${r}@${staged.digest}`),
      platformDigests: digests,
      manifest: verified.index.raw,
      attestations: verified.attestations,
      metadata,
      moves: records
    }
  }

  // Once published, a failed output or summary write is a warning: the tags users pull have moved.
  await core.group('Report', async () => {
    try {
      reportOutputs(result, plan.tag)
    } catch (error) {
      core.warning(`published, but could not set the outputs: ${errorMessage(error)}`)
    }
    await writeSummary(result, platforms, phases.timings, buildTimes).catch((error: unknown) => {
      core.warning(`published, but could not write the job summary: ${errorMessage(error)}`)
    })
  })
}

/**
 * Skip unchanged: when the published tag holds this build's fingerprint, its further index tags move to it and
 * every output comes from the registry. Returns whether the run is done.
 */
async function skipUnchanged(
  docker: Docker,
  phases: Phases,
  journal: MoveJournal,
  settings: Settings,
  plan: TagPlan,
  fingerprint: string
): Promise<boolean> {
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

/** A failed run's outputs and summary: where every tag this run was moving ended. Writing them never fails the step twice. */
async function reportFailure(message: string, phases: Phases, journal: MoveJournal): Promise<void> {
  const records = journal.snapshot()
  try {
    if (records.length > 0) setOutputs(failureOutputs(records))
  } catch (error) {
    core.warning(`could not set the outputs: ${errorMessage(error)}`)
  }
  await writeFailureSummary(message, phases.timings, records).catch((error: unknown) => {
    core.warning(`could not write the job summary: ${errorMessage(error)}`)
  })
}

/** Masks every secret value before anything can print it. */
function maskSecrets(settings: Settings): void {
  for (const login of settings.logins) core.setSecret(login.password)
  for (const secret of settings.secrets) core.setSecret(secret.value)
}
