import { describe, expect, it } from '@jest/globals'
import { createHash } from 'node:crypto'
import { FakeDocker } from '../../__fixtures__/fake-docker.js'
import { fixture } from '../../__fixtures__/fixtures.js'
import { configurationOf, type ConfigurationInput } from '../../src/tags/configuration.js'
import { indexAnnotationArgs, indexAnnotationsOf } from '../../src/core/annotations.js'
import {
  collectLegs,
  legAnnotations as recordAnnotations,
  legRows,
  legStatement,
  legTag,
  mergeTag,
  LegAnnotation,
  parseLegRecord,
  readWorkflowRun,
  recordLeg,
  verifyLegSignatures,
  type LegFacts,
  type LegRecord,
  type WorkflowRun
} from '../../src/publish/handoff.js'
import { parsePlatform } from '../../src/core/platform.js'
import type { ImageIndex } from '../../src/core/registry.js'
import type { RetryPolicy } from '../../src/core/retry.js'

const retry: RetryPolicy = { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 }
const REPO = 'localhost:5000/go-build'
const four = JSON.parse(fixture('index-with-attestations.json')) as ImageIndex
const AMD64 = 'sha256:ab94ddee36d85e0549dbb976cdadc7cdad7b370db5cd8694495ce75094e71af7'

/** A leg record's index: the fixture's manifest of `arch` and its attestation, with leg annotations. */
function recordIndex(arch: string, annotations: Record<string, string>): string {
  const manifest = four.manifests.find(m => m.platform?.architecture === arch)!
  const attestations = four.manifests.filter(m => m.annotations?.['vnd.docker.reference.digest'] === manifest.digest)
  return JSON.stringify({ ...four, manifests: [manifest, ...attestations], annotations })
}

const INPUT: ConfigurationInput = {
  images: [REPO],
  context: 'images/go-build',
  file: 'images/go-build/Dockerfile',
  target: '',
  buildArgs: [{ name: 'GO_VERSION', value: '1.25.4' }],
  versions: { go: '1.25.4' },
  tagTemplate: '{go}',
  tagPrefix: '',
  tagSuffix: '',
  labels: [],
  annotations: [],
  provenance: 'mode=min',
  sbom: 'false'
}
const CONFIG = configurationOf(INPUT)
/** The other pipeline of a matrix over Go versions, in the same repository. */
const OTHER = configurationOf({ ...INPUT, buildArgs: [{ name: 'GO_VERSION', value: '1.24.9' }], versions: { go: '1.24.9' } })

function legAnnotations(run: string, attempt: number, tag = '1.25.4', configuration = CONFIG.digest): Record<string, string> {
  return {
    [LegAnnotation.Configuration]: configuration,
    [LegAnnotation.RunId]: run,
    [LegAnnotation.RunAttempt]: String(attempt),
    [LegAnnotation.Runner]: 'runner 1 (Linux/ARM64)',
    [LegAnnotation.BuildSeconds]: '42',
    [LegAnnotation.Tag]: tag,
    [LegAnnotation.Created]: '2026-11-24T10:00:00Z'
  }
}

/** A registry holding the given records under `go-build-action-leg-CONFIG-ARCH` (key `CONFIG-ARCH`, or `ARCH` for CONFIG), by tag and by digest. */
function registryWith(records: Record<string, string>): FakeDocker {
  return new FakeDocker().on(['buildx', 'imagetools', 'inspect', '--raw'], args => {
    const reference = args[4] ?? ''
    const key = /go-build-action-leg-([a-z0-9-]+)$/.exec(reference)?.[1]
    const arch = key?.startsWith(`${CONFIG.id}-`) && records[key] === undefined ? key.slice(CONFIG.id.length + 1) : key
    const byDigest = Object.values(records).find(raw => reference.endsWith(`@${sha256(raw)}`))
    const raw = arch ? records[arch] : byDigest
    return raw === undefined ? { exitCode: 1, stderr: fixture('imagetools-not-found.txt') } : { stdout: raw }
  })
}

