import { describe, expect, it } from '@jest/globals'
import { chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { Writable } from 'node:stream'
import {
  boundOf,
  BUILDX_PLUGIN_ARGS,
  BuildxPlugin,
  childEnvironment,
  CancelledError,
  cancelCommands,
  resetCancelForTests,
  createDocker,
  DEFAULT_TIMEOUT,
  DockerCommandError,
  describeArgs,
  lastLines,
  registryIn,
  runWithRetries,
  timeoutSentence,
  type CommandResult
} from '../../src/core/docker.js'
import { buildkitPushTracker } from '../../src/build/build.js'

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
    expect(describeArgs(['--context', 'go-build-action-1', 'buildx', 'build', '--builder', 'go-build-action-1', '.'])).toBe('buildx build')
  })
  it('keeps the last lines, where the cause is', () => {
    expect(lastLines('a\n\nb\nc\nd\n', 2)).toBe('c | d')
    expect(lastLines('')).toBe('(no output)')
  })
})

describe('bounds', () => {
  it('a registry operation is bounded by registry-timeout, others by the default, unless the command says', () => {
    expect(boundOf({ retry: { ...policy, timeoutSeconds: 7 } })).toEqual({ seconds: 7, input: 'registry-timeout' })
    expect(boundOf({})).toEqual(DEFAULT_TIMEOUT)
    expect(boundOf({ retry: policy, timeout: { seconds: 3, input: 'verify-timeout' } })).toEqual({ seconds: 3, input: 'verify-timeout' })
  })

  it('names the registry the command talks to and the input', () => {
    expect(registryIn(['buildx', 'imagetools', 'inspect', '--raw', 'localhost:5999/e2e/x:t'])).toBe('localhost:5999')
    expect(registryIn(['buildx', 'imagetools', 'create', '--tag', 'ghcr.io/o/x:t', 'ghcr.io/o/x@sha256:ab'])).toBe('ghcr.io')
    expect(registryIn(['image', 'rm', 'x'])).toBeUndefined()
    expect(timeoutSentence(['push', 'localhost:5999/x:t'], { seconds: 5, input: 'registry-timeout' })).toBe(
      'no answer from localhost:5999 within 5 s (input "registry-timeout"): the registry accepted the connection and did not answer; check that localhost:5999 is up; raise "registry-timeout" if it needs longer'
    )
  })

  it('kills the whole process group when a command runs past its bound', async () => {
    // `sh` stands in for the docker binary: a child that starts a grandchild, as buildx starts its plugin
    const sh = createDocker('sh')
    const result = await sh.run(['-c', 'sleep 600 & echo $!; wait'], { silent: true, allowFailure: true, timeout: { seconds: 1, input: 'verify-timeout' } })
    expect(result.timedOut).toEqual({ seconds: 1, input: 'verify-timeout' })
    // the grandchild held the output pipe open for 600 s: the run ended (within this test's 30 s) only because it
    // was killed too
    expect(['gone', 'Z']).toContain(await processState(Number(result.stdout.trim())))
  }, 30_000)

  it('says which command was killed and why, and retries it as a transient fault', async () => {
    const timedOut = { exitCode: 137, stdout: '', stderr: 'timed out', timedOut: { seconds: 2, input: 'registry-timeout' } }
    const s = scripted([timedOut])
    await expect(runWithRetries(s.once, ['push', 'localhost:5999/x:t'], { retry: policy }, s.sleep)).rejects.toThrow(
      'docker push localhost:5999/x:t was killed after 3 attempts: no answer from localhost:5999 within 2 s (input "registry-timeout")'
    )
    expect(s.calls).toHaveLength(3)
  })
})

/** A process's state (`Z` for a zombie) a moment later, or `gone`. */
async function processState(pid: number): Promise<string> {
  await new Promise(resolve => setTimeout(resolve, 200))
  return readFile(`/proc/${pid}/stat`, 'utf8').then(
    stat => stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3),
    () => 'gone'
  )
}

