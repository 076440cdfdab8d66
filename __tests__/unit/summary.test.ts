import { afterAll, beforeEach, describe, expect, it } from '@jest/globals'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { PlatformBuildTime } from '../../src/build/build-times.js'
import { formatBytes } from '../../src/core/format.js'
import { Phases } from '../../src/core/phases.js'
import type { LegRecord } from '../../src/publish/handoff.js'
import type { PublishResult } from '../../src/publish/result.js'
import type { SigningReport } from '../../src/publish/sign.js'
import type { MoveRecord } from '../../src/publish/transaction.js'
import { failureOutputs } from '../../src/report/outputs.js'
import {
  escapeHtml,
  formatDuration,
  headingOf,
  moveRows,
  platformTable,
  pullCommand,
  shortDigest,
  tagChoiceSentence,
  tagRows,
  timingChart,
  writeFailureSummary,
  writeSummary,
  type RunSummary
} from '../../src/report/summary.js'

describe('formatting', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1536, '1.5 KiB'],
    [130_423_533, '124.4 MiB'],
    [3 * 1024 ** 3, '3.0 GiB']
  ])('%d bytes → %s', (bytes, text) => expect(formatBytes(bytes)).toBe(text))

  it.each([
    [950, '0.9 s'],
    [12_345, '12.3 s'],
    [125_000, '2 min 5 s']
  ])('%d ms → %s', (ms, text) => expect(formatDuration(ms)).toBe(text))

  it('escapes HTML', () => {
    expect(escapeHtml('<a href="x">&</a>')).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;')
  })
})

describe('timingChart', () => {
  it('draws each phase as a bar from its start, failed ones marked', () => {
    expect(
      timingChart([
        { name: 'Build 4 platforms', startMs: 0, durationMs: 1200, ok: true },
        { name: 'Push (by digest: no tags)', startMs: 1200, durationMs: 0, ok: false }
      ])
    ).toBe(
      [
        '```mermaid',
        'gantt',
        '  dateFormat x',
        '  axisFormat %M:%S',
        '  section go-build-action',
        '  Build 4 platforms :0, 1200ms',
        '  Push (by digest  no tags) :crit, 1200, 1ms',
        '```'
      ].join('\n')
    )
  })
})

describe('Phases', () => {
  it('times each phase from the first, failed ones too', async () => {
    let clock = 1000
    const phases = new Phases(() => clock)
    await phases.run('one', async () => {
      clock += 50
    })
    await expect(
      phases.run('two', async () => {
        clock += 20
        throw new Error('boom')
      })
    ).rejects.toThrow('boom')
    expect(phases.timings).toEqual([
      { name: 'one', startMs: 0, durationMs: 50, ok: true },
      { name: 'two', startMs: 50, durationMs: 20, ok: false }
    ])
  })
})