const sha256 = (raw: string): string => `sha256:${createHash('sha256').update(raw).digest('hex')}`

const platforms = ['linux/amd64', 'linux/arm64'].map(p => parsePlatform(p))
const run: WorkflowRun = { id: '7001', attempt: 1 }

describe('leg records', () => {
  it('are tagged per configuration and platform, with the TAG-ARCH suffix; the merge per configuration', () => {
    expect(legTag(CONFIG, parsePlatform('linux/arm64'))).toBe(`go-build-action-leg-${CONFIG.id}-arm64`)
    expect(legTag(CONFIG, parsePlatform('linux/arm/v7'))).toBe(`go-build-action-leg-${CONFIG.id}-arm-v7`)
    expect(legTag(OTHER, parsePlatform('linux/arm64'))).not.toBe(legTag(CONFIG, parsePlatform('linux/arm64')))
    expect(mergeTag(CONFIG)).toBe(`go-build-action-merge-${CONFIG.id}`)
  })

  it('need the workflow run id; the attempt defaults to 1', () => {
    expect(readWorkflowRun('leg', { GITHUB_RUN_ID: '12', GITHUB_RUN_ATTEMPT: '3' })).toEqual({ id: '12', attempt: 3 })
    expect(readWorkflowRun('merge', { GITHUB_RUN_ID: '12' })).toEqual({ id: '12', attempt: 1 })
    expect(() => readWorkflowRun('leg', {})).toThrow('input "mode": "leg" binds legs and merge to one workflow run, and GITHUB_RUN_ID is not set')
  })

  it('carry their run, runner, build time, tag and created time as index annotations (no comma reaches buildx)', () => {
    expect(
      indexAnnotationArgs(recordAnnotations({ run: { id: '9', attempt: 2 }, runner: 'a,b (Linux/X64)', buildSeconds: 12.6, tag: 'T-1', created: '2026-11-24T10:00:00Z', configuration: 'c0ffee' }))
    ).toEqual([
      '--annotation', 'index:io.go-build.run-id=9',
      '--annotation', 'index:io.go-build.run-attempt=2',
      '--annotation', 'index:io.go-build.leg.runner=a b (Linux/X64)',
      '--annotation', 'index:io.go-build.leg.build-seconds=13',
      '--annotation', 'index:io.go-build.leg.tag=T-1',
      '--annotation', 'index:io.go-build.leg.created=2026-11-24T10:00:00Z',
      '--annotation', 'index:io.go-build.configuration=c0ffee'
    ])
  })

  it('read back: the platform manifest and the annotations', () => {
    const raw = recordIndex('amd64', legAnnotations('7001', 2))
    const leg = parseLegRecord('linux/amd64', `${REPO}:go-build-action-leg-amd64`, 'sha256:r', JSON.parse(raw) as ImageIndex)
    expect(leg).toEqual({
      platform: 'linux/amd64',
      run: { id: '7001', attempt: 2 },
      runner: 'runner 1 (Linux/ARM64)',
      buildSeconds: 42,
      tag: '1.25.4',
      created: '2026-11-24T10:00:00Z',
      configuration: CONFIG.digest,
      manifest: AMD64,
      recordDigest: 'sha256:r',
      reference: `${REPO}:go-build-action-leg-amd64`,
      statement: legStatement(legAnnotations('7001', 2), (JSON.parse(raw) as ImageIndex).manifests.map(m => m.digest)),
      signature: ''
    })
  })

  it('without annotations, or without the platform, are refused naming the platform', () => {
    const bare = JSON.parse(recordIndex('amd64', {})) as ImageIndex
    expect(() => parseLegRecord('linux/amd64', 'r:go-build-action-leg-amd64', 'sha256:r', bare)).toThrow(
      'linux/amd64: r:go-build-action-leg-amd64 carries no leg annotations (run id, tag)'
    )
    const other = JSON.parse(recordIndex('arm64', legAnnotations('1', 1))) as ImageIndex
    expect(() => parseLegRecord('linux/amd64', 'r:x', 'sha256:r', other)).toThrow('linux/amd64: r:x holds no linux/amd64 manifest (it holds linux/arm64)')
  })
})