describe('a transfer\'s bound counts silence, not the whole command', () => {
  // Wall time is what these show (real processes, real pipes), so every margin is wide: a line every 0.25 s against
  // a 2 s bound holds even when this process is held up for a second (a loaded 2-core machine).
  const PUSHING = 'for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14; do echo "layer $i: Pushed"; sleep 0.25; done'

  it('a transfer that keeps printing progress runs past its bound; one that goes silent is killed one bound after its last line', async () => {
    const sh = createDocker('sh')
    const bound = { seconds: 2, input: 'registry-timeout', progress: true }
    // fourteen lines, 0.25 s apart: 3.5 s in all, never 2 s of silence
    const moving = await sh.run(['-c', PUSHING], { silent: true, allowFailure: true, timeout: bound })
    expect(moving.timedOut).toBeUndefined()
    expect(moving.stdout.trim().split('\n')).toHaveLength(14)
    // the same bound, fixed, cuts it before its last line
    const fixed = await sh.run(['-c', PUSHING], { silent: true, allowFailure: true, timeout: { seconds: 2 } })
    expect(fixed.timedOut).toEqual({ seconds: 2 })
    expect(fixed.stdout).not.toContain('layer 14:')
    // layers pushed, then a manifest PUT that is never answered (600 s: only the bound ends it within this test)
    const hung = await sh.run(['-c', 'echo "a: Pushed"; sleep 0.25; echo "b: Pushed"; sleep 600'], { silent: true, allowFailure: true, timeout: bound })
    expect(hung.timedOut).toEqual(bound)
    expect(hung.stdout).toBe('a: Pushed\nb: Pushed\n')
    expect(timeoutSentence(['push', 'localhost:5999/x:t'], bound)).toMatch(/^no answer from localhost:5999 for 2 s \(input "registry-timeout"\) after its last progress/)
  }, 30_000)
})

describe('a stall bound: silence bounded only while a transfer inside a longer command is open', () => {
  // the tracker of BuildKit's push: `#N pushing …` opens vertex N, its lines are progress, `#N DONE` closes it
  // registry-timeout 1.5 s: the manifest PUT gets 1.5 s of silence, the layer upload 10 × 1.5 s
  const stall = { input: 'registry-timeout', tracker: buildkitPushTracker(1.5) }
  const bound = { seconds: 60, stall }

  it('a silent build step (no push open) runs past the stall bound', async () => {
    const sh = createDocker('sh')
    const quiet = await sh.run(['-c', 'echo "#5 [linux/arm64 build 3/4] RUN make"; sleep 2.5; echo "#5 DONE 2.5s"'], { silent: true, allowFailure: true, timeout: bound })
    expect(quiet.timedOut).toBeUndefined()
    expect(quiet.exitCode).toBe(0)
  }, 30_000)

  it('a layer upload may be silent for longer; a push that closes frees the command of the bound', async () => {
    const sh = createDocker('sh')
    // a layer upload that prints nothing for 2.5 s (BuildKit prints no bytes), then the manifest (a short silence:
    // the manifest's bound is 1.5 s), then the end, after which 2 s of silence are the build's own
    const script = 'echo "#9 pushing layers"; sleep 2.5; echo "#9 pushing layers 2.5s done"; echo "#9 pushing manifest for localhost:5999/x"; sleep 0.1; echo "#9 DONE 2.7s"; sleep 2'
    const moving = await sh.run(['-c', script], { silent: true, allowFailure: true, timeout: bound })
    expect(moving.timedOut).toBeUndefined()
  }, 30_000)

  it('a push that goes silent is killed one stall bound after its last line, even while another vertex prints', async () => {
    const sh = createDocker('sh')
    // the export to the local layout (#10) goes on printing, for 30 s, while the push (#9) hangs on its manifest PUT
    const script =
      'echo "#9 pushing layers"; echo "#9 pushing manifest for localhost:5999/x@sha256:ab"; ' +
      'i=0; while [ $i -lt 120 ]; do sleep 0.25; i=$((i + 1)); echo "#10 exporting layers $i"; done; echo "#10 DONE 30s"; sleep 30'
    const hung = await sh.run(['-c', script], { silent: true, allowFailure: true, timeout: bound })
    expect(hung.timedOut).toEqual({ seconds: 1.5, input: 'registry-timeout', progress: true })
    // killed while #10 still printed
    expect(hung.stdout).not.toContain('#10 DONE')
    expect(hung.stderr).toContain('timed out: it made no progress for 1.5 s (input "registry-timeout")')
  }, 30_000)
})

