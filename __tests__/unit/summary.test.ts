import { describe, expect, it } from '@jest/globals'
import { formatBytes } from '../../src/core/format.js'
import { buildTimeRows, escapeHtml, formatDuration, moveRows, timingChart } from '../../src/report/summary.js'
import { failureOutputs } from '../../src/report/outputs.js'
import type { MoveRecord } from '../../src/publish/transaction.js'
import { Phases } from '../../src/core/phases.js'

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
    expect(rows[0]).toEqual(['<code>r1:t-amd64</code>', `<code>${D('0')}</code>`, `<code>${D('a')}</code>`, 'moved, then put back to its previous digest'])
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

describe('buildTimeRows', () => {
  it('shows each platform\'s step time, the part under QEMU and the slowest emulated step', () => {
    expect(
      buildTimeRows([
        { platform: 'linux/amd64', seconds: 59, emulatedSeconds: 0, native: true, steps: 4 },
        { platform: 'linux/arm64', seconds: 412.3, emulatedSeconds: 410.5, native: false, steps: 4, slowestEmulated: { name: 'build 4/4 RUN go build -o <x> .', seconds: 409 } },
        { platform: 'linux/s390x', seconds: 0.2, emulatedSeconds: 0, native: false, steps: 2 }
      ])
    ).toEqual([
      ['linux/amd64', '59.0 s', 'none (native)', ''],
      ['linux/arm64', '6 min 52 s', '6 min 51 s', '<code>build 4/4 RUN go build -o &lt;x&gt; .</code> (6 min 49 s)'],
      ['linux/s390x', '0.2 s', 'none (emulated, but no RUN step ran)', '']
    ])
  })
})