describe('the failure report of a run that failed while moving tags', () => {
  const D = (c: string): string => `sha256:${c.repeat(64)}`
  const record = (reference: string, previous: string, outcome: MoveRecord['outcome'], now: string): MoveRecord => ({
    reference,
    repository: reference.split(':')[0]!,
    kind: reference.endsWith('-amd64') ? 'platform' : 'index',
    target: D('a'),
    previous,
    outcome,
    now
  })
  const records = [
    record('r1:t-amd64', D('0'), 'restored', D('0')),
    record('r2:t-amd64', '', 'moved', D('a')),
    record('r1:t', D('0'), 'not-moved', D('0'))
  ]

  it('lists every reference: before, this run, where it ended; says a created tag cannot be deleted', () => {
    const rows = moveRows(records)
    expect(rows).toHaveLength(3)
    expect(rows[0]).toEqual([
      '<code>r1:t-amd64</code>',
      `<code title="${D('0')}">sha256:000000000000</code>`,
      `<code title="${D('a')}">sha256:aaaaaaaaaaaa</code>`,
      'moved, then put back to its previous digest'
    ])
    expect(rows[1]?.[1]).toBe('none')
    expect(rows[1]?.[3]).toMatch(/^moved: holds this run's content \(created by this run: a tag cannot be deleted portably; a re-run completes the publish\)$/)
    expect(rows[2]?.[3]).toBe('not moved')
  })

  it('sets digest, the references that hold the new content, and every move as outputs', () => {
    const outputs = failureOutputs(records)
    expect(outputs.digest).toBe(D('a'))
    expect(outputs.tags).toBe('r2:t-amd64')
    expect(JSON.parse(outputs.moves!)).toEqual([
      { reference: 'r1:t-amd64', previous: D('0'), digest: D('a'), now: D('0'), outcome: 'restored' },
      { reference: 'r2:t-amd64', previous: '', digest: D('a'), now: D('a'), outcome: 'moved' },
      { reference: 'r1:t', previous: D('0'), digest: D('a'), now: D('0'), outcome: 'not-moved' }
    ])
  })
})


const digest = (c: string): string => `sha256:${c.repeat(64)}`
const INDEX = `sha256:0123456789ab${'c'.repeat(52)}`
const A = 'localhost:5000/org/go-build'
const B = 'ghcr.io/org/go-build'
const PLATFORMS = ['linux/amd64', 'linux/arm64', 'linux/s390x']
const TIMINGS = [
  { name: 'Log in', startMs: 0, durationMs: 2000, ok: true },
  { name: 'Build 3 platforms', startMs: 2000, durationMs: 60_000, ok: true },
  { name: 'Move tags', startMs: 62_000, durationMs: 500, ok: true }
]
/** amd64 native; arm64 under QEMU with a RUN step; s390x emulated, but its RUN steps were cross-compiles on amd64. */
const BUILD_TIMES: PlatformBuildTime[] = [
  { platform: 'linux/amd64', seconds: 59, emulatedSeconds: 0, native: true, steps: 4 },
  { platform: 'linux/arm64', seconds: 412.3, emulatedSeconds: 410.5, native: false, steps: 4, slowestEmulated: { name: 'build 4/4 RUN go build -o <x> .', seconds: 409 } },
  { platform: 'linux/s390x', seconds: 0.2, emulatedSeconds: 0, native: false, steps: 2 }
]

function publishResult(references: string[], over: Partial<PublishResult> = {}): PublishResult {
  return {
    pushed: true,
    references,
    digest: INDEX,
    pinned: [`${A}@${INDEX}`],
    platformDigests: { 'linux/amd64': digest('1'), 'linux/arm64': digest('2'), 'linux/s390x': digest('3') },
    manifest: '{}',
    attestations: [],
    metadata: { imageNames: [], raw: {} },
    moves: [],
    ...over
  }
}

const REFERENCES = [`${A}:T-2`, `${A}:latest`, `${B}:T-2`, `${B}:latest`, `${A}:T-2-amd64`, `${B}:T-2-amd64`, `${A}:T-2-arm64`, `${B}:T-2-arm64`, `${A}:T-2-s390x`, `${B}:T-2-s390x`]
const REPORTS = PLATFORMS.map((platform, i) => ({ platform, digest: digest(String(i + 1)), size: 1536 * (i + 1) }))

// core.summary reads GITHUB_STEP_SUMMARY once: one file for every test, emptied before each
let dir = ''
const summaryFile = async (): Promise<string> => {
  dir ||= await mkdtemp(path.join(tmpdir(), 'summary-'))
  const file = path.join(dir, 'summary.md')
  process.env.GITHUB_STEP_SUMMARY = file
  await writeFile(file, '')
  return file
}
afterAll(async () => {
  delete process.env.GITHUB_STEP_SUMMARY
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('the job summary', () => {
  const rendered = async (input: RunSummary): Promise<string> => {
    const file = await summaryFile()
    await writeSummary(input)
    return readFile(file, 'utf8')
  }
  const base = { tag: 'T-2', repositories: [A, B], platforms: PLATFORMS, timings: TIMINGS }

  describe('of a published run', () => {
    const signing: SigningReport = {
      signatures: [A, B].flatMap(repository =>
        [{ digest: INDEX, signed: 'index' as const }, ...REPORTS.map(r => ({ digest: r.digest, signed: 'platform' as const, platform: r.platform }))].map(t => ({
          repository,
          ...t,
          signature: `${repository}:sha256-${t.digest.slice(7)}.sig`
        }))
      ),
      verifyCommand: `cosign verify --key cosign.pub ${A}@${INDEX}`,
      identity: 'the key given as "sign-key"',
      publicKey: '-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n',
      signedNow: 8
    }
    const rebuild = tagChoiceSentence(
      { tag: 'T-2', push: true, previous: { tag: 'T-1', reference: `${A}:T-1`, manifest: '{}' } },
      'suffix',
      false
    )
    let md = ''
    beforeEach(async () => {
      md ||= await rendered({
        ...base,
        result: 'published',
        published: publishResult(REFERENCES, { attestations: [{ digest: digest('9'), platform: 'linux/amd64', predicateTypes: ['https://slsa.dev/provenance/v0.2'] }] }),
        reports: REPORTS,
        buildTimes: BUILD_TIMES,
        rebuild,
        whyBuilt: `${A}:T-1 carries this build's fingerprint, but cosign verify accepts no signature by the key given as "sign-key" on its index: building`,
        signing
      })
    })

    it('starts with the image and main tag, then the pull command for the first repository', () => {
      expect(md.startsWith(`<h2>Published ${A}:T-2 and 1 other repository</h2>\n\n\`\`\`sh\ndocker pull ${A}:T-2\n\`\`\`\n`)).toBe(true)
      expect(md).toContain(`<p>index <code title="${INDEX}">sha256:0123456789ab</code> · 3 platform(s) · 2 repositories</p>`)
    })

    it('says why the tag has a rebuild suffix', () => {
      expect(md).toContain(
        `<p><strong>Why this tag:</strong> ${A}:T-1 exists (the newest of its series) with other content, so if-tag-exists: suffix publishes T-2.</p>`
      )
      expect(md.indexOf('Why this tag')).toBeLessThan(md.indexOf('<h3>Tags</h3>'))
    })

    it('says why a run that could have skipped as unchanged was built (a published digest without this run\'s signature)', () => {
      expect(md).toContain(
        `<p><strong>Why it was built:</strong> ${A}:T-1 carries this build's fingerprint, but cosign verify accepts no signature by the key given as &quot;sign-key&quot; on its index: building.</p>`
      )
      expect(md.indexOf('Why it was built')).toBeLessThan(md.indexOf('Why this tag'))
    })

    it('groups the tags per repository: index tags, then TAG-ARCH', () => {
      expect(md).toContain(
        `<tr><td><code>${A}</code></td><td><code>T-2</code> <code>latest</code></td><td><code>T-2-amd64</code> <code>T-2-arm64</code> <code>T-2-s390x</code></td></tr>`
      )
      expect(md).toContain(`<tr><td><code>${B}</code></td><td><code>T-2</code> <code>latest</code></td>`)
      expect(md).not.toContain(`<code>${A}:T-2-amd64</code>`)
    })

    it('shows every digest short, the whole one on hover only', () => {
      expect(md).toContain(`<code title="${digest('2')}">sha256:222222222222</code>`)
      expect(md.match(/<code>sha256:[0-9a-f]{64}<\/code>/g)).toBeNull()
      // the whole digests are only in title attributes and the verify command the user copies
      const outside = md.replace(/title="[^"]*"/g, '').replace(/<pre>cosign verify[^<]*<\/pre>/, '')
      expect(outside).not.toMatch(/[0-9a-f]{64}/)
    })

    it('says per platform whether it ran natively or under QEMU, and its build time', () => {
      expect(md).toContain('<tr><th>Platform</th><th>Digest</th><th>Size</th><th>Built on</th><th>Build time</th><th>Under QEMU</th></tr>')
      expect(md).toContain(`<tr><td>linux/amd64</td><td><code title="${digest('1')}">sha256:111111111111</code></td><td>1.5 KiB</td><td>this runner: native</td><td>59.0 s</td><td>–</td></tr>`)
      expect(md).toContain(
        '<td>this runner: emulated (QEMU)</td><td>6 min 52 s</td><td>6 min 51 s of RUN steps; slowest <code>build 4/4 RUN go build -o &lt;x&gt; .</code> (6 min 49 s)</td></tr>'
      )
      // emulated, though no RUN step ran under QEMU: not called native
      expect(md).toContain('<td>linux/s390x</td><td><code title="')
      expect(md).toContain('<td>4.5 KiB</td><td>this runner: emulated (QEMU)</td><td>0.2 s</td><td>no RUN step ran under QEMU</td></tr>')
      expect(md).toContain('<p>The index also holds 1 attestation manifest(s) (<code>https://slsa.dev/provenance/v0.2</code>)')
    })

    it('says what was signed, by whom, and the command that verifies it; every signature folded', () => {
      expect(md).toContain('<h3>Signatures</h3>')
      expect(md).toContain('<p>Signed the index and 3 platform manifest(s) in each of 2 repositories: 8 signature(s), by the key given as &quot;sign-key&quot;')
      expect(md).toContain(`<pre>cosign verify --key cosign.pub ${A}@${INDEX}</pre>`)
      expect(md).toContain('<details><summary>Every signature (8; cosign stores them as <code>sha256-&lt;digest&gt;.sig</code> tags)</summary>')
      expect(md).toContain(`<td><code title="${B}:sha256-${digest('3').slice(7)}.sig">${B}:sha256-333333333333….sig</code></td>`)
      expect(md).toContain('<pre>-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----</pre>')
    })

    it('folds the phase timeline, with its total, after everything else', () => {
      expect(md).toContain('<details><summary>Timeline (1 min 3 s)</summary>\n\n<table><tr><th>Phase</th><th>Time</th></tr><tr><td>Log in</td><td>2.0 s</td></tr>')
      expect(md).toContain('  Build 3 platforms :2000, 60000ms\n')
      expect(md.trimEnd().endsWith('```\n\n</details>')).toBe(true)
      expect(md.indexOf('<h3>Signatures</h3>')).toBeLessThan(md.indexOf('Timeline ('))
    })
  })

  it('of an unchanged run: says it skipped, with the pull command, the tags and digests, nothing built', async () => {
    const md = await rendered({ ...base, tag: 'T-1', repositories: [A], result: 'unchanged', published: publishResult([`${A}:T-1`, `${A}:T-1-amd64`]) })
    expect(md).toContain(`<h2>Skipped: unchanged ${A}:T-1</h2>\n\n\`\`\`sh\ndocker pull ${A}:T-1\n\`\`\``)
    expect(md).toContain('<strong>skipped: unchanged: T-1 already holds this build</strong> (the same fingerprint): nothing was built or pushed.')
    expect(md).toContain(`<tr><td><code>${A}</code></td><td><code>T-1</code></td><td><code>T-1-amd64</code></td></tr>`)
    expect(md).toContain('<tr><th>Platform</th><th>Digest</th><th>Built on</th></tr>')
    expect(md).toContain(`<tr><td>linux/arm64</td><td><code title="${digest('2')}">sha256:222222222222</code></td><td>not built: the tag holds it already</td></tr>`)
    expect(md).not.toContain('Build time')
    expect(md).not.toContain('Why this tag')
  })

  it('of a run that built without pushing: no pull command, no tags, the platforms with their build times', async () => {
    const md = await rendered({ ...base, result: 'built', published: publishResult([], { pushed: false, platformDigests: {} }), buildTimes: BUILD_TIMES })
    expect(md).toContain(`<h2>Built, not pushed ${A}:T-2 and 1 other repository</h2>\n<p>3 platform(s) · 2 repositories</p>`)
    expect(md).not.toContain('docker pull')
    expect(md).not.toContain('<h3>Tags</h3>')
    expect(md).toContain('<tr><th>Platform</th><th>Built on</th><th>Build time</th><th>Under QEMU</th></tr>')
    expect(md).toContain('<tr><td>linux/amd64</td><td>this runner: native</td><td>59.0 s</td><td>–</td></tr>')
    expect(md).toContain('<tr><td>linux/s390x</td><td>this runner: emulated (QEMU)</td><td>0.2 s</td><td>no RUN step ran under QEMU</td></tr>')
  })

  it('a platform whose every step was cached took no build time', () => {
    const [, row] = platformTable({ result: 'built', published: publishResult([]), platforms: ['linux/arm64'], buildTimes: [{ platform: 'linux/arm64', seconds: 0, emulatedSeconds: 0, native: false, steps: 0 }] })
    expect(row).toEqual(['linux/arm64', `<code title="${digest('2')}">sha256:222222222222</code>`, 'this runner: emulated (QEMU)', 'cached: no step ran', 'no RUN step ran under QEMU'])
  })

  it('names the build node a platform was built on, natively, and nothing under QEMU for it', () => {
    const [head, arm, ppc] = platformTable({
      result: 'built',
      published: publishResult([], { pushed: false, platformDigests: {} }),
      platforms: ['linux/arm64', 'linux/ppc64le'],
      buildTimes: [
        { platform: 'linux/arm64', seconds: 12.5, emulatedSeconds: 0, native: true, steps: 3, node: 'arm64-1' },
        { platform: 'linux/ppc64le', seconds: 30, emulatedSeconds: 20, native: false, steps: 3 }
      ]
    })
    expect(head).toEqual(['Platform', 'Built on', 'Build time', 'Under QEMU'])
    expect(arm).toEqual(['linux/arm64', 'remote node <code>arm64-1</code>: native', '12.5 s', '–'])
    expect(ppc).toEqual(['linux/ppc64le', 'this runner: emulated (QEMU)', '30.0 s', '20.0 s of RUN steps'])
  })

  const leg = (platform: string, runner: string, attempt: number): LegRecord => ({
    platform,
    run: { id: '7', attempt },
    runner,
    buildSeconds: 45,
    tag: 'T-2',
    created: '',
    configuration: '',
    manifest: digest('4'),
    recordDigest: digest('5'),
    reference: `${A}:go-build-action-leg-0123456789ab-${platform.split('/')[1]}`,
    statement: '',
    signature: ''
  })

  it('of a leg: what it pushed by digest and where its record is, no pull command', async () => {
    const md = await rendered({
      ...base,
      platforms: ['linux/arm64'],
      result: 'leg',
      published: publishResult([]),
      reports: [REPORTS[1]!],
      buildTimes: [BUILD_TIMES[1]!],
      legs: { role: 'leg', records: [leg('linux/arm64', 'r (Linux/X64)', 1)] }
    })
    expect(md).toContain(`<h2>Pushed linux/arm64 by digest for the merge of ${A}:T-2 and 1 other repository</h2>`)
    expect(md).not.toContain('docker pull')
    expect(md).toContain(`<li><code>${A}:go-build-action-leg-0123456789ab-arm64</code> (<code title="${digest('5')}">sha256:555555555555</code>)</li>`)
    expect(md).toContain('<td>this runner: emulated (QEMU)</td><td>6 min 52 s</td>')
  })

  it('of a merge: each platform built on its leg\'s runner, natively or under QEMU, with the leg\'s build time', async () => {
    const md = await rendered({
      ...base,
      platforms: ['linux/arm64', 'linux/ppc64le', 'linux/386', 'linux/riscv64'],
      result: 'published',
      published: publishResult([`${A}:T-2`]),
      legs: {
        role: 'merge',
        records: [leg('linux/arm64', 'arm (Linux/ARM64)', 1), leg('linux/ppc64le', 'x (Linux/X64)', 2), leg('linux/386', 'x (Linux/X64)', 1), leg('linux/riscv64', '<b>', 1)]
      }
    })
    expect(md).toContain(`<h2>Published ${A}:T-2 and 1 other repository</h2>`)
    expect(md).toContain('<tr><th>Platform</th><th>Digest</th><th>Built on</th><th>Build time</th></tr>')
    expect(md).toContain("<td>arm (Linux/ARM64): native</td><td>45.0 s (the leg's build)</td>")
    expect(md).toContain("<td>x (Linux/X64) (run attempt 2): emulated (QEMU)</td><td>45.0 s (the leg's build)</td>")
    expect(md).toContain('<td>linux/386</td><td>–</td><td>x (Linux/X64): native</td>')
    expect(md).toContain('<td>&lt;b&gt;: architecture unknown</td>')
  })
})

describe('parts of the summary', () => {
  it('tagChoiceSentence explains a suffix or an overwrite, and says nothing of a free tag or of the legs\' choice', () => {
    const previous = { tag: 'T', reference: 'r:T', manifest: '{}' }
    expect(tagChoiceSentence({ tag: 'T', push: true }, 'suffix', false)).toBeUndefined()
    expect(tagChoiceSentence({ tag: 'T-1', push: false, previous }, 'suffix', false)).toBeUndefined()
    expect(tagChoiceSentence({ tag: 'T-1', push: true, previous }, 'suffix', false)).toBe('r:T exists (the newest of its series) with other content, so if-tag-exists: suffix publishes T-1')
    expect(tagChoiceSentence({ tag: 'T', push: true }, 'overwrite', false)).toBe('if-tag-exists: overwrite: T moves to this build whatever it held')
    expect(tagChoiceSentence({ tag: 'T-3', push: true }, 'suffix', true)).toBeUndefined()
  })

  it('shortDigest keeps what is not a digest whole', () => {
    expect(shortDigest('sha512:' + 'ab'.repeat(64))).toBe(`<code title="sha512:${'ab'.repeat(64)}">sha512:abababababab</code>`)
    expect(shortDigest('<none>')).toBe('<code>&lt;none&gt;</code>')
  })

  it('escapes what the user controls in the heading and the pull command', () => {
    expect(escapeHtml(headingOf({ result: 'published', repositories: ['r'], tag: '<img src=x>', platforms: [] }))).toBe('Published r:&lt;img src=x&gt;')
    expect(pullCommand('r', '<img>`x')).toBe('<pre>docker pull r:&lt;img&gt;`x</pre>')
    expect(pullCommand('localhost:5000/a/b', 'v1.2')).toBe('\n```sh\ndocker pull localhost:5000/a/b:v1.2\n```\n')
  })

  it('tagRows leaves a repository with no tag out and tells apart a repository whose name extends another', () => {
    expect(tagRows(['r:T', 'r/x:T', 'r/x:T-amd64'], ['r', 'r/x', 'q'], 'T', ['linux/amd64'])).toEqual([
      ['<code>r</code>', '<code>T</code>', '–'],
      ['<code>r/x</code>', '<code>T</code>', '<code>T-amd64</code>']
    ])
  })
})

describe('the failure summary', () => {
  it('names what it was publishing, shows short digests, and names the failed phase in the folded timeline', async () => {
    const file = await summaryFile()
    try {
      const records = [
        { reference: `${A}:T-amd64`, repository: A, kind: 'platform' as const, target: digest('a'), previous: '', outcome: 'moved' as const, now: digest('a') },
        { reference: `${A}:T`, repository: A, kind: 'index' as const, target: INDEX, previous: digest('b'), outcome: 'not-moved' as const, now: digest('b') }
      ]
      await writeFailureSummary('the registry <refused>', [...TIMINGS.slice(0, 2), { name: 'Move tags', startMs: 62_000, durationMs: 1000, ok: false }], records)
      const md = await readFile(file, 'utf8')
      expect(md).toContain(`<h2>go-build-action failed publishing ${A}:T</h2>\n<p>the registry &lt;refused&gt;</p>`)
      expect(md).toContain(`<td><code>${A}:T</code></td><td><code title="${digest('b')}">sha256:bbbbbbbbbbbb</code></td><td><code title="${INDEX}">sha256:0123456789ab</code></td><td>not moved</td>`)
      expect(md).toContain('<details><summary>Timeline (1 min 3 s; failed in Move tags)</summary>')
      expect(md).toContain('<td>Move tags</td><td>1.0 s (failed)</td>')
      await writeFile(file, '')
      await writeFailureSummary('bad input', [], [])
      expect(await readFile(file, 'utf8')).toBe('<h2>go-build-action failed</h2>\n<p>bad input</p>\n<p>No tag a user pulls was moved.</p>\n')
    } finally {
      await writeFile(file, '')
    }
  })
})
