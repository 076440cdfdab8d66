/**
 * The pipeline's stages, each a phase (a log group, timed for the summary) that calls its domain's module. main.ts
 * composes them into the three modes; no stage belongs to one mode.
 */
import * as core from '@actions/core'
import * as path from 'node:path'
import { checkBuildFiles, chooseOutput, loadFromLocalExport, runBuild, withSecretFilesOf, type BuildMetadata, type BuildOutput } from './build/build.js'
import { configuredOptions } from './build/build-options.js'
import { resolveCache } from './build/cache.js'
import { indexAnnotationsOf } from './core/annotations.js'
import { ArchitectureError, checkArchitectures } from './verify/architecture.js'
import { Cleanup } from './core/cleanup.js'
import { buildTimesFromProgress, type PlatformBuildTime } from './build/build-times.js'
import { builderActivity, setUpBuilder, type BuilderResult } from './setup/builder.js'
import { describeNode, planNodes, setUpBuildNodes, type NodeCredentials } from './setup/nodes.js'
import { inPlatformOrder, nodePart, partPlace, partPrefix, runnerPart, runParts, type BuildPart } from './build/parts.js'
import { installBuildx } from './setup/buildx-install.js'
import { createJobDockerConfig, useDockerConfig, type JobDockerConfig } from './setup/docker-config.js'
import { createDocker, type Docker } from './core/docker.js'
import { checkEmulation } from './setup/emulation.js'
import { errorMessage } from './core/errors.js'
import { formatBytes } from './core/format.js'
import { contextListing, fingerprintAnnotationArg, type ContextEntry } from './tags/fingerprint.js'
import { bookkeepingRepository, cacheKeyOf, configurationOf, type Configuration } from './tags/configuration.js'
import {
  collectLegs,
  createMergedIndex,
  describeRunner,
  ownEarlierPublish,
  readLegRecord,
  readWorkflowRun,
  recordLeg,
  verifyLegSignatures,
  type CollectedLegs,
  type LegRecord
} from './publish/handoff.js'
import { directoryLayerCache, withKnownLayers, type KnownLayers } from './verify/layer-cache.js'
import { logInAll, planLogins } from './setup/login.js'
import { StreamedExport, type OciExport } from './verify/oci-export.js'
import { OciLayout, placeKnownLayers } from './verify/oci-layout.js'
import { builtOnJson, completeOutputs, Output, rebuildReason, reportOutputs, setOutputs, type RunFacts, type RunResult } from './report/outputs.js'
import { PUBLISH_PHASE, type Phases } from './core/phases.js'
import { archTagSuffix, formatPlatform, samePlatform, type Platform } from './core/platform.js'
import { combineByDigest, copyByDigest, localBuildName, stageIndex, stagingTag, type StagedIndex } from './publish/publish.js'
import type { PublishResult } from './publish/result.js'
import { hostArchitecture, setUpQemu, type QemuResult } from './setup/qemu.js'
import { platformDigests } from './core/registry.js'
import type { RetryPolicy } from './core/retry.js'
import { readSettings, type Settings } from './settings.js'
import { prepareSigner, signaturesJson, signAndVerify, signingTargets, statementSigner, type Signer, type SigningReport } from './publish/sign.js'
import { createWorkDir, ownName, saveJsonState, saveState, State } from './core/state.js'
import { tagChoiceSentence, writeSummary, type LegsSummary } from './report/summary.js'
import { executeMoves, planMoves, type MoveJournal, type MoveRecord } from './publish/transaction.js'
import { annotationArgs, buildTime, labelArgs, planTags, readGitHubContext, shouldPush, whyNotPushing, type TagPlan } from './tags/tags.js'
import { runVerifyCommand, verifyStagedIndex, type PlatformReport, type VerifiedIndex } from './verify/verify.js'
import { checkSignatures, checkUnchanged, fingerprintOrWarn, fingerprintRequest, reportUnchanged, skipUnchangedDecision } from './publish/unchanged.js'
import { resolveVersions, versionValues, withVersionBuildArgs, type Versions } from './tags/versions.js'
import * as log from './core/log.js'

/** One run of the action: what every stage needs. */
export interface Job {
  docker: Docker
  /** Runs another tool (cosign) through the same exec wrapper: `createDocker(binary)`; unit tests pass a fake of that tool's CLI. */
  runnerFor: (binary: string) => Docker
  settings: Settings
  phases: Phases
  journal: MoveJournal
  /** `RUNNER_TEMP/go-build-action-MARKER`: this run's files, removed by the post step (state.ts). */
  workDir: string
  /** The run marker, in every name and path this run creates. */
  marker: string
  /** The job's own DOCKER_CONFIG, every command's from the start (docker-config.ts). */
  dockerConfig: JobDockerConfig
  /** What the run removes as soon as it is no longer needed (cleanup.ts). */
  cleanup: Cleanup
  /** The build context's listing for the fingerprint, begun at the start so it runs beside the logins and the version reads. */
  contextListing?: Promise<ContextEntry[]>
  /** Why a run that would have skipped as unchanged built instead (its summary says so): the published digests lack this run's signature. */
  whyBuilt?: string
}

/** Every input read and checked, secrets masked. */
export function readJobSettings(): Settings {
  const settings = readSettings(name => core.getInput(name), secret => core.setSecret(secret))
  maskSecrets(settings)
  return settings
}

