import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Integration tests start real servers on ephemeral ports; two workers match this 2-core machine.
    pool: 'forks',
    maxWorkers: 2,
    // A PostgreSQL for the store contract tests, started in the background (skipped when not installed).
    globalSetup: ['test/global-postgres.ts'],
  },
});