describe('standard output into a stream (a build\'s export)', () => {
  /** A sink collecting what it receives. */
  const collector = () => {
    const parts: Buffer[] = []
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        parts.push(chunk)
        done()
      }
    })
    return { sink, bytes: () => Buffer.concat(parts) }
  }

  it('hands every byte to the stream, none to the result; the bounds read standard error', async () => {
    const c = collector()
    const result = await createDocker('sh').run(['-c', 'head -c 4194304 /dev/zero; printf "\\001\\377"; echo done >&2'], { silent: true, stdoutTo: () => c.sink })
    expect(result.stdout).toBe('')
    expect(result.stderr).toBe('done\n')
    const bytes = c.bytes()
    expect(bytes.length).toBe(4 * 1024 * 1024 + 2)
    expect([...bytes.subarray(-2)]).toEqual([1, 255])
  }, 30_000)

  it('drains the rest when the stream fails: the command is never left blocked on its output', async () => {
    const failing = new Writable({
      write(_chunk, _encoding, done) {
        done(new Error('not a tar'))
      }
    })
    const result = await createDocker('sh').run(['-c', 'head -c 16777216 /dev/zero; echo finished >&2'], { silent: true, stdoutTo: () => failing, timeout: { seconds: 20 } })
    expect(result.timedOut).toBeUndefined()
    expect(result).toMatchObject({ exitCode: 0, stderr: 'finished\n' })
  }, 30_000)

  it('gives each attempt a fresh stream', async () => {
    const marker = path.join(await mkdtemp(path.join(tmpdir(), 'docker-test-')), 'tried')
    const sinks: Array<ReturnType<typeof collector>> = []
    const sh = createDocker('sh', async () => undefined)
    const script = `if [ -f ${marker} ]; then echo second; else touch ${marker}; echo first; echo "503 Service Unavailable" >&2; exit 1; fi`
    await sh.run(['-c', script], { silent: true, retry: policy, stdoutTo: () => sinks[sinks.push(collector()) - 1]!.sink })
    expect(sinks.map(s => s.bytes().toString())).toEqual(['first\n', 'second\n'])
  }, 30_000)
})

describe('a quiet transfer (BuildKit\'s layer upload): bounded by what its process writes, where that can be read', () => {
  // registry-timeout 1 s: the layer upload's silence is capped at 10 s; its activity (a byte count, read every
  // second) must grow by a step within 1 s
  const tracker = buildkitPushTracker(1)
  const layers = 'echo "#9 pushing layers"; sleep 4; echo "#9 pushing layers 4s done"; echo "#9 DONE 4s"'
  const counting = (grow: number) => {
    let count = 1_000_000
    return async (): Promise<number | undefined> => (count += grow)
  }
  const run = (script: string, read: () => Promise<number | undefined>) =>
    createDocker('sh').run(['-c', script], {
      silent: true,
      allowFailure: true,
      timeout: { seconds: 60, stall: { input: 'registry-timeout', tracker, activity: { seconds: 1, step: 4096, read } } }
    })

  it('an upload whose bytes keep moving runs past the bound, though it prints nothing for 4 s', async () => {
    const moving = await run(layers, counting(50_000))
    expect(moving.timedOut).toBeUndefined()
    expect(moving.exitCode).toBe(0)
  }, 30_000)

  it('an upload whose process writes nothing (or only a few bytes: an idle buildkitd\'s wakeups) is killed one registry-timeout after, not ten', async () => {
    for (const grow of [0, 8]) {
      const hung = await run('echo "#9 pushing layers"; sleep 30', counting(grow))
      // the activity bound (1 s) killed it, not the 10 s of silence the layer upload gets without it
      expect({ grow, timedOut: hung.timedOut }).toEqual({ grow, timedOut: { seconds: 1, input: 'registry-timeout', progress: true } })
    }
  }, 60_000)

  it('an activity that cannot be read decides nothing: the layer upload keeps its ten registry-timeouts of silence', async () => {
    const unread = await run(layers, async () => undefined)
    expect(unread.timedOut).toBeUndefined()
    expect(unread.exitCode).toBe(0)
  }, 30_000)
})

