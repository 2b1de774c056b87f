// Native ESM Jest (NODE_OPTIONS=--experimental-vm-modules): the NestJS 12 packages are ESM-only.
const base = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
    // CommonJS that requires the ESM-only @nestjs packages: Jest loads an ESM copy (test/support/esm-copy.mjs).
    '^@willsoto/nestjs-prometheus$':
      '<rootDir>/node_modules/.cache/courseflow-jest-esm/@willsoto/nestjs-prometheus/index.mjs',
  },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }] },
};

export default {
  // Integration tests race hundreds of requests through real PostgreSQL and Redis.
  testTimeout: 60_000,
  testSequencer: '<rootDir>/test/support/longest-first.mjs',
  projects: [
    {
      ...base,
      displayName: 'unit',
      testMatch: ['<rootDir>/src/**/*.spec.ts'],
      globalSetup: '<rootDir>/test/support/unit-setup.mjs',
    },
    {
      ...base,
      displayName: 'int',
      testMatch: ['<rootDir>/test/**/*.int-spec.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.mjs',
      globalTeardown: '<rootDir>/test/support/global-teardown.mjs',
    },
  ],
};
