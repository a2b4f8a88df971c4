import { defineConfig } from 'vitest/config';

// Tests import the built package ('skein' resolves to dist/ through package.json `exports`), so
// worker threads run exactly the JavaScript that ships. `npm test` builds first (pretest).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Two cores: run test files two at a time so timing-sensitive stress tests are not starved.
    maxWorkers: 2,
  },
});
