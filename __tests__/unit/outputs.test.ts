import { describe, expect, it } from '@jest/globals'
import { parsePlatform } from '../../src/core/platform.js'
import { builtOnJson, failureOutputs, Output, outputsOf, pushedOf, rebuildReason, splitReferences, type RunFacts, type RunJson } from '../../src/report/outputs.js'
import type { PublishResult } from '../../src/publish/result.js'
import type { MoveRecord } from '../../src/publish/transaction.js'

const D = (c: string): string => `sha256:${c.repeat(64)}`
const REPO = 'localhost:5000/go-build'
const MIRROR = 'localhost:5001/go-build'
const PLATFORMS = ['linux/amd64', 'linux/arm/v7']

const published = (over: Partial<PublishResult> = {}): PublishResult => ({
  pushed: true,
  references: [`${REPO}:T`, `${MIRROR}:T`, `${REPO}:latest`, `${REPO}:T-amd64`, `${MIRROR}:T-amd64`, `${REPO}:T-arm-v7`],
  digest: D('a'),
  pinned: [`${REPO}@${D('a')}`, `${MIRROR}@${D('a')}`],
  platformDigests: { 'linux/amd64': D('1'), 'linux/arm/v7': D('2') },
  manifest: '{"schemaVersion":2}',
  attestations: [{ digest: D('3'), platform: 'linux/amd64', predicateTypes: ['https://slsa.dev/provenance/v0.2'] }],
  metadata: { imageNames: [], raw: { 'containerimage.digest': D('a') } },
  moves: [],
  ...over
})

const facts = (over: Partial<RunFacts> = {}): RunFacts => ({
  result: 'published',
  mode: 'all',
  tag: 'T',
  repositories: [REPO, MIRROR],
  platforms: PLATFORMS,
  versions: { go: '1.25.4' },
  rebuild: 'T was free in every repository',
  ...over
})

describe('outputs of a run that reached its report', () => {
  it('published: result, pushed, platforms, digest, images as the input names them, references as repo@digest, and one json', () => {
    const outputs = outputsOf(published(), facts())
    expect(outputs).toMatchObject({
      [Output.Result]: 'published',
      [Output.Pushed]: 'true',
      [Output.Platforms]: '["linux/amd64","linux/arm/v7"]',
      [Output.Digest]: D('a'),
      [Output.Images]: `${REPO}\n${MIRROR}`,
      [Output.References]: `${REPO}@${D('a')}\n${MIRROR}@${D('a')}`,
      [Output.Metadata]: JSON.stringify({ 'containerimage.digest': D('a') })
    })
    const json = JSON.parse(outputs.json!) as RunJson
    expect(json).toMatchObject({
      result: 'published',
      pushed: true,
      mode: 'all',
      digest: D('a'),
      tag: 'T',
      tags: {
        index: [`${REPO}:T`, `${MIRROR}:T`, `${REPO}:latest`],
        platforms: { 'linux/amd64': [`${REPO}:T-amd64`, `${MIRROR}:T-amd64`], 'linux/arm/v7': [`${REPO}:T-arm-v7`] }
      },
      images: [REPO, MIRROR],
      references: [`${REPO}@${D('a')}`, `${MIRROR}@${D('a')}`],
      platforms: [
        { platform: 'linux/amd64', arch: 'amd64', digest: D('1'), tags: [`${REPO}:T-amd64`, `${MIRROR}:T-amd64`] },
        { platform: 'linux/arm/v7', arch: 'arm-v7', digest: D('2'), tags: [`${REPO}:T-arm-v7`] }
      ],
      versions: { go: '1.25.4' },
      rebuild: { tag: 'T', reason: 'T was free in every repository' }
    })
    expect(json.attestations).toHaveLength(1)
  })

  it('built without pushing: pushed false, and no digest or references although buildx reported one', () => {
    const outputs = outputsOf(published({ pushed: false, references: [], pinned: [], platformDigests: {} }), facts({ result: 'built' }))
    expect(outputs).toMatchObject({ result: 'built', pushed: 'false', digest: '', references: '', images: `${REPO}\n${MIRROR}`, tags: '' })
    expect((JSON.parse(outputs.json!) as RunJson).platforms[0]).toEqual({ platform: 'linux/amd64', arch: 'amd64', digest: '', tags: [] })
  })

  it('a leg pushed by digest: pushed, with a digest, and no tag', () => {
    const outputs = outputsOf(published({ references: [] }), facts({ result: 'leg', mode: 'leg' }))
    expect(outputs).toMatchObject({ result: 'leg', pushed: 'true', digest: D('a'), tags: '' })
  })

  it('unchanged: the digest its tags hold; pushed only when further tags moved', () => {
    const moved: MoveRecord = { reference: `${REPO}:latest`, repository: REPO, kind: 'index', target: D('a'), previous: '', outcome: 'moved', now: D('a') }
    expect(outputsOf(published(), facts({ result: 'unchanged' }))).toMatchObject({ result: 'unchanged', pushed: 'false', digest: D('a') })
    expect(pushedOf('unchanged', published({ moves: [moved] }))).toBe(true)
  })

  it('a merge built nothing: metadata is empty rather than {}', () => {
    expect(outputsOf(published({ metadata: { imageNames: [], raw: {} } }), facts({ mode: 'merge' })).metadata).toBe('')
  })

  it('a failed run: result failed, pushed when a tag holds its content, and the error in json', () => {
    const records: MoveRecord[] = [
      { reference: `${REPO}:T-amd64`, repository: REPO, kind: 'platform', platform: 'linux/amd64', target: D('1'), previous: '', outcome: 'moved', now: D('1') },
      { reference: `${REPO}:T`, repository: REPO, kind: 'index', target: D('a'), previous: '', outcome: 'unknown', now: '' }
    ]
    const outputs = failureOutputs(records, 'the registry went away')
    expect(outputs).toMatchObject({ result: 'failed', pushed: 'true', digest: D('a'), tags: `${REPO}:T-amd64` })
    expect(JSON.parse(outputs.json!)).toMatchObject({ result: 'failed', error: 'the registry went away', tags: [`${REPO}:T-amd64`] })
    expect(failureOutputs([], 'bad input')).toMatchObject({ result: 'failed', pushed: 'false', tags: '' })
  })
})

