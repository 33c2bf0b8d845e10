import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Infra tests bundle every Lambda with esbuild and the e2e tests boot the local stack.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
