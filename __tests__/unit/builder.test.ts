import { describe, expect, it } from '@jest/globals'
import {
  builderActivity,
  DEFAULT_BUILDKIT_IMAGE,
  builderPlatforms,
  covers,
  createBuilderArgs,
  createContextArgs,
  defaultDriver,
  isImagePullFailure,
  parseInspect,
  readBuilderSettings,
  removeBuilder,
  setUpBuilder,
  unsupportedPlatforms,
  type BuilderSettings
} from '../../src/setup/builder.js'
import { parsePlatform } from '../../src/core/platform.js'
import { FakeDocker } from '../../__fixtures__/fake-docker.js'
import { fixture } from '../../__fixtures__/fixtures.js'

const reader =
  (inputs: Record<string, string>) =>
  (name: string): string =>
    inputs[name] ?? ''
const platforms = (...names: string[]) => names.map(parsePlatform)
const container: BuilderSettings = { driver: 'docker-container', driverOpts: [], buildkitImage: DEFAULT_BUILDKIT_IMAGE }

describe('the default driver', () => {
  it.each([
    [{ RUNNER_ENVIRONMENT: 'github-hosted' }, 'docker-container'],
    [{ RUNNER_ENVIRONMENT: 'self-hosted' }, 'docker'],
    [{}, 'docker']
  ])('with %j is %s', (env, driver) => {
    expect(defaultDriver(env)).toBe(driver)
    expect(readBuilderSettings(reader({}), env).driver).toBe(driver)
  })
})

describe('readBuilderSettings', () => {
  it('reads an existing builder', () => {
    expect(readBuilderSettings(reader({ builder: ' mine ' }), {}).existing).toBe('mine')
  })
  it.each([
    [{ driver: 'kubernetes' }, /input "driver": "kubernetes" is not supported/],
    [{ driver: 'docker', 'driver-opts': 'network=host' }, /input "driver-opts": only applies to the docker-container driver/],
    [{ driver: 'docker', 'buildkitd-config': 'buildkitd.toml' }, /input "buildkitd-config": only applies/],
    [{ driver: 'docker-container', 'driver-opts': 'network' }, /input "driver-opts": "network" is not key=value/],
    [{ driver: 'docker-container', 'buildkitd-config': '/no/such/buildkitd.toml' }, /input "buildkitd-config": \/no\/such\/buildkitd.toml does not exist/]
  ])('rejects %j', (inputs, message) => {
    expect(() => readBuilderSettings(reader(inputs), {})).toThrow(message)
  })
})

describe('createBuilderArgs (docker-container)', () => {
  it.each([
    [
      'the defaults: the pinned BuildKit image, booted',
      container,
      ['buildx', 'create', '--name', 'b', '--driver', 'docker-container', '--driver-opt', `image=${DEFAULT_BUILDKIT_IMAGE}`, '--bootstrap']
    ],
    [
      'driver options after the image, and a buildkitd config',
      { ...container, driverOpts: ['network=host', 'memory=2g'], buildkitdConfig: 'ci/buildkitd.toml' },
      [
        'buildx', 'create', '--name', 'b', '--driver', 'docker-container',
        '--driver-opt', `image=${DEFAULT_BUILDKIT_IMAGE}`, '--driver-opt', 'network=host', '--driver-opt', 'memory=2g',
        '--config', 'ci/buildkitd.toml', '--bootstrap'
      ]
    ],
    [
      'buildkit-image',
      { ...container, buildkitImage: 'localhost:5000/moby/buildkit:v0.26.3' },
      ['buildx', 'create', '--name', 'b', '--driver', 'docker-container', '--driver-opt', 'image=localhost:5000/moby/buildkit:v0.26.3', '--bootstrap']
    ],
    [
      'an image= driver option, which wins over buildkit-image',
      { ...container, driverOpts: ['image=mirror/buildkit:1'] },
      ['buildx', 'create', '--name', 'b', '--driver', 'docker-container', '--driver-opt', 'image=mirror/buildkit:1', '--bootstrap']
    ]
  ])('%s', (_name, settings, args) => {
    expect(createBuilderArgs('b', settings)).toEqual(args)
  })
})

describe('createContextArgs (docker driver)', () => {
  it('makes a context on the current engine endpoint', () => {
    expect(createContextArgs('ctx', 'unix:///var/run/docker.sock')).toEqual([
      'context', 'create', 'ctx', '--description', 'go-build-action builder (removed by its post step)',
      '--docker', 'host=unix:///var/run/docker.sock'
    ])
  })
})

