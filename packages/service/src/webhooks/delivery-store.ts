/**
 * Where webhook delivery progress lives: one row per endpoint (who holds its lease, until when,
 * the checkpoint delivered through, the replay last applied, the current failure streak) and a
 * bounded log of attempts. In the ledger's own database (the SQLite file or the PostgreSQL
 * schema), beside the event tables, on a connection of its own.
 *
 * Not events: an attempt is not a fact about keys, and writing each one to the ledger would feed
 * the very deliveries it records. Losing this state is safe: deliveries restart from the
 * endpoint's creation and receivers deduplicate by webhook-id (the event id).
 *
 * The lease makes several instances deliver each event once between them: an instance delivers
 * to an endpoint only while it holds the lease, and every write of progress is fenced by it (an
 * instance whose lease expired while it was stalled cannot move the cursor of the new holder).
 */
import Database from 'better-sqlite3';
import pg from 'pg';
import type { Config } from '../config/config.js';
import { quoteIdent } from '../store/postgres/naming.js';

export interface DeliveryCursor {
  endpointId: string;
  /** Checkpoint of the last event handled (delivered or not matching); null: before the first event of the ledger. */
  deliveredThrough: string | null;
  /** Revision of the endpoint's last replay request already applied to the cursor (-1: none). */
  replayRevision: number;
  /** When the current run of failed attempts began (epoch ms); null while healthy. */
  failingSinceMs: number | null;
  /** Failed attempts of the event at the head of the queue. */
  attempt: number;
  /** Not before this instant (epoch ms): the back-off of the last failure. */
  nextAttemptMs: number;
}

export interface DeliveryAttempt {
  endpointId: string;
  eventId: string;
  eventType: string;
  checkpoint: string;
  attempt: number;
  outcome: 'delivered' | 'failed';
  httpStatus: number | null;
  latencyMs: number;
  error: string | null;
  atMs: number;
  instanceId: string;
}

export type CursorUpdate = Partial<Omit<DeliveryCursor, 'endpointId'>>;

export interface DeliveryStore {
  /**
   * Takes the endpoint's lease (free, expired or already ours) until now + ttl and returns its
   * cursor; null when another instance holds it. A missing row is created from `initial`.
   */
  acquire(endpointId: string, holder: string, nowMs: number, ttlMs: number, initial: Omit<DeliveryCursor, 'endpointId'>): Promise<DeliveryCursor | null>;
  /** Writes progress while holding the lease (renewing it); false when the lease was lost. */
  advance(endpointId: string, holder: string, nowMs: number, ttlMs: number, update: CursorUpdate): Promise<boolean>;
  /** Gives the lease up (at shutdown), so another instance takes over at once. */
  release(endpointId: string, holder: string): Promise<void>;
  recordAttempt(attempt: DeliveryAttempt): Promise<void>;
  /** The newest attempts first. */
  listAttempts(endpointId: string, limit: number): Promise<DeliveryAttempt[]>;
  cursor(endpointId: string): Promise<DeliveryCursor | null>;
  close(): Promise<void>;
}

/** Attempts kept per endpoint; older ones are pruned as new ones arrive. */
export const ATTEMPTS_KEPT = 1000;

interface CursorRow {
  endpoint_id: string;
  delivered_through: string | null;
  replay_revision: number | string;
  failing_since_ms: number | string | null;
  attempt: number | string;
  next_attempt_ms: number | string;
}

interface AttemptRow {
  endpoint_id: string;
  event_id: string;
  event_type: string;
  checkpoint: string;
  attempt: number | string;
  outcome: 'delivered' | 'failed';
  http_status: number | null;
  latency_ms: number | string;
  error: string | null;
  at_ms: number | string;
  instance_id: string;
}

const toCursor = (row: CursorRow): DeliveryCursor => ({
  endpointId: row.endpoint_id,
  deliveredThrough: row.delivered_through,
  replayRevision: Number(row.replay_revision),
  failingSinceMs: row.failing_since_ms === null ? null : Number(row.failing_since_ms),
  attempt: Number(row.attempt),
  nextAttemptMs: Number(row.next_attempt_ms),
});

const toAttempt = (row: AttemptRow): DeliveryAttempt => ({
  endpointId: row.endpoint_id,
  eventId: row.event_id,
  eventType: row.event_type,
  checkpoint: row.checkpoint,
  attempt: Number(row.attempt),
  outcome: row.outcome,
  httpStatus: row.http_status,
  latencyMs: Number(row.latency_ms),
  error: row.error,
  atMs: Number(row.at_ms),
  instanceId: row.instance_id,
});

const COLUMNS: Record<keyof CursorUpdate, string> = {
  deliveredThrough: 'delivered_through',
  replayRevision: 'replay_revision',
  failingSinceMs: 'failing_since_ms',
  attempt: 'attempt',
  nextAttemptMs: 'next_attempt_ms',
};

