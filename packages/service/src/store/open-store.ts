/** Opens the configured backend: SQLite (embedded default) or PostgreSQL (several instances). */
import { validateEventData } from '@keyledger/schemas';
import type { Config } from '../config/config.js';
import type { EventStore } from './port.js';
import { openPostgresEventStore } from './postgres/index.js';
import { openSqliteEventStore } from './sqlite/index.js';

export function openEventStore(database: Config['database']): Promise<EventStore> {
  // Every event is checked against its schema before it is written: the ledger holds no junk.
  const validate = validateEventData;
  return database.kind === 'postgres'
    ? openPostgresEventStore({ connectionString: database.url, schema: database.schema, validate })
    : openSqliteEventStore({ file: database.file, synchronous: database.synchronous, validate });
}
