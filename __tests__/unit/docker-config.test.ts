import { describe, expect, it, jest } from '@jest/globals'
import { execFile } from 'node:child_process'
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, realpath, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import {
  buildxNodeIdFile,
  createJobDockerConfig,
  JOB_CREDENTIAL_HELPER,
  storeLoginHere,
  useDockerConfig,
  withoutCredentials,
  writeCredentialHelper
} from '../../src/setup/docker-config.js'

const auth = (user: string, password: string): string => Buffer.from(`${user}:${password}`).toString('base64')

/** A runner's docker config directory: a buildx plugin of its own, a buildx directory, and `config`. */
async function runnerConfig(config?: object): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'runner-docker-config-'))
  await mkdir(path.join(dir, 'cli-plugins'))
  await writeFile(path.join(dir, 'cli-plugins', 'docker-buildx'), 'the runner user\'s own buildx')
  await writeFile(path.join(dir, 'cli-plugins', 'docker-compose'), 'the runner user\'s own compose')
  await mkdir(path.join(dir, 'buildx'))
  if (config) await writeFile(path.join(dir, 'config.json'), JSON.stringify(config))
  return dir
}

// the helper's tests start a node process per lookup (up to ten in a test, one after another): jest's 5 s default
// is what a loaded 2-core machine misses (seen once during a stress run), not a bound the tests claim
jest.setTimeout(60_000)

/** Runs the credential helper script as docker does: `ACTION` as its argument, the server URL on standard input. */
function helper(script: string, action: string, input = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise(resolve => {
    const child = execFile(script, [action], (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }))
    child.stdin?.end(input)
  })
}

