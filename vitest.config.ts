import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Browser tests need Debian's chromium: `npm run test:browser` (CI installs it first).
    exclude: ['test/browser/**', 'node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start their own emulators on port 0, so files can run in parallel.
    pool: 'forks',
  },
});
