/**
 * PostgreSQL event store. Tables live in one schema (kl_events, kl_streams, kl_migrations, the
 * kl_append function), migrated on open; several instances may share it. Checkpoints are
 * "<transaction id>.<position>" and global reads are gap-free behind a snapshot fence (read.ts).
 */
export { openPostgresEventStore, type PostgresEventStoreOptions } from './postgres-event-store.js';
export { compareCheckpoints as comparePostgresCheckpoints, formatCheckpoint, parseCheckpoint } from './checkpoint.js';
export { schemaNames, type SchemaNames } from './naming.js';
export { MIGRATIONS } from './migrations.js';
export { InvalidReadError } from '../errors.js';
