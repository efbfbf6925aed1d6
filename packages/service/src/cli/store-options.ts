/**
 * Commands that read or write a store directly (audit history/at with a data directory, export,
 * import, projections rebuild, migrate) take `--data-dir <dir>` (SQLite) or `--database-url <url>`
 * (PostgreSQL), defaulting to the settings `serve` uses (KEYLEDGER_DATA_DIR, KEYLEDGER_DATABASE_URL,
 * KEYLEDGER_DATABASE_SCHEMA; config/config.ts).
 */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { openAuditLogAccess, type AuditLogAccess } from '../audit/log-access.js';
import { type Config, ConfigError, loadConfig } from '../config/config.js';
import { openEventStore } from '../store/open-store.js';
import type { EventStore } from '../store/port.js';
import { openSnapshotStore } from '../store/snapshots/open.js';
import type { SnapshotStore } from '../store/snapshots/port.js';
import { CliError } from './errors.js';

export interface StoreOptions {
  dataDir?: string;
  databaseUrl?: string;
  databaseSchema?: string;
}

export function storeCommand(command: Command): Command {
  return command
    .option('--data-dir <dir>', 'SQLite data directory (default: KEYLEDGER_DATA_DIR or ./data)')
    .option('--database-url <url>', 'PostgreSQL URL (default: KEYLEDGER_DATABASE_URL)')
    .option('--database-schema <schema>', 'PostgreSQL schema (default: KEYLEDGER_DATABASE_SCHEMA or public)');
}

export function hasStoreOptions(options: StoreOptions): boolean {
  return options.dataDir !== undefined || options.databaseUrl !== undefined;
}

/** The serve configuration with the command's overrides. */
export function storeConfig(options: StoreOptions, env: NodeJS.ProcessEnv = process.env): Config {
  const merged: NodeJS.ProcessEnv = { ...env, KEYLEDGER_LOG_LEVEL: env.KEYLEDGER_LOG_LEVEL ?? 'warn' };
  if (options.dataDir !== undefined) {
    merged.KEYLEDGER_DATA_DIR = options.dataDir;
    // An explicit data directory means SQLite, whatever the environment says.
    if (options.databaseUrl === undefined) delete merged.KEYLEDGER_DATABASE_URL;
  }
  if (options.databaseUrl !== undefined) merged.KEYLEDGER_DATABASE_URL = options.databaseUrl;
  if (options.databaseSchema !== undefined) merged.KEYLEDGER_DATABASE_SCHEMA = options.databaseSchema;
  try {
    return loadConfig(merged);
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(error.message.split('\n').map((line) => line.trim()).filter(Boolean).join('; ').replace(/:;/g, ':'), 2);
    throw error;
  }
}

export interface OpenedStore {
  config: Config;
  store: EventStore;
  log: AuditLogAccess;
  /** Opened on demand (rebuild). */
  snapshots(): Promise<SnapshotStore>;
  /** Where it is, for messages. */
  where: string;
  close(): Promise<void>;
}

export interface OpenStoreOptions {
  /** Reading an existing ledger: a SQLite data directory that does not exist is a mistake, not a new ledger. */
  mustExist?: boolean;
}

export async function openStore(options: StoreOptions, open: OpenStoreOptions = {}): Promise<OpenedStore> {
  const config = storeConfig(options);
  return openConfiguredStore(config.database, open, config);
}

/** `--from`: a SQLite data directory or the database file itself. */
export function sqliteDatabaseOf(path: string): Config['database'] {
  const full = resolve(path);
  if (!existsSync(full)) throw new CliError(`no such file or directory: ${full}`);
  const file = statSync(full).isDirectory() ? join(full, 'keyledger.db') : full;
  if (!existsSync(file)) throw new CliError(`no keyledger database in ${full} (expected ${file})`);
  return { kind: 'sqlite', file, synchronous: 'FULL' };
}

export async function openConfiguredStore(database: Config['database'], open: OpenStoreOptions = {}, config?: Config): Promise<OpenedStore> {
  const where = database.kind === 'sqlite' ? database.file : `${redact(database.url)} (schema ${database.schema})`;
  if (database.kind === 'sqlite' && open.mustExist && !existsSync(database.file)) {
    throw new CliError(`no keyledger database at ${resolve(database.file)}: pass --data-dir (or --database-url) of an existing installation`);
  }
  let store: EventStore;
  try {
    store = await openEventStore(database);
  } catch (error) {
    throw new CliError(`cannot open the store at ${where}: ${oneLine((error as Error).message)}`);
  }
  const log = await openAuditLogAccess(database);
  let snapshots: SnapshotStore | undefined;
  return {
    config: config ?? storeConfig({}),
    store,
    log,
    where,
    async snapshots() {
      snapshots ??= await openSnapshotStore(database, store.compareCheckpoints.bind(store));
      return snapshots;
    },
    async close() {
      await snapshots?.close().catch(() => undefined);
      await log.close().catch(() => undefined);
      await store.close();
    },
  };
}

/** A URL with its password replaced, for messages. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'the database URL';
  }
}

function oneLine(text: string): string {
  return text.split('\n').map((line) => line.trim()).filter(Boolean).join('; ');
}
