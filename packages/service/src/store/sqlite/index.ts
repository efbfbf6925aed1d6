export { openSqliteEventStore, SqliteEventStore } from './sqlite-event-store.js';
export type { SqliteEventStoreOptions } from './sqlite-event-store.js';
export { SCHEMA_VERSION } from './schema.js';
