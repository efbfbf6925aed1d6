import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    // Unit tests run against the sources; end-to-end tests spawn the built service.
    alias: { '@keyledger/schemas': src('schemas'), '@keyledger/sdk': src('sdk') },
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts', 'examples/*/test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // CI (.ci/run) sets KEYLEDGER_TEST_REPORT to get a machine-readable report, so it can fail the
    // run when any test was skipped or left todo.
    reporters: process.env.KEYLEDGER_TEST_REPORT
      ? ['default', ['json', { outputFile: process.env.KEYLEDGER_TEST_REPORT }]]
      : ['default'],
  },
});
