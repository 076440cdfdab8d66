import { describe, expect, it, jest } from '@jest/globals'
import { writeFileSync } from 'node:fs'
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  DEFAULT_BINFMT_IMAGE,
  architectures,
  handlerName,
  hostArchitecture,
  nativeArchitectures,
  planQemu,
  readHandler,
  readQemuSettings,
  realQemuHost,
  registerFromHost,
  ruleLines,
  setUpQemu,
  withFixBinary,
  type QemuHost
} from '../../src/setup/qemu.js'
import { InputError } from '../../src/core/input.js'
import { formatPlatform, parsePlatform } from '../../src/core/platform.js'
import { FakeDocker } from '../../__fixtures__/fake-docker.js'
import { fixture } from '../../__fixtures__/fixtures.js'

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '__fixtures__')
const registered = path.join(fixtures, 'binfmt_misc', 'registered')
const reader =
  (inputs: Record<string, string>) =>
  (name: string): string =>
    inputs[name] ?? ''
const platforms = (...names: string[]) => names.map(parsePlatform)
const names = (ps: { os: string; architecture: string; variant?: string }[]) => ps.map(formatPlatform)

describe('handlerName', () => {
  it.each([
    ['linux/arm64', 'qemu-aarch64'],
    ['linux/arm/v7', 'qemu-arm'],
    ['linux/arm/v6', 'qemu-arm'],
    ['linux/ppc64le', 'qemu-ppc64le'],
    ['linux/s390x', 'qemu-s390x'],
    ['linux/riscv64', 'qemu-riscv64'],
    ['linux/mips64le', 'qemu-mips64el'],
    ['linux/mips64', 'qemu-mips64'],
    ['linux/loong64', 'qemu-loongarch64'],
    ['linux/386', 'qemu-i386'],
    ['linux/amd64', 'qemu-x86_64']
  ])('%s is handled by %s', (platform, name) => {
    expect(handlerName(parsePlatform(platform))).toBe(name)
  })
})

describe('host architecture', () => {
  it.each([
    ['x64', 'amd64', ['amd64', '386']],
    ['x86_64', 'amd64', ['amd64', '386']],
    ['arm64', 'arm64', ['arm64']],
    ['aarch64', 'arm64', ['arm64']],
    ['ppc64', 'ppc64le', ['ppc64le']],
    ['s390x', 's390x', ['s390x']],
    ['riscv64', 'riscv64', ['riscv64']]
  ])('%s is %s and runs %j natively', (arch, oci, native) => {
    expect(hostArchitecture(arch)).toBe(oci)
    expect(nativeArchitectures(oci)).toEqual(native)
  })
})

describe('planQemu', () => {
  const handlers = {
    'qemu-aarch64': { enabled: true, interpreter: '/x', flags: 'F' },
    'qemu-s390x': { enabled: false, interpreter: '/x', flags: 'F' }
  }
  it.each([
    ['everything native on amd64', 'amd64', ['linux/amd64', 'linux/386', 'linux/amd64/v3'], [3, 0, []]],
    ['a registered and a disabled handler', 'amd64', ['linux/amd64', 'linux/arm64', 'linux/s390x'], [1, 1, ['linux/s390x']]],
    ['missing handlers', 'amd64', ['linux/arm/v7', 'linux/riscv64'], [0, 0, ['linux/arm/v7', 'linux/riscv64']]],
    ['an arm64 host emulates amd64 and arm/v7', 'arm64', ['linux/arm64', 'linux/amd64', 'linux/arm/v7'], [1, 0, ['linux/amd64', 'linux/arm/v7']]]
  ] as const)('%s', (_name, host, requested, [native, emulated, missing]) => {
    const plan = planQemu(platforms(...requested), host, handlers)
    expect(plan.native).toHaveLength(native)
    expect(plan.registered).toHaveLength(emulated)
    expect(names(plan.missing)).toEqual(missing)
  })

  it('treats every foreign platform as missing when binfmt_misc is off', () => {
    expect(names(planQemu(platforms('linux/arm64'), 'amd64', handlers, false).missing)).toEqual(['linux/arm64'])
  })

  it('asks the installer for each architecture once', () => {
    expect(architectures(platforms('linux/arm/v7', 'linux/arm/v6', 'linux/riscv64'))).toEqual(['arm', 'riscv64'])
  })
})

