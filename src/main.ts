/**
 * The pipeline, phase by phase. No logic of its own: each phase lives in its module.
 */
import * as core from '@actions/core'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { runBuild } from './build.js'
import { createDocker, type Docker } from './docker.js'
import { Output, setOutputs } from './outputs.js'
import { platformDigests } from './registry.js'
import { readSettings } from './settings.js'
import { saveState, State } from './state.js'
import { writeSummary } from './summary.js'
import { indexReferences, planTags, readGitHubContext } from './tags.js'
import { resolveVersions, versionValues, withVersionBuildArgs } from './versions.js'
import { verifyPublished } from './verify.js'
import type { PublishResult } from './publish.js'

export async function run(docker: Docker = createDocker()): Promise<void> {
  saveState(State.IsPost, 'true')

  const settings = readSettings(name => core.getInput(name))
  const versions = await resolveVersions(settings.versions, settings.file)
  for (const [name, version] of Object.entries(versions.resolved)) core.info(`${name} ${version.value} (from ${version.source})`)
  const buildArgs = withVersionBuildArgs(settings.buildArgs, versions)
  const plan = await core.group('Plan tags', () => planTags(docker, settings, versions, readGitHubContext()))
  // Until the publisher takes over: every index tag is a --tag of the build; per-platform tags are not pushed yet.
  const references = indexReferences(settings.images, plan)
  const workDir = await mkdtemp(path.join(process.env.RUNNER_TEMP || tmpdir(), 'go-build-action-'))
  saveState(State.WorkDir, workDir)

  const metadata = await core.group(`Build ${settings.platforms.length} platforms`, () =>
    runBuild(docker, {
      context: settings.context,
      file: settings.file,
      platforms: settings.platforms,
      references,
      buildArgs,
      push: plan.push,
      labels: plan.labels,
      annotations: plan.annotations,
      metadataFile: path.join(workDir, 'metadata.json')
    })
  )

  let result: PublishResult = {
    pushed: false,
    references,
    digest: metadata.digest ?? '',
    platformDigests: {},
    manifest: '',
    metadata
  }
  if (plan.push) {
    const published = await core.group('Verify what the registry serves', () =>
      verifyPublished(docker, references, settings.platforms)
    )
    result = {
      ...result,
      pushed: true,
      digest: published.digest,
      platformDigests: platformDigests(published.index),
      manifest: published.raw
    }
  }

  await core.group('Report', async () => {
    setOutputs({
      [Output.Digest]: result.digest,
      [Output.Tag]: plan.tag,
      [Output.Tags]: result.references.join('\n'),
      [Output.Versions]: JSON.stringify(versionValues(versions)),
      [Output.PlatformDigests]: JSON.stringify(result.platformDigests),
      [Output.Manifest]: result.manifest,
      [Output.Metadata]: JSON.stringify(result.metadata.raw)
    })
    for (const [platform, digest] of Object.entries(result.platformDigests)) core.info(`${platform}  ${digest}`)
    await writeSummary(result)
  })
}
