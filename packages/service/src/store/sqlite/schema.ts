/**
 * The SQLite schema, migrated on open. `PRAGMA user_version` records the last applied migration;
 * migrations run in one IMMEDIATE transaction so two processes opening a fresh file at the same
 * time cannot both apply them. Append new migrations at the end; never edit an applied one.
 */

import type Database from 'better-sqlite3';
import { StoreUnavailableError } from '../errors.js';

interface Migration {
  version: number;
  description: string;
  sql: string;
}

const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'events log and per-stream revisions',
    sql: `
      -- One row per stream: the append path checks and bumps the revision here in O(1)
      -- instead of looking for the stream's last event.
      CREATE TABLE streams (
        stream_id TEXT PRIMARY KEY,
        revision INTEGER NOT NULL CHECK (revision >= 0)
      ) WITHOUT ROWID;

      -- AUTOINCREMENT: a position is never handed out twice, even if the newest row were ever
      -- removed, so a checkpoint held by a reader can never come to mean a different event.
      CREATE TABLE events (
        position INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id TEXT NOT NULL UNIQUE,
        stream_id TEXT NOT NULL REFERENCES streams (stream_id),
        stream_revision INTEGER NOT NULL CHECK (stream_revision >= 0),
        category TEXT NOT NULL,
        event_type TEXT NOT NULL,
        data TEXT NOT NULL,
        metadata TEXT NOT NULL,
        created_at INTEGER NOT NULL, -- milliseconds since the Unix epoch
        UNIQUE (stream_id, stream_revision)
      );

      -- Filtered global reads (projections following one category or a few event types).
      CREATE INDEX events_by_category ON events (category, position);
      CREATE INDEX events_by_type ON events (event_type, position);
    `,
  },
  {
    version: 2,
    description: 'transparency log: leaves, tree nodes, signed checkpoints, cosignatures',
    sql: `
      -- Leaf i of the audit tree is the i-th event of the global log (audit/log-store.ts).
      -- stream and revision are kept so a verifier can name an event that went missing.
      CREATE TABLE kl_audit_leaves (
        leaf_index INTEGER PRIMARY KEY,
        event_id TEXT NOT NULL UNIQUE,
        stream_id TEXT NOT NULL,
        stream_revision INTEGER NOT NULL,
        event_checkpoint TEXT NOT NULL UNIQUE,
        salt BLOB, -- seals the event's private fields into its leaf; NULL when it has none
        leaf_hash BLOB NOT NULL
      );
      -- Complete subtrees of 16 leaves and more (smaller ones are hashed from the leaves when a
      -- proof needs them). Written once, never updated.
      CREATE TABLE kl_audit_nodes (
        level INTEGER NOT NULL,
        node_index INTEGER NOT NULL,
        hash BLOB NOT NULL,
        PRIMARY KEY (level, node_index)
      ) WITHOUT ROWID;
      CREATE TABLE kl_audit_checkpoints (
        tree_size INTEGER PRIMARY KEY,
        root_hash BLOB NOT NULL,
        note TEXT NOT NULL,
        signed_at INTEGER NOT NULL
      );
      CREATE TABLE kl_audit_cosignatures (
        tree_size INTEGER NOT NULL,
        witness TEXT NOT NULL,
        key_id INTEGER NOT NULL,
        line TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        PRIMARY KEY (tree_size, witness, key_id)
      ) WITHOUT ROWID;
      CREATE TABLE kl_audit_meta (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) WITHOUT ROWID;
    `,
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export function migrate(db: Database.Database): void {
  const apply = db.transaction(() => {
    const current = db.pragma('user_version', { simple: true }) as number;
    if (current > SCHEMA_VERSION) {
      throw new StoreUnavailableError(
        'sqlite',
        `database schema version ${current} is newer than this keyledger supports (${SCHEMA_VERSION}); upgrade keyledger`,
      );
    }
    for (const migration of MIGRATIONS) {
      if (migration.version <= current) continue;
      db.exec(migration.sql);
      db.pragma(`user_version = ${migration.version}`);
    }
  });
  apply.immediate();
}