describe('the legs table', () => {
  it('has platform, runner, build time, digest and attempt', () => {
    const leg = parseLegRecord('linux/amd64', 'r:x', 'sha256:r', JSON.parse(recordIndex('amd64', legAnnotations('7001', 2))) as ImageIndex)
    expect(legRows([leg])).toEqual([['linux/amd64', 'runner 1 (Linux/ARM64)', '42 s', AMD64, '2']])
  })
})

describe('collecting the legs', () => {
  it('takes every platform of this run, with one tag and the earliest created time', async () => {
    const docker = registryWith({ amd64: recordIndex('amd64', legAnnotations('7001', 1)), arm64: recordIndex('arm64', legAnnotations('7001', 1)) })
    const collected = await collectLegs(docker, REPO, platforms, run, CONFIG, retry)
    expect(collected.tag).toBe('1.25.4')
    expect(collected.created).toBe('2026-11-24T10:00:00Z')
    expect(collected.legs.map(l => l.platform)).toEqual(['linux/amd64', 'linux/arm64'])
  })

  it('names every missing platform and the leg of another run, and says nothing moved', async () => {
    const docker = registryWith({ amd64: recordIndex('amd64', legAnnotations('6999', 2)) })
    await expect(collectLegs(docker, REPO, platforms, run, CONFIG, retry)).rejects.toThrow(
      `cannot merge; no tag moved:\n  linux/amd64: the leg recorded under ${REPO}:go-build-action-leg-${CONFIG.id}-amd64 is from run 6999 (attempt 2), not this run 7001: this run's linux/amd64 leg did not finish\n  linux/arm64: no leg of this configuration recorded (${REPO}:go-build-action-leg-${CONFIG.id}-arm64 does not exist): its leg did not run or failed, or it ran with other inputs than this merge`
    )
  })

  it('refuses legs that computed different tags', async () => {
    const docker = registryWith({
      amd64: recordIndex('amd64', legAnnotations('7001', 1, '1.25.4')),
      arm64: recordIndex('arm64', legAnnotations('7001', 1, '1.25.4-1'))
    })
    await expect(collectLegs(docker, REPO, platforms, run, CONFIG, retry)).rejects.toThrow(
      'the legs computed different tags (linux/amd64 → 1.25.4, linux/arm64 → 1.25.4-1)'
    )
  })

  it('uses a leg kept from an earlier attempt of this run, and refuses one from a later attempt', async () => {
    const kept = registryWith({ amd64: recordIndex('amd64', legAnnotations('7001', 1)), arm64: recordIndex('arm64', legAnnotations('7001', 2)) })
    await expect(collectLegs(kept, REPO, platforms, { id: '7001', attempt: 2 }, CONFIG, retry)).resolves.toMatchObject({ tag: '1.25.4' })
    const later = registryWith({ amd64: recordIndex('amd64', legAnnotations('7001', 3)), arm64: recordIndex('arm64', legAnnotations('7001', 2)) })
    await expect(collectLegs(later, REPO, platforms, { id: '7001', attempt: 2 }, CONFIG, retry)).rejects.toThrow(
      'linux/amd64: the leg recorded is from attempt 3, later than this merge\'s attempt 2: re-run the merge'
    )
  })
})