describe('reading /proc/sys/fs/binfmt_misc (captured fixtures)', () => {
  it('reads an enabled handler', async () => {
    expect(await readHandler(registered, 'qemu-aarch64')).toEqual({
      enabled: true,
      interpreter: '/usr/libexec/qemu-binfmt/aarch64-binfmt-P',
      flags: 'POF'
    })
  })
  it('reads a disabled handler', async () => {
    expect((await readHandler(registered, 'qemu-s390x'))?.enabled).toBe(false)
  })
  it('reports no handler as undefined', async () => {
    expect(await readHandler(registered, 'qemu-arm')).toBeUndefined()
  })
})

describe('withFixBinary', () => {
  const rule = fixture('binfmt.d/qemu-arm.conf').trim()
  it.each([
    ['keeps a rule that has F', ':qemu-arm:M::\\x7f:\\xff:/usr/bin/qemu-arm:OPF', ':qemu-arm:M::\\x7f:\\xff:/usr/bin/qemu-arm:OPF'],
    ['adds F to other flags', ':qemu-arm:M::\\x7f:\\xff:/usr/bin/qemu-arm:OC', ':qemu-arm:M::\\x7f:\\xff:/usr/bin/qemu-arm:OCF'],
    ['adds F to empty flags', ':qemu-arm:M::\\x7f:\\xff:/usr/bin/qemu-arm:', ':qemu-arm:M::\\x7f:\\xff:/usr/bin/qemu-arm:F'],
    ['adds a flags field when there is none', ':qemu-arm:M::\\x7f:\\xff:/usr/bin/qemu-arm', ':qemu-arm:M::\\x7f:\\xff:/usr/bin/qemu-arm:F'],
    ['honours another separator', ',qemu-arm,M,,\\x7f,\\xff,/usr/bin/qemu-arm,P', ',qemu-arm,M,,\\x7f,\\xff,/usr/bin/qemu-arm,PF'],
    ['leaves Debian\'s shipped rule (OPF) as it is', rule, rule]
  ])('%s', (_name, line, expected) => {
    expect(withFixBinary(line)).toBe(expected)
  })

  it('refuses a line that is not a rule', () => {
    expect(() => withFixBinary(':qemu-arm:M')).toThrow(/not a binfmt rule/)
  })

  it('drops comments and blank lines from a binfmt.d file', () => {
    expect(ruleLines(`# comment\n\n${rule}\n`)).toEqual([rule])
  })
})

describe('readQemuSettings', () => {
  it('defaults to auto and the image pinned by tag and digest', () => {
    expect(readQemuSettings(reader({}))).toEqual({ mode: 'auto', binfmtImage: DEFAULT_BINFMT_IMAGE })
    expect(DEFAULT_BINFMT_IMAGE).toMatch(/^tonistiigi\/binfmt:qemu-v\d+\.\d+\.\d+@sha256:[0-9a-f]{64}$/)
  })
  it.each(['localhost:5000/test/binfmt@sha256:' + 'a'.repeat(64), 'mirror.example/binfmt:qemu-v8.1.5@sha256:' + 'b'.repeat(64), 'localhost:5000/test/binfmt'])(
    'accepts the binfmt image %s',
    image => {
      expect(readQemuSettings(reader({ 'binfmt-image': image })).binfmtImage).toBe(image)
    }
  )
  it.each(['tonistiigi/binfmt@sha256:abc', 'tonistiigi/binfmt@sha512:' + 'a'.repeat(128), 'tonistiigi/binfmt@latest'])('names the input for the broken digest %s', image => {
    expect(() => readQemuSettings(reader({ 'binfmt-image': image }))).toThrow(`input "binfmt-image": "${image}" is not NAME@sha256:DIGEST`)
  })
  it.each(['auto', 'image', 'host', 'off', 'HOST'])('accepts %s', mode => {
    expect(readQemuSettings(reader({ qemu: mode })).mode).toBe(mode.toLowerCase())
  })
  it('names the input for an unknown mode', () => {
    expect(() => readQemuSettings(reader({ qemu: 'all' }))).toThrow(InputError)
    expect(() => readQemuSettings(reader({ qemu: 'all' }))).toThrow(/input "qemu": "all" is not a mode/)
  })
})

/** A host whose binfmt_misc is a copy of the fixture directory; `register` is a plain file there. */
async function fixtureHost(from = registered): Promise<{ host: QemuHost; commands: string[][] }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'binfmt-'))
  await cp(from, dir, { recursive: true })
  const commands: string[][] = []
  return {
    commands,
    host: {
      binfmtDir: dir,
      confDir: path.join(fixtures, 'binfmt.d'),
      hostArch: 'amd64',
      isRoot: true,
      async exec(command, args) {
        commands.push([command, ...args])
      }
    }
  }
}

