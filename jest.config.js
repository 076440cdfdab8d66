// Two projects: `unit` (pure, fast, no docker) and `e2e` (the bundled action against the real engine, buildx,
// QEMU and local registries that scripts/e2e-env.sh brings up).
const common = {
  preset: 'ts-jest/presets/default-esm',
  // jest's node environment, with a TMPDIR of each test file's own, removed when the file ends
  testEnvironment: '<rootDir>/__tests__/support/environment.mjs',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }] }
}

export default {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/__tests__/unit/**/*.test.ts'] },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/__tests__/e2e/**/*.test.ts'],
      // each test file gets a DOCKER_CONFIG of its own, never the machine's ~/.docker, and a minute per test
      setupFilesAfterEnv: ['<rootDir>/__tests__/e2e/support/setup.ts'],
      slowTestThreshold: 600
    }
  ],
  verbose: true,
  // npm run coverage: the unit tests' line coverage of src/, measured by V8 (no instrumentation)
  coverageProvider: 'v8',
  collectCoverageFrom: ['<rootDir>/src/**/*.ts'],
  coverageReporters: ['text', 'text-summary'],
  // Seen twice on this machine, only while another jest run used the same docker engine at the same time: every
  // test had passed and jest still waited, with no open handle that --detectOpenHandles could name. A hung run
  // would hold CI to its time limit, so jest exits once the tests are done.
  forceExit: true
}
