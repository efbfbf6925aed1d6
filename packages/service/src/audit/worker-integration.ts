/**
 * Runs the integrator in a worker thread (PostgreSQL installations; see index.ts for SQLite): hashing every event into a leaf (canonical JSON,
 * sealing, SHA-256) and writing the tree cost CPU per event, and on the request thread that CPU
 * would be taken from appends and verifications. The worker opens its own connections (the
 * integrator already coordinates through the database, as with several instances), so only
 * "sign now" requests and warnings cross the thread boundary.
 *
 * Built code only: under a TypeScript test runner the sources have no .js worker file, so the
 * service then integrates in its own thread (same AuditIntegrator, same behaviour).
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Integration } from './integrator.js';
import type { FromWorker, IntegratorWorkerData, ToWorker } from './integrator-worker.js';
import type { AuditLogStore, StoredCheckpoint } from './log-store.js';

export const WORKER_AVAILABLE = import.meta.url.endsWith('.js');

export class WorkerIntegration implements Integration {
  readonly #data: IntegratorWorkerData;
  readonly #log: AuditLogStore;
  readonly #logger: Pick<Logger, 'warn' | 'error'>;
  #worker: Worker | undefined;
  #stopping = false;
  #restart: NodeJS.Timeout | undefined;
  #nextId = 0;
  readonly #pending = new Map<number, { resolve: (size: number | null) => void; reject: (error: Error) => void }>();
  #stopped: (() => void) | undefined;

  constructor(options: { data: IntegratorWorkerData; log: AuditLogStore; logger: Pick<Logger, 'warn' | 'error'> }) {
    this.#data = options.data;
    this.#log = options.log;
    this.#logger = options.logger;
  }

  start(): void {
    if (this.#worker || this.#stopping) return;
    const worker = new Worker(new URL('./integrator-worker.js', import.meta.url), { workerData: this.#data });
    this.#worker = worker;
    worker.on('message', (message: FromWorker) => {
      if (message.type === 'signed') {
        const pending = this.#pending.get(message.id);
        this.#pending.delete(message.id);
        if (message.error) pending?.reject(new Error(message.error));
        else pending?.resolve(message.treeSize);
      } else if (message.type === 'warn') {
        this.#logger.warn(message.message);
      } else if (message.type === 'stopped') {
        this.#stopped?.();
      }
    });
    worker.on('error', (error) => this.#logger.error({ err: error }, 'audit integrator worker failed'));
    worker.on('exit', () => {
      this.#worker = undefined;
      for (const pending of this.#pending.values()) pending.reject(new Error('the audit integrator stopped'));
      this.#pending.clear();
      this.#stopped?.();
      // A crash (not a stop): start again shortly; the integrator resumes from the tree in the database.
      if (!this.#stopping) this.#restart = setTimeout(() => this.start(), 1000);
    });
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#restart);
    const worker = this.#worker;
    if (!worker) return;
    const stopped = new Promise<void>((resolve) => (this.#stopped = resolve));
    worker.postMessage({ type: 'stop' } satisfies ToWorker);
    // Bounded: a worker stuck on a dead database must not hold up the shutdown.
    const timer = setTimeout(() => void worker.terminate(), 5000);
    await stopped;
    clearTimeout(timer);
    await worker.terminate();
  }

  async signNow(): Promise<StoredCheckpoint | undefined> {
    const worker = this.#worker;
    if (!worker) return this.#log.latestCheckpoint();
    const id = this.#nextId++;
    const size = await new Promise<number | null>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.postMessage({ type: 'signNow', id } satisfies ToWorker);
    });
    return size === null ? this.#log.latestCheckpoint() : ((await this.#log.checkpointAt(size)) ?? this.#log.latestCheckpoint());
  }
}