describe('setUpQemu', () => {
  it('runs nothing when every platform is native or registered', async () => {
    const { host } = await fixtureHost()
    const docker = new FakeDocker()
    const result = await setUpQemu(docker, { mode: 'auto', binfmtImage: 'x' }, platforms('linux/amd64', 'linux/arm64'), host)
    expect(docker.calls).toEqual([])
    expect(result.installedWith).toBe('none')
    expect(names(result.emulated)).toEqual(['linux/arm64'])
  })

  it('image mode installs only the missing architectures, then verifies them', async () => {
    const { host } = await fixtureHost()
    const docker = new FakeDocker().on(['run'], args => {
      // What the binfmt image does, in the fixture directory.
      for (const arch of String(args.at(-1)).split(',')) {
        const name = handlerName(parsePlatform(arch))
        writeFileSync(path.join(host.binfmtDir, name), 'enabled\ninterpreter /usr/bin/x\nflags: F\n')
      }
      return {}
    })
    const result = await setUpQemu(
      docker,
      { mode: 'image', binfmtImage: 'localhost:5000/test/binfmt' },
      platforms('linux/amd64', 'linux/arm64', 'linux/arm/v7', 'linux/riscv64'),
      host
    )
    expect(docker.calls.map(c => c.args)).toEqual([['run', '--rm', '--privileged', 'localhost:5000/test/binfmt', '--install', 'arm,riscv64']])
    expect(names(result.emulated)).toEqual(['linux/arm64', 'linux/arm/v7', 'linux/riscv64'])
  })

  it('warns before it runs a privileged binfmt image named by tag alone, and not for one pinned by digest', async () => {
    const write = jest.spyOn(process.stdout, 'write').mockImplementation(() => true)
    const warnings = (): string[] => write.mock.calls.map(c => String(c[0])).filter(l => l.startsWith('::warning::'))
    try {
      const run = async (image: string): Promise<void> => {
        const { host } = await fixtureHost()
        const docker = new FakeDocker().on(['run'], () => (writeFileSync(path.join(host.binfmtDir, 'qemu-riscv64'), 'enabled\ninterpreter x\nflags: F\n'), {}))
        await setUpQemu(docker, { mode: 'image', binfmtImage: image }, platforms('linux/riscv64'), host)
      }
      await run('localhost:5000/test/binfmt')
      expect(warnings()).toEqual([
        '::warning::binfmt-image "localhost:5000/test/binfmt" names no digest: the privileged container (root on this runner) runs whatever that tag points at when it is pulled. ' +
          'Pin it as localhost:5000/test/binfmt@sha256:<digest> ("docker buildx imagetools inspect localhost:5000/test/binfmt" prints the digest)\n'
      ])
      write.mockClear()
      await run(DEFAULT_BINFMT_IMAGE)
      expect(warnings()).toEqual([])
    } finally {
      write.mockRestore()
    }
  })

  it('fails naming the platform and the fix when a handler is still missing', async () => {
    const { host } = await fixtureHost()
    const docker = new FakeDocker().on(['run'], {})
    await expect(setUpQemu(docker, { mode: 'image', binfmtImage: 'img' }, platforms('linux/riscv64'), host)).rejects.toThrow(
      /no enabled binfmt handler for linux\/riscv64 \(qemu-riscv64\).*qemu: host/
    )
  })

  it('names binfmt-image when the installer fails', async () => {
    const { host } = await fixtureHost()
    const docker = new FakeDocker().on(['run'], { exitCode: 125, stderr: 'Unable to find image' })
    await expect(setUpQemu(docker, { mode: 'image', binfmtImage: 'img' }, platforms('linux/riscv64'), host)).rejects.toThrow(
      /input "binfmt-image": running img --install riscv64 failed/
    )
  })

  it.each([
    ['the host qemu-user-static when it has the rule and the binary', true],
    ['the binfmt image when the host has a rule but no binary', false]
  ])('auto uses %s', async (_name, binaryPresent) => {
    const { host } = await fixtureHost()
    const confDir = await mkdtemp(path.join(tmpdir(), 'binfmt.d-'))
    const interpreter = binaryPresent ? process.execPath : path.join(confDir, 'no-such-qemu')
    await writeFile(path.join(confDir, 'qemu-arm.conf'), `# test\n:qemu-arm:M::\\x7f:\\xff:${interpreter}:OP\n`)
    // written before the fake answers (an unawaited write made this test fail on a loaded machine)
    const docker = new FakeDocker().on(['run'], () => {
      writeFileSync(path.join(host.binfmtDir, 'qemu-arm'), 'enabled\ninterpreter x\nflags: F\n')
      return {}
    })
    if (binaryPresent) {
      await expect(setUpQemu(docker, { mode: 'auto', binfmtImage: 'img' }, platforms('linux/arm/v7'), { ...host, confDir })).rejects.toThrow(
        /no enabled binfmt handler for linux\/arm\/v7/ // `register` is a plain file here: nothing appears
      )
      expect(docker.calls).toEqual([])
      expect(await readFile(path.join(host.binfmtDir, 'register'), 'utf8')).toBe(`:qemu-arm:M::\\x7f:\\xff:${interpreter}:OPF\n`)
    } else {
      const result = await setUpQemu(docker, { mode: 'auto', binfmtImage: 'img' }, platforms('linux/arm/v7'), { ...host, confDir })
      expect(result.installedWith).toBe('image')
      expect(docker.calls.map(c => c.args.at(-1))).toEqual(['arm'])
    }
  })
})