describe('parseInspect (captured from docker buildx inspect)', () => {
  it.each([
    ['buildx-inspect-default.txt', 'default', 'docker', 'running', 7],
    ['buildx-inspect-context.txt', 'gba-probe', 'docker', 'running', 7],
    ['buildx-inspect-inactive.txt', 'gba-probe-dc', 'docker-container', 'inactive', 0]
  ])('%s', (file, name, driver, status, count) => {
    const info = parseInspect(fixture(file))
    expect(info.name).toBe(name)
    expect(info.driver).toBe(driver)
    expect(info.nodes).toHaveLength(1)
    expect(info.nodes[0]?.status).toBe(status)
    expect(builderPlatforms(info)).toHaveLength(count)
  })

  it('reads every platform of a node', () => {
    expect(builderPlatforms(parseInspect(fixture('buildx-inspect-default.txt')))).toEqual([
      'linux/amd64', 'linux/amd64/v2', 'linux/amd64/v3', 'linux/amd64/v4', 'linux/arm64', 'linux/ppc64le', 'linux/s390x'
    ])
  })

  it('merges the nodes of a multi-node builder and drops the * buildx marks configured platforms with', () => {
    const text = `Name:   multi\nDriver: docker-container\n\nNodes:\nName:      multi0\nEndpoint:  unix:///var/run/docker.sock\nStatus:    running\nPlatforms: linux/amd64*, linux/386\n\nName:      multi1\nEndpoint:  ssh://arm\nStatus:    running\nPlatforms: linux/arm64*, linux/arm/v7\n`
    expect(builderPlatforms(parseInspect(text))).toEqual(['linux/amd64', 'linux/386', 'linux/arm64', 'linux/arm/v7'])
  })
})

describe('platform support', () => {
  const supported = ['linux/amd64', 'linux/amd64/v2', 'linux/arm64', 'linux/arm/v7']
  it.each([
    ['linux/amd64', true],
    ['linux/amd64/v2', true],
    ['linux/amd64/v3', false],
    ['linux/arm64', true],
    ['linux/arm64/v8', true],
    ['linux/arm/v7', true],
    ['linux/arm/v6', false],
    ['linux/s390x', false]
  ])('%s covered: %s', (platform, expected) => {
    expect(covers(supported, parsePlatform(platform))).toBe(expected)
  })

  it('counts an emulated platform as supported by the docker driver only', () => {
    const docker = parseInspect(fixture('buildx-inspect-default.txt'))
    const requested = platforms('linux/amd64', 'linux/arm/v7', 'linux/riscv64')
    expect(unsupportedPlatforms(requested, docker, platforms('linux/arm/v7')).map(p => p.architecture)).toEqual(['riscv64'])
    const containerInfo = { ...docker, driver: 'docker-container' }
    expect(unsupportedPlatforms(requested, containerInfo, platforms('linux/arm/v7'))).toHaveLength(2)
  })
})

describe('isImagePullFailure', () => {
  it('recognizes the real offline boot failure', () => {
    expect(isImagePullFailure(fixture('buildx-create-pull-failure.txt'))).toBe(true)
  })
  it('does not take a config error for one', () => {
    expect(isImagePullFailure('ERROR: failed to parse buildkitd config: toml: line 1')).toBe(false)
  })
})

const BUILDX_VERSION = { stdout: 'github.com/docker/buildx v0.30.1 9e66234aa13328a5e75b75aa5574e1ca6d6d9c01\n' }

describe('setUpBuilder', () => {
  it('fails before building, listing what the builder supports', async () => {
    const docker = new FakeDocker().on(['buildx', 'version'], BUILDX_VERSION).on(['buildx', 'inspect'], { stdout: fixture('buildx-inspect-default.txt') })
    await expect(
      setUpBuilder(docker, { ...container, existing: 'default' }, platforms('linux/amd64', 'linux/mips64le'))
    ).rejects.toThrow(
      /input "platforms": the builder "default" cannot build linux\/mips64le; it supports linux\/amd64, linux\/amd64\/v2, linux\/amd64\/v3, linux\/amd64\/v4, linux\/arm64, linux\/ppc64le, linux\/s390x/
    )
    expect(docker.calls.map(c => c.args.slice(0, 2))).toEqual([
      ['buildx', 'version'],
      ['buildx', 'inspect']
    ])
  })

  it('says the BuildKit image could not be pulled, and what to set instead', async () => {
    const docker = new FakeDocker().on(['buildx', 'version'], BUILDX_VERSION).on(['buildx', 'create'], { exitCode: 1, stderr: fixture('buildx-create-pull-failure.txt') })
    await expect(setUpBuilder(docker, container, platforms('linux/amd64'))).rejects.toThrow(
      /BuildKit image moby\/buildkit:v0.26.3 could not be pulled .*Set "driver: docker".*"buildkit-image"/
    )
  })

  it('uses the context builder it creates for the docker driver', async () => {
    const docker = new FakeDocker()
      .on(['buildx', 'version'], BUILDX_VERSION)
      .on(['context', 'inspect'], { stdout: 'unix:///var/run/docker.sock\n' })
      .on(['context', 'create'], {})
      .on(['buildx', 'inspect'], { stdout: fixture('buildx-inspect-context.txt') })
    const result = await setUpBuilder(docker, { ...container, driver: 'docker' }, platforms('linux/amd64', 'linux/arm64'))
    const created = docker.calls[2]?.args ?? []
    expect(created.slice(0, 2)).toEqual(['context', 'create'])
    expect(result).toMatchObject({ name: created[2], created: true, dockerContext: created[2], buildxVersion: '0.30.1' })
    expect(docker.calls[3]?.args).toEqual(['buildx', 'inspect', '--bootstrap', created[2]])
  })
})