describe('a matrix of two configurations in one workflow run, into one repository', () => {
  it('each merge takes exactly its own legs, and never the other configuration\'s', async () => {
    const records = {
      [`${CONFIG.id}-amd64`]: recordIndex('amd64', legAnnotations('7001', 1, '1.25.4', CONFIG.digest)),
      [`${CONFIG.id}-arm64`]: recordIndex('arm64', legAnnotations('7001', 1, '1.25.4', CONFIG.digest)),
      [`${OTHER.id}-amd64`]: recordIndex('amd64', legAnnotations('7001', 1, '1.24.9', OTHER.digest)),
      [`${OTHER.id}-arm64`]: recordIndex('arm64', legAnnotations('7001', 1, '1.24.9', OTHER.digest))
    }
    const docker = registryWith(records)
    await expect(collectLegs(docker, REPO, platforms, run, CONFIG, retry)).resolves.toMatchObject({ tag: '1.25.4' })
    await expect(collectLegs(docker, REPO, platforms, run, OTHER, retry)).resolves.toMatchObject({ tag: '1.24.9' })
    const asked = docker.calls.map(c => c.args.at(-1))
    expect(asked).toContain(`${REPO}:go-build-action-leg-${OTHER.id}-arm64`)
  })

  it('refuses a record under its own tag that another configuration wrote', async () => {
    const docker = registryWith({ amd64: recordIndex('amd64', legAnnotations('7001', 1, '1.25.4', OTHER.digest)), arm64: recordIndex('arm64', legAnnotations('7001', 1)) })
    await expect(collectLegs(docker, REPO, platforms, run, CONFIG, retry)).rejects.toThrow(
      `linux/amd64: the leg recorded under ${REPO}:go-build-action-leg-${CONFIG.id}-amd64 built another configuration (${OTHER.digest}, not ${CONFIG.digest}): re-run that leg`
    )
  })
})

describe('configuration identity', () => {
  it('changes with every input that changes a leg or its tag, not with their order where order does not matter', () => {
    const variants: Array<Partial<ConfigurationInput>> = [
      { images: [`${REPO}-x`] },
      { context: 'images/other' },
      { file: 'images/go-build/Dockerfile.ubi' },
      { target: 'final' },
      { buildArgs: [{ name: 'GO_VERSION', value: '1.25.4' }, { name: 'CGO', value: '0' }] },
      { versions: { go: '1.25.4', llvm: '18.1.8' } },
      { tagTemplate: '{go}-x' },
      { tagPrefix: 'p-' },
      { tagSuffix: '-s' },
      { labels: ['a=b'] },
      { annotations: ['index:a=b'] },
      { provenance: 'false' },
      { sbom: 'true' },
      { buildOptions: ['build-context=base=docker-image://alpine:3'] },
      { buildOptions: ['build-context=base=docker-image://debian:12'] },
      { buildOptions: ['secret=token'] },
      { buildOptions: ['network=none'] },
      { buildOptions: ['add-host=registry.local:10.0.0.5'] }
    ]
    const ids = variants.map(v => configurationOf({ ...INPUT, ...v }).digest)
    expect(new Set([CONFIG.digest, ...ids]).size).toBe(variants.length + 1)
    expect(configurationOf({ ...INPUT, images: [`${REPO}-b`, REPO] }).digest).toBe(configurationOf({ ...INPUT, images: [REPO, `${REPO}-b`] }).digest)
    expect(configurationOf({ ...INPUT, context: 'images/go-build/', file: './images/go-build/Dockerfile' }).digest).toBe(CONFIG.digest)
    // build options in any order are one configuration; none given is the configuration as it was before they counted
    expect(configurationOf({ ...INPUT, buildOptions: ['network=none', 'secret=token'] }).digest).toBe(configurationOf({ ...INPUT, buildOptions: ['secret=token', 'network=none'] }).digest)
    expect(configurationOf({ ...INPUT, buildOptions: [] }).digest).toBe(CONFIG.digest)
    expect(CONFIG.id).toMatch(/^[0-9a-f]{12}$/)
    expect(CONFIG.digest.startsWith(CONFIG.id)).toBe(true)
    expect(CONFIG.describe).toBe('context images/go-build; file images/go-build/Dockerfile; go 1.25.4; tag template {go}')
  })
})

describe('the merge keeps the user\'s index annotations', () => {
  it('takes index: (and index,manifest:) annotations; leaves manifest-only, untyped and per-platform ones to the legs', () => {
    expect(
      indexAnnotationsOf([
        'index:org.opencontainers.image.description=Go toolchain: go, llvm',
        'index,manifest:org.opencontainers.image.source=https://github.com/o/r',
        'manifest:org.opencontainers.image.title=t',
        'org.opencontainers.image.vendor=v',
        'index[linux/amd64]:x=y',
        'manifest-descriptor:z=1'
      ])
    ).toEqual({
      'org.opencontainers.image.description': 'Go toolchain: go, llvm',
      'org.opencontainers.image.source': 'https://github.com/o/r'
    })
  })
})

