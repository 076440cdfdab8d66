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
import { createDocker, type Docker } from './docker.js'
import { checkEmulation } from './emulation.js'
import { errorMessage } from './errors.js'
import { fingerprintAnnotationArg } from './fingerprint.js'
import { logInAll } from './login.js'
import { Output, reportOutputs, setOutputs } from './outputs.js'
import { Phases } from './phases.js'
import { formatPlatform } from './platform.js'
import { moveTags, plannedMoves, stageIndex, STAGING_TAG, type PublishResult } from './publish.js'
import { setUpQemu } from './qemu.js'
import { platformDigests } from './registry.js'
import { readSettings, type Settings } from './settings.js'
import { saveJsonState, saveState, State } from './state.js'
import { writeFailureSummary, writeSummary } from './summary.js'
import { annotationArgs, buildTime, labelArgs, planTags, readGitHubContext, shouldPush, type TagPlan } from './tags.js'
import { checkUnchanged, fingerprintOrWarn, fingerprintRequest, reportUnchanged } from './unchanged.js'
import { runVerifyCommand, verifyStagedIndex, type PlatformReport } from './verify.js'
import { resolveVersions, versionValues, withVersionBuildArgs } from './versions.js'

export async function run(docker: Docker = createDocker()): Promise<void> {
  saveState(State.IsPost, 'true')
  const phases = new Phases()
  try {
    await publish(docker, phases)
  } catch (error) {
    await writeFailureSummary(errorMessage(error), phases.timings).catch(() => undefined)
    throw error
  }
}

/** Inputs → versions and tags → QEMU → builder → build → push by digest → verify → move tags → report. */
async function publish(docker: Docker, phases: Phases): Promise<void> {
  const settings = readSettings(name => core.getInput(name))
  maskSecrets(settings)
  const workDir = await mkdtemp(path.join(process.env.RUNNER_TEMP || tmpdir(), 'go-build-action-'))
  saveState(State.WorkDir, workDir)
  await checkBuildFiles(settings.context, settings.file)

  await phases.run('Log in', () =>
    logInAll(docker, settings.logins, settings.retry, registries => saveJsonState(State.Logins, registries))
  )

  const { versions, buildArgs, plan, fingerprint } = await phases.run('Versions and tags', async () => {
    const resolved = await resolveVersions(settings.versions, settings.file)
    for (const [name, version] of Object.entries(resolved.resolved)) core.info(`${name} ${version.value} (from ${version.source})`)
    const github = readGitHubContext()
    const args = withVersionBuildArgs(settings.buildArgs, resolved)
    // The fingerprint (context, base images) is computed while the registry is asked about the tags.
    const fingerprinting = shouldPush(settings.tagging.push, github)
      ? fingerprintOrWarn(docker, fingerprintRequest(settings, args, versionValues(resolved)), settings.retry)
      : Promise.resolve(undefined)
    const tagPlan = await planTags(docker, settings, resolved, github, buildTime(settings.buildArgs))
    core.info(`main tag ${tagPlan.tag}; ${tagPlan.push ? 'pushing' : 'not pushing'}`)
    return { versions: resolved, buildArgs: args, plan: tagPlan, fingerprint: await fingerprinting }
  })
  setOutputs({ [Output.Tag]: plan.tag, [Output.Versions]: JSON.stringify(versionValues(versions)) })

  if (plan.push && fingerprint) {
    if (settings.force) core.info('force: true: building and publishing whatever the registry holds')
    else if (await skipUnchanged(docker, phases, settings, plan, fingerprint.value)) return
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
  const output = chooseOutput(builder.driver, plan.push, firstRepository, `${firstRepository}:${STAGING_TAG}`)
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
          ...settings.annotations,
          ...(fingerprint ? [fingerprintAnnotationArg(fingerprint.value)] : [])
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
      runVerifyCommand(docker, output.name, settings.platforms, settings.verifyCommand, false)
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
    metadata
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
        await runVerifyCommand(docker, `${firstRepository}@${staged.digest}`, settings.platforms, settings.verifyCommand, true)
      }
      return checked
    })
    const digests = platformDigests(verified.index.index)
    await phases.run('Move tags', async () => {
      const created = await moveTags(docker, staged, plan.indexTags, plan.platformTags, digests, settings.retry)
      saveJsonState(State.LocalImages, [...(output.kind === 'load' ? [output.name] : []), ...created])
    })
    const moves = plannedMoves(staged.repositories, plan.indexTags, plan.platformTags)
    platforms = verified.platforms
    result = {
      pushed: true,
      references: [...moves.index, ...Object.values(moves.platforms).flat()],
      digest: staged.digest,
      pinned: staged.repositories.map(r => `${r}@${staged.digest}`),
      platformDigests: digests,
      manifest: verified.index.raw,
      attestations: verified.attestations,
      metadata
    }
  }

  await core.group('Report', async () => {
    reportOutputs(result, plan.tag)
    await writeSummary(result, platforms, phases.timings, buildTimes)
  })
}

/**
 * Skip unchanged: when the published tag holds this build's fingerprint, its further index tags move to it and
 * every output comes from the registry. Returns whether the run is done.
 */
async function skipUnchanged(docker: Docker, phases: Phases, settings: Settings, plan: TagPlan, fingerprint: string): Promise<boolean> {
  const request = { repositories: settings.images, fingerprint, platforms: settings.platforms, plan, rebuild: settings.tagging.rebuild }
  const answer = await phases.run('Compare with the published tag', async () => {
    const checked = await checkUnchanged(docker, request, settings.retry)
    reportUnchanged(checked)
    return checked
  })
  if (!answer.unchanged) return false
  if (answer.extraTags.length > 0) {
    const staged = { digest: answer.result.digest, repositories: settings.images }
    await phases.run('Move tags', () => moveTags(docker, staged, answer.extraTags, {}, {}, settings.retry))
  }
  await core.group('Report', async () => {
    reportOutputs(answer.result, answer.tag)
    await writeSummary(answer.result, [], phases.timings, [], `skipped: unchanged: ${answer.tag} already holds this build`)
  })
  return true
}

/** Masks every secret value before anything can print it. */
function maskSecrets(settings: Settings): void {
  for (const login of settings.logins) core.setSecret(login.password)
  for (const secret of settings.secrets) core.setSecret(secret.value)
}
