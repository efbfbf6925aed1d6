/**
 * The integrator's worker thread (see worker-integration.ts): its own connections to the event
 * store and the log tables, so reading events, hashing leaves and writing the tree never take
 * time from the thread that answers requests.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Config } from '../config/config.js';
import { openPostgresEventStore } from '../store/postgres/index.js';
import { openSqliteEventStore } from '../store/sqlite/index.js';
import { AuditIntegrator } from './integrator.js';
import { openAuditLogStore } from './log-store.js';
import { auditKeyFromSignerKey } from './signing-key.js';

export interface IntegratorWorkerData {
  database: Config['database'];
  signerKey: string;
  checkpointIntervalMs: number;
  /** False: integrate only; the log's key is held by other instances. */
  signing: boolean;
}

export type ToWorker = { type: 'signNow'; id: number } | { type: 'stop' };
export type FromWorker =
  | { type: 'ready' }
  | { type: 'signed'; id: number; treeSize: number | null; error?: string }
  | { type: 'warn'; message: string }
  | { type: 'stopped' };

const port = parentPort;
if (!port) throw new Error('integrator-worker runs as a worker thread');
const data = workerData as IntegratorWorkerData;
const post = (message: FromWorker) => port.postMessage(message);

const { database } = data;
// SQLite: appends by the main thread's connection are noticed by polling; often, so the first
// append after an idle spell is signed quickly (a cheap max(position) read).
const store =
  database.kind === 'postgres'
    ? await openPostgresEventStore({ connectionString: database.url, schema: database.schema, poolSize: 2 })
    : await openSqliteEventStore({ file: database.file, synchronous: database.synchronous, pollIntervalMs: 50 });
const log = await openAuditLogStore(database);
const integrator = new AuditIntegrator({
  store,
  log,
  key: auditKeyFromSignerKey(data.signerKey, 'the audit signing key'),
  checkpointIntervalMs: data.checkpointIntervalMs,
  signing: data.signing,
  logger: {
    warn: (object: unknown, message?: string) => post({ type: 'warn', message: `${message ?? ''}: ${String((object as { err?: Error })?.err?.message ?? object)}` }),
    error: (object: unknown, message?: string) => post({ type: 'warn', message: `${message ?? ''}: ${String((object as { err?: Error })?.err?.message ?? object)}` }),
    debug: () => undefined,
  } as never,
});
integrator.start();

port.on('message', (message: ToWorker) => {
  if (message.type === 'signNow') {
    integrator.signNow().then(
      (checkpoint) => post({ type: 'signed', id: message.id, treeSize: checkpoint?.treeSize ?? null }),
      (error: unknown) => post({ type: 'signed', id: message.id, treeSize: null, error: (error as Error).message }),
    );
  } else if (message.type === 'stop') {
    void (async () => {
      await integrator.stop();
      await log.close().catch(() => undefined);
      await store.close().catch(() => undefined);
      post({ type: 'stopped' });
      port.close();
    })();
  }
});
post({ type: 'ready' });