describe('a cancelled job', () => {
  it('starts no further command, and retries none', async () => {
    const sh = createDocker('sh')
    cancelCommands()
    try {
      await expect(sh.run(['-c', 'echo started'], { silent: true })).rejects.toThrow(CancelledError)
      await expect(sh.run(['-c', 'echo started'], { silent: true })).rejects.toThrow(/was not started: the job was cancelled/)
    } finally {
      resetCancelForTests()
    }
    const s = scripted([{ exitCode: 1, stderr: '500 Internal Server Error' }])
    const once = async (args: readonly string[]): Promise<CommandResult> => {
      const result = await s.once(args)
      cancelCommands()
      return result
    }
    await expect(runWithRetries(once, ['push', 'r:1'], { retry: policy }, s.sleep)).rejects.toThrow(DockerCommandError)
    expect(s.calls).toHaveLength(1)
    resetCancelForTests()
  })
})

describe('childEnvironment', () => {
  it('drops every INPUT_* variable (passwords, logins, secrets, tokens, signing keys) and keeps the rest', () => {
    const env = childEnvironment(
      {
        PATH: '/bin',
        DOCKER_CONFIG: '/d',
        ACTIONS_RUNTIME_TOKEN: 'cache-token',
        INPUT_PASSWORD: 'p',
        INPUT_LOGINS: 'l',
        INPUT_SECRETS: 's',
        'INPUT_GITHUB-TOKEN': 'g',
        'INPUT_SECRET-ENVS': 'e',
        'INPUT_SIGN-KEY': 'k',
        'INPUT_SIGN-KEY-PASSWORD': 'kp',
        input_lower: 'x'
      },
      { COSIGN_YES: 'true' }
    )
    expect(env).toEqual({ PATH: '/bin', DOCKER_CONFIG: '/d', COSIGN_YES: 'true' })
  })

  it("drops the runner's credentials, the services they open and the files that steer later steps; keeps the rest of the runner's variables", () => {
    const runner = {
      ACTIONS_RUNTIME_TOKEN: 'runtime-token',
      ACTIONS_RUNTIME_URL: 'https://pipelines.example/',
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'oidc-request-token',
      ACTIONS_ID_TOKEN_REQUEST_URL: 'https://oidc.example/',
      ACTIONS_CACHE_URL: 'https://cache.example/',
      ACTIONS_RESULTS_URL: 'https://results.example/',
      ACTIONS_CACHE_SERVICE_V2: 'True',
      GITHUB_ENV: '/runner/env',
      GITHUB_PATH: '/runner/path',
      GITHUB_OUTPUT: '/runner/output',
      GITHUB_STATE: '/runner/state',
      GITHUB_STEP_SUMMARY: '/runner/summary'
    }
    const kept = { GITHUB_ACTIONS: 'true', GITHUB_REPOSITORY: 'o/r', GITHUB_SHA: 'abc', RUNNER_TEMP: '/tmp/r', ACTIONS_STEP_DEBUG: 'true', HOME: '/home/runner' }
    expect(childEnvironment({ ...runner, ...kept })).toEqual(kept)
    // one command may be given what it needs (the gha cache's share, for the build that uses it)
    expect(childEnvironment({ ...runner, ...kept }, { ACTIONS_RUNTIME_TOKEN: 'runtime-token' })).toEqual({ ...kept, ACTIONS_RUNTIME_TOKEN: 'runtime-token' })
  })

  it('is what a command the wrapper runs sees', async () => {
    const withheld = { INPUT_PASSWORD: 'must-not-reach-the-child', ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'must-not-reach-the-child-either', GITHUB_ENV: '/must/not/reach' }
    Object.assign(process.env, withheld)
    try {
      const result = await createDocker('sh').run(['-c', 'env'], { silent: true, env: { ADDED: 'yes' } })
      expect(result.stdout).not.toContain('must-not-reach')
      expect(result.stdout).not.toMatch(/^(INPUT_|ACTIONS_ID_TOKEN|GITHUB_ENV=)/m)
      expect(result.stdout).toMatch(/^ADDED=yes$/m)
    } finally {
      for (const name of Object.keys(withheld)) delete process.env[name]
    }
  })
})

