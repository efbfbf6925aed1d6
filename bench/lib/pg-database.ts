/**
 * A throwaway PostgreSQL database for one benchmark run, created from an admin connection and
 * dropped (even with stray connections left) when the run ends.
 */

import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';

/** The slice of pg's client this file uses (the bench package has no @types/pg). */
interface AdminClient {
  connect(): Promise<void>;
  query(sql: string): Promise<{ rows: Record<string, unknown>[] }>;
  end(): Promise<void>;
}
const pg = createRequire(import.meta.url)('pg') as {
  Client: new (config: { connectionString: string }) => AdminClient;
};

export interface ScratchDatabase {
  name: string;
  connectionString: string;
  serverVersion: string;
  drop(): Promise<void>;
}

/** `adminUrl` points at any existing database the role may `create database` from. */
export async function createScratchDatabase(adminUrl: string, prefix: string): Promise<ScratchDatabase> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  let serverVersion: string;
  try {
    serverVersion = String((await admin.query('show server_version')).rows[0]?.server_version);
    await admin.query(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    name,
    connectionString: url.toString(),
    serverVersion,
    async drop() {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        await client.query(`drop database if exists "${name}" with (force)`);
      } finally {
        await client.end();
      }
    },
  };
}
