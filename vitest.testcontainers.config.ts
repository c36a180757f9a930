import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * The suite with its servers from Testcontainers (`scripts/testcontainers-run.sh`): the same
 * settings, its own report, so the first run's stays.
 */
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    reporters: ['default', ['json', { outputFile: 'test-results/vitest-testcontainers.json' }]],
  },
});
