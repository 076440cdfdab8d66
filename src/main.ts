/**
 * The pipeline, phase by phase. No logic of its own: each phase lives in its module.
 */
import * as core from '@actions/core'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { runBuild } from './build.js'
import { setUpBuilder } from './builder.js'
import { installBuildx } from './buildx-install.js'
import { formatPlatform } from './platform.js'
import { setUpQemu } from './qemu.js'
import { createDocker, type Docker } from './docker.js'
import { Output, setOutputs } from './outputs.js'
import { platformDigests } from './registry.js'
import { readSettings } from './settings.js'
import { saveState, State } from './state.js'
import { writeSummary } from './summary.js'
import { imageReferences } from './tags.js'
import { verifyPublished } from './verify.js'
import type { PublishResult } from './publish.js'

export async function run(docker: Docker = createDocker()): Promise<void> {
  saveState(State.IsPost, 'true')

  const settings = readSettings(name => core.getInput(name))
  const references = imageReferences(settings.images, settings.tags)
  const workDir = await mkdtemp(path.join(process.env.RUNNER_TEMP || tmpdir(), 'go-build-action-'))
  saveState(State.WorkDir, workDir)

  const qemu = await core.group('Set up QEMU', () => setUpQemu(docker, settings.qemu, settings.platforms))
  setOutputs({ [Output.QemuPlatforms]: qemu.emulated.map(formatPlatform).join(',') })
  if (settings.buildx.version) await core.group('Install buildx', () => installBuildx(docker, settings.buildx))
  const builder = await core.group('Set up the builder', () =>
    setUpBuilder(docker, settings.builder, settings.platforms, qemu.emulated)
  )
  setOutputs({ [Output.Builder]: builder.name, [Output.BuilderPlatforms]: builder.platforms.join(',') })

  const metadata = await core.group(`Build ${settings.platforms.length} platforms`, () =>
    runBuild(docker, {
      context: settings.context,
      file: settings.file,
      platforms: settings.platforms,
      references,
      buildArgs: settings.buildArgs,
      push: settings.push,
      metadataFile: path.join(workDir, 'metadata.json'),
      builder: builder.name,
      dockerContext: builder.dockerContext
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
  if (settings.push) {
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
      [Output.Tags]: result.references.join('\n'),
      [Output.PlatformDigests]: JSON.stringify(result.platformDigests),
      [Output.Manifest]: result.manifest,
      [Output.Metadata]: JSON.stringify(result.metadata.raw)
    })
    for (const [platform, digest] of Object.entries(result.platformDigests)) core.info(`${platform}  ${digest}`)
    await writeSummary(result)
  })
}