/** Inputs read and checked, secrets masked, a work directory, the job's own docker config. */
export async function startJob(
  docker: Docker,
  phases: Phases,
  journal: MoveJournal,
  settings: Settings = readJobSettings(),
  runnerFor: (binary: string) => Docker = createDocker
): Promise<Job> {
  const { workDir, marker } = await createWorkDir()
  const dockerConfig = await createJobDockerConfig(workDir)
  useDockerConfig(dockerConfig)
  saveState(State.DockerConfig, dockerConfig.dir)
  await checkBuildFiles(settings.context, settings.file)
  setOutputs({ [Output.Platforms]: JSON.stringify(settings.platforms.map(formatPlatform)), [Output.Images]: settings.images.join('\n') })
  // a merge builds nothing and a run that does not push compares nothing: neither needs the context hashed
  const listing = settings.mode !== 'merge' && shouldPush(settings.tagging.push, readGitHubContext()) ? contextListing(settings.context, settings.file) : undefined
  // awaited by the fingerprint; a failure there is its warning, never an unhandled rejection here
  listing?.catch(() => undefined)
  return { docker, runnerFor, settings, phases, journal, workDir, marker, dockerConfig, cleanup: new Cleanup(docker), contextListing: listing }
}

/**
 * Logs in where the run pushes (login.ts decides where: the login inputs, else the job's token for ghcr.io), in
 * the job's own docker config; a run that will not push (push false, an untrusted event such as a fork's pull
 * request) logs in nowhere.
 */
export async function logIn({ docker, settings, phases, dockerConfig }: Job): Promise<void> {
  const github = readGitHubContext()
  const notPushing = shouldPush(settings.tagging.push, github) ? undefined : whyNotPushing(settings.tagging.push, github)
  await phases.run('Log in', () =>
    logInAll(
      docker,
      planLogins(settings.logins, settings.images, notPushing),
      settings.retry,
      registries => saveJsonState(State.Logins, registries),
      dockerConfig.dir,
      dockerConfig.runnerConfigFile
    )
  )
}

export interface Tagged {
  versions: Versions
  plan: TagPlan
  fingerprint?: string
  /** What this job builds, naming the action's own references (configuration.ts). */
  configuration: Configuration
  /** Whether the main tag was decided for this workflow run before (a re-run leg, the merge). */
  decided: boolean
}

/** The job's configuration (configuration.ts): its settings with the resolved versions. */
export function configurationOfJob(settings: Settings, versions: Versions): Configuration {
  return configurationOf({
    images: settings.images,
    context: settings.context,
    file: settings.file,
    target: settings.target,
    buildArgs: withVersionBuildArgs(settings.buildArgs, versions),
    versions: versionValues(versions),
    tagTemplate: settings.tagging.template,
    tagPrefix: settings.tagging.prefix,
    tagSuffix: settings.tagging.suffix,
    labels: settings.labels,
    annotations: settings.annotations,
    provenance: settings.provenance,
    sbom: settings.sbom,
    buildOptions: configuredOptions(settings.buildOptions, settings.secrets)
  })
}

/** The configuration before the tag plan (a leg re-run, the merge look up records by it). */
async function jobConfiguration(settings: Settings): Promise<Configuration> {
  return configurationOfJob(settings, await resolveVersions(settings.versions, settings.file))
}

/**
 * Versions and the tag plan. `decided`: the main tag this workflow run already decided (a re-run leg, the merge),
 * with the `created` time its images carry.
 */
export async function versionsAndTags(job: Job, decided?: { tag: string; created: string }): Promise<Tagged> {
  const { docker, settings, phases } = job
  const tagged = await phases.run('Versions and tags', async () => {
    const versions = await resolveVersions(settings.versions, settings.file)
    for (const [name, version] of Object.entries(versions.resolved)) log.info(`${name} ${version.value} (from ${version.source})`)
    const github = readGitHubContext()
    const request = { ...fingerprintRequest(settings, withVersionBuildArgs(settings.buildArgs, versions), versionValues(versions)), listing: job.contextListing }
    const fingerprint = shouldPush(settings.tagging.push, github) && !decided ? (await fingerprintOrWarn(docker, request, settings.retry))?.value : undefined
    const created = decided?.created ? new Date(decided.created) : buildTime(settings.buildArgs)
    const plan = await planTags(docker, { ...settings, fingerprint, decidedTag: decided?.tag }, versions, github, created)
    log.info(`main tag ${plan.tag}; ${plan.push ? 'pushing' : 'not pushing'}`)
    const configuration = configurationOfJob(settings, versions)
    log.info(`configuration ${configuration.id} (${configuration.describe})`)
    return { versions, plan, fingerprint, configuration, decided: decided !== undefined }
  })
  setOutputs({ [Output.Tag]: tagged.plan.tag, [Output.Versions]: JSON.stringify(versionValues(tagged.versions)) })
  return tagged
}

/**
 * A run that builds nothing: `push: auto` on a release event that is not a release going out (created, edited,
 * deleted, unpublished). A notice says why; `result` is `skipped`.
 */
export function notBuilding({ plan }: Tagged): void {
  core.notice(`nothing built or pushed: ${plan.why}; set push: true to publish from this event`)
  setOutputs({ [Output.Result]: 'skipped', [Output.Pushed]: 'false' })
  completeOutputs()
}

