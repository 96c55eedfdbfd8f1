import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Integration suites open real sockets and spawn processes: keep CPU contention predictable on 2 cores.
    maxWorkers: 2,
  },
});