describe('registerFromHost', () => {
  it('writes the rule with F to register, replacing a disabled handler first', async () => {
    const { host, commands } = await fixtureHost()
    await registerFromHost(host, platforms('linux/arm/v7', 'linux/s390x'))
    expect(commands).toEqual([])
    // The last write to `register` (a plain file here) is the s390x rule; the disabled one got -1 first.
    expect(await readFile(path.join(host.binfmtDir, 'qemu-s390x'), 'utf8')).toBe('-1')
    const written = await readFile(path.join(host.binfmtDir, 'register'), 'utf8')
    expect(written).toMatch(/^:qemu-s390x:M::.*:OPF\n$/)
  })

  it('mounts binfmt_misc when it is not mounted', async () => {
    const { host, commands } = await fixtureHost(path.join(fixtures, 'binfmt_misc', 'unmounted'))
    await registerFromHost(host, platforms('linux/riscv64'))
    expect(commands).toEqual([['mount', '-t', 'binfmt_misc', 'binfmt_misc', host.binfmtDir]])
    expect(await readFile(path.join(host.binfmtDir, 'register'), 'utf8')).toMatch(/^:qemu-riscv64:M::.*:OPF\n$/)
  })

  it('uses sudo without a shell when not root', async () => {
    const { host, commands } = await fixtureHost(path.join(fixtures, 'binfmt_misc', 'unmounted'))
    await registerFromHost({ ...host, isRoot: false }, platforms('linux/riscv64'))
    expect(commands[0]).toEqual(['sudo', '-n', 'mount', '-t', 'binfmt_misc', 'binfmt_misc', host.binfmtDir])
    expect(commands[1]?.slice(0, 3)).toEqual(['sudo', '-n', 'tee'])
  })

  it('names the fix when the host has no rule for the platform', async () => {
    const { host } = await fixtureHost()
    await expect(registerFromHost(host, platforms('linux/mips64le'))).rejects.toThrow(/install qemu-user-static.*qemu: image/)
  })
})

describe('the real host\'s commands (mount, sudo tee)', () => {
  it('run through the exec wrapper: bounded (a command that hangs is killed with its process group) and given their input', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'qemu-host-'))
    const host = realQemuHost({ seconds: 1 })
    await host.exec('sh', ['-c', `cat > ${path.join(dir, 'written')}`], ':qemu-arm:M::rule:\n')
    expect(await readFile(path.join(dir, 'written'), 'utf8')).toBe(':qemu-arm:M::rule:\n')
    const pidFile = path.join(dir, 'pid')
    await expect(host.exec('sh', ['-c', `echo $$ > ${pidFile}; exec sleep 60`])).rejects.toThrow(/^sh -c .* was killed: it did not finish within 1 s$/)
    const pid = Number((await readFile(pidFile, 'utf8')).trim())
    expect(() => process.kill(pid, 0)).toThrow(/ESRCH/)
    await expect(host.exec('sh', ['-c', 'echo refused >&2; exit 3'])).rejects.toThrow('sh -c echo refused >&2; exit 3 failed (exit 3): refused')
  }, 30_000)
})