/**
 * Skip unchanged (unchanged.ts): when the published tag holds this build's fingerprint (with `sign: true`: and
 * every published digest carries this run's identity's signature, verified), its further index tags move to it
 * (as a transaction) and every output comes from the registry. Returns whether the run is done; a run that builds
 * because the signatures are not there says why in its summary.
 */
export async function skipIfUnchanged(job: Job, tagged: Tagged, signer?: Signer): Promise<boolean> {
  const { plan, fingerprint } = tagged
  const { docker, settings, phases, journal } = job
  if (!plan.push || !fingerprint) return false
  const decision = skipUnchangedDecision(settings.skipUnchanged, settings.noCache, readGitHubContext().eventName)
  if (!decision.compare) {
    log.info(decision.reason ?? '')
    return false
  }
  const request = { repositories: settings.images, fingerprint, platforms: settings.platforms, plan, rebuild: settings.tagging.rebuild }
  const compared = await phases.run('Compare with the published tag', () => checkUnchanged(docker, request, settings.retry))
  // with sign: true, only onto digests this run's identity signed before: a copied fingerprint is no reason to sign
  const answer = compared.unchanged && signer ? await phases.run('Verify the published signatures', () => checkSignatures(docker, compared, signer, settings.images)) : compared
  reportUnchanged(answer)
  if (!answer.unchanged) {
    if (compared.unchanged) job.whyBuilt = answer.reason
    return false
  }
  const signing = answer.signing
  if (answer.extraTags.length > 0 || Object.keys(answer.missingPlatformTags).length > 0) {
    const staged = { digest: answer.result.digest, repositories: settings.images }
    const tags = { indexTags: answer.extraTags, platformTags: answer.missingPlatformTags, seen: {} }
    answer.result.moves = await phases.run(PUBLISH_PHASE, async () => {
      try {
        const movePlan = await planMoves(docker, staged, tags, answer.result.platformDigests, settings.retry, journal)
        return await executeMoves(docker, movePlan, settings.retry, journal)
      } finally {
        // the engine path pulls a platform's manifest to tag it: the post step removes those local names
        if (journal.localNames.length > 0) saveJsonState(State.LocalImages, [...journal.localNames])
      }
    })
  }
  await core.group('Report', async () => {
    const reason = `unchanged: ${answer.tag} already holds this build (the same fingerprint); nothing was built`
    if (signing) setOutputs({ [Output.Signatures]: signaturesJson(signing.signatures) })
    reportOutputs(answer.result, { ...factsOf(job, tagged, 'unchanged'), tag: answer.tag, rebuild: reason })
    const { repositories, platforms } = factsOf(job, tagged, 'unchanged')
    await writeSummary({ result: 'unchanged', published: answer.result, tag: answer.tag, repositories, platforms, timings: phases.timings, signing })
  })
  return true
}

/**
 * `sign: true` on a run that pushes: cosign ready, and the identity checked (the key's password decrypts it, or
 * the job has an OIDC token), before anything is built. Undefined when nothing will be signed.
 */
export async function prepareSigning({ settings, phases, workDir, runnerFor }: Job, push: boolean): Promise<Signer | undefined> {
  if (!settings.signing.enabled) return undefined
  if (!push) {
    log.info('sign: true, but this run pushes nothing: nothing to sign')
    return undefined
  }
  return phases.run('Set up signing', () => prepareSigner(settings.signing, workDir, runnerFor))
}

/**
 * Signs the verified index and its platform manifests in every repository, then verifies every signature as a
 * user would, before any tag moves: a failure here fails the publish with nothing moved.
 */
export async function sign({ docker, settings, phases }: Job, signer: Signer | undefined, staged: StagedIndex, verified: VerifiedIndex): Promise<SigningReport | undefined> {
  if (!signer) return undefined
  const targets = signingTargets(staged.repositories, staged.digest, verified.index.index, signer.settings.attestations)
  return phases.run(`Sign ${targets.length} digests`, () => signAndVerify(docker, signer, targets, settings.retry))
}

/** Where the build runs: the builders and the platforms each builds, and the runner's architecture. */
export interface BuildEnvironment {
  /** This runner's builder; undefined when every platform is built on a node. */
  builder?: BuilderResult
  /** The runner's architecture. */
  hostArch: string
  /** Each builder's share of the platforms, in the order of the first platform each builds. */
  parts: BuildPart[]
  /** The TLS files buildx reads while it builds on nodes: removed when the build ends. */
  credentials?: NodeCredentials
}

/**
 * Build nodes where they serve the run's platforms; then, for the platforms no node serves, QEMU where they need
 * it, the emulation advisor, a pinned buildx if asked, and this runner's builder; then each node's builder.
 */
