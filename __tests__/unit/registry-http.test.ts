import { describe, expect, it } from '@jest/globals'
import { credentialsFromAuths, isLoopback, parseChallenge, repositoryLocation } from '../../src/registry-http.js'

describe('repositoryLocation', () => {
  it.each([
    ['localhost:5000/e2e/hello', { host: 'localhost:5000', name: 'e2e/hello', registry: 'localhost:5000' }],
    ['ghcr.io/org/go-build', { host: 'ghcr.io', name: 'org/go-build', registry: 'ghcr.io' }],
    ['org/go-build', { host: 'registry-1.docker.io', name: 'org/go-build', registry: 'docker.io' }],
    ['docker.io/golang', { host: 'registry-1.docker.io', name: 'library/golang', registry: 'docker.io' }]
  ])('%s', (repository, location) => {
    expect(repositoryLocation(repository)).toEqual(location)
  })
})

describe('isLoopback', () => {
  it.each([
    ['localhost:5000', true],
    ['127.0.0.1:5001', true],
    ['[::1]:5000', true],
    ['ghcr.io', false],
    ['10.0.0.5:5000', false]
  ])('%s → %s', (host, loopback) => {
    expect(isLoopback(host)).toBe(loopback)
  })
})

describe('parseChallenge', () => {
  it('reads a Bearer challenge (ghcr.io, Docker Hub)', () => {
    expect(parseChallenge('Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:org/app:pull"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://ghcr.io/token', service: 'ghcr.io', scope: 'repository:org/app:pull' }
    })
  })

  it('reads a Basic challenge (registry:2 with htpasswd)', () => {
    expect(parseChallenge('Basic realm="Registry Realm"').scheme).toBe('basic')
  })
})

describe('credentialsFromAuths', () => {
  const auth = (text: string): string => Buffer.from(text).toString('base64')
  it('decodes what docker login stored, under the keys docker uses', () => {
    const config = {
      auths: {
        'localhost:5001': { auth: auth('e2e-user:pa:ss') },
        'https://index.docker.io/v1/': { auth: auth('hub-user:token') },
        'ghcr.io': { username: 'me', password: 'pat' }
      }
    }
    expect(credentialsFromAuths(config, 'localhost:5001')).toEqual({ username: 'e2e-user', password: 'pa:ss' })
    expect(credentialsFromAuths(config, 'docker.io')).toEqual({ username: 'hub-user', password: 'token' })
    expect(credentialsFromAuths(config, 'ghcr.io')).toEqual({ username: 'me', password: 'pat' })
    expect(credentialsFromAuths(config, 'quay.io')).toBeUndefined()
    expect(credentialsFromAuths({}, 'ghcr.io')).toBeUndefined()
  })
})
