import { defineConfig } from 'vitest/config';

/** `npm run soak`: the long reliability run, never part of `npm test` (whose include is test/**). */
export default defineConfig({
  test: {
    include: ['bench/soak.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 900_000,
    pool: 'forks',
  },
});
