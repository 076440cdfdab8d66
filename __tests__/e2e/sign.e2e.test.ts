/**
 * Signing for real, offline: a key pair made with cosign (Debian's 2.5), `sign: true` with that key into two
 * repositories (the open registry and the htpasswd one, so cosign uses the credentials the action logged in
 * with), then `cosign verify --key` as a user on each of the 2 × 5 digests (index and four platform manifests;
 * the attestation manifests stay unsigned). A rerun that skips the build signs nothing: the key's signatures are
 * there and verified. A rerun that finds, under the tag, an index someone else pushed with the fingerprint copied
 * (what registry write access allows) rebuilds rather than signing it or moving a tag onto it. A wrong key
 * password fails before anything is built; a registry that refuses the signature write fails the publish with no
 * tag moved. In a distributed build the legs sign their records for the merge (cosign sign-blob, no image
 * signature), the merge verifies them and signs the legs' manifests and the merged index, in one cosign run; a
 * record someone else rewrote (annotations and signature copied onto another manifest) fails the merge naming the
 * platform (engine path only: nothing of it depends on the path).
 *
 * Keyless, offline: a loopback Sigstore (support/sigstore.ts: a GitHub OIDC token service, and @sigstore/mock's
 * Fulcio and Rekor) certifies the job's workflow; `cosign verify --certificate-identity --certificate-oidc-issuer`
 * against that trust root accepts every digest and refuses another workflow's identity. Without the token the run
 * stops before building, naming `permissions: id-token: write`.
 *
 * cosign: on the engine path, the one on PATH as it is (`cosign-version: installed`: Debian's build reports no
 * version); on the hosted path, a release from a loopback mirror (Debian's binary under the release's name and a
 * cosign_checksums.txt), verified and cached in a fresh tool cache, as a hosted runner downloads it. That release
 * is {@link MIRROR_COSIGN_VERSION}, one the action pins no sha256 for: the default (2.5.0) is checked against the
 * sums of the real release's binaries, which Debian's build is not, and the mirror is refused for it.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { promisify } from 'node:util'
import type { ActionRun } from '../../scripts/run-action.mjs'
import { LEG_TAG_PREFIX, LegAnnotation, MERGE_TAG_PREFIX } from '../../src/publish/handoff.js'
import { FINGERPRINT_ANNOTATION } from '../../src/tags/fingerprint.js'
import { FaultProxy, tagWritten } from './support/fault-proxy.js'
import {
  AUTH,
  AUTH_REGISTRY,
  BASE_IMAGE,
  copyOnlyContext,
  docker,
  expectSucceeded,
  FOUR_PLATFORMS,
  freshRepository,
  leaks,
  MINUTES,
  putRegistryManifest,
  registryManifest,
  registryTags,
  requireEnvironment,
  splitStaging
} from './support/environment.js'
import { describeEachPath, runOnPath, type BuilderPath } from './support/paths.js'
import { GITHUB_ISSUER, startLocalSigstore } from './support/sigstore.js'

const execFileAsync = promisify(execFile)
const PASSWORD = 'e2e-cosign-Passw0rd'
/** The cosign version the loopback mirror serves Debian's binary as: one the action pins no sha256 for. */
const MIRROR_COSIGN_VERSION = '2.4.3'
/** A directory of the test's own (keys, a tool cache of 70 MB, …), removed after the file's tests. */
const made: string[] = []
const temp = async (name: string): Promise<string> => {
  const dir = await mkdtemp(path.join(tmpdir(), `go-build-action-${name}-`))
  made.push(dir)
  return dir
}
afterAll(async () => {
  for (const dir of made) await rm(dir, { recursive: true, force: true })
})

/** A key pair as a user makes it: `cosign generate-key-pair` with COSIGN_PASSWORD. */
async function keyPair(password: string): Promise<{ dir: string; key: string; pub: string }> {
  const dir = await temp('cosign-keys')
  await execFileAsync('cosign', ['generate-key-pair'], { cwd: dir, env: { ...process.env, COSIGN_PASSWORD: password } })
  return { dir, key: readFileSync(path.join(dir, 'cosign.key'), 'utf8'), pub: path.join(dir, 'cosign.pub') }
}

