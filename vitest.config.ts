import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/bench/**', 'node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Model and image work is CPU-bound; two forks match the 2-core CI machine.
    pool: 'forks',
    maxWorkers: 2,
  },
});