describe('removeBuilder', () => {
  it('removes the builder with one buildx rm, and says when it was never created', async () => {
    const gone = new FakeDocker().on(['buildx', 'rm'], { stdout: 'b removed\n' })
    expect(await removeBuilder(gone, 'b', '')).toEqual(['removed builder b'])
    expect(gone.calls.map(c => c.args)).toEqual([['buildx', 'rm', 'b']])
    const never = new FakeDocker().on(['buildx', 'rm'], { exitCode: 1, stderr: 'failed to remove b: no builder "b" found\nERROR: failed to remove one or more builders\n' })
    expect(await removeBuilder(never, 'b', '')).toEqual(['builder b was never created'])
  })

  it('fails with what buildx said for any other refusal', async () => {
    const docker = new FakeDocker().on(['buildx', 'rm'], { exitCode: 1, stderr: 'ERROR: Cannot connect to the Docker daemon\n' })
    await expect(removeBuilder(docker, 'b', '')).rejects.toThrow(/docker buildx rm b failed: ERROR: Cannot connect to the Docker daemon/)
  })
})

describe('builderActivity: how many bytes the builder\'s BuildKit has sent', () => {
  // captured from a builder's container while a push uploaded a layer (trimmed): buildkitd's socket 2685360 to the
  // registry has 0x3E4000 bytes waiting; another process's socket (1399539) does not count
  const TCP = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:A548 0100007F:1F90 01 003E4000:00000000 01:00000014 00000000     0        0 2685360 2 00000000333442dd 20 4 30 10 -1',
    '   1: 0100007F:A547 0100007F:1F90 01 00010000:00000000 01:00000014 00000000     0        0 1399539 2 000000003e68ccf6 20 4 30 10 -1'
  ].join('\n')
  const FDS = 'total 0\nlrwx------    1 root     root    64 Dec  7 07:14 0 -> /dev/null\nlrwx------    1 root     root    64 Dec  7 07:14 12 -> socket:[2685360]\n'

  it('is what buildkitd wrote less what waits in its sockets\' send queues, read with docker exec; no activity for the docker driver', async () => {
    let wchar = 600_000_000
    const docker = new FakeDocker().on(['exec', 'buildx_buildkit_b10'], args => {
      const files: Record<string, string> = { '/proc/1/comm': 'docker-init\n', '/proc/1/task/1/children': '7 ', '/proc/7/comm': 'buildkitd\n' }
      if (args[2] === 'ls') return { stdout: FDS }
      if (args.includes('/proc/7/io')) return { stdout: `rchar: 5\nwchar: ${wchar}\nsyscr: 1\n${TCP}\n` }
      const file = args.at(-1)!
      return files[file] !== undefined ? { stdout: files[file] } : { exitCode: 1, stderr: 'cat: no such file' }
    })
    const activity = builderActivity(docker, { name: 'b1', driver: 'docker-container' })!
    expect(await activity()).toBe(600_000_000 - 0x3e4000)
    wchar += 8
    expect(await activity()).toBe(600_000_008 - 0x3e4000)
    // buildkitd found once; then per sample one read of its counts and one of its sockets, silent and bounded
    expect(docker.calls.map(c => c.args.slice(2).join(' '))).toEqual([
      'cat /proc/1/comm',
      'cat /proc/1/task/1/children',
      'cat /proc/7/comm',
      ...Array(2).fill(['cat /proc/7/io /proc/7/net/tcp /proc/7/net/tcp6', 'ls -l /proc/7/fd']).flat()
    ])
    expect(docker.calls.every(c => c.options.silent && c.options.allowFailure && c.options.timeout !== undefined)).toBe(true)
    expect(builderActivity(docker, { name: 'b1', driver: 'docker' })).toBeUndefined()
  })

  it('reads what cat could read when a table is missing (no IPv6), answers undefined when the container cannot be read, and looks for buildkitd again at the next read', async () => {
    let up = false
    const docker = new FakeDocker().on(['exec'], args => {
      if (!up) return { exitCode: 1, stderr: 'Error response from daemon: container is not running' }
      if (args[2] === 'ls') return { stdout: FDS }
      return args.at(-1) === '/proc/1/comm' ? { stdout: 'buildkitd' } : { exitCode: 1, stdout: `wchar: 5000000\n${TCP}\n`, stderr: 'cat: can\'t open \'/proc/1/net/tcp6\'' }
    })
    const activity = builderActivity(docker, { name: 'b2', driver: 'docker-container' })!
    expect(await activity()).toBeUndefined()
    up = true
    expect(await activity()).toBe(5_000_000 - 0x3e4000)
  })
})
