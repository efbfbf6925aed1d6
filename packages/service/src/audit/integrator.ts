/**
 * The integrator: follows the global log behind the store's gap-free reader (readAll after the
 * last leaf's checkpoint) and appends each event, in global order, as the next leaf of the
 * tree, then signs a checkpoint of the new size on a cadence (and on demand).
 *
 * Several instances may run one each: every round starts from the tree head in the database,
 * and appendLeaves writes only if the tree still has that size, so one instance wins each round
 * and the others see its leaves on their next round (they follow). The tree never forks: leaf i
 * is always the i-th event the gap-free reader returns, whoever integrates it.
 */
import {
  extendTree,
  treeRootHash,
  type MerkleNode,
  type MerkleNodeStore,
  leafHashOfPublicView,
  newSealSalt,
  sealEvent,
  signCheckpoint,
  type LoggableEvent,
} from '@keyledger/schemas';
import type { Logger } from 'pino';
import type { EventStore, RecordedEvent } from '../store/port.js';
import type { AuditLogStore, NewLeaf, StoredCheckpoint } from './log-store.js';
import type { AuditKey } from './signing-key.js';

export interface IntegratorOptions {
  store: EventStore;
  log: AuditLogStore;
  /** The log's signing key; only integrating (an import adopting a tree) needs none. */
  key?: AuditKey;
  /** Sign at most this often while the tree grows; default 500 ms. */
  checkpointIntervalMs?: number;
  /** Events per round; default 1000. */
  batchSize?: number;
  logger?: Pick<Logger, 'warn' | 'error' | 'debug'>;
  /**
   * The salt to seal an event's private fields with; default a fresh random one. An import
   * passes the salts it read, so the rebuilt tree has the exported root.
   */
  saltOf?: (event: RecordedEvent) => Uint8Array | undefined;
  now?: () => Date;
  /** False: integrate only, never sign (this process does not hold the log's key); default true. */
  signing?: boolean;
}

/** A leaf's hash and its row, from a recorded event. */
export function leafOf(event: RecordedEvent, salt: Uint8Array | undefined): { leaf: NewLeaf; hash: Uint8Array } {
  const loggable: LoggableEvent = { id: event.id, stream: event.stream, revision: event.revision, type: event.type, data: event.data, metadata: event.metadata };
  const chosen = salt ?? newSealSalt();
  const view = sealEvent(loggable, { salt: chosen });
  const hash = leafHashOfPublicView(view);
  return {
    leaf: { eventId: event.id, stream: event.stream, revision: event.revision, eventCheckpoint: event.checkpoint, salt: view.sealed ? chosen : null, leafHash: hash },
    hash,
  };
}

/** What the service needs of an integrator, in this thread (AuditIntegrator) or a worker (worker-integration.ts). */
export interface Integration {
  start(): void;
  stop(): Promise<void>;
  /** Integrates what is readable, then signs a checkpoint if the tree grew since the last one. */
  signNow(): Promise<StoredCheckpoint | undefined>;
}

export class AuditIntegrator implements Integration {
  readonly #options: IntegratorOptions;
  readonly #intervalMs: number;
  readonly #batchSize: number;
  #abort = new AbortController();
  #loop: Promise<void> | undefined;
  #lastSignedAt = 0;
  /** Serialises rounds of this process (the loop, on-demand signing, tests). */
  #chain: Promise<unknown> = Promise.resolve();
  readonly #waiters = new Set<{ size: number; resolve: () => void }>();
  #signedSize = -1;

  constructor(options: IntegratorOptions) {
    this.#options = options;
    this.#intervalMs = options.checkpointIntervalMs ?? 500;
    this.#batchSize = options.batchSize ?? 1000;
  }

