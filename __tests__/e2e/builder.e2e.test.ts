/**
 * The builder's lifecycle for real: a docker-driver builder on a docker context the action creates and its post
 * step removes; a pre-existing builder that survives; a platform the builder lacks failing before any build; and
 * the docker-container driver failing to boot (its BuildKit image cannot be pulled); and, on both runner
 * paths, every build input (ssh, build-contexts, secret-envs, secret-files, network, add-hosts, shm-size, ulimit)
 * reaching the build in one run.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { promisify } from 'node:util'
import { runAction, type ActionRun } from '../../scripts/run-action.mjs'
import { anyHandlerFor } from './support/binfmt.js'
import { BASE_IMAGE, expectSucceeded, GO_IMAGE, leaks, MINUTES, UNREACHABLE, copyOnlyContext, docker, freshRepository, requireEnvironment } from './support/environment.js'
import { describeEachPath, runOnPath } from './support/paths.js'

const execFileAsync = promisify(execFile)

async function exists(args: string[]): Promise<boolean> {
  return docker(args).then(
    () => true,
    () => false
  )
}
const contextExists = (name: string): Promise<boolean> => exists(['context', 'inspect', name])
const builderExists = (name: string): Promise<boolean> => exists(['buildx', 'inspect', name])

beforeAll(requireEnvironment, MINUTES)

describe('a builder the action creates (docker driver, the default outside GitHub)', () => {
  it('builds on it, reports it, and the post step removes its docker context', async () => {
    const run = await runAction({
      cwd: await copyOnlyContext(),
      inputs: { images: freshRepository('builder-created'), 'tag-template': 'x', push: 'false', platforms: 'linux/amd64,linux/arm64' }
    })
    expectSucceeded(run)
    const name = run.outputs.builder ?? ''
    expect(name).toMatch(/^go-build-action-[0-9a-f]{32}$/)
    expect(run.state.dockerContext).toBe(name)
    expect(run.state.builder ?? '').toBe('')
    expect(run.outputs['builder-platforms']?.split(',')).toEqual(expect.arrayContaining(['linux/amd64', 'linux/arm64']))
    expect(run.main.log).toContain(`docker --context ${name} buildx build --builder ${name} `)
    expect(run.post?.log).toContain(`removed docker context ${name}`)
    expect(await contextExists(name)).toBe(false)
    expect(await builderExists(name)).toBe(false)
  }, 5 * MINUTES)
})

describe('an existing builder passed as "builder"', () => {
  const name = `e2e-existing-${Date.now().toString(36)}`
  beforeAll(async () => {
    await docker(['context', 'create', name, '--docker', 'host=unix:///var/run/docker.sock'])
  })
  afterAll(async () => {
    await docker(['context', 'rm', '--force', name]).catch(() => undefined)
  })

  it('is used and survives the post step', async () => {
    const run = await runAction({
      cwd: await copyOnlyContext(),
      inputs: { images: freshRepository('builder-existing'), 'tag-template': 'x', push: 'false', platforms: 'linux/amd64', builder: name }
    })
    expectSucceeded(run)
    expect(run.outputs.builder).toBe(name)
    expect(run.main.log).toContain(`using the existing builder ${name}`)
    expect(run.main.log).toContain(`buildx build --builder ${name} `)
    expect(run.state.dockerContext ?? '').toBe('')
    expect(run.state.builder ?? '').toBe('')
    expect(run.post?.exitCode).toBe(0)
    expect(await builderExists(name)).toBe(true)
    expect(await contextExists(name)).toBe(true)
  }, 5 * MINUTES)

  it('that does not exist fails naming the input', async () => {
    const run = await runAction({
      cwd: await copyOnlyContext(),
      inputs: { images: freshRepository('builder-missing'), 'tag-template': 'x', push: 'false', platforms: 'linux/amd64', builder: 'no-such-builder-e2e' }
    })
    expect(run.main.exitCode).toBe(1)
    expect(run.main.log).toMatch(/::error::input "builder": cannot use the builder "no-such-builder-e2e"/)
    expect(run.post?.exitCode).toBe(0)
  }, 5 * MINUTES)
})

/** A platform no binfmt handler on this machine runs (none of the tests registers one of these), or none. */
const LACKING = (
  [
    ['linux/mips64le', 'mips64el'],
    ['linux/mips64', 'mips64'],
    ['linux/loong64', 'loongarch64']
  ] as const
).find(([, qemu]) => !anyHandlerFor(qemu))?.[0]

