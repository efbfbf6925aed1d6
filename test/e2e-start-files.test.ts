/**
 * The real service's files and start-up: an owner-only data directory and database files, a
 * server secret written 0600, a damaged server secret that stops the start naming the file, and
 * the separate metrics listener (KEYLEDGER_METRICS_LISTEN) wired by the CLI.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type ServiceProcess, startService } from './support/service-process.js';

const mode = (path: string) => statSync(path).mode & 0o777;
let parent: string;
let service: ServiceProcess | undefined;

afterEach(async () => {
  await service?.stop();
  service = undefined;
  rmSync(parent, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function failedStart(dataDir: string): Promise<string> {
  try {
    service = await startService({ dataDir });
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('the service started');
}

describe('files', () => {
  it('creates the data directory 0700, the SQLite files and the server secret 0600', async () => {
    parent = mkdtempSync(join(tmpdir(), 'keyledger-files-'));
    const dataDir = join(parent, 'data');
    service = await startService({ dataDir });
    // An issue with an Idempotency-Key needs the server secret, and writes to the WAL.
    const issued = await fetch(`${service.url}/v1/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${service.rootKey}`, 'content-type': 'application/json', 'idempotency-key': 'files-1' },
      body: JSON.stringify({ consumerId: 'acme' }),
    });
    expect(issued.status).toBe(201);
    const modes = Object.fromEntries(
      ['', 'keyledger.db', 'keyledger.db-wal', 'keyledger.db-shm', 'server-secret', 'audit-signing-key'].map((name) => [name || '.', mode(join(dataDir, name))]),
    );
    console.log('modes:', Object.entries(modes).map(([name, value]) => `${name} ${value.toString(8)}`).join(', '));
    expect(modes).toEqual({ '.': 0o700, 'keyledger.db': 0o600, 'keyledger.db-wal': 0o600, 'keyledger.db-shm': 0o600, 'server-secret': 0o600, 'audit-signing-key': 0o600 });
  });

  it.each([
    ['empty', ''],
    ['truncated', 'AAAA'],
  ])('a server-secret file that is %s stops the start with a message naming the file', async (_what, contents) => {
    parent = mkdtempSync(join(tmpdir(), 'keyledger-files-'));
    const dataDir = join(parent, 'data');
    mkdirSync(dataDir, { mode: 0o700 });
    writeFileSync(join(dataDir, 'server-secret'), contents, { mode: 0o600 });
    const message = await failedStart(dataDir);
    expect(message).toContain('exited with 1');
    expect(message).toContain(`keyledger: the server secret file ${join(dataDir, 'server-secret')}`);
  });
});

describe('KEYLEDGER_METRICS_LISTEN', () => {
  it('the CLI serves /metrics on its own listener, without auth, and not on the main one', async () => {
    parent = mkdtempSync(join(tmpdir(), 'keyledger-files-'));
    const port = await freePort();
    service = await startService({ dataDir: join(parent, 'data'), env: { KEYLEDGER_METRICS_LISTEN: `127.0.0.1:${port}` } });
    const scraped = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toMatch(/^process_cpu_user_seconds_total /m);
    const main = await fetch(`${service.url}/metrics`, { headers: { authorization: `Bearer ${service.rootKey}` } });
    expect(main.status).toBe(404);
    expect(service.output()).toMatch(/"msg":"keyledger metrics listening"/);
  });
});
