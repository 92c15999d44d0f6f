import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Timeouts only catch hangs. Many tests spawn the CLI (node + tfjs-wasm start-up per
    // command); on a busy 2-core machine they take several times their idle time
    // (session 20: the 8-command --init-from test took 63 s beside two training runs).
    testTimeout: 240_000,
    hookTimeout: 240_000,
    pool: 'forks',
  },
});