describe('the job\'s own docker config', () => {
  it('links every entry of the runner\'s but config.json, and each of its plugins; removing it removes the links only', async () => {
    const runner = await runnerConfig({ auths: {}, currentContext: 'ci', proxies: { default: { httpProxy: 'http://proxy:3128' } } })
    const work = await mkdtemp(path.join(tmpdir(), 'job-'))
    const { dir } = await createJobDockerConfig(work, { DOCKER_CONFIG: runner })
    expect((await readdir(dir)).sort()).toEqual(['buildx', 'cli-plugins', 'config.json'])
    expect(await readlink(path.join(dir, 'buildx'))).toBe(await realpath(path.join(runner, 'buildx')))
    expect((await lstat(path.join(dir, 'cli-plugins'))).isDirectory()).toBe(true)
    expect((await readdir(path.join(dir, 'cli-plugins'))).sort()).toEqual(['docker-buildx', 'docker-compose'])
    expect(await readlink(path.join(dir, 'cli-plugins', 'docker-buildx'))).toBe(await realpath(path.join(runner, 'cli-plugins', 'docker-buildx')))
    // config.json is the job's own file: the runner's settings, and what the job writes stays in the job
    expect((await lstat(path.join(dir, 'config.json'))).isFile()).toBe(true)
    expect(JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8'))).toEqual({ auths: {}, currentContext: 'ci', proxies: { default: { httpProxy: 'http://proxy:3128' } } })
    await writeFile(path.join(dir, 'config.json'), '{"auths":{"x":{"auth":"eDp5"}}}')
    expect(JSON.parse(await readFile(path.join(runner, 'config.json'), 'utf8'))).toEqual({ auths: {}, currentContext: 'ci', proxies: { default: { httpProxy: 'http://proxy:3128' } } })
    await rm(work, { recursive: true, force: true })
    expect(await readFile(path.join(runner, 'cli-plugins', 'docker-buildx'), 'utf8')).toBe('the runner user\'s own buildx')
    expect((await readdir(runner)).sort()).toEqual(['buildx', 'cli-plugins', 'config.json'])
  })

  it('works where the runner has no docker config at all', async () => {
    const work = await mkdtemp(path.join(tmpdir(), 'job-'))
    const { dir } = await createJobDockerConfig(work, { DOCKER_CONFIG: path.join(work, 'no-such-dir'), HOME: path.join(work, 'home') })
    expect((await readdir(dir)).sort()).toEqual(['buildx', 'cli-plugins', 'config.json'])
    expect(JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8'))).toEqual({ auths: {} })
  })

  it('gives buildx one node identifier across jobs where the runner has no buildx directory, kept in the user\'s go-build-action directory, and links the runner\'s where it has one', async () => {
    const home = await mkdtemp(path.join(tmpdir(), 'job-home-'))
    const ids: string[] = []
    for (let job = 0; job < 2; job++) {
      const work = await mkdtemp(path.join(tmpdir(), 'job-'))
      const { dir } = await createJobDockerConfig(work, { DOCKER_CONFIG: path.join(work, 'no-such-dir'), HOME: home })
      expect((await lstat(path.join(dir, 'buildx'))).isDirectory()).toBe(true)
      ids.push(await readFile(path.join(dir, 'buildx', '.buildNodeID'), 'utf8'))
      await rm(work, { recursive: true, force: true })
    }
    expect(ids[0]).toMatch(/^[0-9a-f]{16}$/)
    expect(ids[1]).toBe(ids[0])
    expect(await readFile(buildxNodeIdFile(home), 'utf8')).toBe(ids[0])
    // a runner with its own buildx directory: that one is linked, its identifier (buildx's) untouched
    const runner = await runnerConfig()
    await writeFile(path.join(runner, 'buildx', '.buildNodeID'), 'runner0000000000')
    const work = await mkdtemp(path.join(tmpdir(), 'job-'))
    const { dir } = await createJobDockerConfig(work, { DOCKER_CONFIG: runner, HOME: home })
    expect(await readlink(path.join(dir, 'buildx'))).toBe(await realpath(path.join(runner, 'buildx')))
    expect(await readFile(path.join(dir, 'buildx', '.buildNodeID'), 'utf8')).toBe('runner0000000000')
    await rm(work, { recursive: true, force: true })
    await rm(home, { recursive: true, force: true })
  })

  it('copies no credential: a login config.json holds is read through the action\'s helper, which reads the runner\'s file when asked', async () => {
    const runner = await runnerConfig({ auths: { 'localhost:5001': { auth: auth('e2e-user', 'pa:ss') } } })
    const work = await mkdtemp(path.join(tmpdir(), 'job-'))
    const job = await createJobDockerConfig(work, { DOCKER_CONFIG: runner })
    const text = await readFile(path.join(job.dir, 'config.json'), 'utf8')
    expect(text).not.toContain(auth('e2e-user', 'pa:ss'))
    expect(JSON.parse(text)).toEqual({ auths: {}, credHelpers: { 'localhost:5001': JOB_CREDENTIAL_HELPER } })
    const script = path.join(job.bin, `docker-credential-${JOB_CREDENTIAL_HELPER}`)
    expect(await readFile(script, 'utf8')).not.toContain('pa:ss')
    expect(await helper(script, 'get', 'localhost:5001')).toEqual({ code: 0, stdout: JSON.stringify({ ServerURL: 'localhost:5001', Username: 'e2e-user', Secret: 'pa:ss' }), stderr: '' })
    // read when asked: a later logout of the runner's own is seen
    await writeFile(path.join(runner, 'config.json'), '{"auths":{}}')
    expect(await helper(script, 'get', 'localhost:5001')).toEqual({ code: 1, stdout: 'credentials not found in native keychain\n', stderr: '' })
  })
})

describe('withoutCredentials', () => {
  it.each([
    ['nothing', {}, { auths: {} }, []],
    [
      'a login in config.json, under its key and its host',
      { auths: { 'https://index.docker.io/v1/': { auth: auth('u', 'p') } } },
      { auths: {}, credHelpers: { 'https://index.docker.io/v1/': JOB_CREDENTIAL_HELPER, 'index.docker.io': JOB_CREDENTIAL_HELPER } },
      ['https://index.docker.io/v1/']
    ],
    [
      'a credential store: its entries stay its own',
      { credsStore: 'pass', auths: { 'ghcr.io': {}, 'quay.io': { auth: auth('u', 'p') } } },
      { credsStore: 'pass', auths: {} },
      []
    ],
    [
      'helpers per registry, and a login config.json holds for another',
      { credHelpers: { '123.dkr.ecr.us-east-1.amazonaws.com': 'ecr-login' }, auths: { 'localhost:5001': { identitytoken: 'tok' } } },
      { auths: {}, credHelpers: { '123.dkr.ecr.us-east-1.amazonaws.com': 'ecr-login', 'localhost:5001': JOB_CREDENTIAL_HELPER } },
      ['localhost:5001']
    ],
    ['an entry without credentials', { auths: { 'localhost:5001': { email: 'x@example.com' } } }, { auths: {} }, []]
  ])('%s', (_what, runner, config, proxied) => {
    expect(withoutCredentials(runner)).toEqual({ config, proxied })
  })
})

describe('the action\'s credential helper', () => {
  async function script(config: object, node = process.execPath): Promise<string> {
    const dir = await mkdtemp(path.join(tmpdir(), 'helper-'))
    const file = path.join(dir, 'config.json')
    await writeFile(file, JSON.stringify(config))
    await mkdir(path.join(dir, 'bin'))
    return writeCredentialHelper(path.join(dir, 'bin'), node, file)
  }

  it('runs the action\'s node wherever it is (a path with a space and a quote)', async () => {
    const odd = path.join(await mkdtemp(path.join(tmpdir(), 'helper-')), "actions runner's node")
    await symlink(process.execPath, odd)
    const program = await script({ auths: { 'localhost:5001': { auth: auth('u', 'p') } } }, odd)
    expect(JSON.parse((await helper(program, 'get', 'localhost:5001')).stdout)).toEqual({ ServerURL: 'localhost:5001', Username: 'u', Secret: 'p' })
  })

  it('answers get as docker\'s own lookup would (the exact key, else the same host; identity tokens), list, and stores nothing', async () => {
    const program = await script({
      auths: {
        'https://index.docker.io/v1/': { auth: auth('hub-user', 'hub-pass') },
        'localhost:5001': { identitytoken: 'id-tok' },
        'quay.io': { username: 'q', password: 'qp' },
        'broken.example': { auth: 'bm9jb2xvbg==' }
      }
    })
    expect(JSON.parse((await helper(program, 'get', 'https://index.docker.io/v1/')).stdout)).toEqual({ ServerURL: 'https://index.docker.io/v1/', Username: 'hub-user', Secret: 'hub-pass' })
    expect(JSON.parse((await helper(program, 'get', 'index.docker.io')).stdout)).toEqual({ ServerURL: 'index.docker.io', Username: 'hub-user', Secret: 'hub-pass' })
    expect(JSON.parse((await helper(program, 'get', 'localhost:5001\n')).stdout)).toEqual({ ServerURL: 'localhost:5001', Username: '<token>', Secret: 'id-tok' })
    expect(JSON.parse((await helper(program, 'get', 'quay.io')).stdout)).toEqual({ ServerURL: 'quay.io', Username: 'q', Secret: 'qp' })
    expect(await helper(program, 'get', 'broken.example')).toMatchObject({ code: 1, stdout: 'credentials not found in native keychain\n' })
    expect(await helper(program, 'get', 'ghcr.io')).toMatchObject({ code: 1, stdout: 'credentials not found in native keychain\n' })
    expect(JSON.parse((await helper(program, 'list')).stdout)).toEqual({ 'https://index.docker.io/v1/': 'hub-user', 'localhost:5001': '<token>', 'quay.io': 'q' })
    for (const action of ['store', 'erase']) {
      const refused = await helper(program, action, JSON.stringify({ ServerURL: 'ghcr.io', Username: 'u', Secret: 's' }))
      expect(refused.code).toBe(1)
      expect(refused.stderr).toMatch(new RegExp(`stores nothing: "${action}" refused`))
    }
  })
})

describe('storeLoginHere and useDockerConfig', () => {
  it('names no helper for a registry the action logs into, keeping the others', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'job-'))
    await writeFile(path.join(dir, 'config.json'), JSON.stringify({ auths: {}, credsStore: 'pass', credHelpers: { 'localhost:5001': JOB_CREDENTIAL_HELPER, 'ghcr.io': 'gh' } }))
    await storeLoginHere(dir, 'localhost:5001')
    await storeLoginHere(dir, '')
    expect(JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8'))).toEqual({
      auths: {},
      credsStore: 'pass',
      credHelpers: { 'localhost:5001': '', 'ghcr.io': 'gh', 'https://index.docker.io/v1/': '' }
    })
  })

  it('points every later command at the job\'s config, its helper first on PATH', () => {
    const env: NodeJS.ProcessEnv = { PATH: '/usr/bin:/bin', DOCKER_CONFIG: '/home/runner/.docker' }
    useDockerConfig({ dir: '/tmp/w/docker-config', bin: '/tmp/w/bin' }, env)
    expect(env).toEqual({ PATH: '/tmp/w/bin:/usr/bin:/bin', DOCKER_CONFIG: '/tmp/w/docker-config' })
  })
})
