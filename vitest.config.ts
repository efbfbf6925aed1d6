import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string, entry = 'index') => fileURLToPath(new URL(`./packages/${pkg}/src/${entry}.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    // Unit tests run against the sources; end-to-end tests spawn the built service. Exact matches,
    // so a subpath (@keyledger/sdk/fastify) finds its own entry.
    alias: [
      { find: /^@keyledger\/schemas$/, replacement: src('schemas') },
      { find: /^@keyledger\/sdk$/, replacement: src('sdk') },
      { find: /^@keyledger\/sdk\/fastify$/, replacement: src('sdk', 'fastify') },
    ],
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts', 'examples/*/test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // One line at the start of the run when PostgreSQL / Redis tests will skip, naming what to set.
    globalSetup: ['test/support/global-setup.ts'],
    // CI (.ci/run) sets KEYLEDGER_TEST_REPORT to get a machine-readable report, so it can fail the
    // run when any test was skipped or left todo.
    reporters: process.env.KEYLEDGER_TEST_REPORT
      ? ['default', ['json', { outputFile: process.env.KEYLEDGER_TEST_REPORT }]]
      : ['default'],
  },
});