describe('a command beside others (a build on one of several nodes)', () => {
  it('is killed with its whole process group when its signal aborts, is not retried, and none starts once aborted', async () => {
    const sh = createDocker('sh')
    const controller = new AbortController()
    // the grandchild sleeps 600 s holding the output pipe: the run ends within this test's 30 s only if the abort
    // killed the whole group
    const running = sh.run(['-c', 'sleep 600 & echo $!; wait'], { silent: true, allowFailure: true, signal: controller.signal })
    setTimeout(() => controller.abort(new Error('the build on node "arm64-1" failed')), 300)
    const result = await running
    expect(result.exitCode).not.toBe(0)
    expect(['gone', 'Z']).toContain(await processState(Number(result.stdout.trim())))
    await expect(sh.run(['-c', 'echo started'], { silent: true, signal: controller.signal })).rejects.toThrow('was not started: Error: the build on node "arm64-1" failed')
    const s = scripted([{ exitCode: 1, stderr: '500 Internal Server Error' }])
    await expect(runWithRetries(s.once, ['push', 'r:1'], { retry: policy, signal: controller.signal }, s.sleep)).rejects.toThrow(DockerCommandError)
    expect(s.calls).toHaveLength(1)
  }, 30_000)

  it('echoes each line, its command line too, with its prefix', async () => {
    const sh = createDocker('sh')
    const written: string[] = []
    const write = process.stdout.write.bind(process.stdout)
    process.stdout.write = ((chunk: string) => (written.push(String(chunk)), true)) as typeof process.stdout.write
    try {
      await sh.run(['-c', 'echo "#5 [2/2] RUN make"; echo "#5 DONE 0.1s" >&2'], { prefix: '[arm64-1] ' })
    } finally {
      process.stdout.write = write
    }
    expect(written.join('')).toMatch(/^\[arm64-1\] \[command\]sh -c /)
    expect(written.join('')).toContain('[arm64-1] #5 [2/2] RUN make\n')
    expect(written.join('')).toContain('[arm64-1] #5 DONE 0.1s\n')
  })
})

