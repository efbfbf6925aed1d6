/**
 * Emmett's PostgreSQL event store (@event-driven-io/emmett-postgresql) behind the benchmark's
 * target interface, used as its authors document it: `getPostgreSQLEventStore` to append with an
 * expected stream version, and `readMessagesBatch` (the exported reader its consumers and
 * projection rebuilds pull the global log with) to read everything in order.
 */

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { getPostgreSQLEventStore, readMessagesBatch } from '@event-driven-io/emmett-postgresql';
import type { BenchTarget } from './target.js';

type SqlExecutor = Parameters<typeof readMessagesBatch>[0];
interface DumboPool {
  execute: SqlExecutor;
  close(): Promise<void>;
}
type DumboFactory = (options: { connectionString: string }) => DumboPool;

/**
 * Emmett's connection pool library (dumbo) is a dependency of emmett-postgresql, not of the bench,
 * so it is loaded from where emmett-postgresql resolves it: the same ES module instance Emmett
 * itself uses, which keeps one set of pg type parsers and one pool implementation.
 */
async function loadDumbo(): Promise<DumboFactory> {
  const fromBench = createRequire(import.meta.url);
  const fromEmmett = createRequire(fromBench.resolve('@event-driven-io/emmett-postgresql'));
  const entry = fromEmmett.resolve('@event-driven-io/dumbo');
  // `resolve` gives the CommonJS entry; the package's own exports map names the ES module one.
  let dir = dirname(entry);
  let manifest = tryRead(join(dir, 'package.json'));
  while (manifest === undefined && dirname(dir) !== dir) {
    dir = dirname(dir);
    manifest = tryRead(join(dir, 'package.json'));
  }
  if (manifest === undefined) throw new Error(`no package.json above ${entry}`);
  const pkg = JSON.parse(manifest) as { exports: { '.': { import: { default: string } } } };
  const loaded = (await import(pathToFileURL(join(dir, pkg.exports['.'].import.default)).href)) as {
    dumbo?: DumboFactory;
  };
  if (typeof loaded.dumbo !== 'function') throw new Error(`${dir} does not export dumbo()`);
  return loaded.dumbo;
}

function tryRead(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

export async function openEmmettTarget(connectionString: string): Promise<BenchTarget> {
  const dumbo = await loadDumbo();
  // One pool shared by the store and the reader, as Emmett's own consumers share the store's pool.
  const pool = dumbo({ connectionString });
  const store = getPostgreSQLEventStore(connectionString, {
    connectionOptions: { dumbo: pool as never },
  });
  await store.schema.migrate();

  return {
    name: 'emmett-postgres',
    async append(stream, events, expected) {
      // Emmett counts versions from 1 and treats 0 as "the stream does not exist yet": its
      // STREAM_DOES_NOT_EXIST constant is not enforced, an explicit 0n is (stream row insert).
      const result = await store.appendToStream(stream, [...events], {
        expectedStreamVersion: expected === undefined ? 0n : BigInt(expected),
      });
      return result.nextExpectedStreamVersion;
    },
    async readAll(pageSize, ids) {
      let total = 0;
      let page = await readMessagesBatch(pool.execute, { from: 0n, batchSize: pageSize });
      for (;;) {
        total += page.messages.length;
        if (ids) for (const message of page.messages) ids.push(message.metadata.messageId);
        if (page.messages.length < pageSize) return total;
        page = await readMessagesBatch(pool.execute, { after: page.currentGlobalPosition, batchSize: pageSize });
      }
    },
    close: () => store.close(),
  };
}
