/**
 * Names derived from the schema a store lives in: every instance that opens the same schema
 * computes the same channel and migration lock, so instances coordinate without configuration.
 */

import { createHash } from 'node:crypto';
import { EventStoreError } from '../errors.js';

/** Lower-case identifiers only, so the name never needs case-sensitive quoting rules to match. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export interface SchemaNames {
  schema: string;
  /** The schema as a quoted SQL identifier, safe to splice into statements. */
  quoted: string;
  /** LISTEN/NOTIFY channel woken by every append to this schema (max 63 bytes, as identifiers). */
  channel: string;
  /** Key for pg_advisory_xact_lock that serialises migrations of this schema, as a decimal bigint. */
  migrationLockKey: string;
  /** First key of pg_advisory_xact_lock(int, int) for per-stream append locks in this schema. */
  streamLockSpace: number;
}

export function schemaNames(schema: string): SchemaNames {
  if (typeof schema !== 'string' || !SCHEMA_NAME.test(schema)) {
    throw new EventStoreError(
      `invalid PostgreSQL schema name ${JSON.stringify(schema)}: use 1-63 lower-case letters, digits or '_'`,
    );
  }
  const digest = createHash('sha256').update(`keyledger:${schema}`).digest();
  const channel = `kl_events_${schema}`.length <= 63 ? `kl_events_${schema}` : `kl_events_${digest.toString('hex', 0, 16)}`;
  return {
    schema,
    quoted: quoteIdent(schema),
    channel,
    migrationLockKey: digest.readBigInt64BE(0).toString(),
    streamLockSpace: digest.readInt32BE(8),
  };
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
