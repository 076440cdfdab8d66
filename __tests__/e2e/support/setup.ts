/**
 * Runs before each e2e test file (jest's `setupFilesAfterEnv`):
 *
 * - the file gets a DOCKER_CONFIG of its own, so that nothing it runs (the action, through scripts/run-action.mjs,
 *   and the docker CLI through `docker()`) reads or writes the machine's ~/.docker, which other test files and
 *   other users of this machine share. Runs on a runner path get a fresh one per run besides (support/paths.ts);
 * - a test without a timeout of its own gets a minute, not jest's 5 s: one that only reads (the registry, docker
 *   ps) still waits on a loaded engine;
 * - when the file ends, the images of the repositories it was handed (freshRepository) leave the engine's store.
 */
import { afterAll, jest } from '@jest/globals'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { removeHandedOutImages } from './environment.js'

process.env.DOCKER_CONFIG = mkdtempSync(path.join(tmpdir(), 'go-build-action-e2e-docker-config-'))
jest.setTimeout(60_000)
afterAll(async () => {
  await removeHandedOutImages()
}, 120_000)
