import { describe, expect, it } from '@jest/globals'
import { buildTimeRows, escapeHtml, formatBytes, formatDuration, timingChart } from '../../src/summary.js'
import { Phases } from '../../src/phases.js'

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

describe('buildTimeRows', () => {
  it('shows each platform\'s step time, the part under QEMU and the slowest emulated step', () => {
    expect(
      buildTimeRows([
        { platform: 'linux/amd64', seconds: 59, emulatedSeconds: 0, steps: 4 },
        { platform: 'linux/arm64', seconds: 412.3, emulatedSeconds: 410.5, steps: 4, slowestEmulated: { name: 'build 4/4 RUN go build -o <x> .', seconds: 409 } }
      ])
    ).toEqual([
      ['linux/amd64', '59.0 s', 'none (native)', ''],
      ['linux/arm64', '6 min 52 s', '6 min 51 s', '<code>build 4/4 RUN go build -o &lt;x&gt; .</code> (6 min 49 s)']
    ])
  })
})