export async function setUpBuild({ docker, settings, phases, workDir, dockerConfig, marker }: Job, { versions }: Tagged): Promise<BuildEnvironment> {
  const nodes = planNodes(settings.platforms, settings.nodes.nodes)
  for (const node of nodes.unused) log.info(`${describeNode(node)} serves none of the platforms of this run: not used`)
  const { local } = nodes
  if (nodes.assigned.length > 0) {
    const on = nodes.assigned.map(a => `${a.platforms.map(formatPlatform).join(', ')} on ${describeNode(a.node)}`).join('; ')
    log.info(`build nodes: ${on}; on this runner: ${local.map(formatPlatform).join(', ') || 'nothing'}`)
  }
  let qemu: QemuResult | undefined
  if (local.length > 0) {
    qemu = await phases.run('Set up QEMU', () => setUpQemu(docker, settings.qemu, local))
  }
  const hostArch = qemu?.hostArch ?? hostArchitecture()
  setOutputs({ [Output.QemuPlatforms]: (qemu?.emulated ?? []).map(formatPlatform).join(',') })
  if (settings.emulation !== 'ignore' && local.length > 0) {
    await phases.run('Check the Dockerfile for compiles under QEMU', () =>
      checkEmulation({
        mode: settings.emulation,
        file: settings.file,
        context: settings.context,
        buildArgs: withVersionBuildArgs(settings.buildArgs, versions),
        platforms: local,
        hostArchitecture: hostArch,
        target: settings.target || undefined
      })
    )
  }
  if (settings.buildx.version) await phases.run('Install buildx', () => installBuildx(docker, settings.buildx, workDir, dockerConfig.dir))
  const builder = local.length > 0 ? await phases.run('Set up the builder', () => setUpBuilder(docker, settings.builder, local, qemu?.emulated, ownName(marker))) : undefined
  setOutputs({ [Output.Builder]: builder?.name ?? '', [Output.BuilderPlatforms]: builder?.platforms.join(',') ?? '' })
  const builders: string[] = []
  const ready =
    nodes.assigned.length > 0
      ? await phases.run(`Set up ${nodes.assigned.length} build node${nodes.assigned.length === 1 ? '' : 's'}`, () =>
          setUpBuildNodes(docker, nodes.assigned, settings.nodes.tls, workDir, ownName(marker), name => {
            builders.push(name)
            saveJsonState(State.NodeBuilders, builders)
          })
        )
      : undefined
  const parts = inPlatformOrder([...(builder ? [runnerPart(builder, local, hostArch)] : []), ...(ready?.nodes ?? []).map(nodePart)], settings.platforms)
  setOutputs({ [Output.BuiltOn]: JSON.stringify(builtOnJson(settings.platforms, parts, qemu?.emulated ?? [])) })
  const credentials = ready?.credentials
  return { builder, hostArch, parts, credentials }
}

export interface Built {
  /** Where the build's result went: for a build split over nodes, the first repository (each part's index by digest), or nowhere. */
  output: BuildOutput
  /** buildx's metadata; for a build split over nodes, each part's under `builds` (no digest: {@link stage} combines them). */
  metadata: BuildMetadata
  /** How long the build took. */
  seconds: number
  /** Per-platform build time from BuildKit's step records, and the node that built it. */
  buildTimes: PlatformBuildTime[]
  /** The runner's architecture. */
  hostArch: string
  /** The `docker` driver's staging name (`repo:go-build-action-staging-…`) the loaded index is pushed under. */
  stagingName?: string
  /** The build's exports, one per builder, which the architecture check reads. */
  exports: BuiltExport[]
  /** A build split over nodes: each part's index, pushed by digest into the first repository, and the annotations of the index that combines them. */
  parts?: { digests: string[]; annotations: Record<string, string> }
}

/**
 * One builder's export: read as it streamed (`streamed`), or a local one (`layout`, an OCI layout directory) where
 * the verify command loads its images from it; the platforms it holds and the architecture of the machine that
 * built them.
 */
export interface BuiltExport {
  streamed?: StreamedExport
  layout?: string
  /** The layers the layer cache knew before the build, left out of `layout` (placed as empty files). */
  known?: KnownLayers
  platforms: Platform[]
  hostArch: string
  /** The builder that loads its images for the verify command (this runner's where there is one). */
  builder: string
  /** Where it was built, in messages (`this runner`, `node "arm64-1" (tcp://…)`). */
  place: string
}

/**
 * Builds every platform (pushed by digest, pushed by the engine, or loaded into the engine) with its export streamed
 * beside it into the architecture check's reader, then runs the verify command on a loaded image. Split over build
 * nodes, each builder builds its part side by side with the others (parts.ts), each part's export streamed on its
 * own. A build that does not push is verified here: the verify command in the engine's load, or in each platform
 * loaded from a local export (a driver with its own BuildKit), and the architecture check on the export.
 */
