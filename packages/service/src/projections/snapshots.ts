/**
 * Projection snapshots: every read model saved together with the one checkpoint they all
 * reflect, so a start restores them and reads only the tail of the log.
 *
 * Container (format 1): magic `KLSNAP1\n`, u32 format, checkpoint, u32 part count, then each part
 * as name, u32 version and length-prefixed bytes, and a CRC-32 of everything before it. A
 * snapshot of another format, with another set of parts or part versions, or one that fails its
 * checksum or its decoding is not used: the models are reset and rebuilt from the log (logged).
 */
import { crc32 } from 'node:zlib';
import type { Logger } from 'pino';
import { type SnapshotStore, storedIsAtOrPast } from '../store/snapshots/port.js';
import { BinaryReader, BinaryWriter, SnapshotFormatError } from './binary-codec.js';
import type { SnapshotPart } from './snapshot-part.js';

export const SNAPSHOT_FORMAT = 1;
const MAGIC = Buffer.from('KLSNAP1\n', 'latin1');

export interface DecodedSnapshot {
  format: number;
  checkpoint: string;
  parts: { name: string; version: number; data: Buffer }[];
}

export function encodeSnapshot(checkpoint: string, parts: readonly SnapshotPart[]): Buffer {
  const out = new BinaryWriter(1 << 20);
  for (const byte of MAGIC) out.u8(byte);
  out.u32(SNAPSHOT_FORMAT);
  out.str(checkpoint);
  out.u32(parts.length);
  for (const part of parts) {
    out.str(part.name);
    out.u32(part.snapshotVersion);
    out.bytes(part.encodeSnapshot());
  }
  const body = out.finish();
  const sum = Buffer.allocUnsafe(4);
  sum.writeUInt32LE(crc32(body) >>> 0);
  return Buffer.concat([body, sum]);
}

/** Parses the container; throws SnapshotFormatError on anything but an intact snapshot. */
export function decodeSnapshot(payload: Buffer): DecodedSnapshot {
  if (payload.length < MAGIC.length + 8 || !payload.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new SnapshotFormatError('not a keyledger snapshot');
  }
  const body = payload.subarray(0, payload.length - 4);
  if ((crc32(body) >>> 0) !== payload.readUInt32LE(payload.length - 4)) throw new SnapshotFormatError('snapshot checksum mismatch');
  const reader = new BinaryReader(body.subarray(MAGIC.length));
  const format = reader.u32();
  if (format !== SNAPSHOT_FORMAT) return { format, checkpoint: '', parts: [] };
  const checkpoint = reader.text();
  const count = reader.u32();
  const parts: DecodedSnapshot['parts'] = [];
  for (let i = 0; i < count; i++) parts.push({ name: reader.text(), version: reader.u32(), data: reader.bytes() });
  if (!reader.done) throw new SnapshotFormatError('trailing bytes after the last snapshot part');
  return { format, checkpoint, parts };
}

/** Why a stored snapshot cannot be used by these parts, or undefined when it can. */
export function incompatibility(decoded: DecodedSnapshot, parts: readonly SnapshotPart[]): string | undefined {
  if (decoded.format !== SNAPSHOT_FORMAT) return `snapshot format ${decoded.format}, this keyledger reads ${SNAPSHOT_FORMAT}`;
  const stored = decoded.parts.map((p) => `${p.name}@${p.version}`).join(',');
  const wanted = parts.map((p) => `${p.name}@${p.snapshotVersion}`).join(',');
  return stored === wanted ? undefined : `snapshot holds ${stored || 'nothing'}, this keyledger needs ${wanted}`;
}

export type RestoreOutcome =
  | { kind: 'restored'; checkpoint: string; bytes: number }
  | { kind: 'none' }
  | { kind: 'rebuild'; reason: string };

export interface ProjectionSnapshotsOptions {
  logger: Logger;
  /** The event store's checkpoint order; also rejects checkpoints the store cannot read. */
  compare: (a: string | undefined, b: string | undefined) => number;
  instanceId: string;
  /** One row per set of projections; the service uses one set. */
  name?: string;
}

export class ProjectionSnapshots {
  readonly #name: string;

  constructor(
    private readonly store: SnapshotStore,
    private readonly parts: readonly SnapshotPart[],
    private readonly options: ProjectionSnapshotsOptions,
  ) {
    this.#name = options.name ?? 'projections';
  }

  /**
   * Restores every part from the stored snapshot. Anything short of a clean restore leaves all
   * parts empty, so the caller replays the log from the start.
   */
  async restore(): Promise<RestoreOutcome> {
    let stored;
    try {
      stored = await this.store.load(this.#name);
    } catch (error) {
      this.options.logger.warn({ err: error }, 'snapshot could not be read; rebuilding projections from the log');
      return { kind: 'rebuild', reason: `read failed: ${(error as Error).message}` };
    }
    if (!stored) return { kind: 'none' };
    try {
      const decoded = decodeSnapshot(stored.payload);
      const reason = incompatibility(decoded, this.parts);
      if (reason !== undefined) return this.#rebuild(reason);
      if (decoded.checkpoint !== stored.checkpoint) return this.#rebuild('snapshot payload and row disagree on the checkpoint');
      // A checkpoint of another store format (e.g. written before an upgrade changed it) is not resumable.
      this.options.compare(decoded.checkpoint, undefined);
      decoded.parts.forEach((part, i) => (this.parts[i] as SnapshotPart).restoreSnapshot(part.data));
      return { kind: 'restored', checkpoint: decoded.checkpoint, bytes: stored.payload.length };
    } catch (error) {
      return this.#rebuild(`snapshot is corrupt: ${(error as Error).message}`);
    }
  }

  #rebuild(reason: string): RestoreOutcome {
    for (const part of this.parts) part.reset();
    this.options.logger.warn({ reason }, 'snapshot not used; rebuilding projections from the log');
    return { kind: 'rebuild', reason };
  }

  /**
   * Saves the parts at `checkpoint()`, read in the same synchronous step as the encoding, so the
   * bytes and the checkpoint describe the same moment. Skips the (blocking) encoding when the
   * stored snapshot is already at or past that checkpoint.
   */
  async save(checkpoint: () => string | undefined): Promise<'saved' | 'skipped'> {
    const stored = await this.store.storedCheckpoint(this.#name);
    const at = checkpoint();
    if (at === undefined || (stored !== undefined && storedIsAtOrPast(this.options.compare, stored, at))) return 'skipped';
    const started = performance.now();
    const payload = encodeSnapshot(at, this.parts);
    const encodeMs = Math.round(performance.now() - started);
    const written = await this.store.save({ name: this.#name, checkpoint: at, payload, writtenBy: this.options.instanceId });
    const totalMs = Math.round(performance.now() - started);
    if (written) this.options.logger.info({ checkpoint: at, bytes: payload.length, encodeMs, totalMs }, 'projection snapshot saved');
    return written ? 'saved' : 'skipped';
  }
}

export { SnapshotFormatError };
