/**
 * Output of the commands the action runs cannot issue workflow commands, on both runner paths: a Dockerfile
 * `RUN` and the verify command print lines that start with `::`; the runner must see them only as text.
 */
import { beforeAll, expect, it } from '@jest/globals'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { BASE_IMAGE, expectSucceeded, freshRepository, requireEnvironment } from './support/environment.js'
import { describeEachPath, runOnPath } from './support/paths.js'

const MINUTES = 60_000

beforeAll(requireEnvironment, MINUTES)

describeEachPath('workflow commands in command output', builderPath => {
  it('a "::" line from a Dockerfile RUN or the verify command is echoed inert, and the run publishes', async () => {
    const context = await mkdtemp(path.join(tmpdir(), 'go-build-action-commands-'))
    await writeFile(
      path.join(context, 'Dockerfile'),
      'ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo "::error::injected-by-a-dockerfile-run"\n'
    )
    const run = await runOnPath(builderPath, {
      cwd: context,
      inputs: {
        images: freshRepository('commands'),
        'tag-template': 'commands',
        platforms: 'linux/amd64,linux/arm64',
        'build-args': `BASE_IMAGE=${BASE_IMAGE}`,
        provenance: 'false',
        'verify-command': 'echo ::error::injected-by-the-image'
      }
    })
    expectSucceeded(run)
    const lines = run.main.log.split('\n')
    // the runner reads a workflow command from a line that starts with "::" (after whitespace)
    expect(lines.filter(l => /^\s*::(error|warning|set-output|add-mask|stop-commands)/.test(l) && l.includes('injected'))).toEqual([])
    expect(lines.filter(l => l === '| ::error::injected-by-the-image')).toHaveLength(2)
  }, 10 * MINUTES)
})
