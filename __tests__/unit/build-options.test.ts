import { describe, expect, it } from '@jest/globals'
import { mkdtemp, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { buildOptionArgs, configuredOptions, fingerprintedOptions, NO_BUILD_OPTIONS, readBuildOptions } from '../../src/build/build-options.js'
import { buildxBuildArgs } from '../../src/build/build.js'
import { InputError } from '../../src/core/input.js'

const reader =
  (values: Record<string, string>) =>
  (name: string): string =>
    values[name] ?? ''

async function workspace(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'build-options-'))
  await mkdir(path.join(dir, 'vendor'))
  await writeFile(path.join(dir, 'netrc'), 'machine github.com\nlogin x\npassword y\n')
  await writeFile(path.join(dir, 'agent.sock'), '')
  return dir
}

function inputError(values: Record<string, string>, env: NodeJS.ProcessEnv, cwd: string): InputError {
  try {
    readBuildOptions(reader(values), env, cwd)
  } catch (error) {
    if (error instanceof InputError) return error
    throw error
  }
  throw new Error('accepted')
}

describe('readBuildOptions and their buildx flags', () => {
  it('is empty without the inputs', async () => {
    expect(readBuildOptions(reader({}), {}, await workspace())).toEqual(NO_BUILD_OPTIONS)
    expect(buildOptionArgs(NO_BUILD_OPTIONS)).toEqual([])
  })

  it('turns every input into its flag; secrets by env=NAME or src=FILE, never a value', async () => {
    const cwd = await workspace()
    const options = readBuildOptions(
      reader({
        ssh: `default\ngithub=${cwd}/agent.sock`,
        'build-contexts': 'vendor=./vendor\nalpine=docker-image://localhost:5000/base/busybox\nbase=target:builder',
        'secret-envs': 'gh_token=GH_TOKEN\npem=SIGNING_PEM',
        'secret-files': 'netrc=netrc',
        network: 'None',
        'add-hosts': 'registry.local:10.0.0.5, v6.local=[::1]',
        allow: 'network.host',
        'shm-size': '2g',
        ulimit: 'nofile=1024:2048\ncore=-1'
      }),
      { SSH_AUTH_SOCK: `${cwd}/agent.sock`, GH_TOKEN: 'must-not-appear', SIGNING_PEM: '-----BEGIN-----\nabc\n-----END-----\n' },
      cwd
    )
    const args = buildOptionArgs(options)
    expect(args).toEqual([
      '--ssh', 'default',
      '--ssh', `github=${cwd}/agent.sock`,
      '--build-context', 'vendor=./vendor',
      '--build-context', 'alpine=docker-image://localhost:5000/base/busybox',
      '--build-context', 'base=target:builder',
      '--secret', 'id=gh_token,env=GH_TOKEN',
      '--secret', 'id=pem,env=SIGNING_PEM',
      '--secret', `id=netrc,src=${cwd}/netrc`,
      '--network', 'none',
      '--add-host', 'registry.local:10.0.0.5',
      '--add-host', 'v6.local:::1',
      '--allow', 'network.host',
      '--shm-size', '2g',
      '--ulimit', 'nofile=1024:2048',
      '--ulimit', 'core=-1'
    ])
    expect(args.join(' ')).not.toContain('must-not-appear')
    expect(args.join(' ')).not.toContain('BEGIN')
    const build = buildxBuildArgs({ context: '.', file: 'Dockerfile', platforms: [{ os: 'linux', architecture: 'amd64' }], output: { kind: 'none' }, buildArgs: [], metadataFile: 'm.json', options })
    expect(build.join(' ')).toContain(`--secret id=gh_token,env=GH_TOKEN --secret id=pem,env=SIGNING_PEM --secret id=netrc,src=${cwd}/netrc --network none`)
    expect(build.at(-1)).toBe('.')
    expect(options.buildContexts[0]?.dir).toBe(path.join(cwd, 'vendor'))
    // what changes the image goes into the fingerprint (never a secret's value; the named contexts are the fingerprint's own)
    expect(fingerprintedOptions(options)).toEqual([
      'ssh=default',
      'ssh=github',
      'secret=gh_token',
      'secret=pem',
      'secret=netrc',
      'network=none',
      'add-host=registry.local:10.0.0.5',
      'add-host=v6.local:::1',
      'allow=network.host'
    ])
    // a configuration names every named context as given (a local one by its path), secrets by id
    expect(configuredOptions(options).filter(o => o.startsWith('build-context='))).toEqual([
      'build-context=vendor=./vendor',
      'build-context=alpine=docker-image://localhost:5000/base/busybox',
      'build-context=base=target:builder'
    ])
    expect(configuredOptions(options).join('\n')).not.toMatch(/must-not-appear|BEGIN/)
  })

  it('counts the ids of the "secrets" input, never their values, in the fingerprint and the configuration', () => {
    const secrets = [{ id: 'npmrc', value: 'must-not-appear-secret-value' }]
    expect(fingerprintedOptions(NO_BUILD_OPTIONS, secrets)).toEqual(['secret=npmrc'])
    expect(configuredOptions(NO_BUILD_OPTIONS, secrets)).toEqual(['secret=npmrc'])
    expect(configuredOptions(NO_BUILD_OPTIONS, secrets)).not.toEqual(configuredOptions(NO_BUILD_OPTIONS))
    expect(configuredOptions(NO_BUILD_OPTIONS, secrets).join('\n')).not.toContain('must-not-appear')
  })

  it('reads a merge\'s build inputs (it builds nothing) by name alone: the secrets, agents and keys need not be there', async () => {
    const cwd = await workspace()
    const inputs = { ssh: 'default\ngithub=/nonexistent/key', 'secret-envs': 'tok=GH_TOKEN', 'secret-files': 'netrc=./missing', network: 'none' }
    expect(() => readBuildOptions(reader(inputs), {}, cwd)).toThrow(InputError)
    const merge = readBuildOptions(reader(inputs), {}, cwd, false)
    expect(configuredOptions(merge)).toEqual(['ssh=default', 'ssh=github', 'secret=tok', 'secret=netrc', 'network=none'])
  })

  it.each<[string, Record<string, string>, NodeJS.ProcessEnv, string, RegExp]>([
    ['ssh default without an agent', { ssh: 'default' }, {}, 'ssh', /default needs the runner's ssh agent, but SSH_AUTH_SOCK is not set: start an agent/],
    ['ssh default with a gone agent', { ssh: 'default' }, { SSH_AUTH_SOCK: '/nonexistent/agent' }, 'ssh', /SSH_AUTH_SOCK is \/nonexistent\/agent, which does not exist/],
    ['an ssh id without a path', { ssh: 'github' }, {}, 'ssh', /"github" names no agent socket or key: write github=PATH/],
    ['an ssh path that is not there', { ssh: 'github=/nonexistent/key' }, {}, 'ssh', /github: "\/nonexistent\/key" does not exist/],
    ['an ssh id twice', { ssh: 'a=netrc\na=netrc' }, {}, 'ssh', /id "a" is given twice/],
    ['a build context without =', { 'build-contexts': 'vendor' }, {}, 'build-contexts', /"vendor" is not name=value: write one name=value per line/],
    ['a build context directory that is not there', { 'build-contexts': 'x=./nope' }, {}, 'build-contexts', /x: directory "\.\/nope" does not exist/],
    ['a secret env that is not set', { 'secret-envs': 'tok=GH_TOKEN' }, {}, 'secret-envs', /tok: the environment variable GH_TOKEN is not set: set it in the step's env:/],
    ['a secret env naming an input', { 'secret-envs': 'pw=INPUT_PASSWORD' }, { INPUT_PASSWORD: 'x' }, 'secret-envs', /INPUT_PASSWORD is one of the step's input variables/],
    [
      "a secret env naming the runner's token",
      { 'secret-envs': 'tok=ACTIONS_ID_TOKEN_REQUEST_TOKEN' },
      { ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'x' },
      'secret-envs',
      /tok: ACTIONS_ID_TOKEN_REQUEST_TOKEN is one of the runner's own credentials or files, which no child process sees, nor a build: give the build a secret of its own/
    ],
    ['a secret env with a bad name', { 'secret-envs': 'tok=GH-TOKEN' }, {}, 'secret-envs', /"tok=GH-TOKEN" is not id=ENV_NAME/],
    ['a secret file that is not there', { 'secret-files': 'netrc=./missing' }, {}, 'secret-files', /netrc: file "\.\/missing" does not exist/],
    ['a secret id in both', { 'secret-envs': 'x=HOME', 'secret-files': 'x=netrc' }, { HOME: '/root' }, 'secret-files', /secret id "x" is given twice/],
    ['an unknown network', { network: 'bridge' }, {}, 'network', /"bridge" is not a network buildx gives RUN steps: write default, none, host/],
    ['a host without an ip', { 'add-hosts': 'registry.local' }, {}, 'add-hosts', /"registry.local" is not host:ip/],
    ['a host with a bad ip', { 'add-hosts': 'a:10.0.0.256' }, {}, 'add-hosts', /"a:10.0.0.256" is not host:ip/],
    ['an unknown entitlement', { allow: 'network.bridge' }, {}, 'allow', /"network.bridge" is not an entitlement buildx grants: write network.host or security.insecure/],
    ['a size without a number', { 'shm-size': 'big' }, {}, 'shm-size', /"big" is not a size/],
    ['an unknown ulimit', { ulimit: 'files=10' }, {}, 'ulimit', /"files=10" is not type=soft\[:hard\]/],
    ['a soft ulimit above the hard one', { ulimit: 'nofile=2048:1024' }, {}, 'ulimit', /the soft limit 2048 is above the hard limit 1024/]
  ])('%s: one error naming input %s', async (_name, values, env, input, message) => {
    const error = inputError(values, env, await workspace())
    expect(error.input).toBe(input)
    expect(error.message).toMatch(new RegExp(`^input "${input}": `))
    expect(error.message).toMatch(message)
  })
})
