/**
 * One backend's benchmark run, in a process of its own: Emmett's pool library changes pg's global
 * type parsers (int8 -> BigInt), and separate processes also keep one backend's garbage and JIT
 * state from taxing the next. The parent passes a `WorkerRequest` in BENCH_WORKER and receives a
 * `WorkerReply` over IPC.
 */

import type { Measurement } from './workload.js';
import type { BenchTarget } from './target.js';
import { runSuite } from './suite.js';
import { keyledgerTarget } from './keyledger-target.js';
import { openEmmettTarget } from './emmett-target.js';

export type BackendName = 'sqlite' | 'postgres' | 'emmett-postgres';

export interface WorkerRequest {
  backend: BackendName;
  scale: number;
  /** SQLite database file (sqlite). */
  sqliteFile?: string;
  /** Database to use (postgres, emmett-postgres). */
  connectionString?: string;
  /** Schema our PostgreSQL store lives in. */
  schema?: string;
}

export type WorkerReply = { ok: true; rows: Measurement[] } | { ok: false; error: string };

async function openTarget(request: WorkerRequest): Promise<BenchTarget> {
  switch (request.backend) {
    case 'sqlite': {
      const { openSqliteEventStore } = await import('../../../packages/service/src/store/sqlite/index.js');
      return keyledgerTarget('sqlite', await openSqliteEventStore({ file: required(request.sqliteFile, 'sqliteFile') }));
    }
    case 'postgres': {
      const { openPostgresEventStore } = await import('../../../packages/service/src/store/postgres/index.js');
      const store = await openPostgresEventStore({
        connectionString: required(request.connectionString, 'connectionString'),
        schema: required(request.schema, 'schema'),
      });
      return keyledgerTarget('postgres', store);
    }
    case 'emmett-postgres':
      return openEmmettTarget(required(request.connectionString, 'connectionString'));
  }
}

function required<T>(value: T | undefined, name: string): T {
  if (value === undefined) throw new Error(`worker request is missing ${name}`);
  return value;
}

async function main(): Promise<void> {
  const request = JSON.parse(process.env.BENCH_WORKER ?? 'null') as WorkerRequest | null;
  if (!request || !process.send) throw new Error('worker.ts is started by bench/event-store.ts, not by hand');
  const target = await openTarget(request);
  let reply: WorkerReply;
  try {
    reply = { ok: true, rows: await runSuite(target, request.scale, (line) => console.error(`  ${line}`)) };
  } finally {
    await target.close();
  }
  // Disconnecting lets the process exit once the reply is flushed.
  process.send(reply, () => process.disconnect());
}

main().catch((error: unknown) => {
  const reply: WorkerReply = { ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) };
  if (process.send) process.send(reply, () => process.exit(1));
  else {
    console.error(reply.error);
    process.exit(1);
  }
});
