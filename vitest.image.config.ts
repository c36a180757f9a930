import { defineConfig } from 'vitest/config';

/** The container tests (`npm run test:image`): the built image against the test servers. */
export default defineConfig({
  test: {
    include: ['test/image/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts', 'test/image/support/image-setup.ts'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    // Containers share two cores with the servers they talk to.
    maxWorkers: 2,
    reporters: ['default', ['json', { outputFile: 'test-results/vitest-image.json' }]],
  },
});
