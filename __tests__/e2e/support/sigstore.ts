/**
 * A private Sigstore on loopback, for keyless signing offline: GitHub's OIDC token service, Fulcio and Rekor.
 *
 * - the token service answers `core.getIDToken` (ACTIONS_ID_TOKEN_REQUEST_URL / _TOKEN, audience `sigstore`) with a
 *   JWT carrying the claims GitHub puts in a job's token (`iss` https://token.actions.githubusercontent.com,
 *   `job_workflow_ref`, `repository`, `ref`, `sha`, `event_name`, …); it is not signed, and Fulcio here, like
 *   sigstore's mock, does not check that;
 * - Fulcio and Rekor are @sigstore/mock's (what @actions/attest tests with): an ephemeral CA that issues the
 *   certificate with the GitHub workflow extensions from those claims and an embedded SCT from its CT log, and a
 *   log that returns entries with a signed entry timestamp. cosign 2.5 still speaks Fulcio's v1 API
 *   (`POST /api/v1/signingCert`, token in the Authorization header, PEM chain back), so that request is handed
 *   to the mock's v2 handler and its answer returned as v1's. The certificate's identity is
 *   `https://github.com/<job_workflow_ref>`, as Fulcio writes it for GitHub's issuer.
 *
 * cosign trusts this Sigstore through its own variables (SIGSTORE_ROOT_FILE, SIGSTORE_CT_LOG_PUBLIC_KEY_FILE,
 * SIGSTORE_REKOR_PUBLIC_KEY), as it would a private instance's.
 */
import mock from '@sigstore/mock'
import { generateKeyPairSync, type KeyPairKeyObjectResult } from 'node:crypto'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import * as path from 'node:path'

export const GITHUB_ISSUER = 'https://token.actions.githubusercontent.com'

export interface LocalSigstore {
  /** The job's workflow, as the token's `job_workflow_ref` claim names it. */
  jobWorkflowRef: string
  /** The identity Fulcio certifies: `https://github.com/<job_workflow_ref>`. */
  identity: string
  /** The token the service hands out (to check it reaches no log). */
  token: string
  fulcioUrl: string
  rekorUrl: string
  /** The action's environment: the token service and cosign's trust root. */
  actionEnv: Record<string, string>
  /** cosign's trust root alone, for `cosign verify` by a user. */
  trustEnv: Record<string, string>
  /** Requests served, `METHOD /path`. */
  requests: string[]
  stop(): Promise<void>
}

const pem = (der: ArrayBufferView, label: string): string =>
  `-----BEGIN ${label}-----\n${(Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64').match(/.{1,64}/g) ?? []).join('\n')}\n-----END ${label}-----\n`

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = ''
    req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk))
    req.on('end', () => resolve(body)).on('error', reject)
  })
}