export async function build(job: Job, { versions, plan, fingerprint, configuration }: Tagged, environment: BuildEnvironment): Promise<Built> {
  const { docker, settings, phases, workDir, cleanup } = job
  const { parts, hostArch } = environment
  const split = parts.length > 1
  const [firstRepository] = settings.images as [string, ...string[]]
  const state = bookkeepingRepository(settings)
  const stagingName = `${state}:${stagingTag(configuration.id, settings.platforms)}`
  const localName = localBuildName(stagingName)
  const annotations = [...annotationArgs(plan.annotations), ...(fingerprint ? [fingerprintAnnotationArg(fingerprint)] : []), ...settings.annotations]
  // the engine pushes straight from the build, unless the verify command must run in the image first
  const pushAs = settings.verifyCommand.length === 0 ? stagingName : undefined
  // the layers this runner checked in earlier runs (none on a fresh runner), read once, before the build
  const known: KnownLayers = settings.architecture.mode === 'off' ? new Map() : await directoryLayerCache().known()
  const runs = parts.map((part, i) => {
    const suffix = split ? `-${i + 1}` : ''
    const output = chooseOutput(part.driver, plan.push, firstRepository, localName, pushAs)
    if (output.kind === 'load' || output.kind === 'push') cleanup.created([output.name])
    // The export streams into the architecture check's reader, nothing on disk. To a local directory instead: where
    // the verify command must load a build's images from it (it pushes nothing: verifyFromLocalExport); and where
    // the layer cache knows layers, which are left out of it (oci-layout.ts), so a warm build does not send them.
    const layout = path.join(workDir, `layout${suffix}`)
    const exported: Pick<BuiltExport, 'streamed' | 'layout' | 'known'> =
      output.kind === 'none' && settings.verifyCommand.length > 0
        ? { layout }
        : known.size > 0
          ? { layout, known }
          : { streamed: new StreamedExport(directoryLayerCache(), settings.architecture.mode !== 'off') }
    return { part, output, exported, metadataFile: path.join(workDir, `metadata${suffix}.json`) }
  })
  for (const { exported } of runs) if (exported.known) await placeKnownLayers(exported.layout!, exported.known.keys())
  const loadsOnNode = !plan.push && settings.verifyCommand.length > 0 && parts.every(p => p.node)
  const started = Date.now()
  let results: BuildMetadata[]
  try {
    results = await phases.run(`Build ${settings.platforms.length} platform${settings.platforms.length === 1 ? '' : 's'}${split ? ` on ${parts.length} builders` : ''}`, async () => {
      // the build secrets' files exist only while the builds that read them run (secret-files.ts)
      return withSecretFilesOf(workDir, settings.secrets, secretFiles => runParts(parts, async (part, signal) => {
        const run = runs.find(r => r.part === part)!
        const cache = await resolveCache(docker, settings.cache, {
          driver: part.driver,
          bookkeepingRepository: state,
          cacheKey: cacheKeyOf(settings),
          platforms: part.platforms,
          ...(split ? { part: part.platforms.map(archTagSuffix).join('-') } : {}),
          previousReference: plan.previous?.reference,
          noCache: settings.noCache
        })
        return runBuild(
          docker,
          {
            context: settings.context,
            file: settings.file,
            platforms: part.platforms,
            output: run.output,
            buildArgs: withVersionBuildArgs(settings.buildArgs, versions),
            metadataFile: run.metadataFile,
            builder: part.builder,
            dockerContext: part.dockerContext,
            target: settings.target || undefined,
            labels: [...labelArgs(plan.labels), ...settings.labels],
            annotations,
            secretFiles,
            options: settings.buildOptions,
            cacheFrom: cache.from,
            cacheTo: cache.to,
            env: cache.env,
            noCache: settings.noCache,
            pull: settings.pull,
            provenance: settings.provenance,
            sbom: settings.sbom,
            ...(run.exported.layout ? { layout: run.exported.layout } : { exportTo: run.exported.streamed!.sink })
          },
          settings.retry,
          split ? { signal, prefix: partPrefix(part) } : {},
          builderActivity(docker, { name: part.builder, driver: part.driver })
        )
      }))
    })
  } catch (error) {
    await environment.credentials?.remove()
    throw error
  }
  // buildx reads the nodes' TLS files at every connection: none is made after the build, unless a node (with no
  // builder of this runner's) loads the images of a build that pushes nothing for the verify command
  if (!loadsOnNode) await environment.credentials?.remove()
  const seconds = (Date.now() - started) / 1000
  const buildTimes = settings.platforms.flatMap(platform => {
    const i = parts.findIndex(p => p.platforms.some(q => samePlatform(q, platform)))
    const part = parts[i]!
    const [time] = buildTimesFromProgress(results[i]!.progress ?? '', [platform], part.hostArch, part.native)
    return time ? [part.node ? { ...time, node: part.node.name } : time] : []
  })
  // only the docker driver loads, and it builds alone (nodes need the docker-container driver)
  const [single] = runs
  const output: BuildOutput = split ? (plan.push ? { kind: 'push-by-digest', repository: firstRepository } : { kind: 'none' }) : single!.output
  if (output.kind === 'load' && settings.verifyCommand.length > 0) {
    await phases.run('Verify locally, before anything is pushed', () =>
      runVerifyCommand(docker, output.name, settings.platforms, settings.verifyCommand, false, settings.verifyTimeoutSeconds)
    )
  }
  const metadata: BuildMetadata = split
    ? { imageNames: [], raw: { builds: Object.fromEntries(runs.map((r, i) => [r.part.node?.name ?? 'runner', results[i]!.raw])) }, progress: results.map(r => r.progress ?? '').join('\n') }
    : results[0]!
  // an image of a local export is loaded for the verify command through this runner's builder where there is one
  const loader = parts.find(p => !p.node)?.builder
  const built: Built = {
    output,
    metadata,
    seconds,
    buildTimes,
    hostArch,
    exports: runs.map(r => ({ ...r.exported, platforms: r.part.platforms, hostArch: r.part.hostArch, builder: loader ?? r.part.builder, place: partPlace(r.part) })),
    // the staging name exists only once the loaded index is pushed (stage)
    ...(output.kind === 'load' && plan.push ? { stagingName } : {}),
    ...(split && plan.push ? { parts: { digests: results.map(r => builtDigest(r)), annotations: indexAnnotationsOf(annotations) } } : {})
  }
  if (!plan.push) {
    // nothing goes to a registry: the loaded image and the local exports are done with once checked
    if (output.kind === 'load') cleanup.removeImages([output.name])
    try {
      // first the verify command, as on a build the engine loaded; then the architecture check
      // (a layout that leaves known layers out is never loaded: it is made only where no verify command runs)
      if (settings.verifyCommand.length > 0 && built.exports.some(e => e.layout)) {
        await phases.run('Verify locally, before anything is pushed', () => verifyFromLocalExport(job, built, localName))
      }
      await phases.run('Check the architectures (not pushed)', () => checkBuiltArchitectures(job, built))
    } finally {
      await environment.credentials?.remove()
      for (const { layout } of built.exports) if (layout) cleanup.removeDirectory(layout)
    }
  }
  return built
}