describe('builtOnJson', () => {
  it('says for every platform the builder, the node (with its endpoint) or this runner, and whether it ran under QEMU', () => {
    const parts = [
      { builder: 'gba-1', driver: 'docker-container', platforms: [parsePlatform('ppc64le'), parsePlatform('amd64')], native: ['amd64'], hostArch: 'amd64' },
      { node: { name: 'arm64-1', endpoint: 'tcp://10.0.0.2:1234' }, builder: 'gba-2-arm64-1', driver: 'remote', platforms: [parsePlatform('arm64')], native: ['arm64'], hostArch: 'arm64' }
    ]
    expect(builtOnJson(['amd64', 'arm64', 'ppc64le'].map(parsePlatform), parts, [parsePlatform('ppc64le')])).toEqual({
      'linux/amd64': { builder: 'gba-1', node: '', endpoint: '', emulated: false },
      'linux/arm64': { builder: 'gba-2-arm64-1', node: 'arm64-1', endpoint: 'tcp://10.0.0.2:1234', emulated: false },
      'linux/ppc64le': { builder: 'gba-1', node: '', endpoint: '', emulated: true }
    })
  })
})

describe('splitReferences', () => {
  it('tells TAG-ARCH from index tags that merely end like one', () => {
    expect(splitReferences([`${REPO}:T`, `${REPO}:X-amd64`, `${REPO}:T-amd64`], 'T', ['linux/amd64'])).toEqual({
      index: [`${REPO}:T`, `${REPO}:X-amd64`],
      platforms: { 'linux/amd64': [`${REPO}:T-amd64`] }
    })
  })
})

describe('rebuildReason', () => {
  const plan = { tag: 'T-1', push: true, previous: { tag: 'T', reference: `${REPO}:T`, manifest: '{}' } }
  it.each([
    [{ ...plan, push: false }, 'suffix', false, 'not pushing: the registry was not asked whether the tag exists'],
    [plan, 'suffix', true, 'decided for this workflow run by its legs'],
    [{ tag: 'T', push: true }, 'overwrite', false, 'if-tag-exists: overwrite: T moves to this build whatever it held'],
    [{ tag: 'T', push: true }, 'suffix', false, 'T was free in every repository'],
    [{ ...plan, tag: 'T' }, 'suffix', false, `${REPO}:T holds an unfinished publish of this very build: this run completes it`],
    [plan, 'suffix', false, `${REPO}:T exists (the newest of its series) with other content, so if-tag-exists: suffix publishes T-1`]
  ] as const)('%j, rebuild %s, decided %s', (p, mode, decided, reason) => {
    expect(rebuildReason(p, mode, decided)).toBe(reason)
  })
})
