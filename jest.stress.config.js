// The stress run (npm run stress; scripts/stress-concurrent.mjs): e2e-style tests that take too long for CI, with
// the e2e project's settings and their own files.
import config from './jest.config.js'

const e2e = config.projects.find(p => p.displayName === 'e2e')

export default {
  projects: [{ ...e2e, displayName: 'stress', testMatch: ['<rootDir>/__tests__/stress/**/*.stress.ts'] }],
  verbose: true,
  forceExit: true
}
