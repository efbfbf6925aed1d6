/** Opens the snapshot table of the configured backend, next to the event store's tables. */
import type { Config } from '../../config/config.js';
import type { CompareCheckpoints, SnapshotStore } from './port.js';
import { openPostgresSnapshotStore } from './postgres.js';
import { openSqliteSnapshotStore } from './sqlite.js';

export function openSnapshotStore(database: Config['database'], compare: CompareCheckpoints): Promise<SnapshotStore> {
  return database.kind === 'postgres'
    ? openPostgresSnapshotStore({ connectionString: database.url, schema: database.schema, compare })
    : Promise.resolve(openSqliteSnapshotStore({ file: database.file, compare }));
}
