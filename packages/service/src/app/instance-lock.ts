/**
 * One serving process per SQLite ledger while rate limits and quotas are counted in memory: two
 * processes would each count in their own memory and silently admit twice every limit.
 *
 * The lock is an exclusive SQLite lock on a small file beside the ledger (`<ledger>.lock`), held
 * by an open connection in `locking_mode = EXCLUSIVE` for the life of the process. Why this and
 * not a pid file: the lock is the operating system's (a POSIX advisory lock, the one SQLite
 * itself uses), so it is released when the process ends in any way, kill -9 and power loss
 * included, and no stale pid (or a pid reused by another program) can ever block a start. Why a
 * file of its own and not the ledger: the ledger stays open to other processes (the break-glass
 * `keyledger root-key reset`, backups with `sqlite3 .backup`), which the store supports.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';

export class InstanceLockedError extends Error {
  override name = 'InstanceLockedError';
  constructor(readonly lockFile: string) {
    super(
      `another keyledger process is serving the ledger ${resolve(lockFile.replace(/\.lock$/, ''))} ` +
        '(its rate limits and quotas are counted in memory, so a second process would double every limit); ' +
        'stop the other process, or share the limiter through KEYLEDGER_REDIS_URL',
    );
  }
}

export interface InstanceLock {
  readonly file: string;
  release(): void;
}

/** Takes the lock at once or throws InstanceLockedError; never waits. */
export function acquireInstanceLock(ledgerFile: string): InstanceLock {
  const file = `${ledgerFile}.lock`;
  // The data directory holds secrets: created 0700, like the store creates it.
  mkdirSync(dirname(resolve(file)), { recursive: true, mode: 0o700 });
  const db = new Database(file, { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    // The first write transaction takes the exclusive lock; in EXCLUSIVE mode it is kept after commit.
    db.exec(`BEGIN EXCLUSIVE;
      CREATE TABLE IF NOT EXISTS holder (pid INTEGER NOT NULL, since TEXT NOT NULL);
      DELETE FROM holder;
      INSERT INTO holder VALUES (${process.pid}, '${new Date().toISOString()}');
      COMMIT;`);
  } catch (error) {
    db.close();
    if ((error as { code?: string }).code === 'SQLITE_BUSY') throw new InstanceLockedError(file);
    throw error;
  }
  return {
    file,
    release: () => {
      if (db.open) db.close();
    },
  };
}
