import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { FakeDocker } from '../../__fixtures__/fake-docker.js'
import { parseCommandFile } from '../../scripts/run-action.mjs'
import { runPost } from '../../src/post.js'
import { createWorkDir, LEDGER, ownName, saveJsonState, saveState, State } from '../../src/core/state.js'

/** The post step's view: a fake docker recording each command with the DOCKER_CONFIG it ran with. */
function docker(env: NodeJS.ProcessEnv) {
  const calls: Array<{ args: string; dockerConfig?: string }> = []
  const fake = new FakeDocker()
  const record = (args: readonly string[]) => {
    calls.push({ args: args.join(' '), dockerConfig: env.DOCKER_CONFIG })
    return {}
  }
  fake.on(['buildx', 'rm'], record).on(['context', 'inspect'], record).on(['context', 'rm'], record).on(['image', 'rm'], record)
  return { fake, calls }
}

describe('the post step acts only on what this run\'s main step recorded', () => {
  let temp: string
  let outside: string
  let stateFile: string
  let output: string[]
  let write: ReturnType<typeof jest.spyOn>
  const saved = { ...process.env }

  beforeEach(async () => {
    temp = await mkdtemp(path.join(tmpdir(), 'post-runner-temp-'))
    outside = await mkdtemp(path.join(tmpdir(), 'post-outside-'))
    await writeFile(path.join(outside, 'keep'), 'someone else\'s')
    stateFile = path.join(temp, 'state-file')
    await writeFile(stateFile, '')
    for (const name of Object.keys(process.env)) if (name.startsWith('STATE_')) delete process.env[name]
    process.env.GITHUB_STATE = stateFile
    output = []
    write = jest.spyOn(process.stdout, 'write').mockImplementation(chunk => {
      output.push(String(chunk))
      return true
    })
  })

  afterEach(() => {
    write.mockRestore()
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name]
    Object.assign(process.env, saved)
  })

  /** The main step of a run on the docker-container driver: its work directory, docker config, builder, a local name. */
  async function mainStep(): Promise<{ workDir: string; marker: string; state: Record<string, string> }> {
    const { workDir, marker } = await createWorkDir({ RUNNER_TEMP: temp })
    await mkdir(path.join(workDir, 'docker-config'))
    saveState(State.DockerConfig, path.join(workDir, 'docker-config'))
    saveJsonState(State.Logins, ['localhost:5001'])
    saveState(State.Builder, ownName(marker))
    saveJsonState(State.LocalImages, ['localhost:5000/app:go-build-action-staging-1'])
    return { workDir, marker, state: parseCommandFile(await readFile(stateFile, 'utf8')) }
  }

  /** The post step with `state` as the runner hands it over (STATE_*). */
  async function post(state: Record<string, string>) {
    for (const [name, value] of Object.entries(state)) process.env[`STATE_${name}`] = value
    const env: NodeJS.ProcessEnv = { RUNNER_TEMP: temp, PATH: '/usr/bin' }
    const { fake, calls } = docker(env)
    await runPost(fake, env)
    const warnings = output.join('').split('\n').filter(l => l.startsWith('::warning::'))
    return { calls, warnings }
  }

  it('removes the recorded local names and builder with the job\'s own DOCKER_CONFIG, then the work directory; no warning', async () => {
    const { workDir, marker, state } = await mainStep()
    expect(path.basename(workDir)).toBe(`go-build-action-${marker}`)
    expect(marker).toMatch(/^[0-9a-f]{32}$/)
    const { calls, warnings } = await post(state)
    const dockerConfig = path.join(workDir, 'docker-config')
    expect(calls).toEqual([
      { args: 'image rm localhost:5000/app:go-build-action-staging-1', dockerConfig },
      { args: `buildx rm go-build-action-${marker}`, dockerConfig }
    ])
    expect(existsSync(workDir)).toBe(false)
    expect(warnings).toEqual([])
    expect(output.join('')).toContain('logged out of localhost:5001 (its login was in the job\'s docker config only, now removed)')
  })

  it('ignores every value something else saved, with one warning each, and still cleans up what was recorded', async () => {
    const { workDir, marker, state } = await mainStep()
    const forged = {
      ...state,
      workDir: outside,
      dockerConfig: outside,
      builder: 'the-runners-builder',
      dockerContext: 'default',
      localImages: JSON.stringify(['ubuntu:24.04']),
      logins: JSON.stringify([''])
    }
    const { calls, warnings } = await post(forged)
    expect(calls.map(c => c.args)).toEqual(['image rm localhost:5000/app:go-build-action-staging-1', `buildx rm go-build-action-${marker}`])
    expect(calls.every(c => c.dockerConfig === path.join(workDir, 'docker-config'))).toBe(true)
    expect(await readFile(path.join(outside, 'keep'), 'utf8')).toBe('someone else\'s')
    expect(existsSync(workDir)).toBe(false)
    for (const name of ['workDir', 'dockerConfig', 'builder', 'dockerContext', 'localImages', 'logins']) {
      expect(warnings.filter(w => w.includes(`the state "${name}" holds a value this run's main step did not record`))).toHaveLength(1)
    }
    expect(warnings).toHaveLength(6)
  })

  it('a value saved where the main step saved none (a context on the docker-container path) is ignored too', async () => {
    const { state } = await mainStep()
    const { calls, warnings } = await post({ ...state, dockerContext: 'go-build-action-0123456789abcdef0123456789abcdef' })
    expect(calls.map(c => c.args).filter(a => a.startsWith('context'))).toEqual([])
    expect(warnings).toEqual([expect.stringContaining('the state "dockerContext" holds a value')])
  })

  describe('a forged run marker does nothing', () => {
    it.each([
      ['a path', '../../../../tmp'],
      ['not hex', 'go-build-action-0123'],
      ['a marker of no work directory', 'f'.repeat(32)]
    ])('%s', async (_what, run) => {
      const { workDir, state } = await mainStep()
      const { calls, warnings } = await post({ ...state, run, workDir: outside })
      expect(calls).toEqual([])
      expect(existsSync(workDir)).toBe(true)
      expect(await readFile(path.join(outside, 'keep'), 'utf8')).toBe('someone else\'s')
      expect(warnings[0]).toMatch(/post step: the state "run" (is not a run marker of this action|names no work directory this run made): nothing of this run is removed/)
    })

    it('a work directory of the right name that is a link (to a directory elsewhere)', async () => {
      const marker = 'a'.repeat(32)
      await writeFile(path.join(outside, LEDGER), JSON.stringify({ run: marker, builder: ownName(marker) }))
      await symlink(outside, path.join(temp, `go-build-action-${marker}`))
      const { calls, warnings } = await post({ run: marker, workDir: path.join(temp, `go-build-action-${marker}`) })
      expect(calls).toEqual([])
      expect(await readFile(path.join(outside, 'keep'), 'utf8')).toBe('someone else\'s')
      expect(warnings[0]).toContain('names no work directory this run made')
    })

    it('a work directory without a ledger, or whose ledger holds another marker', async () => {
      const marker = 'b'.repeat(32)
      const dir = path.join(temp, `go-build-action-${marker}`)
      await mkdir(dir)
      expect((await post({ run: marker })).warnings[0]).toContain('names a work directory without a readable ledger')
      await writeFile(path.join(dir, LEDGER), JSON.stringify({ run: 'c'.repeat(32), builder: ownName(marker) }))
      const { calls, warnings } = await post({ run: marker })
      expect(warnings.at(-1)).toContain('does not match the ledger of the work directory it names')
      expect(calls).toEqual([])
      expect(existsSync(dir)).toBe(true)
    })
  })

  it('removes no builder or context the ledger names but this run\'s own', async () => {
    const { workDir, marker, state } = await mainStep()
    saveState(State.Builder, 'another-builder')
    saveState(State.DockerContext, `go-build-action-${'0'.repeat(32)}`)
    const { calls, warnings } = await post({ ...state, builder: 'another-builder', dockerContext: `go-build-action-${'0'.repeat(32)}` })
    expect(calls.map(c => c.args)).toEqual(['image rm localhost:5000/app:go-build-action-staging-1'])
    expect(warnings).toEqual([
      expect.stringContaining('the recorded "builder" is not this run\'s own name: not removed'),
      expect.stringContaining('the recorded "dockerContext" is not this run\'s own name: not removed')
    ])
    expect(existsSync(workDir)).toBe(false)
    expect(marker).not.toBe('0'.repeat(32))
  })

  it('does nothing, and says nothing, when the main step made no work directory (it failed before)', async () => {
    const { calls, warnings } = await post({ isPost: 'true' })
    expect({ calls, warnings }).toEqual({ calls: [], warnings: [] })
  })

  it('removes links in the work directory, never what they point at', async () => {
    const { workDir, state } = await mainStep()
    await symlink(outside, path.join(workDir, 'docker-config', 'buildx'))
    await post(state)
    expect(existsSync(workDir)).toBe(false)
    expect(await readFile(path.join(outside, 'keep'), 'utf8')).toBe('someone else\'s')
  })
})
