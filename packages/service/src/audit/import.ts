/**
 * `keyledger import`: an export file into an EMPTY store. Two passes over the file: the first
 * checks every line (leaf hashes, indexes, checkpoints, trailer) and writes nothing, so a
 * tampered or truncated file is refused, naming its line, with the store left empty; the second
 * checks again while it writes, in batches through the store port's importEvents (ids, streams,
 * revisions, metadata and recordedAt kept). Reading stdin, the caller spools it to a file first.
 */
import type { EventStore, ImportedEvent } from '../store/port.js';
import { readExport, type VerifiedExport } from './export-format.js';
import type { AuditLogAccess } from './log-access.js';

export class StoreNotEmptyError extends Error {
  override name = 'StoreNotEmptyError';
}

export interface ImportOptions {
  store: EventStore;
  log: AuditLogAccess;
  /** Opens the file's lines afresh (called once per pass). */
  lines: () => AsyncIterable<string>;
  onVerified?: (verified: VerifiedExport) => void;
  onProgress?: (phase: 'verify' | 'import', done: number) => void;
  batchSize?: number;
}

export interface ImportSummary extends VerifiedExport {
  /** The salts carried by the file, by event id (a migration or a test recomputes roots with them). */
  salts: Map<string, Uint8Array>;
}

export async function importLedger(options: ImportOptions): Promise<ImportSummary> {
  const { store, log } = options;
  const existing = await store.countEvents();
  if (existing > 0) throw new StoreNotEmptyError(`the target store already holds ${existing} events; import only loads into an empty store`);
  let verifiedCount = 0;
  const verified = await readExport(options.lines(), () => {
    verifiedCount += 1;
    if (verifiedCount % 1000 === 0) options.onProgress?.('verify', verifiedCount);
  });
  options.onProgress?.('verify', verified.count);
  options.onVerified?.(verified);
  const batchSize = options.batchSize ?? 1000;
  const salts = new Map<string, Uint8Array>();
  let batch: ImportedEvent[] = [];
  let written = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    await store.importEvents(batch);
    written += batch.length;
    batch = [];
    options.onProgress?.('import', written);
  };
  const second = await readExport(options.lines(), async ({ event, salt }) => {
    if (salt) salts.set(event.id, salt);
    batch.push({ id: event.id, stream: event.stream, revision: event.revision, type: event.type, data: event.data as object, metadata: event.metadata as object, recordedAt: event.recordedAt });
    if (batch.length >= batchSize) await flush();
  });
  await flush();
  // The file did not change between the passes (the caller spools stdin to a private file).
  if (second.rootHash !== verified.rootHash) throw new Error('the export file changed while it was being imported');
  await log.adoptLeafSalts(salts);
  await log.adoptCheckpoints(verified.checkpoints, verified.header.logKey);
  return { ...verified, salts };
}
