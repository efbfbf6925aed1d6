export { openPostgresEventStore, type PostgresEventStoreOptions } from './postgres-event-store.js';
export { compareCheckpoints as comparePostgresCheckpoints, formatCheckpoint, parseCheckpoint } from './checkpoint.js';
export { schemaNames, type SchemaNames } from './naming.js';
export { MIGRATIONS } from './migrations.js';
export { InvalidReadError } from './read.js';
