import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/support/setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Vitest's default is one worker fewer than the cores: one on a 2-core machine, which left a core idle while
    // the integration tests wait on the disk and on their servers' threads. One per core: 205 s → 110 s here.
    maxWorkers: availableParallelism(),
    // The SDK's Node 22 notice is noise in test output (cvm supports Node 20; see README).
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