export async function startLocalSigstore(repository = 'example/go-build-action-e2e'): Promise<LocalSigstore> {
  const keys = (): KeyPairKeyObjectResult => generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const ctKeys = keys()
  const caKeys = keys()
  const logKeys = keys()
  const ctLog = await mock.initializeCTLog(ctKeys)
  const ca = await mock.initializeCA(caKeys, ctLog)
  const fulcio = mock.fulcioHandler(ca, { subjectClaim: 'go_build_action_test_identity' })
  const requests: string[] = []
  const requestToken = `request-token-${Math.random().toString(36).slice(2)}`
  const jobWorkflowRef = `${repository}/.github/workflows/release.yml@refs/heads/main`
  const identity = `https://github.com/${jobWorkflowRef}`
  const now = Math.floor(Date.now() / 1000)
  const part = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url')
  const token = `${part({ alg: 'RS256', typ: 'JWT', kid: 'local' })}.${part({
    iss: GITHUB_ISSUER,
    aud: 'sigstore',
    sub: `repo:${repository}:ref:refs/heads/main`,
    iat: now,
    nbf: now,
    exp: now + 3600,
    repository,
    repository_owner: repository.split('/')[0],
    ref: 'refs/heads/main',
    sha: '0'.repeat(40),
    event_name: 'push',
    workflow: 'release',
    job_workflow_ref: jobWorkflowRef,
    runner_environment: 'github-hosted',
    // the mock's CA writes this claim as the certificate's SAN; real Fulcio derives the same from job_workflow_ref
    go_build_action_test_identity: identity
  })}.${Buffer.from('unsigned').toString('base64url')}`

  // Rekor's log is made once the server has its address (the log's entries name it)
  const services: { rekor?: ReturnType<typeof mock.rekorHandler> } = {}
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req)
      const url = new URL(req.url ?? '/', 'http://localhost')
      requests.push(`${req.method} ${url.pathname}`)
      if (req.method === 'GET' && url.pathname === '/token') {
        if (req.headers.authorization !== `Bearer ${requestToken}` || url.searchParams.get('audience') !== 'sigstore') return void res.writeHead(401).end()
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ value: token }))
      }
      if (req.method === 'POST' && url.pathname === '/fulcio/api/v1/signingCert') {
        const v1 = JSON.parse(body) as { publicKey: { content: string } }
        const raw = Buffer.from(v1.publicKey.content, 'base64')
        const publicKey = raw.toString('utf8').startsWith('-----BEGIN') ? raw.toString('utf8') : pem(raw, 'PUBLIC KEY')
        const oidcIdentityToken = (req.headers.authorization ?? '').replace(/^Bearer /, '')
        const answer = await fulcio.fn(JSON.stringify({ credentials: { oidcIdentityToken }, publicKeyRequest: { publicKey: { algorithm: 'ECDSA', content: publicKey } } }))
        if (answer.statusCode >= 300) return void res.writeHead(answer.statusCode).end(answer.response)
        const chain = (JSON.parse(String(answer.response)) as { signedCertificateEmbeddedSct: { chain: { certificates: string[] } } }).signedCertificateEmbeddedSct.chain.certificates
        return void res.writeHead(201, { 'content-type': 'application/pem-certificate-chain' }).end(chain.join(''))
      }
      const rekor = services.rekor
      if (rekor && req.method === 'POST' && url.pathname === `/rekor${rekor.path}`) {
        const answer = await rekor.fn(body)
        return void res.writeHead(answer.statusCode, { 'content-type': answer.contentType ?? 'text/plain' }).end(answer.response)
      }
      res.writeHead(404).end()
    })().catch(error => res.writeHead(500).end(String(error)))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const tlog = await mock.initializeTLog(`${base}/rekor`, logKeys)
  services.rekor = mock.rekorHandler(tlog)

  const dir = await mkdtemp(path.join(tmpdir(), 'go-build-action-sigstore-'))
  const files = { root: path.join(dir, 'fulcio-root.pem'), ctLog: path.join(dir, 'ctlog.pub'), rekor: path.join(dir, 'rekor.pub') }
  await writeFile(files.root, pem(ca.rootCertificate, 'CERTIFICATE'))
  await writeFile(files.ctLog, ctKeys.publicKey.export({ type: 'spki', format: 'pem' }))
  await writeFile(files.rekor, logKeys.publicKey.export({ type: 'spki', format: 'pem' }))
  const trustEnv = { SIGSTORE_ROOT_FILE: files.root, SIGSTORE_CT_LOG_PUBLIC_KEY_FILE: files.ctLog, SIGSTORE_REKOR_PUBLIC_KEY: files.rekor }
  return {
    jobWorkflowRef,
    identity,
    token,
    fulcioUrl: `${base}/fulcio`,
    rekorUrl: `${base}/rekor`,
    actionEnv: { ACTIONS_ID_TOKEN_REQUEST_URL: `${base}/token?api-version=2.0`, ACTIONS_ID_TOKEN_REQUEST_TOKEN: requestToken, ...trustEnv },
    trustEnv,
    requests,
    stop: () =>
      new Promise<void>(resolve => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
