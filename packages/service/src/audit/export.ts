/**
 * `keyledger export`: the whole ledger as an export file (export-format.ts), read through the
 * store port page by page in the log's global order.
 */
import { EVENT_LEAF_FORMAT, encodeBase64 } from '@keyledger/schemas';
import type { EventStore, RecordedEvent } from '../store/port.js';
import { EXPORT_FORMAT, eventLine, type ExportHeader, type ExportTrailer } from './export-format.js';
import type { AuditLogAccess } from './log-access.js';
import { freshSalt, LedgerDigest, leafHash, needsSalt, recordOf, RunningRoot } from './ledger-hash.js';

export interface ExportOptions {
  store: EventStore;
  log: AuditLogAccess;
  keyledgerVersion: string;
  /** Writes one line (without its newline); awaited, so a slow disk or pipe holds the reader back. */
  write: (line: string) => Promise<void>;
  onProgress?: (done: number) => void;
  pageSize?: number;
}

export interface ExportSummary {
  count: number;
  rootHash: string;
  ledgerDigest: string;
  checkpoints: number;
  /** Leaves sealed with a fresh salt because the log had none stored (no log yet). */
  freshSalts: number;
}

export async function exportLedger(options: ExportOptions): Promise<ExportSummary> {
  const { store, log, write } = options;
  // Checkpoints first: each covers a prefix of what the event read below will see.
  const checkpoints = await log.checkpoints();
  const logKey = await log.verifierKey();
  const header: ExportHeader = {
    kind: 'header',
    format: EXPORT_FORMAT,
    leaf: EVENT_LEAF_FORMAT,
    exportedAt: new Date().toISOString(),
    keyledgerVersion: options.keyledgerVersion,
    source: { backend: store.backend },
    ...(logKey ? { logKey } : {}),
  };
  await write(JSON.stringify(header));
  for (const note of checkpoints) await write(JSON.stringify({ kind: 'checkpoint', note }));
  const root = new RunningRoot();
  const digest = new LedgerDigest();
  let freshSalts = 0;
  await forEachPage(store, options.pageSize ?? 1000, async (events) => {
    const stored = log.present ? await log.leafSalts(events.map((event) => event.id)) : new Map<string, Uint8Array>();
    for (const recorded of events) {
      const event = recordOf(recorded);
      let salt = stored.get(event.id);
      if (!salt && needsSalt(event)) {
        salt = freshSalt();
        freshSalts += 1;
      }
      const hash = leafHash(event, salt);
      await write(eventLine(root.size, event, salt, hash));
      root.push(hash);
      digest.push(event);
    }
    options.onProgress?.(root.size);
  });
  const rootHash = encodeBase64(root.root());
  const trailer: ExportTrailer = { kind: 'trailer', count: root.size, treeSize: root.size, rootHash, ledgerDigest: digest.hex() };
  await write(JSON.stringify(trailer));
  return { count: root.size, rootHash, ledgerDigest: trailer.ledgerDigest, checkpoints: checkpoints.length, freshSalts };
}

/** Every event of the log, in order, one page at a time. */
export async function forEachPage(store: EventStore, pageSize: number, onPage: (events: RecordedEvent[]) => Promise<void> | void): Promise<void> {
  let after: string | undefined;
  for (;;) {
    const page = await store.readAll({ ...(after !== undefined ? { after } : {}), maxCount: pageSize });
    if (page.events.length > 0) await onPage(page.events);
    if (page.events.length < pageSize) return;
    after = page.checkpoint;
  }
}