const describeLacking = LACKING ? describe : describe.skip
describeLacking(`a requested platform the builder lacks${LACKING ? '' : ' (skipped: every candidate platform has a binfmt handler here)'}`, () => {
  it(`fails before building, listing the supported platforms, and the post step still cleans up (${LACKING ?? 'none'}: no binfmt handler here)`, async () => {
    // qemu: off, so the action registers no handler for it
    const run = await runAction({
      cwd: await copyOnlyContext(),
      inputs: { images: freshRepository('builder-lacks'), 'tag-template': 'x', push: 'false', platforms: `linux/amd64,${LACKING}`, qemu: 'off' }
    })
    expect(run.main.exitCode).toBe(1)
    expect(run.main.log).toMatch(new RegExp(`::error::input "platforms": the docker builder go-build-action-[0-9a-f]{32} cannot build ${LACKING}; it supports linux/amd64, `))
    expect(run.main.log).not.toMatch(/buildx build/)
    expect(run.post?.exitCode).toBe(0)
    expect(await contextExists(run.state.dockerContext ?? 'unset')).toBe(false)
  }, 5 * MINUTES)
})

describe('the docker-container driver whose BuildKit image cannot be pulled (its registry does not answer)', () => {
  it('says the BuildKit image could not be pulled and what to set, and the post step removes the half-made builder', async () => {
    // a registry port nothing listens on: no pull can succeed, online or offline, whatever images the engine holds
    const image = `${UNREACHABLE}/moby/buildkit:v0.26.3`
    const run = await runAction({
      cwd: await copyOnlyContext(),
      inputs: {
        images: freshRepository('builder-unpullable'),
        'tag-template': 'x',
        push: 'false',
        platforms: 'linux/amd64',
        driver: 'docker-container',
        'buildkit-image': image
      }
    })
    expect(run.main.exitCode).toBe(1)
    expect(run.main.log).toMatch(
      new RegExp(
        `::error::the docker-container builder could not boot: its BuildKit image ${image.replace(/\./g, '\\.')} could not be pulled \\(.*\\)\\. Set "driver: docker" to build with the engine's own BuildKit, or set "buildkit-image" to a BuildKit image in a registry this runner can reach\\.`
      )
    )
    const name = run.state.builder ?? ''
    expect(name).toMatch(/^go-build-action-[0-9a-f]{32}$/)
    expect(run.post?.exitCode).toBe(0)
    expect(run.post?.log).toContain(`removed builder ${name}`)
    expect(await builderExists(name)).toBe(false)
  }, 5 * MINUTES)
})

/** Lists the public keys an ssh agent holds (base64 blobs, as in a .pub file), speaking the agent protocol itself. */
const AGENT_PROBE = `package main

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
)

func main() {
	conn, err := net.Dial("unix", os.Getenv("SSH_AUTH_SOCK"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	conn.Write([]byte{0, 0, 0, 1, 11}) // SSH_AGENTC_REQUEST_IDENTITIES
	var n uint32
	if err := binary.Read(conn, binary.BigEndian, &n); err != nil {
		panic(err)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(conn, msg); err != nil || msg[0] != 12 {
		panic("no identities answer")
	}
	rest := msg[5:]
	next := func() []byte {
		l := binary.BigEndian.Uint32(rest[:4])
		v := rest[4 : 4+l]
		rest = rest[4+l:]
		return v
	}
	for i := uint32(0); i < binary.BigEndian.Uint32(msg[1:5]); i++ {
		blob := next()
		next()
		fmt.Println(base64.StdEncoding.EncodeToString(blob))
	}
}
`

