/**
 * The export file: NDJSON, one JSON object per line, each with a `kind`:
 *
 *   {"kind":"header","format":"keyledger-export/1","leaf":"keyledger/event/v1",...,"logKey"?}
 *   {"kind":"checkpoint","note":"<C2SP signed note>"}                          (zero or more)
 *   {"kind":"event","index":0,"id","stream","revision","type","data","metadata","recordedAt",
 *     "salt"?,"leafHash"}                                                         (one per event)
 *   {"kind":"trailer","count":N,"treeSize":N,"rootHash":"<base64>","ledgerDigest":"<hex>"}
 *
 * Events appear in the log's global order (index = leaf index). `salt` is the leaf's sealing salt
 * (transparency log, leaf.ts) for events with private fields; with it anyone holding the file
 * recomputes every leaf and the root. Checkpoints come before the events so a reader knows which
 * tree sizes to check while it streams; each must be signed by `logKey` and match the root the
 * file's own events give at its size. A changed event line is caught at that line (its leafHash),
 * a consistently recomputed one at the first checkpoint past it or at the trailer; only signed
 * checkpoints make the file evidence against someone who rewrites it whole.
 *
 * The file holds the whole ledger, private fields included (a KeyIssued digest is what lets an
 * imported ledger verify keys): treat it like the database, it is written 0600.
 */
import { bytesEqual, CheckpointError, decodeBase64Strict, encodeBase64, noteVerifierFromKey, parseCheckpoint, parseNote, verifyCheckpoint } from '@keyledger/schemas';
import { LedgerDigest, type LedgerEventRecord, leafHash, needsSalt, RunningRoot } from './ledger-hash.js';

export const EXPORT_FORMAT = 'keyledger-export/1';

export interface ExportHeader {
  kind: 'header';
  format: string;
  leaf: string;
  exportedAt: string;
  keyledgerVersion: string;
  source: { backend: string };
  logKey?: string;
}

export interface ExportTrailer {
  kind: 'trailer';
  count: number;
  treeSize: number;
  rootHash: string;
  ledgerDigest: string;
}

/** A line that is not what the format says, named by its 1-based number. */
export class ExportFileError extends Error {
  override name = 'ExportFileError';
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
  }
}

/** One event line; `hash` is the event's leaf hash (computed once by the caller, who also adds it to the tree). */
export function eventLine(index: number, event: LedgerEventRecord, salt: Uint8Array | undefined, hash: Uint8Array): string {
  return JSON.stringify({
    kind: 'event',
    index,
    id: event.id,
    stream: event.stream,
    revision: event.revision,
    type: event.type,
    data: event.data,
    metadata: event.metadata,
    recordedAt: event.recordedAt.toISOString(),
    ...(salt ? { salt: encodeBase64(salt) } : {}),
    leafHash: encodeBase64(hash),
  });
}

export interface VerifiedExport {
  header: ExportHeader;
  trailer: ExportTrailer;
  checkpoints: string[];
  count: number;
  rootHash: string;
  ledgerDigest: string;
}

export interface VerifiedEvent {
  line: number;
  event: LedgerEventRecord;
  salt: Uint8Array | undefined;
}

/**
 * Reads an export line by line, checking everything the format promises, and hands each event to
 * `onEvent` once its line checked out. Throws ExportFileError naming the first bad line.
 */
