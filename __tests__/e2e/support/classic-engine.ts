/**
 * A second docker engine of the test's own that keeps images in the classic store (no containerd image store: a
 * GitHub-hosted runner's engine as it ships), beside the environment's engine: its own data root, exec root and
 * socket under a temporary directory, the host's containerd in a namespace of its own, a bridge of its own and no
 * iptables rules (so it changes nothing of the host's network). Builders on it use the host's network (`network=host`).
 * `stop()` ends the engine this started (by its pid) and removes its directory and its bridge.
 *
 * Not `--bridge none`: an engine started that way deletes the interface `docker0` (moby's
 * removeDefaultBridgeInterface), and the host's network namespace is shared, so the environment's engine lost its
 * bridge and every later `docker run` failed with "adding interface … to bridge docker0 failed: Device does not
 * exist". The engine's bridge is made here, with an address from TEST-NET-1 (192.0.2.0/24, never routed), so the
 * engine neither picks a subnet of the host's pools nor touches docker0.
 */
import { execFile, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { promisify } from 'node:util'

const execFileAsync = promisify(execFile)

export interface ClassicEngine {
  /** `DOCKER_HOST` for the engine. */
  host: string
  stop(): Promise<void>
}

export async function startClassicEngine(): Promise<ClassicEngine> {
  const dir = await mkdtemp(path.join(tmpdir(), 'go-build-action-classic-engine-'))
  const name = path.basename(dir)
  const config = path.join(dir, 'daemon.json')
  // no "containerd-snapshotter" feature: the classic image store
  await writeFile(config, '{}\n')
  const host = `unix://${path.join(dir, 'docker.sock')}`
  // an interface name has at most 15 characters
  const bridge = `gbac-${randomBytes(5).toString('hex')}`
  await execFileAsync('ip', ['link', 'add', bridge, 'type', 'bridge'])
  const removeBridge = (): Promise<unknown> => execFileAsync('ip', ['link', 'del', bridge]).catch(() => undefined)
  try {
    await execFileAsync('ip', ['addr', 'add', '192.0.2.1/24', 'dev', bridge])
    await execFileAsync('ip', ['link', 'set', bridge, 'up'])
  } catch (error) {
    await removeBridge()
    await rm(dir, { recursive: true, force: true })
    throw error
  }
  const daemon = spawn(
    'dockerd',
    [
      ...['--config-file', config, '--data-root', path.join(dir, 'data'), '--exec-root', path.join(dir, 'exec'), '--pidfile', path.join(dir, 'dockerd.pid')],
      ...['-H', host, '--containerd', '/run/containerd/containerd.sock', '--containerd-namespace', name, '--containerd-plugins-namespace', `${name}-plugins`],
      ...['--bridge', bridge, '--iptables=false', '--ip6tables=false', '--cgroup-parent', name]
    ],
    { stdio: ['ignore', 'ignore', 'ignore'] }
  )
  const exited = new Promise<void>(resolve => daemon.once('exit', () => resolve()))
  const stop = async (): Promise<void> => {
    if (daemon.exitCode === null) {
      daemon.kill('SIGTERM')
      await exited
    }
    // what the engine leaves mounted under its directory (its network namespace), deepest first
    const mounts = (await readFile('/proc/self/mountinfo', 'utf8'))
      .split('\n')
      .map(line => line.split(' ')[4] ?? '')
      .filter(point => point.startsWith(`${dir}/`))
      .sort((a, b) => b.length - a.length)
    for (const point of mounts) await execFileAsync('umount', [point])
    await rm(dir, { recursive: true, force: true })
    await removeBridge()
  }
  for (let waited = 0; ; waited += 500) {
    const info = await execFileAsync('docker', ['info', '--format', '{{json .DriverStatus}}'], { env: { ...process.env, DOCKER_HOST: host } }).catch(() => undefined)
    if (info) {
      if (info.stdout.includes('io.containerd.snapshotter')) {
        await stop()
        throw new Error('the second engine uses the containerd image store; it was meant to use the classic store')
      }
      return { host, stop }
    }
    if (daemon.exitCode !== null || waited > 60_000) {
      await stop()
      throw new Error(`the classic-store engine did not start (exit ${daemon.exitCode ?? 'none'} after ${waited} ms)`)
    }
    await new Promise(resolve => setTimeout(resolve, 500))
  }
}