describeEachPath('build inputs', builderPath => {
  const token = `tok-${randomBytes(12).toString('hex')}`
  /** A multi-line secret, as a netrc or a PEM is. */
  const pem = `-----BEGIN TEST KEY-----\n${randomBytes(48).toString('base64')}\n${randomBytes(48).toString('base64')}\n-----END TEST KEY-----\n`
  const sha = (text: string): string => createHash('sha256').update(text).digest('hex')
  let agent: ChildProcess | undefined
  let run: ActionRun
  let dir: string

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'go-build-action-inputs-'))
    const socket = path.join(dir, 'agent.sock')
    agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' })
    for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise(resolve => setTimeout(resolve, 100))
    await execFileAsync('ssh-keygen', ['-t', 'ed25519', '-N', '', '-q', '-C', 'e2e', '-f', path.join(dir, 'key')])
    await execFileAsync('ssh-add', [path.join(dir, 'key')], { env: { ...process.env, SSH_AUTH_SOCK: socket } })
    const publicKey = (await readFile(path.join(dir, 'key.pub'), 'utf8')).split(' ')[1] ?? ''

    const context = path.join(dir, 'context')
    await mkdir(path.join(dir, 'extra'), { recursive: true })
    await mkdir(context)
    await writeFile(path.join(dir, 'extra', 'greeting.txt'), 'from a named context\n')
    await writeFile(path.join(dir, 'pem'), pem)
    await writeFile(path.join(context, 'probe.go'), AGENT_PROBE)
    await writeFile(
      path.join(context, 'Dockerfile'),
      [
        'ARG GO_IMAGE',
        'ARG BASE_IMAGE',
        'FROM ${GO_IMAGE} AS agent',
        'COPY probe.go /src/probe.go',
        'RUN cd /src && CGO_ENABLED=0 go build -o /probe probe.go',
        'ARG SSH_KEY',
        // the runner's agent (ssh: default) and the same agent by id hold the test's key
        'RUN --mount=type=ssh,required=true /probe | grep -qxF "$SSH_KEY" && echo default > /ssh-default',
        'RUN --mount=type=ssh,id=deploy,required=true /probe | grep -qxF "$SSH_KEY" && echo deploy > /ssh-deploy',
        'FROM ${BASE_IMAGE}',
        'ARG TOKEN_SHA256',
        'ARG PEM_SHA256',
        'COPY --from=agent /ssh-default /ssh-deploy /checks/',
        'COPY --from=extra greeting.txt /checks/',
        // the exact contents, without printing them
        'RUN --mount=type=secret,id=token,required=true test "$(sha256sum < /run/secrets/token | cut -d" " -f1)" = "$TOKEN_SHA256"',
        'RUN --mount=type=secret,id=pem,required=true test "$(sha256sum < /run/secrets/pem | cut -d" " -f1)" = "$PEM_SHA256" && test "$(wc -l < /run/secrets/pem)" = 4',
        // network none: the loopback interface only
        'RUN test "$(grep -c : /proc/net/dev)" = 1',
        'RUN grep -Eq "^10\\.1\\.2\\.3\\s+e2e\\.internal" /etc/hosts',
        'RUN test "$(ulimit -n)" = 1024 && test "$(ulimit -Hn)" = 2048',
        'RUN test "$(df -k /dev/shm | awk \'NR==2 { print $2 }\')" = 98304',
        'RUN echo every build input reached the build > /checks/done',
        ''
      ].join('\n')
    )
    run = await runOnPath(builderPath, {
      cwd: context,
      env: { SSH_AUTH_SOCK: socket, E2E_BUILD_TOKEN: token },
      inputs: {
        images: freshRepository('build-inputs'),
        'tag-template': 'inputs',
        push: 'false',
        platforms: 'linux/amd64',
        'build-args': `GO_IMAGE=${GO_IMAGE}\nBASE_IMAGE=${BASE_IMAGE}\nSSH_KEY=${publicKey}\nTOKEN_SHA256=${sha(token)}\nPEM_SHA256=${sha(pem)}`,
        ssh: `default\ndeploy=${socket}`,
        'build-contexts': `extra=${path.join(dir, 'extra')}`,
        'secret-envs': 'token=E2E_BUILD_TOKEN',
        'secret-files': `pem=${path.join(dir, 'pem')}`,
        network: 'none',
        'add-hosts': 'e2e.internal:10.1.2.3',
        'shm-size': '96m',
        ulimit: 'nofile=1024:2048'
      }
    })
  }, 10 * MINUTES)

  afterAll(() => {
    if (agent?.pid !== undefined) process.kill(agent.pid)
  })

  it('each reaches buildx and the build: ssh agents, a named context, secrets from an env variable and a multi-line file, network, hosts, ulimit, shm', () => {
    expectSucceeded(run)
    const build = run.main.log.split('\n').filter(l => l.startsWith('[command]') && / buildx build /.test(l))
    expect(build).toHaveLength(1)
    for (const flag of [
      '--ssh default',
      `--ssh deploy=${dir}/agent.sock`,
      `--build-context extra=${dir}/extra`,
      '--secret id=token,env=E2E_BUILD_TOKEN',
      `--secret id=pem,src=${dir}/pem`,
      '--network none',
      '--add-host e2e.internal:10.1.2.3',
      '--shm-size 96m',
      '--ulimit nofile=1024:2048'
    ]) {
      expect(build[0]).toContain(` ${flag} `)
    }
    expect(run.main.log).toMatch(/echo every build input reached the build/)
  })

  it('keeps the secrets off argv and out of every log line, output, state and summary', () => {
    for (const secret of [token, ...pem.split('\n').filter(l => l.length > 40)]) {
      expect(leaks(run, secret)).toEqual([])
    }
  })
})
