/**
 * Snapshots in the SQLite ledger file, on a connection of their own (the event store's is not
 * shared), in a table the event store's migrations do not know about: it can be dropped at any
 * time and the projections rebuild from the log.
 */
import Database from 'better-sqlite3';
import { type CompareCheckpoints, type SnapshotStore, type StoredSnapshot, storedIsAtOrPast } from './port.js';

interface Row {
  name: string;
  checkpoint: string;
  payload: Buffer;
  written_at: number;
  written_by: string;
}

export function openSqliteSnapshotStore(options: { file: string; compare: CompareCheckpoints; busyTimeoutMs?: number }): SnapshotStore {
  const db = new Database(options.file);
  db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
  db.exec(`
    CREATE TABLE IF NOT EXISTS kl_snapshots (
      name TEXT PRIMARY KEY,
      checkpoint TEXT NOT NULL,
      payload BLOB NOT NULL,
      written_at INTEGER NOT NULL,
      written_by TEXT NOT NULL
    )`);
  const select = db.prepare<[string], Row>('SELECT * FROM kl_snapshots WHERE name = ?');
  const selectCheckpoint = db.prepare<[string], { checkpoint: string }>('SELECT checkpoint FROM kl_snapshots WHERE name = ?');
  const upsert = db.prepare<[string, string, Buffer, number, string]>(
    `INSERT INTO kl_snapshots (name, checkpoint, payload, written_at, written_by) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (name) DO UPDATE SET checkpoint = excluded.checkpoint, payload = excluded.payload,
       written_at = excluded.written_at, written_by = excluded.written_by`,
  );
  // IMMEDIATE: the compare and the write happen under the file's write lock, so two processes on
  // one file cannot interleave them.
  const save = db.transaction((snapshot: Omit<StoredSnapshot, 'writtenAt'>, replace: boolean): boolean => {
    const stored = selectCheckpoint.get(snapshot.name);
    if (!replace && stored && storedIsAtOrPast(options.compare, stored.checkpoint, snapshot.checkpoint)) return false;
    upsert.run(snapshot.name, snapshot.checkpoint, snapshot.payload, Date.now(), snapshot.writtenBy);
    return true;
  });
  return {
    async load(name) {
      const row = select.get(name);
      if (!row) return undefined;
      return { name: row.name, checkpoint: row.checkpoint, payload: row.payload, writtenAt: new Date(row.written_at), writtenBy: row.written_by };
    },
    async storedCheckpoint(name) {
      return selectCheckpoint.get(name)?.checkpoint;
    },
    async save(snapshot, saveOptions) {
      return save.immediate(snapshot, saveOptions?.replace === true);
    },
    async close() {
      db.close();
    },
  };
}