export async function readExport(lines: AsyncIterable<string>, onEvent?: (event: VerifiedEvent) => Promise<void> | void): Promise<VerifiedExport> {
  let number = 0;
  let header: ExportHeader | undefined;
  let trailer: ExportTrailer | undefined;
  const checkpoints: { line: number; note: string; size: number; root: Uint8Array }[] = [];
  const pendingSizes = new Map<number, { line: number; root: Uint8Array }[]>();
  const root = new RunningRoot();
  const digest = new LedgerDigest();
  for await (const text of lines) {
    number += 1;
    if (text.trim() === '') throw new ExportFileError(number, 'empty line');
    if (trailer) throw new ExportFileError(number, 'content after the trailer');
    let value: Record<string, unknown>;
    try {
      value = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new ExportFileError(number, 'not JSON');
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ExportFileError(number, 'not a JSON object');
    const fail = (message: string): never => {
      throw new ExportFileError(number, message);
    };
    if (!header) {
      if (value.kind !== 'header') fail('the first line must be the header');
      if (value.format !== EXPORT_FORMAT) fail(`format '${String(value.format)}' is not ${EXPORT_FORMAT}`);
      header = value as unknown as ExportHeader;
      continue;
    }
    switch (value.kind) {
      case 'checkpoint': {
        if (root.size > 0) fail('checkpoints must come before the events');
        const note = value.note;
        if (typeof note !== 'string') fail('checkpoint without a note');
        const checkpoint = openCheckpoint(note as string, header.logKey, fail);
        checkpoints.push({ line: number, note: note as string, size: checkpoint.treeSize, root: checkpoint.rootHash });
        const atSize = pendingSizes.get(checkpoint.treeSize) ?? [];
        atSize.push({ line: number, root: checkpoint.rootHash });
        pendingSizes.set(checkpoint.treeSize, atSize);
        if (checkpoint.treeSize === 0) checkRootAt(0);
        break;
      }
      case 'event': {
        const { event, salt } = parseEventLine(value, root.size, fail);
        const hash = leafHash(event, salt);
        if (!bytesEqual(hash, decodeBase64Strict(String(value.leafHash)) ?? new Uint8Array())) fail(`event ${event.id} (stream ${event.stream}, revision ${event.revision}) does not match its leafHash: the line was changed`);
        root.push(hash);
        digest.push(event);
        checkRootAt(root.size);
        await onEvent?.({ line: number, event, salt });
        break;
      }
      case 'trailer': {
        trailer = value as unknown as ExportTrailer;
        if (trailer.count !== root.size || trailer.treeSize !== root.size) fail(`the trailer counts ${String(trailer.count)} events, the file holds ${root.size}: events were added or removed`);
        if (trailer.rootHash !== encodeBase64(root.root())) fail(`the trailer's root hash ${String(trailer.rootHash)} is not the root of the file's events (${encodeBase64(root.root())}): events were changed, added, removed or reordered`);
        if (trailer.ledgerDigest !== digest.hex()) fail('the trailer\'s ledgerDigest is not the digest of the file\'s events (a recordedAt was changed?)');
        break;
      }
      default:
        fail(`unknown line kind '${String(value.kind)}'`);
    }
  }
  if (!header) throw new ExportFileError(number + 1, 'the file is empty: no header');
  if (!trailer) throw new ExportFileError(number + 1, 'the file ends without a trailer: it was cut short');
  const unchecked = checkpoints.find((checkpoint) => checkpoint.size > root.size);
  if (unchecked) throw new ExportFileError(unchecked.line, `checkpoint for tree size ${unchecked.size} but the file holds ${root.size} events`);
  return { header, trailer, checkpoints: checkpoints.map((c) => c.note), count: root.size, rootHash: encodeBase64(root.root()), ledgerDigest: digest.hex() };

  function checkRootAt(size: number): void {
    const due = pendingSizes.get(size);
    if (!due) return;
    const actual = root.root();
    for (const checkpoint of due) {
      if (!bytesEqual(actual, checkpoint.root)) {
        throw new ExportFileError(number, `the root of the first ${size} events is not the one the signed checkpoint on line ${checkpoint.line} commits to: an event up to this line was changed, removed or reordered`);
      }
    }
    pendingSizes.delete(size);
  }
}

function openCheckpoint(note: string, logKey: string | undefined, fail: (message: string) => never) {
  try {
    if (logKey === undefined) {
      // A file without the log key cannot prove its checkpoints; they still must be well-formed.
      return parseCheckpoint(parseNote(note).text);
    }
    return verifyCheckpoint(note, { log: noteVerifierFromKey(logKey) }).checkpoint;
  } catch (error) {
    return fail(`checkpoint does not verify: ${error instanceof CheckpointError || error instanceof Error ? error.message : String(error)}`);
  }
}

function parseEventLine(value: Record<string, unknown>, expectedIndex: number, fail: (message: string) => never): { event: LedgerEventRecord; salt: Uint8Array | undefined } {
  if (value.index !== expectedIndex) fail(`event index ${String(value.index)} where ${expectedIndex} was expected: events were removed or reordered`);
  for (const field of ['id', 'stream', 'type', 'recordedAt', 'leafHash'] as const) if (typeof value[field] !== 'string') fail(`event without a string ${field}`);
  if (!Number.isSafeInteger(value.revision) || (value.revision as number) < 0) fail('event without a revision');
  if (value.metadata === null || typeof value.metadata !== 'object') fail('event without metadata');
  const recordedAt = new Date(value.recordedAt as string);
  if (Number.isNaN(recordedAt.getTime())) fail('event recordedAt is not an instant');
  let salt: Uint8Array | undefined;
  if (value.salt !== undefined) {
    salt = decodeBase64Strict(String(value.salt));
    if (!salt) fail('event salt is not base64');
  }
  const event: LedgerEventRecord = {
    id: value.id as string,
    stream: value.stream as string,
    revision: value.revision as number,
    type: value.type as string,
    data: value.data,
    metadata: value.metadata,
    recordedAt,
  };
  if (!salt && needsSalt(event)) fail(`event ${event.id} has private fields but no salt to seal them`);
  return { event, salt };
}