/** The digest of the index a build pushed by digest, from its metadata. */
function builtDigest(metadata: BuildMetadata): string {
  if (!metadata.digest) throw new Error('buildx pushed by digest but its metadata has no containerimage.digest')
  return metadata.digest
}

/**
 * The verify command on a build that pushes nothing from a `docker-container` builder (or nodes): each platform's
 * image of the local export the architecture check read is loaded into the engine on its own (a single-platform
 * image, which any image store holds), the command runs in each, and the images are removed.
 */
async function verifyFromLocalExport({ docker, settings, workDir, cleanup }: Job, built: Built, localName: string): Promise<void> {
  const names = new Map<string, string>()
  try {
    for (const { layout, platforms, builder } of built.exports) {
      if (!layout) continue
      const manifests = await new OciLayout(layout).platformManifests()
      for (const platform of platforms) {
        const name = `${localName}-${archTagSuffix(platform)}`
        cleanup.created([name])
        names.set(formatPlatform(platform), name)
        await loadFromLocalExport(docker, { builder, layout, digest: manifests[formatPlatform(platform)] ?? '', platform, name, dir: workDir })
      }
    }
    await runVerifyCommand(docker, platform => names.get(formatPlatform(platform)) ?? '', settings.platforms, settings.verifyCommand, false, settings.verifyTimeoutSeconds)
  } finally {
    cleanup.removeImages([...names.values()])
  }
}

/**
 * The architecture check on the build's exports (one per builder: as each streamed, or a local one); `expected`: the
 * platform digests a registry serves, each looked for in the export of the builder that built the platform.
 */
async function checkBuiltArchitectures({ settings }: Job, built: Built, expected?: Record<string, string>): Promise<void> {
  const several = built.exports.length > 1
  for (const exported of built.exports) {
    const own = expected && several ? Object.fromEntries(exported.platforms.map(formatPlatform).map(p => [p, expected[p] ?? ''])) : expected
    if (!exported.layout) {
      await checkArchitectures(await streamedContents(exported, several), exported.hostArch, { expected: own, settings: settings.architecture })
      continue
    }
    const source = layoutContents(exported, settings.retry)
    try {
      await checkArchitectures(source, exported.hostArch, { expected: own, settings: settings.architecture })
    } finally {
      // what was read, whatever the check found
      const of = several ? ` of ${exported.place}` : ''
      const leftOut = exported.known ? `, the ${exported.known.size} layer(s) the layer cache knew left out of it` : ''
      log.info(
        `read the build's local export${of} (${formatBytes(await source.storedBytes())} written${leftOut}): ${source.counts.read} layer(s) decompressed, ${source.counts.cached} checked in earlier runs (layer cache)`
      )
    }
  }
}

/** A build's local export; the layers left out of it are answered by what the layer cache held before the build. */
function layoutContents({ layout, known }: BuiltExport, retry: RetryPolicy): OciLayout {
  const cache = known ? withKnownLayers(known, directoryLayerCache()) : directoryLayerCache()
  return new OciLayout(layout!, cache, retry)
}

/** A build's export as it streamed, read; logs how much of it was read. */
async function streamedContents({ streamed, place }: BuiltExport, named: boolean): Promise<OciExport> {
  const of = named ? ` of ${place}` : ''
  if (!streamed) throw new ArchitectureError(`the build${of} wrote no export to read; no tag moved`)
  const exported = await streamed.contents().catch((error: unknown) => {
    throw new ArchitectureError(`the architecture check could not read the build's export${of}: ${errorMessage(error)}; no tag moved`, { cause: error })
  })
  const { total, layersRead, layersCached } = exported.bytes
  log.info(`read the build's export${of} as it streamed: ${formatBytes(total)}, ${formatBytes(layersRead)} of layers decompressed, ${formatBytes(layersCached)} of layers checked in earlier runs (layer cache)`)
  return exported
}

/**
 * The built index into every repository, by digest: no tag users pull moves. A build split over nodes pushed one
 * index per builder: they are combined into one first (publish.ts), by digest too.
 */