  /** Starts following the log in the background. */
  start(): void {
    if (this.#loop) return;
    this.#abort = new AbortController();
    this.#loop = this.#run(this.#abort.signal);
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#loop?.catch(() => undefined);
    this.#loop = undefined;
    await this.#chain.catch(() => undefined);
  }

  /** Appends every event readable now; returns the tree size after. */
  integrate(): Promise<number> {
    return this.#serial(() => this.#integrateAll());
  }

  /** Integrates what is readable, then signs a checkpoint if the tree grew since the last one. */
  signNow(): Promise<StoredCheckpoint | undefined> {
    return this.#serial(async () => {
      await this.#integrateAll();
      return this.#sign();
    });
  }

  /** Resolves once a signed checkpoint covers `size` leaves (or on stop). */
  whenSigned(size: number): Promise<void> {
    if (this.#signedSize >= size) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.add({ size, resolve }));
  }

  #key(): AuditKey {
    if (!this.#options.key) throw new Error('this integrator has no signing key: it integrates, it cannot sign');
    return this.#options.key;
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#chain.then(work, work);
    this.#chain = next.catch(() => undefined);
    return next;
  }

  /**
   * The loop. Leaves are integrated when a checkpoint is due, not per append: one write
   * transaction for the leaves and one for the checkpoint per interval, however busy the ledger
   * (on SQLite every write transaction is an fsync that appends would otherwise wait behind).
   * An append therefore waits at most about one interval, plus the time to integrate, for a
   * signed checkpoint that covers it; after an idle spell, the first append is signed at once.
   */
  async #run(signal: AbortSignal): Promise<void> {
    const { store, log, logger } = this.#options;
    let failures = 0;
    let behind = false;
    while (!signal.aborted) {
      try {
        const wait = this.#lastSignedAt + this.#intervalMs - Date.now();
        if (wait > 0 && !behind) await sleep(wait, signal);
        if (signal.aborted) break;
        // Leaves and their checkpoint in one write transaction: one fsync per interval on SQLite.
        const { added, size } = await this.#serial(() => this.#integrateBatch(this.#options.signing !== false));
        behind = added === this.#batchSize;
        if (added === 0) {
          const latest = await log.latestCheckpoint();
          if (latest === undefined || latest.treeSize < size) {
            await this.#serial(() => this.#sign());
          } else {
            // Nothing new since the last checkpoint: wait for the next append.
            this.#notify(latest.treeSize);
            const head = await log.treeHead();
            await store.waitForEvents(head.lastEventCheckpoint, { signal, timeoutMs: Math.max(this.#intervalMs, 1000) });
          }
        }
        failures = 0;
      } catch (error) {
        if (signal.aborted) break;
        failures++;
        logger?.warn({ err: error }, 'audit log integration failed; retrying');
        await sleep(Math.min(100 * 2 ** failures, 5_000), signal);
      }
    }
    for (const waiter of this.#waiters) waiter.resolve();
    this.#waiters.clear();
  }

  /** Integrates what is readable now: full pages until a short one (so it ends under constant load). */
  async #integrateAll(): Promise<number> {
    for (;;) {
      const { added, size } = await this.#integrateBatch(false);
      if (added < this.#batchSize) return size;
    }
  }

  /**
   * One round: the next page of events after the tree head, appended if nobody else did; with
   * `sign`, the checkpoint of the new size is signed and stored in the same transaction.
   */
  async #integrateBatch(sign: boolean): Promise<{ added: number; size: number }> {
    const { store, log } = this.#options;
    for (;;) {
      const head = await log.treeHead();
      const page = await store.readAll({ ...(head.lastEventCheckpoint !== undefined ? { after: head.lastEventCheckpoint } : {}), maxCount: this.#batchSize });
      if (page.events.length === 0) return { added: 0, size: head.size };
      const leaves: NewLeaf[] = [];
      const hashes: Uint8Array[] = [];
      for (const event of page.events) {
        const { leaf, hash } = leafOf(event, this.#options.saltOf?.(event));
        leaves.push(leaf);
        hashes.push(hash);
      }
      const nodes = await extendTree(log, head.size, hashes);
      const size = head.size + leaves.length;
      let checkpoint: StoredCheckpoint | undefined;
      if (sign) {
        const rootHash = await treeRootHash(withNewNodes(log, nodes), size);
        const key = this.#key();
        const note = signCheckpoint({ origin: key.origin, treeSize: size, rootHash }, key.signer);
        checkpoint = { treeSize: size, rootHash, note, signedAt: (this.#options.now ?? (() => new Date()))() };
      }
      if (await log.appendLeaves(head.size, leaves, nodes, checkpoint)) {
        if (checkpoint) {
          this.#lastSignedAt = Date.now();
          this.#notify(size);
        }
        return { added: leaves.length, size };
      }
      // Another instance appended first: start again from its head.
    }
  }

  async #sign(): Promise<StoredCheckpoint | undefined> {
    const { log } = this.#options;
    const head = await log.treeHead();
    const latest = await log.latestCheckpoint();
    this.#lastSignedAt = Date.now();
    if ((latest !== undefined && latest.treeSize >= head.size) || this.#options.signing === false) {
      if (latest === undefined) return undefined;
      this.#notify(latest.treeSize);
      return latest;
    }
    const rootHash = await log.rootAt(head.size);
    const key = this.#key();
    const note = signCheckpoint({ origin: key.origin, treeSize: head.size, rootHash }, key.signer);
    const checkpoint: StoredCheckpoint = { treeSize: head.size, rootHash, note, signedAt: (this.#options.now ?? (() => new Date()))() };
    const saved = await log.saveCheckpoint(checkpoint);
    const result = saved ? checkpoint : await log.latestCheckpoint();
    if (result) this.#notify(result.treeSize);
    return result;
  }

  #notify(size: number): void {
    if (size <= this.#signedSize) return;
    this.#signedSize = size;
    for (const waiter of this.#waiters) {
      if (waiter.size <= size) {
        waiter.resolve();
        this.#waiters.delete(waiter);
      }
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** The log's nodes plus the ones about to be written with them (to sign the new root in the same transaction). */
function withNewNodes(log: MerkleNodeStore, nodes: readonly MerkleNode[]): MerkleNodeStore {
  const added = new Map(nodes.map((node) => [`${node.level}/${node.index}`, node.hash]));
  return {
    async getNodes(refs) {
      const missing = refs.filter((ref) => !added.has(`${ref.level}/${ref.index}`));
      const fetched = missing.length === 0 ? [] : await log.getNodes(missing);
      let next = 0;
      return refs.map((ref) => added.get(`${ref.level}/${ref.index}`) ?? (fetched[next++] as Uint8Array));
    },
  };
}