describe("docker's buildx plugin, run standalone", () => {
  /**
   * A `docker` that names `answer` as its buildx plugin when asked (`info`, counted in `asked`) and otherwise says
   * it ran, and a plugin that says it ran with what argv.
   */
  async function fakeDocker(answer: (dir: string) => string): Promise<{ dir: string; docker: string; asked: () => Promise<number> }> {
    const dir = await mkdtemp(path.join(tmpdir(), 'buildx-plugin-'))
    const docker = path.join(dir, 'docker')
    await writeFile(docker, `#!/bin/sh\nif [ "$1" = info ]; then echo "$*" >> "${dir}/asked"; echo "${answer(dir)}"; exit 0; fi\necho "docker $*"\n`)
    await writeFile(path.join(dir, 'docker-buildx'), '#!/bin/sh\necho "plugin $*"\n')
    await chmod(docker, 0o755)
    await chmod(path.join(dir, 'docker-buildx'), 0o755)
    const asked = async (): Promise<number> => (await readFile(path.join(dir, 'asked'), 'utf8').catch(() => '')).split('\n').filter(l => l !== '').length
    return { dir, docker, asked }
  }

  it('runs a buildx command as the plugin docker names, without "buildx", logged as docker buildx; any other command through docker; docker is asked once', async () => {
    const { dir, docker, asked } = await fakeDocker(d => path.join(d, 'docker-buildx'))
    const cli = createDocker(docker)
    const written: string[] = []
    const write = process.stdout.write.bind(process.stdout)
    process.stdout.write = ((chunk: string) => (written.push(String(chunk)), true)) as typeof process.stdout.write
    try {
      expect((await cli.run(['buildx', 'imagetools', 'inspect', '--raw', 'r:1'])).stdout).toBe('plugin imagetools inspect --raw r:1\n')
    } finally {
      process.stdout.write = write
    }
    expect((await cli.run(['buildx', 'version'], { silent: true })).stdout).toBe('plugin version\n')
    expect((await cli.run(['push', 'r:1'], { silent: true })).stdout).toBe('docker push r:1\n')
    expect((await cli.run(['--context', 'node', 'buildx', 'build', '.'], { silent: true })).stdout).toBe('docker --context node buildx build .\n')
    expect(written.join('')).toContain(`[command]${docker} buildx imagetools inspect --raw r:1\n`)
    expect(await readFile(path.join(dir, 'asked'), 'utf8')).toBe(`${BUILDX_PLUGIN_ARGS.join(' ')}\n`)
    expect(await asked()).toBe(1)
  })

  it('runs a buildx command through docker when docker names no plugin, or a path that is not absolute', async () => {
    for (const answer of ['', 'docker-buildx']) {
      const { docker, asked } = await fakeDocker(() => answer)
      expect((await createDocker(docker).run(['buildx', 'version'], { silent: true })).stdout).toBe('docker buildx version\n')
      expect(await asked()).toBe(1)
    }
  })

  it('asks docker again next time when it could not be asked (a docker that did not start), and names no plugin meanwhile', async () => {
    const { dir, docker, asked } = await fakeDocker(d => path.join(d, 'docker-buildx'))
    const absent = path.join(dir, 'not-yet', 'docker')
    const plugin = new BuildxPlugin(absent, { DOCKER_CONFIG: dir })
    expect(await plugin.path()).toBeUndefined()
    await mkdir(path.dirname(absent))
    await writeFile(absent, await readFile(docker))
    await chmod(absent, 0o755)
    expect(await plugin.path()).toBe(path.join(dir, 'docker-buildx'))
    expect(await asked()).toBe(1)
  })

  it('asks docker again when DOCKER_CONFIG changes, or a plugin is put in its cli-plugins directory, and not otherwise', async () => {
    const { docker, asked } = await fakeDocker(d => path.join(d, 'docker-buildx'))
    const config = await mkdtemp(path.join(tmpdir(), 'buildx-plugin-config-'))
    const env: NodeJS.ProcessEnv = { DOCKER_CONFIG: config }
    const plugin = new BuildxPlugin(docker, env)
    await plugin.path()
    await plugin.path()
    expect(await asked()).toBe(1)
    await mkdir(path.join(config, 'cli-plugins'))
    await plugin.path()
    expect(await asked()).toBe(2)
    await writeFile(path.join(config, 'cli-plugins', 'docker-buildx'), '')
    await plugin.path()
    expect(await asked()).toBe(3)
    await plugin.path()
    expect(await asked()).toBe(3)
    env.DOCKER_CONFIG = await mkdtemp(path.join(tmpdir(), 'buildx-plugin-config-'))
    expect(await plugin.path()).toBe(path.join(path.dirname(docker), 'docker-buildx'))
    expect(await asked()).toBe(4)
  })
})