export async function stage({ docker, settings, phases, cleanup }: Job, { output, metadata, stagingName, parts }: Built): Promise<StagedIndex> {
  // the engine tags the loaded index as the staging name to push it: a local name of this run from then on
  if (stagingName) cleanup.created([stagingName])
  return phases.run('Push (by digest, no tag moves)', async () => {
    const digest = parts && output.kind === 'push-by-digest' ? await combineByDigest(docker, output.repository, parts.digests, parts.annotations, settings.retry) : metadata.digest
    return stageIndex(docker, output, digest, settings.images, settings.retry, stagingName)
  })
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
    // the registry serves these digests (content hashes): the export holding them is the same bytes
    if (built) {
      try {
        await checkBuiltArchitectures(job, built, platformDigests(checked.index.index))
      } finally {
        // a local export is done with once checked (the post step removes what a killed run leaves, with its work directory)
        for (const { layout } of built.exports) if (layout) cleanup.removeDirectory(layout)
      }
    }
    if (built && built.output.kind !== 'load' && settings.verifyCommand.length > 0) {
      const image = `${first}@${staged.digest}`
      // pulled for the verify command only: removed once it ran, unless the engine held it before this run
      const pulled = (await docker.run(['image', 'inspect', '--format', '{{.Id}}', image], { silent: true, allowFailure: true })).exitCode !== 0
      if (pulled) cleanup.created([image])
      try {
        await runVerifyCommand(docker, image, settings.platforms, settings.verifyCommand, true, settings.verifyTimeoutSeconds, settings.retry)
      } finally {
        if (pulled) cleanup.removeImages([image])
      }
    }
    return checked
  })
}

/**
 * The transaction: plan every move, move per-platform tags then index tags, read them back (transaction.ts). The
 * engine's local names of `built` are removed once the plan is made (the manifests the moves push are pulled then,
 * and hold their content), while the tags move; those of the moves once they are read back, while the run reports;
 * what a failed run leaves is the post step's.
 */
export async function moveTags(job: Job, staged: StagedIndex, verified: VerifiedIndex, plan: TagPlan, built?: Built): Promise<MoveRecord[]> {
  const { docker, settings, phases, journal, cleanup } = job
  const localNames = built ? localNamesOf(built) : []
  return phases.run(PUBLISH_PHASE, async () => {
    let done = false
    try {
      const movePlan = await planMoves(docker, staged, plan, platformDigests(verified.index.index), settings.retry, journal)
      cleanup.created(journal.localNames)
      cleanup.removeImages(localNames)
      log.info(`${movePlan.moves.length} tag(s) to move: ${movePlan.moves.map(m => `${m.reference} (${m.previous || 'new'})`).join(', ')}`)
      const records = await executeMoves(docker, movePlan, settings.retry, journal)
      done = true
      return records
    } finally {
      cleanup.created(journal.localNames)
      if (done) cleanup.removeImageGroups(journal.localNameGroups())
    }
  })
}

/** The engine's names of the build: the loaded image and the staging name it was pushed under, or the name the build pushed. */
function localNamesOf({ output, stagingName }: Built): string[] {
  if (output.kind === 'push') return [output.name]
  return output.kind === 'load' ? [output.name, ...(stagingName ? [stagingName] : [])] : []
}

/**
 * A leg: records its staged index for the merge, under its configuration's per-platform tags (handoff.ts); with
 * `sign: true`, signed with the run's identity over what it verified, so the merge can tell its records from copies.
 */
export async function handOff(
  { docker, settings, phases, cleanup }: Job,
  staged: StagedIndex,
  { plan, configuration }: Tagged,
  built: Built,
  verified: VerifiedIndex,
  signer: Signer | undefined
): Promise<LegRecord[]> {
  // pushed and verified: a leg moves no tag, so the engine's loaded image (and its staging name) are done with
  cleanup.removeImages(localNamesOf(built))
  return phases.run('Hand off to the merge', async () =>
    recordLeg(
      docker,
      bookkeepingRepository(settings),
      staged.repositories[0] ?? '',
      staged.digest,
      settings.platforms,
      configuration,
      {
        configuration: configuration.digest,
        run: readWorkflowRun(settings.mode),
        runner: describeRunner(),
        buildSeconds: built.seconds,
        tag: plan.tag,
        created: plan.annotations['org.opencontainers.image.created'] ?? ''
      },
      settings.retry,
      signer ? { manifests: verified.index.index.manifests.map(m => m.digest), sign: (await statementSigner(signer, settings.retry)).sign } : undefined
    )
  )
}

/** With `sign: true`, the merge takes only legs whose records carry this run's identity's signature (handoff.ts), before it creates anything. */
export async function verifyLegs({ settings, phases }: Job, collected: CollectedLegs, signer: Signer | undefined): Promise<void> {
  if (!signer) return
  await phases.run("Verify the legs' signatures", async () => {
    const statements = await statementSigner(signer, settings.retry)
    await verifyLegSignatures(collected.legs, statements)
    log.info(`cosign verify-blob accepts the signature by ${statements.identity} on the record of every leg (${collected.legs.length})`)
  })
}

/**
 * A re-run leg takes the main tag its platform's leg of this run decided (the first attempt's merge may have
 * published it since): the tag is decided once per workflow run.
 */
