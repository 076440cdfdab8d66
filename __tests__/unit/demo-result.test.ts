import { describe, expect, it } from '@jest/globals'
import { formatSeconds, parseOutputs, resultLines, shortDigest } from '../../scripts/demo-result.mjs'
import { readmeSummary, SHOWN_REPOSITORY, withSummary } from '../../scripts/readme-summary.mjs'

const digest = `sha256:${'4606'.repeat(16)}`
const raw = {
  tag: 'demo',
  digest,
  tags: 'localhost:5000/demo/hello:demo\nlocalhost:5000/demo/hello:demo-amd64',
  images: `localhost:5000/demo/hello@${digest}`,
  'platform-digests': JSON.stringify({ 'linux/amd64': 'sha256:aa', 'linux/s390x': 'sha256:bb' }),
  'qemu-platforms': 'linux/s390x',
  manifest: '{\n  "schemaVersion": 2\n}',
  versions: '{}',
  pushed: 'true',
  builder: 'go-build-action-1'
}

describe('the demo result', () => {
  it('parses the step outputs: lists always as arrays, JSON decoded, booleans, the rest as strings', () => {
    expect(parseOutputs({ ...raw, 'builder-platforms': '', note: '[not json' })).toEqual({
      tag: 'demo',
      digest,
      tags: ['localhost:5000/demo/hello:demo', 'localhost:5000/demo/hello:demo-amd64'],
      images: [`localhost:5000/demo/hello@${digest}`],
      'platform-digests': { 'linux/amd64': 'sha256:aa', 'linux/s390x': 'sha256:bb' },
      'qemu-platforms': ['linux/s390x'],
      manifest: { schemaVersion: 2 },
      versions: {},
      pushed: true,
      builder: 'go-build-action-1',
      'builder-platforms': [],
      note: '[not json'
    })
  })

  it('shortens digests and writes times as the summary does', () => {
    expect(shortDigest(digest)).toBe('sha256:460646064606')
    expect(shortDigest('not a digest')).toBe('not a digest')
    expect(formatSeconds(8.44)).toBe('8.4 s')
    expect(formatSeconds(170.6)).toBe('2 min 51 s')
  })

  it('prints image, tag, short digest, platforms, time, the docker run line and the files', () => {
    const lines = resultLines({
      exitCode: 0,
      postExitCode: 0,
      outputs: parseOutputs(raw),
      image: 'ignored/when/an/output/names/it',
      seconds: 42,
      runnerPath: 'hosted',
      files: ['demo-out/hosted/outputs.json (the step outputs, parsed)', 'demo-out/hosted/summary.md (the job summary)']
    })
    expect(lines).toEqual([
      '  result     succeeded',
      '  path       hosted',
      '  image      localhost:5000/demo/hello',
      '  tag        demo (2 references in all, in outputs.json)',
      '  digest     sha256:460646064606 (the index; full digest in outputs.json)',
      '  platforms  linux/amd64, linux/s390x (s390x run through QEMU here)',
      "  time       42.0 s (the action's main and post steps)",
      '  try        docker run --rm --platform linux/s390x localhost:5000/demo/hello:demo',
      '  wrote      demo-out/hosted/outputs.json (the step outputs, parsed)',
      '             demo-out/hosted/summary.md (the job summary)'
    ])
  })

  it('reads the outputs of later versions by name: result, platforms, images as repositories', () => {
    const lines = resultLines({
      exitCode: 0,
      postExitCode: 0,
      outputs: parseOutputs({
        result: 'published',
        tag: 'demo',
        digest,
        images: 'localhost:5000/demo/hello\nlocalhost:5001/demo/hello',
        platforms: '["linux/amd64","linux/arm64"]'
      }),
      image: 'localhost:5000/demo/hello'
    })
    expect(lines).toContain('  result     published')
    expect(lines).toContain('  image      localhost:5000/demo/hello')
    expect(lines).toContain('  platforms  linux/amd64, linux/arm64')
    // no s390x in the run: the line to try uses a platform it has
    expect(lines).toContain('  try        docker run --rm --platform linux/amd64 localhost:5000/demo/hello:demo')
  })

  it('says when a run without a result output moved no tag', () => {
    const outputs = parseOutputs({ tag: 'demo', digest, moves: '[]' })
    expect(resultLines({ exitCode: 0, postExitCode: 0, outputs, image: 'i' })[0]).toBe(
      '  result  succeeded; no tag moved (the summary says why)'
    )
  })

  it('says a run failed, with both exit codes, and offers nothing to run', () => {
    const lines = resultLines({
      exitCode: 1,
      postExitCode: 0,
      outputs: parseOutputs({ result: 'failed', tag: 'demo', moves: '[]' }),
      image: 'localhost:5000/demo/hello'
    })
    expect(lines[0]).toBe('  result  failed: main step exit 1, post step exit 0 (the log above says why)')
    expect(lines).toContain('  image   localhost:5000/demo/hello')
    expect(lines.some(line => line.includes('docker run'))).toBe(false)
    const post = resultLines({ exitCode: 0, postExitCode: 1, outputs: { result: 'published' }, image: 'i' })
    expect(post[0]).toBe(
      '  result  published, but the run failed: main step exit 0, post step exit 1 (the log above says why)'
    )
  })
})

describe('the README\'s job summary (scripts/readme-summary.mjs)', () => {
  const repository = 'localhost:5000/readme/hello-1796624188'
  const summary = [
    `<h2>Published ${repository}:v1.2.3</h2>`,
    '',
    `docker pull ${repository}:v1.2.3`,
    '',
    '<details><summary>Timeline (3.0 s)</summary>',
    '',
    '<table><tr><td>Build</td></tr></table>',
    '',
    '</details>',
    ''
  ].join('\n')

  it('renames the run\'s repository, leaves the timeline out, and says so under it', () => {
    const block = readmeSummary(summary, repository)
    expect(block).toContain(`<h2>Published ${SHOWN_REPOSITORY}:v1.2.3</h2>`)
    expect(block).toContain(`docker pull ${SHOWN_REPOSITORY}:v1.2.3`)
    expect(block).not.toContain('Timeline')
    expect(block.split('\n').pop()).toBe(
      "(A real run on the hosted path against a local registry: `npm run readme-summary` wrote it, with the run's repository `localhost:5000/readme/hello-…` replaced by `ghcr.io/OWNER/hello` and the folded timeline left out.)"
    )
  })

  it('refuses a summary that still names a loopback registry, and a README without the markers', () => {
    expect(() => readmeSummary(`${summary}\nFROM localhost:5000/base/busybox`, repository)).toThrow(/loopback/)
    expect(() => withSummary('# no markers\n', 'x')).toThrow(/no <!-- summary:start -->/)
    expect(withSummary('a\n<!-- summary:start -->\nold\n<!-- summary:end -->\nb\n', 'new')).toBe('a\n<!-- summary:start -->\n\nnew\n\n<!-- summary:end -->\nb\n')
  })
})