describe('signed leg records (sign: true)', () => {
  const facts: LegFacts = { run: { id: '7001', attempt: 1 }, runner: 'runner 1 (Linux/ARM64)', buildSeconds: 42, tag: '1.25.4', created: '2026-11-24T10:00:00Z', configuration: CONFIG.digest }
  /** The leg's staged index: the fixture's amd64 and arm64 manifests and their attestations. */
  const staged: ImageIndex = { ...four, manifests: four.manifests.filter(m => ['amd64', 'arm64'].includes(m.platform?.architecture ?? '') || m.annotations?.['vnd.docker.reference.digest']) }
  const stagedDigests = staged.manifests.map(m => m.digest)

  /**
   * A registry that writes what `imagetools create --annotation index:K=V --tag REF SRC` would (the staged index's
   * manifests with those annotations, `alter`ed as a faulty registry might) and serves it by tag and digest.
   */
  function recordingRegistry(alter: (index: ImageIndex) => ImageIndex = index => index): FakeDocker {
    const stored: Record<string, string> = {}
    return new FakeDocker()
      .on(['buildx', 'imagetools', 'create'], args => {
        const annotations: Record<string, string> = {}
        args.forEach((arg, i) => {
          if (args[i - 1] !== '--annotation') return
          const [key, ...value] = arg.replace(/^index:/, '').split('=')
          annotations[key!] = value.join('=')
        })
        const raw = JSON.stringify(alter({ ...staged, annotations }))
        const tag = args[args.indexOf('--tag') + 1]!
        stored[tag] = raw
        stored[`${tag.slice(0, tag.lastIndexOf(':'))}@${sha256(raw)}`] = raw
        return {}
      })
      .on(['buildx', 'imagetools', 'inspect', '--raw'], args => {
        const raw = stored[args[4] ?? '']
        return raw === undefined ? { exitCode: 1, stderr: fixture('imagetools-not-found.txt') } : { stdout: raw }
      })
  }

  it('a leg signs one statement of its annotations and every manifest its records wrap; each record reads back as that statement, with the signature', async () => {
    const signed: string[] = []
    const docker = recordingRegistry()
    const records = await recordLeg(docker, REPO, REPO, 'sha256:staged', platforms, CONFIG, facts, retry, {
      manifests: stagedDigests,
      sign: async statement => (signed.push(statement), 'c2lnbmF0dXJl')
    })
    expect(signed).toEqual([legStatement(recordAnnotations(facts), stagedDigests)])
    expect(JSON.parse(signed[0]!)).toEqual({
      'go-build-action': 'leg record',
      annotations: {
        [LegAnnotation.BuildSeconds]: '42',
        [LegAnnotation.Configuration]: CONFIG.digest,
        [LegAnnotation.Created]: '2026-11-24T10:00:00Z',
        [LegAnnotation.Runner]: 'runner 1 (Linux/ARM64)',
        [LegAnnotation.RunAttempt]: '1',
        [LegAnnotation.RunId]: '7001',
        [LegAnnotation.Tag]: '1.25.4'
      },
      manifests: [...stagedDigests].sort()
    })
    expect(records.map(r => [r.platform, r.statement === signed[0], r.signature])).toEqual([
      ['linux/amd64', true, 'c2lnbmF0dXJl'],
      ['linux/arm64', true, 'c2lnbmF0dXJl']
    ])
    const create = docker.calls.filter(c => c.args[2] === 'create')
    expect(create.every(c => c.args.includes(`index:${LegAnnotation.Signature}=c2lnbmF0dXJl`))).toBe(true)
  })

  it('a record that does not read back as the statement the leg signed (a registry that drops a manifest) fails the leg, not the merge', async () => {
    const dropAttestations = (index: ImageIndex): ImageIndex => ({ ...index, manifests: index.manifests.filter(m => m.platform?.os !== 'unknown') })
    await expect(
      recordLeg(recordingRegistry(dropAttestations), REPO, REPO, 'sha256:staged', platforms, CONFIG, facts, retry, { manifests: stagedDigests, sign: async () => 'c2ln' })
    ).rejects.toThrow(`${REPO}:${legTag(CONFIG, platforms[0]!)} does not read back as the record this leg signed`)
  })

  it('without sign: true a leg signs nothing and its records carry no signature, as before', async () => {
    const docker = recordingRegistry()
    const records = await recordLeg(docker, REPO, REPO, 'sha256:staged', platforms, CONFIG, facts, retry)
    expect(records.map(r => r.signature)).toEqual(['', ''])
    expect(docker.calls.some(c => c.args.some(a => a.includes(LegAnnotation.Signature)))).toBe(false)
  })

  it('the statement changes with any annotation the merge reads and with any manifest the record wraps, never with the signature', () => {
    const annotations = recordAnnotations(facts)
    const statement = legStatement(annotations, stagedDigests)
    expect(legStatement({ ...annotations, [LegAnnotation.Signature]: 'other' }, stagedDigests)).toBe(statement)
    expect(legStatement(annotations, [...stagedDigests].reverse())).toBe(statement)
    for (const key of Object.keys(annotations)) expect({ key, same: legStatement({ ...annotations, [key]: 'x' }, stagedDigests) === statement }).toEqual({ key, same: false })
    expect(legStatement(annotations, [...stagedDigests.slice(1), AMD64.replace('ab94', 'ab95')])).not.toBe(statement)
  })

  /** A verifier that accepts the signature `good` of any statement, and says why not for anything else. */
  const verifier = { identity: 'the key given as "sign-key"', verify: async (_statement: string, signature: string) => (signature === 'good' ? undefined : 'invalid signature') }
  const recordOf = (arch: string, signature: string): LegRecord => {
    const raw = recordIndex(arch, { ...legAnnotations('7001', 1), ...(signature ? { [LegAnnotation.Signature]: signature } : {}) })
    return parseLegRecord(`linux/${arch}`, `${REPO}:${legTag(CONFIG, parsePlatform(`linux/${arch}`))}`, sha256(raw), JSON.parse(raw) as ImageIndex)
  }

  it('the merge takes legs whose records carry a signature the identity made, and asks cosign for each', async () => {
    const asked: string[] = []
    await verifyLegSignatures([recordOf('amd64', 'good'), recordOf('arm64', 'good')], { ...verifier, verify: async (statement, signature) => (asked.push(statement), verifier.verify(statement, signature)) })
    expect(asked).toEqual([recordOf('amd64', 'good').statement, recordOf('arm64', 'good').statement])
  })

  it('the merge refuses, naming each platform and saying nothing moved, a record without a signature or with one the identity did not make', async () => {
    const error = await verifyLegSignatures([recordOf('amd64', 'good'), recordOf('arm64', 'copied'), recordOf('s390x', '')], verifier).catch((e: Error) => e)
    expect(error).toBeInstanceOf(Error)
    const message = (error as Error).message
    expect(message.startsWith('cannot merge; no tag moved:\n  linux/arm64: ')).toBe(true)
    expect(message).toContain(
      `linux/arm64: the leg record ${REPO}:${legTag(CONFIG, parsePlatform('linux/arm64'))} (${recordOf('arm64', 'copied').recordDigest}) carries no signature by the key given as "sign-key" over its annotations and manifests (cosign verify-blob: invalid signature): this run's leg did not write it, or it was changed since; nothing of it is merged: re-run the linux/arm64 leg, with the same signing inputs as the merge`
    )
    expect(message).toContain(`linux/s390x: the leg record ${REPO}:${legTag(CONFIG, parsePlatform('linux/s390x'))} (${recordOf('s390x', '').recordDigest}) carries no signature (no ${LegAnnotation.Signature} annotation)`)
    expect(message).not.toContain('linux/amd64')
  })
})
