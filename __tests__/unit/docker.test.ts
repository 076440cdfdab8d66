import { describe, expect, it } from '@jest/globals'
import { DockerCommandError, describeArgs, lastLines, runWithRetries, type CommandResult } from '../../src/docker.js'

const policy = { attempts: 3, baseDelayMs: 100, maxDelayMs: 1000 }

function scripted(results: Array<Partial<CommandResult>>) {
  const calls: string[][] = []
  const once = async (args: readonly string[]): Promise<CommandResult> => {
    calls.push([...args])
    return { exitCode: 0, stdout: '', stderr: '', ...(results[calls.length - 1] ?? results.at(-1)) }
  }
  const sleeps: number[] = []
  const sleep = async (ms: number): Promise<void> => {
    sleeps.push(ms)
  }
  return { once, calls, sleeps, sleep }
}

describe('runWithRetries', () => {
  it('retries transient faults with backoff until one attempt passes', async () => {
    const s = scripted([{ exitCode: 1, stderr: '500 Internal Server Error' }, { exitCode: 1, stderr: 'connection reset by peer' }, { stdout: 'ok' }])
    const result = await runWithRetries(s.once, ['push', 'r:1'], { retry: policy }, s.sleep)
    expect(result.stdout).toBe('ok')
    expect(s.calls).toHaveLength(3)
    expect(s.sleeps).toEqual([100, 200])
  })

  it('gives up after the last attempt, saying how many it made', async () => {
    const s = scripted([{ exitCode: 1, stderr: 'unexpected status: 503 Service Unavailable' }])
    await expect(runWithRetries(s.once, ['push', 'r:1'], { retry: policy }, s.sleep)).rejects.toThrow(
      'docker push r:1 failed after 3 attempts (exit 1): unexpected status: 503 Service Unavailable'
    )
    expect(s.calls).toHaveLength(3)
  })

  it('never retries an authentication failure', async () => {
    const s = scripted([{ exitCode: 1, stderr: 'unauthorized: authentication required' }])
    const error = await runWithRetries(s.once, ['push', 'r:1'], { retry: policy }, s.sleep).catch(e => e as DockerCommandError)
    expect(error).toBeInstanceOf(DockerCommandError)
    expect((error as DockerCommandError).failure.kind).toBe('auth')
    expect(s.calls).toHaveLength(1)
  })

  it('does not retry without a policy, and returns failures when asked to', async () => {
    const s = scripted([{ exitCode: 1, stderr: '500 Internal Server Error' }])
    await expect(runWithRetries(s.once, ['push'], {}, s.sleep)).rejects.toThrow(DockerCommandError)
    const result = await runWithRetries(s.once, ['push'], { allowFailure: true, retry: policy }, s.sleep)
    expect(result.exitCode).toBe(1)
    expect(s.calls).toHaveLength(2)
  })
})

describe('describeArgs / lastLines', () => {
  it('names the subcommand without flags or values', () => {
    expect(describeArgs(['buildx', 'imagetools', 'create', '--tag', 'x', 'y'])).toBe('buildx imagetools create')
  })
  it('keeps the last lines, where the cause is', () => {
    expect(lastLines('a\n\nb\nc\nd\n', 2)).toBe('c | d')
    expect(lastLines('')).toBe('(no output)')
  })
})