export function openDeliveryStore(database: Config['database']): Promise<DeliveryStore> {
  return database.kind === 'postgres' ? openPostgresDeliveryStore(database.url, database.schema) : Promise.resolve(openSqliteDeliveryStore(database.file));
}

export function openSqliteDeliveryStore(file: string): DeliveryStore {
  const db = new Database(file);
  db.pragma('busy_timeout = 5000');
  db.exec(`
    CREATE TABLE IF NOT EXISTS kl_webhook_cursors (
      endpoint_id TEXT PRIMARY KEY,
      holder TEXT,
      lease_until_ms INTEGER NOT NULL DEFAULT 0,
      delivered_through TEXT,
      replay_revision INTEGER NOT NULL,
      failing_since_ms INTEGER,
      attempt INTEGER NOT NULL,
      next_attempt_ms INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS kl_webhook_attempts (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      endpoint_id TEXT NOT NULL,
      event_id TEXT NOT NULL,
      event_type TEXT NOT NULL,
      checkpoint TEXT NOT NULL,
      attempt INTEGER NOT NULL,
      outcome TEXT NOT NULL,
      http_status INTEGER,
      latency_ms INTEGER NOT NULL,
      error TEXT,
      at_ms INTEGER NOT NULL,
      instance_id TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS kl_webhook_attempts_endpoint ON kl_webhook_attempts (endpoint_id, seq);`);
  const insertCursor = db.prepare(
    `INSERT INTO kl_webhook_cursors (endpoint_id, holder, lease_until_ms, delivered_through, replay_revision, failing_since_ms, attempt, next_attempt_ms)
     VALUES (@endpointId, NULL, 0, @deliveredThrough, @replayRevision, @failingSinceMs, @attempt, @nextAttemptMs) ON CONFLICT (endpoint_id) DO NOTHING`,
  );
  const take = db.prepare<[string, number, string, string, number]>(
    'UPDATE kl_webhook_cursors SET holder = ?, lease_until_ms = ? WHERE endpoint_id = ? AND (holder IS NULL OR holder = ? OR lease_until_ms < ?)',
  );
  const select = db.prepare<[string], CursorRow>('SELECT * FROM kl_webhook_cursors WHERE endpoint_id = ?');
  const acquire = db.transaction((endpointId: string, holder: string, nowMs: number, ttlMs: number, initial: Omit<DeliveryCursor, 'endpointId'>) => {
    insertCursor.run({ endpointId, ...initial });
    const taken = take.run(holder, nowMs + ttlMs, endpointId, holder, nowMs).changes === 1;
    return taken ? toCursor(select.get(endpointId) as CursorRow) : null;
  });
  const insertAttempt = db.prepare(
    `INSERT INTO kl_webhook_attempts (endpoint_id, event_id, event_type, checkpoint, attempt, outcome, http_status, latency_ms, error, at_ms, instance_id)
     VALUES (@endpointId, @eventId, @eventType, @checkpoint, @attempt, @outcome, @httpStatus, @latencyMs, @error, @atMs, @instanceId)`,
  );
  const prune = db.prepare<[string, string, number]>(
    'DELETE FROM kl_webhook_attempts WHERE endpoint_id = ? AND seq <= (SELECT seq FROM kl_webhook_attempts WHERE endpoint_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)',
  );
  const list = db.prepare<[string, number], AttemptRow>('SELECT * FROM kl_webhook_attempts WHERE endpoint_id = ? ORDER BY seq DESC LIMIT ?');
  const releaseStmt = db.prepare<[string, string]>('UPDATE kl_webhook_cursors SET holder = NULL, lease_until_ms = 0 WHERE endpoint_id = ? AND holder = ?');
  return {
    async acquire(endpointId, holder, nowMs, ttlMs, initial) {
      return acquire.immediate(endpointId, holder, nowMs, ttlMs, initial);
    },
    async advance(endpointId, holder, nowMs, ttlMs, update) {
      const sets = ['lease_until_ms = @leaseUntil'];
      const params: Record<string, unknown> = { endpointId, holder, nowMs, leaseUntil: nowMs + ttlMs };
      for (const [field, column] of Object.entries(COLUMNS) as [keyof CursorUpdate, string][]) {
        if (update[field] === undefined) continue;
        sets.push(`${column} = @${field}`);
        params[field] = update[field];
      }
      const sql = `UPDATE kl_webhook_cursors SET ${sets.join(', ')} WHERE endpoint_id = @endpointId AND holder = @holder AND lease_until_ms >= @nowMs`;
      return db.prepare(sql).run(params).changes === 1;
    },
    async release(endpointId, holder) {
      releaseStmt.run(endpointId, holder);
    },
    async recordAttempt(attempt) {
      insertAttempt.run(attempt);
      prune.run(attempt.endpointId, attempt.endpointId, ATTEMPTS_KEPT);
    },
    async listAttempts(endpointId, limit) {
      return list.all(endpointId, limit).map(toAttempt);
    },
    async cursor(endpointId) {
      const row = select.get(endpointId);
      return row ? toCursor(row) : null;
    },
    async close() {
      db.close();
    },
  };
}