export async function earlierLegOfThisRun({ docker, settings }: Job): Promise<{ tag: string; created: string } | undefined> {
  const run = readWorkflowRun(settings.mode)
  const [platform] = settings.platforms
  if (!platform || run.attempt === 1) return undefined
  const configuration = await jobConfiguration(settings)
  const earlier = await readLegRecord(docker, bookkeepingRepository(settings), configuration, platform, settings.retry)
  if (earlier?.run.id !== run.id || earlier.configuration !== configuration.digest) return undefined
  log.info(`attempt ${run.attempt}: ${earlier.platform}'s leg of attempt ${earlier.run.attempt} decided the main tag ${earlier.tag}`)
  return { tag: earlier.tag, created: earlier.created }
}

/**
 * The merge: every platform's leg of this run, or an error naming the missing ones; undefined when not pushing
 * (`result` is then `skipped`).
 */
export async function collect({ docker, settings, phases }: Job): Promise<CollectedLegs | undefined> {
  const run = readWorkflowRun(settings.mode)
  const github = readGitHubContext()
  if (!shouldPush(settings.tagging.push, github)) {
    log.info(`not pushing (push: ${settings.tagging.push}, event ${github.eventName || 'unknown'}): the legs pushed nothing, so there is nothing to merge`)
    setOutputs({ [Output.Result]: 'skipped', [Output.Pushed]: 'false' })
    completeOutputs()
    return undefined
  }
  return phases.run(`Collect ${settings.platforms.length} legs`, async () => {
    const configuration = await jobConfiguration(settings)
    log.info(`configuration ${configuration.id} (${configuration.describe})`)
    return collectLegs(docker, bookkeepingRepository(settings), settings.platforms, run, configuration, settings.retry)
  })
}

/**
 * The merge: the index of the legs' manifests, in every repository by digest (no rebuild, no tag users pull), and
 * the tag plan with the main tag as the transaction may find it (free, or published by an earlier attempt of this run).
 */
export async function mergeLegs(job: Job, collected: CollectedLegs, { plan, configuration }: Tagged): Promise<{ staged: StagedIndex; plan: TagPlan }> {
  const { docker, settings, phases } = job
  const run = readWorkflowRun(settings.mode)
  return phases.run('Create the index from the legs', async () => {
    const state = bookkeepingRepository(settings)
    // the user's index: annotations too (GHCR reads the package description from them), as a build puts them there
    const annotations = { ...plan.annotations, ...indexAnnotationsOf(settings.annotations) }
    const digest = await createMergedIndex(docker, state, configuration, collected.legs, annotations, run, settings.retry)
    await copyByDigest(docker, state, digest, settings.images, settings.retry)
    log.info(`index ${digest} of ${collected.legs.length} legs`)
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

/** What the outputs say about a run besides what it published (outputs.ts). */
function factsOf({ settings }: Job, { plan, versions, decided }: Tagged, result: RunResult): RunFacts {
  return {
    result,
    mode: settings.mode,
    tag: plan.tag,
    repositories: settings.images,
    platforms: settings.platforms.map(formatPlatform),
    versions: versionValues(versions),
    rebuild: rebuildReason(plan, settings.tagging.rebuild, decided)
  }
}

/**
 * Outputs and summary: `published`, `built` (nothing pushed) or, for a leg, `leg`. Once published, a failed output
 * or summary write is a warning: the tags have moved.
 */
export async function report(
  job: Job,
  result: PublishResult,
  tagged: Tagged,
  platforms: readonly PlatformReport[],
  built?: Built,
  legs?: LegsSummary,
  signing?: SigningReport
): Promise<void> {
  const kind = !result.pushed ? 'built' : legs?.role === 'leg' ? 'leg' : 'published'
  const facts = factsOf(job, tagged, kind)
  await core.group('Report', async () => {
    try {
      if (signing) setOutputs({ [Output.Signatures]: signaturesJson(signing.signatures) })
      reportOutputs(result, facts)
    } catch (error) {
      core.warning(`published, but could not set the outputs: ${errorMessage(error)}`)
    }
    await writeSummary({
      result: kind,
      published: result,
      tag: facts.tag,
      repositories: facts.repositories,
      platforms: facts.platforms,
      reports: platforms,
      buildTimes: built?.buildTimes ?? [],
      timings: job.phases.timings,
      rebuild: tagChoiceSentence(tagged.plan, job.settings.tagging.rebuild, tagged.decided),
      whyBuilt: job.whyBuilt,
      legs,
      signing
    }).catch((error: unknown) => {
      core.warning(`published, but could not write the job summary: ${errorMessage(error)}`)
    })
  })
  // removals started during the run (local names, the local export) end before the step does
  await job.cleanup.settle()
}

/** Masks every secret value before anything can print it. */
function maskSecrets(settings: Settings): void {
  for (const login of settings.logins.logins) core.setSecret(login.password)
  if (settings.logins.githubToken) core.setSecret(settings.logins.githubToken)
  for (const secret of settings.secrets) core.setSecret(secret.value)
  if (settings.signing.key) core.setSecret(settings.signing.key)
  if (settings.signing.keyPassword) core.setSecret(settings.signing.keyPassword)
  for (const { env } of settings.buildOptions.secretEnvs) {
    const value = process.env[env] ?? ''
    // a multi-line secret (a PEM) is masked whole and line by line
    for (const part of new Set([value, ...value.split(/\r?\n/)])) if (part.trim()) core.setSecret(part)
  }
}
