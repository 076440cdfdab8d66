/**
 * Output of the commands the action runs cannot issue workflow commands, on both runner paths: a Dockerfile
 * `RUN` and the verify command print lines that start with `::`, and the legacy `##[command]` form the runner
 * reads anywhere in a line (`##[save-state …]`, `##[add-mask]`, `##[set-output …]`, `##[stop-commands]`); the
 * runner must see them only as text.
 */
import { beforeAll, expect, it } from '@jest/globals'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { BASE_IMAGE, expectSucceeded, freshRepository, MINUTES, requireEnvironment } from './support/environment.js'
import { describeEachPath, runOnPath } from './support/paths.js'

beforeAll(requireEnvironment, MINUTES)

/**
 * Whether the runner would take a log line for a command: `::name` at the start (after whitespace), or the legacy
 * `##[name …]` anywhere (the runner looks for the first `##[` and a `]` after it).
 */
function issuesCommand(line: string): boolean {
  return /^\s*::[a-z-]+/i.test(line) || /##\[[a-z-]+[^\]]*\]/i.test(line)
}

describeEachPath('workflow commands in command output', builderPath => {
  it('a "::" line or a "##[command]" anywhere in a line, from a Dockerfile RUN or the verify command, is echoed inert, and the run publishes', async () => {
    const context = await mkdtemp(path.join(tmpdir(), 'go-build-action-commands-'))
    await writeFile(
      path.join(context, 'Dockerfile'),
      [
        'ARG BASE_IMAGE',
        'FROM ${BASE_IMAGE}',
        'RUN echo "::error::injected-by-a-dockerfile-run" && echo "step ##[save-state name=builder]injected-builder" && echo "##[add-mask]injected-mask" && echo "x ##[set-output name=digest]injected-digest ##[stop-commands]injected-token"',
        ''
      ].join('\n')
    )
    const run = await runOnPath(builderPath, {
      cwd: context,
      inputs: {
        images: freshRepository('commands'),
        'tag-template': 'commands',
        platforms: 'linux/amd64,linux/arm64',
        'build-args': `BASE_IMAGE=${BASE_IMAGE}`,
        provenance: 'false',
        'verify-command': 'echo ::error::injected-by-the-image ##[save-state name=workDir]/injected-by-the-image'
      }
    })
    expectSucceeded(run)
    const lines = [run.main.log, run.post?.log ?? ''].flatMap(log => log.split('\n'))
    expect(lines.filter(l => issuesCommand(l) && l.includes('injected'))).toEqual([])
    // the text is still there, for the user to read
    expect(lines.filter(l => l === '| ::error::injected-by-the-image ## [save-state name=workDir]/injected-by-the-image')).toHaveLength(2)
    expect(lines.some(l => l.includes('step ## [save-state name=builder]injected-builder'))).toBe(true)
    expect(lines.some(l => l.includes('## [add-mask]injected-mask'))).toBe(true)
    expect(lines.some(l => l.includes('x ## [set-output name=digest]injected-digest ## [stop-commands]injected-token'))).toBe(true)
    // and nothing acted on it: no output, no state, nothing masked
    expect(JSON.stringify([run.outputs, run.state])).not.toContain('injected')
    expect(run.main.log).not.toMatch(/^::add-mask::injected/m)
  }, 10 * MINUTES)
})