export async function openPostgresDeliveryStore(connectionString: string, schema: string): Promise<DeliveryStore> {
  const s = quoteIdent(schema);
  const pool = new pg.Pool({ connectionString, max: 4, application_name: `keyledger-webhooks:${schema}`.slice(0, 63) });
  pool.on('error', () => undefined);
  const client = await pool.connect();
  try {
    await client.query('begin');
    // Instances starting together create the tables once.
    await client.query("select pg_advisory_xact_lock(hashtext('keyledger:webhooks:' || $1))", [schema]);
    await client.query(`create table if not exists ${s}.kl_webhook_cursors (
      endpoint_id text primary key,
      holder text,
      lease_until_ms bigint not null default 0,
      delivered_through text,
      replay_revision integer not null,
      failing_since_ms bigint,
      attempt integer not null,
      next_attempt_ms bigint not null
    )`);
    await client.query(`create table if not exists ${s}.kl_webhook_attempts (
      seq bigserial primary key,
      endpoint_id text not null,
      event_id text not null,
      event_type text not null,
      checkpoint text not null,
      attempt integer not null,
      outcome text not null,
      http_status integer,
      latency_ms integer not null,
      error text,
      at_ms bigint not null,
      instance_id text not null
    )`);
    await client.query(`create index if not exists kl_webhook_attempts_endpoint on ${s}.kl_webhook_attempts (endpoint_id, seq)`);
    await client.query('commit');
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    client.release(error as Error);
    await pool.end();
    throw error;
  }
  client.release();
  return {
    async acquire(endpointId, holder, nowMs, ttlMs, initial) {
      await pool.query(
        `insert into ${s}.kl_webhook_cursors (endpoint_id, holder, lease_until_ms, delivered_through, replay_revision, failing_since_ms, attempt, next_attempt_ms)
         values ($1, null, 0, $2, $3, $4, $5, $6) on conflict (endpoint_id) do nothing`,
        [endpointId, initial.deliveredThrough, initial.replayRevision, initial.failingSinceMs, initial.attempt, initial.nextAttemptMs],
      );
      // One statement: the row lock makes two instances racing for a free lease see one winner.
      const result = await pool.query<CursorRow>(
        `update ${s}.kl_webhook_cursors set holder = $2, lease_until_ms = $3
         where endpoint_id = $1 and (holder is null or holder = $2 or lease_until_ms < $4) returning *`,
        [endpointId, holder, nowMs + ttlMs, nowMs],
      );
      const row = result.rows[0];
      return row ? toCursor(row) : null;
    },
    async advance(endpointId, holder, nowMs, ttlMs, update) {
      const sets = ['lease_until_ms = $4'];
      const params: unknown[] = [endpointId, holder, nowMs, nowMs + ttlMs];
      for (const [field, column] of Object.entries(COLUMNS) as [keyof CursorUpdate, string][]) {
        if (update[field] === undefined) continue;
        params.push(update[field]);
        sets.push(`${column} = $${params.length}`);
      }
      const result = await pool.query(
        `update ${s}.kl_webhook_cursors set ${sets.join(', ')} where endpoint_id = $1 and holder = $2 and lease_until_ms >= $3`,
        params,
      );
      return result.rowCount === 1;
    },
    async release(endpointId, holder) {
      await pool.query(`update ${s}.kl_webhook_cursors set holder = null, lease_until_ms = 0 where endpoint_id = $1 and holder = $2`, [endpointId, holder]);
    },
    async recordAttempt(a) {
      await pool.query(
        `insert into ${s}.kl_webhook_attempts (endpoint_id, event_id, event_type, checkpoint, attempt, outcome, http_status, latency_ms, error, at_ms, instance_id)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
        [a.endpointId, a.eventId, a.eventType, a.checkpoint, a.attempt, a.outcome, a.httpStatus, a.latencyMs, a.error, a.atMs, a.instanceId],
      );
      await pool.query(
        `delete from ${s}.kl_webhook_attempts where endpoint_id = $1 and seq <= (
           select seq from ${s}.kl_webhook_attempts where endpoint_id = $1 order by seq desc limit 1 offset $2)`,
        [a.endpointId, ATTEMPTS_KEPT],
      );
    },
    async listAttempts(endpointId, limit) {
      const result = await pool.query<AttemptRow>(`select * from ${s}.kl_webhook_attempts where endpoint_id = $1 order by seq desc limit $2`, [endpointId, limit]);
      return result.rows.map(toAttempt);
    },
    async cursor(endpointId) {
      const result = await pool.query<CursorRow>(`select * from ${s}.kl_webhook_cursors where endpoint_id = $1`, [endpointId]);
      return result.rows[0] ? toCursor(result.rows[0]) : null;
    },
    async close() {
      await pool.end();
    },
  };
}
