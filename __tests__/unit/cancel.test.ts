import { afterEach, describe, expect, it, jest } from '@jest/globals'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { onCancel } from '../../src/core/cancel.js'
import { CancelledError, createDocker, isCancelled, resetCancelForTests } from '../../src/core/docker.js'
import { withSecretFiles } from '../../src/core/secret-files.js'

describe('onCancel: what a cancelled job (SIGTERM, SIGINT) does', () => {
  const dirs: string[] = []
  const unregistrations: Array<() => void> = []
  /** Commands a test started, killed after it should it fail before the cancel did (only while still running: a pid once reaped may be reused). */
  const commands: Array<{ pid: number; running: boolean }> = []
  afterEach(async () => {
    for (const { pid, running } of commands.splice(0)) if (running) process.kill(pid, 'SIGKILL')
    for (const unregister of unregistrations.splice(0)) unregister()
    resetCancelForTests()
    jest.restoreAllMocks()
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true })
  })

  /** process.exit, recorded instead of ending the test process; resolves with its code. */
  function exitCalled(): Promise<number | undefined> {
    return new Promise(resolve => {
      jest.spyOn(process, 'exit').mockImplementation(((code?: number) => resolve(code)) as never)
    })
  }

  it.each(['SIGTERM', 'SIGINT'] as const)('%s: kills the running command, removes the secret files before the report, runs the report, then ends the step with exit 1; no command starts after', async signal => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cancel-test-'))
    dirs.push(dir)
    const exited = exitCalled()
    let secretFile = ''
    let secretAtReport: boolean | undefined
    const reports: string[] = []
    unregistrations.push(
      onCancel(async received => {
        secretAtReport = existsSync(secretFile)
        reports.push(received)
      })
    )
    // a command that runs until it is killed (it says when it runs), with a secret file that exists while it runs
    const shell = createDocker('sh')
    const started = path.join(dir, 'started')
    const command = withSecretFiles(dir, [{ name: 'key', content: 'secret' }], async ([file]) => {
      secretFile = file ?? ''
      return shell.run(['-c', `echo $$ > ${started}.tmp && mv ${started}.tmp ${started} && exec sleep 600`], { allowFailure: true, silent: true })
    })
    while (!existsSync(started)) await new Promise(resolve => setTimeout(resolve, 10))
    const child = { pid: Number(await readFile(started, 'utf8')), running: true }
    commands.push(child)
    void command.finally(() => (child.running = false))
    expect(existsSync(secretFile)).toBe(true)
    process.emit(signal, signal)
    expect(await exited).toBe(1)
    expect(reports).toEqual([signal])
    expect(secretAtReport).toBe(false)
    expect(isCancelled()).toBe(true)
    const killed = await command
    expect(killed.exitCode).not.toBe(0)
    expect(child.running).toBe(false)
    await expect(shell.run(['-c', 'true'], { silent: true })).rejects.toThrow(CancelledError)
  })

  it('the unregistration removes both listeners', () => {
    const before = { term: process.listenerCount('SIGTERM'), int: process.listenerCount('SIGINT') }
    const unregister = onCancel(async () => undefined)
    expect({ term: process.listenerCount('SIGTERM'), int: process.listenerCount('SIGINT') }).toEqual({ term: before.term + 1, int: before.int + 1 })
    unregister()
    expect({ term: process.listenerCount('SIGTERM'), int: process.listenerCount('SIGINT') }).toEqual(before)
  })
})