/** `cosign verify` as a user runs it, with a docker config that may read the htpasswd registry. */
async function cosignVerify(args: string[], dockerConfig: string, env: Record<string, string> = {}): Promise<{ ok: boolean; output: string }> {
  try {
    const { stdout, stderr } = await execFileAsync('cosign', ['verify', ...args], { env: { ...process.env, ...env, DOCKER_CONFIG: dockerConfig } })
    return { ok: true, output: `${stdout}${stderr}` }
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string }
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` }
  }
}

/**
 * A loopback mirror of the cosign release layout: the binary under its release name, and cosign_checksums.txt;
 * under /bad/, the same checksums with one byte of the binary changed (a compromised mirror).
 */
async function cosignMirror(): Promise<{ server: Server; url: string; badUrl: string; requests: string[] }> {
  const binary = readFileSync('/usr/bin/cosign')
  const tampered = Buffer.from(binary)
  tampered.writeUInt8(tampered.readUInt8(tampered.length >> 1) ^ 0xff, tampered.length >> 1)
  const sums = `${createHash('sha256').update(binary).digest('hex')}  cosign-linux-amd64\n${'0'.repeat(64)}  cosign-linux-arm64\n`
  const requests: string[] = []
  const server = createServer((req, res) => {
    requests.push(req.url ?? '')
    const file = (req.url ?? '').replace(/^\/bad\//, '/').replace(/^\/v[0-9.]+\//, '/')
    const served = req.url?.startsWith('/bad/') ? tampered : binary
    if (file === '/cosign-linux-amd64') return void res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(served)
    if (file === '/cosign_checksums.txt') return void res.writeHead(200).end(sums)
    res.writeHead(404).end()
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return { server, url: `${base}/v{version}/cosign-{os}-{arch}`, badUrl: `${base}/bad/v{version}/cosign-{os}-{arch}`, requests }
}

beforeAll(requireEnvironment, MINUTES)

describeEachPath('signing with cosign', builderPath => {
  describe('signing with cosign', () => {
    let keys: Awaited<ReturnType<typeof keyPair>>
    let verifyConfig: string
    let context: string
    let mirror: Awaited<ReturnType<typeof cosignMirror>> | undefined
    const proxy = new FaultProxy(5000)
    /** The htpasswd registry behind a proxy too, so that the order of every write to either registry is known. */
    const authProxy = new FaultProxy(5001)

    beforeAll(async () => {
      keys = await keyPair(PASSWORD)
      await Promise.all([proxy.start(), authProxy.start()])
      verifyConfig = await temp('cosign-verify-config')
      const auth = Buffer.from(`${AUTH.user}:${AUTH.password}`).toString('base64')
      await writeFile(path.join(verifyConfig, 'config.json'), JSON.stringify({ auths: { [AUTH_REGISTRY]: { auth }, [authProxy.host]: { auth } } }))
      context = await copyOnlyContext()
      if (builderPath.name === 'hosted') mirror = await cosignMirror()
    }, MINUTES)

    afterAll(async () => {
      await Promise.all([proxy.stop(), authProxy.stop()])
      if (mirror) await new Promise(resolve => mirror!.server.close(resolve))
    })

    /** How this path gets its cosign (see the file's comment); `toolCache` where the test prepared one. */
    const cosignInputs = async (toolCache?: string): Promise<{ inputs: Record<string, string>; env: Record<string, string> }> =>
      builderPath.name === 'hosted'
        ? { inputs: { 'cosign-download-url': mirror!.url, 'cosign-version': MIRROR_COSIGN_VERSION }, env: { RUNNER_TOOL_CACHE: toolCache ?? (await temp('tool-cache')) } }
        : { inputs: { 'cosign-version': 'installed' }, env: {} }

    const publish = async (p: BuilderPath, inputs: Record<string, string>, platforms = FOUR_PLATFORMS, env: Record<string, string> = {}, toolCache?: string): Promise<ActionRun> => {
      const cosign = await cosignInputs(toolCache)
      return runOnPath(p, {
        cwd: context,
        env: { ...cosign.env, ...env },
        inputs: {
          'tag-template': 'signed',
          platforms: platforms.join(','),
          sign: 'true',
          'sign-key': keys.key,
          'sign-key-password': PASSWORD,
          'sign-transparency-log': 'false',
          registry: AUTH_REGISTRY,
          username: AUTH.user,
          password: AUTH.password,
          ...cosign.inputs,
          ...inputs
        }
      })
    }

    it(
      'signs the index and the four platform manifests in both repositories, every signature written before the first tag is; cosign verify --key accepts all 10; a rerun that skips the build finds all 10 signed by the key and signs nothing',
      async () => {
        // both registries through the logging proxies, which see every write in the order it reached them
        const repositories = [freshRepository(`sign-${builderPath.name}`, proxy.host), freshRepository(`sign-${builderPath.name}`, authProxy.host)]
        const inputs = { images: repositories.join('\n'), registry: authProxy.host }
        const logged = [proxy.log.length, authProxy.log.length] as const
        const run = await publish(builderPath, inputs)
        expectSucceeded(run)

        // every signature manifest the registries took was answered before the first write of a tag users pull reached them
        const sent = [...proxy.log.slice(logged[0]), ...authProxy.log.slice(logged[1])]
        const isSignature = (path: string): boolean => /\/manifests\/sha256-[0-9a-f]{64}\.sig$/.test(path)
        const signatureWrites = sent.filter(l => l.method === 'PUT' && isSignature(l.path) && l.status === 201)
        const tagWrites = sent.filter(l => tagWritten(l.method, l.path) !== undefined && !isSignature(l.path))
        expect(signatureWrites).toHaveLength(10)
        expect(tagWrites.length).toBeGreaterThanOrEqual(10)
        const lastSignature = Math.max(...signatureWrites.map(l => l.at))
        expect(tagWrites.filter(l => l.arrived <= lastSignature).map(l => l.path)).toEqual([])

        const signatures = JSON.parse(run.outputs.signatures!) as Array<{ repository: string; digest: string; signed: string; platform?: string; signature: string }>
        const platformDigests = JSON.parse(run.outputs['platform-digests']!) as Record<string, string>
        const expected = repositories.flatMap(repository => [
          { repository, digest: run.outputs.digest!, signed: 'index', signature: `${repository}:sha256-${run.outputs.digest!.slice(7)}.sig` },
          ...FOUR_PLATFORMS.map(platform => ({
            repository,
            digest: platformDigests[platform]!,
            signed: 'platform',
            platform,
            signature: `${repository}:sha256-${platformDigests[platform]!.slice(7)}.sig`
          }))
        ])
        expect(signatures).toEqual(expected)

        // every one of the 2 × 5 digests, as a user verifies it
        for (const s of signatures) {
          const verified = await cosignVerify(['--key', keys.pub, '--insecure-ignore-tlog=true', `${s.repository}@${s.digest}`], verifyConfig)
          expect({ reference: `${s.repository}@${s.digest}`, ok: verified.ok, output: verified.ok ? '' : verified.output }).toEqual({ reference: `${s.repository}@${s.digest}`, ok: true, output: '' })
          expect(verified.output).toContain(`"docker-manifest-digest":"${s.digest}"`)
          expect(verified.output).toContain(`"docker-reference":"${s.repository}"`)
        }
        // the attestation manifests are left unsigned (not asked for)
        const attestations = JSON.parse(run.outputs.attestations!) as Array<{ digest: string }>
        expect(attestations).toHaveLength(4)
        const unsigned = await cosignVerify(['--key', keys.pub, '--insecure-ignore-tlog=true', `${repositories[0]}@${attestations[0]!.digest}`], verifyConfig)
        expect(unsigned.ok).toBe(false)
        // signatures sit under cosign's tag scheme, beside the published tags
        const tags = splitStaging(await registryTags(repositories[0]!)).published
        expect(tags.filter(t => t.endsWith('.sig')).sort()).toEqual(expected.slice(0, 5).map(s => `sha256-${s.digest.slice(7)}.sig`).sort())
        expect(tags.filter(t => !t.endsWith('.sig'))).toEqual(['signed', 'signed-amd64', 'signed-arm64', 'signed-ppc64le', 'signed-s390x'])

        // the summary's command is the one a user runs, and it works as printed (cosign.pub beside it)
        const command = new RegExp(`<pre>(cosign verify --key cosign.pub --insecure-ignore-tlog=true ${repositories[0]}@${run.outputs.digest})</pre>`).exec(run.summary)
        expect(command).not.toBeNull()
        const printed = await execFileAsync('sh', ['-c', command![1]!], { cwd: keys.dir, env: { ...process.env, DOCKER_CONFIG: verifyConfig } })
        expect(printed.stdout).toContain(run.outputs.digest)
        // the key and its password reach no log, output, state or summary (beyond the runner's ::add-mask:: commands)
        const keyLines = keys.key.split('\n').filter(l => l && !l.startsWith('-----'))
        for (const secret of [PASSWORD, ...keyLines]) expect(leaks(run, secret)).toEqual([])
        if (mirror) expect(mirror.requests).toEqual([`/v${MIRROR_COSIGN_VERSION}/cosign_checksums.txt`, `/v${MIRROR_COSIGN_VERSION}/cosign-linux-amd64`])

        // unchanged, the same key: cosign verify accepts the key's signature on all 10 published digests, so the run
        // skips and signs nothing (every signature manifest is the one the first run wrote)
        const signatureManifests = async (): Promise<Array<string | null>> =>
          Promise.all(expected.map(async s => (await registryManifest(s.signature, s.repository.startsWith(authProxy.host) ? AUTH : undefined)).digest))
        const before = await signatureManifests()
        const rerun = await publish(builderPath, { ...inputs, 'skip-unchanged': 'true' })
        expectSucceeded(rerun)
        expect(rerun.outputs.result).toBe('unchanged')
        expect(rerun.summary).toContain('skipped: unchanged')
        expect(rerun.main.log).toContain('cosign verify accepts a signature by the key given as "sign-key" on all 10 published digest(s): nothing to sign')
        expect(rerun.main.log).not.toMatch(/\[command\]\S*cosign sign /)
        expect(JSON.parse(rerun.outputs.signatures!)).toEqual(expected)
        expect(rerun.summary).toContain('10 signature(s) (0 signed by this run, the rest carried a valid signature already)')
        expect(await signatureManifests()).toEqual(before)
      },
      15 * MINUTES
    )

    it(
      'a scheduled rerun does not skip onto an index someone else pushed under TAG with the fingerprint copied: the forged index and manifests get no signature by the key, no tag (TAG, TAG-ARCH, extra tags, latest) moves onto them, and the rerun rebuilds, saying why',
      async () => {
        const platforms = ['linux/amd64', 'linux/arm64']
        const repository = freshRepository(`sign-forged-${builderPath.name}`)
        const inputs = { images: repository, tags: 'extra', latest: 'always' }
        const first = await publish(builderPath, inputs, platforms)
        expectSucceeded(first)
        const published = JSON.parse((await registryManifest(`${repository}:signed`)).body) as { annotations?: Record<string, string> }
        expect(published.annotations?.[FINGERPRINT_ANNOTATION]).toMatch(/^sha256:[0-9a-f]{64}$/)

        // what anyone who can push to the repository can do: another image (busybox's manifests for the same
        // platforms, copied in), under an OCI index carrying every annotation of the published one, fingerprint included
        const base = JSON.parse((await registryManifest(`${BASE_IMAGE}:latest`)).body) as {
          manifests: Array<{ mediaType: string; digest: string; size: number; platform: { os: string; architecture: string } }>
        }
        const other = base.manifests.filter(m => platforms.includes(`${m.platform.os}/${m.platform.architecture}`))
        expect(other).toHaveLength(2)
        await docker(['buildx', 'imagetools', 'create', '--tag', `${repository}:other`, ...other.map(m => `${BASE_IMAGE}@${m.digest}`)])
        const forgedIndex = JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.index.v1+json',
          manifests: other.map(({ mediaType, digest, size, platform }) => ({ mediaType, digest, size, platform })),
          annotations: published.annotations
        })
        const forgedDigest = await putRegistryManifest(`${repository}:signed`, 'application/vnd.oci.image.index.v1+json', forgedIndex)
        const forged = [forgedDigest, ...other.map(m => m.digest)]

        const rerun = await publish(builderPath, inputs, platforms, { GITHUB_EVENT_NAME: 'schedule' })
        expectSucceeded(rerun)
        // the forged index and its manifests carry no signature by the key
        for (const digest of forged) {
          const verified = await cosignVerify(['--key', keys.pub, '--insecure-ignore-tlog=true', `${repository}@${digest}`], verifyConfig)
          expect({ digest, ok: verified.ok }).toEqual({ digest, ok: false })
        }
        // no tag points at them: every tag holds the rerun's build, which the key signed
        const rebuilt = JSON.parse(rerun.outputs['platform-digests']!) as Record<string, string>
        const expectedTags = { signed: rerun.outputs.digest, extra: rerun.outputs.digest, latest: rerun.outputs.digest, 'signed-amd64': rebuilt['linux/amd64'], 'signed-arm64': rebuilt['linux/arm64'] }
        const served: Record<string, string | null> = {}
        for (const tag of Object.keys(expectedTags)) served[tag] = (await registryManifest(`${repository}:${tag}`)).digest
        expect(served).toEqual(expectedTags)
        expect(Object.values(served).filter(d => forged.includes(d ?? ''))).toEqual([])
        for (const s of JSON.parse(rerun.outputs.signatures!) as Array<{ repository: string; digest: string }>) {
          const verified = await cosignVerify(['--key', keys.pub, '--insecure-ignore-tlog=true', `${s.repository}@${s.digest}`], verifyConfig)
          expect({ digest: s.digest, ok: verified.ok }).toEqual({ digest: s.digest, ok: true })
        }
        // rebuilt, not skipped, and the log and the summary say why
        expect(rerun.outputs.result).toBe('published')
        expect(rerun.main.log).toMatch(/Build 2 platforms/)
        const why = `${repository}:signed carries this build's fingerprint, but cosign verify accepts no signature by the key given as "sign-key" on its index, linux/amd64 manifest, linux/arm64 manifest: building, since this run signs only what it built and verified, or found signed by that identity`
        expect(rerun.main.log).toContain(`building: ${why}`)
        expect(rerun.summary).toContain(`<p><strong>Why it was built:</strong> ${why.replaceAll('"', '&quot;')}.</p>`)
      },
      15 * MINUTES
    )

    it(
      'a wrong key password fails before anything is built (and a program left in the tool cache under cosign\'s name is not what checked it); a mirror serving other bytes installs nothing; a registry that refuses the signature write fails the publish with no tag moved; a transient refusal is retried',
      async () => {
        const wrongRepository = freshRepository(`sign-wrong-password-${builderPath.name}`)
        // on the hosted path, a tool cache where another job left a program under cosign's name
        const seeded = mirror ? { dir: await temp('tool-cache'), marker: path.join(await temp('marker'), 'ran') } : undefined
        if (seeded) {
          const cached = path.join(seeded.dir, 'cosign', MIRROR_COSIGN_VERSION, 'amd64')
          await mkdir(cached, { recursive: true })
          await writeFile(path.join(cached, 'cosign'), `#!/bin/sh\ntouch ${seeded.marker}\necho '{"gitVersion":"v${MIRROR_COSIGN_VERSION}"}'\n`, { mode: 0o755 })
          await writeFile(`${cached}.complete`, '')
        }
        const wrong = await publish(builderPath, { images: wrongRepository, 'sign-key-password': 'not-the-password' }, FOUR_PLATFORMS, {}, seeded?.dir)
        expect(wrong.main.exitCode).toBe(1)
        expect(wrong.main.log).toContain('input "sign-key-password": does not decrypt "sign-key"')
        expect(wrong.main.log).not.toMatch(/Build \d+ platform/)
        expect(await registryTags(wrongRepository)).toEqual([])

        if (mirror && seeded) {
          // the cached program never ran (the key and its password were never handed to it): reported, and replaced
          expect(existsSync(seeded.marker)).toBe(false)
          expect(wrong.main.log).toMatch(
            new RegExp(`::warning::the cosign ${MIRROR_COSIGN_VERSION.replace(/\./g, '\\.')} in the tool cache \\(\\S+/cosign\\) has sha256 [0-9a-f]{64}, but \\S+cosign_checksums\\.txt says [0-9a-f]{64}: it is not run`)
          )
          // the download path: a binary that does not match the release's checksum installs nothing, builds nothing
          const tampered = await publish(builderPath, { images: wrongRepository, 'cosign-download-url': mirror.badUrl })
          expect(tampered.main.exitCode).toBe(1)
          expect(tampered.main.log).toMatch(/the cosign 2\.4\.3 download from \S+ has sha256 [0-9a-f]{64}, but \S+cosign_checksums\.txt says [0-9a-f]{64}: nothing was installed/)
          expect(tampered.main.log).not.toMatch(/Build \d+ platform/)
          // the default release is checked against the sha256 pinned in the action, not the mirror's checksums:
          // Debian's build, served under the release's name with matching checksums, is not the release
          const pinned = await publish(builderPath, { images: wrongRepository, 'cosign-version': '' })
          expect(pinned.main.exitCode).toBe(1)
          expect(pinned.main.log).toMatch(
            /::error::the cosign 2\.5\.0 download from \S+\/v2\.5\.0\/cosign-linux-amd64 has sha256 [0-9a-f]{64}, but the sha256 this action pins for cosign 2\.5\.0 \(cosign-linux-amd64\) says 1f6c194dd0891eb345b436bb71ff9f996768355f5e0ce02dde88567029ac2188: nothing was installed/
          )
          expect(pinned.main.log).not.toMatch(/Build \d+ platform/)
          expect(await registryTags(wrongRepository)).toEqual([])
        }

        const name = `e2e/sign-refused-${builderPath.name}-${Date.now().toString(36)}`
        const refuseSignature = { method: 'PUT', path: /\/manifests\/sha256-[0-9a-f]{64}\.sig$/, times: Infinity, fault: { status: 403 } }
        const refused = await proxy.during([refuseSignature], () => publish(builderPath, { images: `${proxy.host}/${name}` }, ['linux/amd64']))
        expect(refused.main.exitCode).toBe(1)
        expect(refused.main.log).toMatch(/cosign could not sign 2 digest\(s\) \(exit 1: .*\): the registry refused; .* no tag moved/)
        expect(proxy.failed(refuseSignature)).toBeGreaterThan(0)
        expect(refused.summary).toContain('No tag a user pulls was moved.')
        expect(splitStaging(await registryTags(`localhost:5000/${name}`)).published).toEqual([])
        expect(refused.outputs.signatures).toBe('')

        // a transient refusal (HTTP 500 once) is retried (cosign's registry client retries 5xx itself; the action's
        // retry policy is behind it) and the publish completes, signed
        const transient = { method: 'PUT', path: /\/manifests\/sha256-[0-9a-f]{64}\.sig$/, times: 1, fault: { status: 500 } }
        const retried = await proxy.during([transient], () => publish(builderPath, { images: `${proxy.host}/${name}-transient`, 'retry-delay': '0.2' }, ['linux/amd64']))
        expectSucceeded(retried)
        expect(proxy.failed(transient)).toBe(1)
        for (const s of JSON.parse(retried.outputs.signatures!) as Array<{ repository: string; digest: string }>) {
          const verified = await cosignVerify(['--key', keys.pub, '--insecure-ignore-tlog=true', `localhost:5000/${name}-transient@${s.digest}`], verifyConfig)
          expect({ digest: s.digest, ok: verified.ok }).toEqual({ digest: s.digest, ok: true })
        }
      },
      10 * MINUTES
    )

    it(
      'keyless: the job\'s OIDC token gets a certificate for its workflow; cosign verify with the printed identity and issuer accepts every digest; without the token the run stops naming the permission',
      async () => {
        const sigstore = await startLocalSigstore()
        try {
          const repository = freshRepository(`sign-keyless-${builderPath.name}`)
          const cosign = await cosignInputs()
          const run = await runOnPath(builderPath, {
            cwd: context,
            env: { ...cosign.env, ...sigstore.actionEnv },
            inputs: {
              images: repository,
              'tag-template': 'keyless',
              platforms: 'linux/amd64,linux/arm64',
              sign: 'true',
              'sign-attestations': 'true',
              'sign-fulcio-url': sigstore.fulcioUrl,
              'sign-rekor-url': sigstore.rekorUrl,
              ...cosign.inputs
            }
          })
          expectSucceeded(run)
          const signatures = JSON.parse(run.outputs.signatures!) as Array<{ repository: string; digest: string; signed: string; platform?: string }>
          // sign-attestations: the provenance attestation manifests too, each naming the platform it attests
          expect(signatures.map(s => [s.signed, s.platform])).toEqual([
            ['index', undefined],
            ['platform', 'linux/amd64'],
            ['platform', 'linux/arm64'],
            ['attestation', 'linux/amd64'],
            ['attestation', 'linux/arm64']
          ])
          expect(signatures.filter(s => s.signed === 'attestation').map(s => s.digest).sort()).toEqual(
            (JSON.parse(run.outputs.attestations!) as Array<{ digest: string }>).map(a => a.digest).sort()
          )
          // one certificate for the run's one cosign sign, one log entry per signature
          expect(sigstore.requests.filter(r => r !== 'GET /token')).toEqual(['POST /fulcio/api/v1/signingCert', ...Array(5).fill('POST /rekor/api/v1/log/entries')])

          // the summary's command, as printed, with the identity Fulcio certified and the issuer of GitHub's tokens
          const printed = `cosign verify --certificate-identity ${sigstore.identity} --certificate-oidc-issuer ${GITHUB_ISSUER} --rekor-url ${sigstore.rekorUrl} ${repository}@${run.outputs.digest}`
          expect(run.summary).toContain(`<pre>${printed}</pre>`)
          const user = await execFileAsync('sh', ['-c', printed], { env: { ...process.env, ...sigstore.trustEnv } })
          expect(user.stdout).toContain(`"docker-manifest-digest":"${run.outputs.digest}"`)
          for (const s of signatures) {
            const verified = await cosignVerify(
              ['--certificate-identity', sigstore.identity, '--certificate-oidc-issuer', GITHUB_ISSUER, '--rekor-url', sigstore.rekorUrl, `${s.repository}@${s.digest}`],
              verifyConfig,
              sigstore.trustEnv
            )
            expect({ digest: s.digest, ok: verified.ok, output: verified.ok ? '' : verified.output }).toEqual({ digest: s.digest, ok: true, output: '' })
            expect(verified.output).toContain('"1.3.6.1.4.1.57264.1.5":"example/go-build-action-e2e"')
          }
          const other = sigstore.identity.replace('release.yml', 'other.yml')
          const refused = await cosignVerify(
            ['--certificate-identity', other, '--certificate-oidc-issuer', GITHUB_ISSUER, '--rekor-url', sigstore.rekorUrl, `${repository}@${run.outputs.digest}`],
            verifyConfig,
            sigstore.trustEnv
          )
          expect(refused).toEqual({ ok: false, output: expect.stringContaining('none of the expected identities matched') })
          expect(leaks(run, sigstore.token)).toEqual([])
        } finally {
          await sigstore.stop()
        }

        const cosign = await cosignInputs()
        const noToken = await runOnPath(builderPath, {
          cwd: context,
          env: cosign.env,
          inputs: { images: freshRepository(`sign-no-token-${builderPath.name}`), 'tag-template': 'keyless', platforms: 'linux/amd64', sign: 'true', ...cosign.inputs }
        })
        expect(noToken.main.exitCode).toBe(1)
        expect(noToken.main.log).toContain('this job has none (ACTIONS_ID_TOKEN_REQUEST_URL is not set): give the job "permissions: id-token: write"')
        expect(noToken.main.log).not.toMatch(/Build \d+ platform/)
      },
      10 * MINUTES
    )

    describe('distributed', () => {
      const TWO = ['linux/amd64', 'linux/arm64']
      const repository = freshRepository(`sign-merge-${builderPath.name}`)
      const runId = `${Date.now()}${Math.floor(Math.random() * 1000)}`
      const legs: ActionRun[] = []
      let merge: ActionRun
      let sigTagsAfterLegs: string[]
      let recordTags: string[] = []

      const job = async (mode: 'leg' | 'merge', platforms: string[], attempt = 1): Promise<ActionRun> => {
        const cosign = await cosignInputs()
        return runOnPath(builderPath, {
          cwd: context,
          env: { ...cosign.env, GITHUB_RUN_ID: runId, GITHUB_RUN_ATTEMPT: String(attempt), RUNNER_NAME: `${mode}-${platforms.length}` },
          inputs: {
            mode,
            images: repository,
            'tag-template': 'merged',
            platforms: platforms.join(','),
            sign: 'true',
            'sign-key': keys.key,
            'sign-key-password': PASSWORD,
            'sign-transparency-log': 'false',
            ...cosign.inputs
          }
        })
      }

      beforeAll(async () => {
        for (const platform of TWO) legs.push(await job('leg', [platform]))
        const tags = await registryTags(repository)
        sigTagsAfterLegs = tags.filter(t => t.endsWith('.sig'))
        recordTags = tags.filter(t => t.startsWith(`${LEG_TAG_PREFIX}-`))
        merge = await job('merge', TWO)
      }, 10 * MINUTES)

      it("the legs sign their records for the merge (no image signature); the merge verifies them, then signs the legs' manifests and the merged index, once", async () => {
        for (const [i, leg] of legs.entries()) {
          expectSucceeded(leg)
          expect(leg.outputs.signatures).toBe('')
          // the record carries the leg's signature of its statement: a cosign bundle, by the key
          const record = JSON.parse((await registryManifest(`${repository}:${legTagOf(TWO[i]!)}`)).body) as { annotations: Record<string, string> }
          const bundle = JSON.parse(Buffer.from(record.annotations[LegAnnotation.Signature] ?? '', 'base64').toString('utf8')) as { base64Signature?: string }
          expect(bundle.base64Signature).toMatch(/^[A-Za-z0-9+/]+=*$/)
          expect(leg.main.log).toMatch(/\[command\]\S*cosign sign-blob --yes --key \S+ --tlog-upload=false --bundle /)
        }
        expect(sigTagsAfterLegs).toEqual([])

        expectSucceeded(merge)
        expect(merge.main.log).toContain('cosign verify-blob accepts the signature by the key given as "sign-key" on the record of every leg (2)')
        const platformDigests = JSON.parse(merge.outputs['platform-digests']!) as Record<string, string>
        const signatures = JSON.parse(merge.outputs.signatures!) as Array<{ digest: string; signed: string; platform?: string }>
        expect(signatures.map(s => [s.signed, s.platform ?? '', s.digest])).toEqual([
          ['index', '', merge.outputs.digest],
          ['platform', 'linux/amd64', platformDigests['linux/amd64']],
          ['platform', 'linux/arm64', platformDigests['linux/arm64']]
        ])
        expect(merge.main.log.match(/\[command\]\S*cosign sign /g)).toHaveLength(1)
        for (const s of signatures) {
          const verified = await cosignVerify(['--key', keys.pub, '--insecure-ignore-tlog=true', `${repository}@${s.digest}`], verifyConfig)
          expect({ digest: s.digest, ok: verified.ok }).toEqual({ digest: s.digest, ok: true })
        }
        expect((await registryTags(repository)).filter(t => t.endsWith('.sig'))).toHaveLength(3)
      })

      // the merge reads and verifies the records before anything depends on the runner path: one path is enough
      // (declared on the engine path only: scripts/test.sh fails a run that skips a hosted-path test)
      if (builderPath.name === 'engine') {
        it(
          "a leg record someone else wrote (the genuine record's annotations and signature copied onto an index of another manifest) is not merged: a re-run of the merge fails naming the platform; nothing moves or is signed",
          async () => {
            expectSucceeded(merge)
            const arm64Tag = legTagOf('linux/arm64')
            // the genuine record's annotations, whatever they are (its signature among them: the test above checks it is there)
            const genuine = JSON.parse((await registryManifest(`${repository}:${arm64Tag}`)).body) as { annotations: Record<string, string> }
            const base = JSON.parse((await registryManifest(`${BASE_IMAGE}:latest`)).body) as {
              manifests: Array<{ mediaType: string; digest: string; size: number; platform: { os: string; architecture: string } }>
            }
            const other = base.manifests.find(m => m.platform.architecture === 'arm64')!
            await docker(['buildx', 'imagetools', 'create', '--tag', `${repository}:other`, `${BASE_IMAGE}@${other.digest}`])
            const forged = await putRegistryManifest(
              `${repository}:${arm64Tag}`,
              'application/vnd.oci.image.index.v1+json',
              JSON.stringify({
                schemaVersion: 2,
                mediaType: 'application/vnd.oci.image.index.v1+json',
                manifests: [{ mediaType: other.mediaType, digest: other.digest, size: other.size, platform: other.platform }],
                annotations: genuine.annotations
              })
            )
            const tags = ['merged', 'merged-amd64', 'merged-arm64', mergeTagOf()]
            const held = async (): Promise<Record<string, string | null>> =>
              Object.fromEntries(await Promise.all(tags.map(async t => [t, (await registryManifest(`${repository}:${t}`)).digest] as const)))
            const before = await held()
            expect(before.merged).toBe(merge.outputs.digest)
            const sigTags = (await registryTags(repository)).filter(t => t.endsWith('.sig'))

            const again = await job('merge', TWO, 2)
            expect(again.main.exitCode).toBe(1)
            expect(again.outputs).toMatchObject({ result: 'failed', pushed: 'false', digest: '', tags: '', signatures: '' })
            expect(again.main.log).toContain(
              `linux/arm64: the leg record ${repository}:${arm64Tag} (${forged}) carries no signature by the key given as "sign-key" over its annotations and manifests (cosign verify-blob: `
            )
            expect(again.main.log).toContain('this run\'s leg did not write it, or it was changed since; nothing of it is merged: re-run the linux/arm64 leg')
            expect(again.main.log).not.toContain('linux/amd64: the leg record')
            expect(again.main.log).not.toMatch(/\[command\]\S*cosign sign /)
            expect(again.main.log).not.toContain('Create the index from the legs')
            expect(await held()).toEqual(before)
            expect((await registryTags(repository)).filter(t => t.endsWith('.sig'))).toEqual(sigTags)
            const verified = await cosignVerify(['--key', keys.pub, '--insecure-ignore-tlog=true', `${repository}@${other.digest}`], verifyConfig)
            expect(verified.ok).toBe(false)
          },
          5 * MINUTES
        )
      }

      /** The record tag of a platform, and the merge's tag (named by the configuration's id, read from the records' tags). */
      const legTagOf = (platform: string): string => recordTags.find(t => t.endsWith(`-${platform.split('/')[1]}`)) ?? `no record of ${platform}`
      const mergeTagOf = (): string => `${MERGE_TAG_PREFIX}-${legTagOf('linux/amd64').slice(LEG_TAG_PREFIX.length + 1, LEG_TAG_PREFIX.length + 13)}`
    })
  })
})
