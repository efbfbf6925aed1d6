/**
 * Process-level behaviour of the real service: graceful SIGTERM, the root key bootstrap (once,
 * even when two instances race on one PostgreSQL schema), and no plaintext key in any log line.
 */
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { holdFenceLock } from '../packages/service/test/store/pg-test-schema.js';
import { type ServiceProcess, startService } from './support/service-process.js';
import { createSchema, DATABASE_URL, skipWithoutPostgres } from './support/services.js';

/** The key's line in the root key block the CLI prints on a first start (cli/root-key-block.ts). */
const ROOT_LINE = /^ {6}(kl_[a-z0-9_]+_[0-9A-Za-z]{28})$/gm;
/** Anything shaped like a keyledger key (prefix, 22 random and 6 checksum characters). */
const KEY_SHAPE = /kl_(?:live|test)_[0-9A-Za-z]{28}/g;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const rootLines = (output: string) => [...output.matchAll(ROOT_LINE)].map((m) => m[1] as string);

async function waitFor(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function api(service: ServiceProcess, method: string, path: string, body?: unknown, key = service.rootKey) {
  const response = await fetch(`${service.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

describe('SIGTERM', () => {
  it('finishes a request in flight, then exits 0', async () => {
    const service = await startService();
    try {
      const body = JSON.stringify({ consumerId: 'inflight', name: 'x'.repeat(200) });
      const split = 40;
      const socket = connect(service.port, '127.0.0.1');
      let response = '';
      socket.on('data', (chunk) => (response += chunk.toString('utf8')));
      const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      // Headers and part of the body: the request is under way but cannot finish yet.
      socket.write(
        `POST /v1/keys HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${service.rootKey}\r\n` +
          `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body.slice(0, split)}`,
      );
      await sleep(200);
      const exitCode = service.stop('SIGTERM');
      await waitFor(() => service.output().includes('shutting down'), 'the shutdown log line');
      socket.end(body.slice(split));
      await closed;
      expect(response).toMatch(/^HTTP\/1\.1 201 /);
      const issued = JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4));
      expect(issued.consumerId).toBe('inflight');
      expect(await exitCode).toBe(0);
      expect(service.output()).toMatch(/"msg":"stopped"/);
    } finally {
      await service.stop('SIGKILL');
    }
  });

  // Red until http/routes/event-stream.ts aborts its open streams in a `preClose` hook: in
  // `onClose` they run only after the server has waited for every connection, so an open SSE
  // client holds the shutdown until KEYLEDGER_SHUTDOWN_TIMEOUT_MS and the process exits 1.
  it('ends an open event stream (SSE) and still exits 0', async () => {
    const service = await startService();
    const response = await fetch(`${service.url}/v1/events/stream`, { headers: { authorization: `Bearer ${service.rootKey}` } });
    expect(response.status).toBe(200);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    const exitCode = await service.stop('SIGTERM');
    for (;;) {
      const chunk = await reader.read().catch(() => ({ done: true }));
      if (chunk.done) break;
    }
    expect(exitCode).toBe(0);
  });

  it('refuses new connections once stopping, and an idle service exits 0', async () => {
    const service = await startService();
    expect((await api(service, 'GET', '/v1/keys')).status).toBe(200);
    expect(await service.stop('SIGTERM')).toBe(0);
    await expect(fetch(`${service.url}/healthz`)).rejects.toThrow();
  });
});

describe('root key bootstrap on SQLite', () => {
  it('prints the root key once on the first start and not on the second start with the same data dir', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'keyledger-boot-'));
    try {
      const first = await startService({ dataDir, env: { KEYLEDGER_ROOT_KEY: '' } });
      const printed = rootLines(first.output());
      expect(printed).toHaveLength(1);
      const rootKey = printed[0] as string;
      // The printed key works as a management key.
      expect((await api(first, 'GET', '/v1/keys', undefined, rootKey)).status).toBe(200);
      expect(await first.stop()).toBe(0);

      const second = await startService({ dataDir, env: { KEYLEDGER_ROOT_KEY: '' } });
      expect(rootLines(second.output())).toEqual([]);
      expect(second.output()).not.toContain(rootKey);
      const list = await api(second, 'GET', '/v1/keys?consumerId=keyledger-root', undefined, rootKey);
      expect(list.status).toBe(200);
      expect(list.body.items).toHaveLength(1);
      expect(await second.stop()).toBe(0);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(skipWithoutPostgres)(
  `root key bootstrap race on PostgreSQL${skipWithoutPostgres ? ' (SKIPPED: set KEYLEDGER_TEST_DATABASE_URL)' : ''}`,
  () => {
    it('two instances starting together on one fresh schema print exactly one root key between them', async () => {
      const release = await holdFenceLock('shared');
      const { schema, drop } = await createSchema();
      const services: ServiceProcess[] = [];
      try {
        const env = { KEYLEDGER_ROOT_KEY: '', KEYLEDGER_DATABASE_URL: DATABASE_URL as string, KEYLEDGER_DATABASE_SCHEMA: schema };
        const started = await Promise.allSettled([startService({ env }), startService({ env })]);
        for (const result of started) if (result.status === 'fulfilled') services.push(result.value);
        for (const result of started) if (result.status === 'rejected') throw result.reason;
        const printed = services.flatMap((s) => rootLines(s.output()));
        expect(printed).toHaveLength(1);
        const rootKey = printed[0] as string;
        // Both instances accept the one root key, and the ledger holds one root key.
        for (const service of services) {
          await waitFor(() => true, 'nothing');
          const list = await api(service, 'GET', '/v1/keys?consumerId=keyledger-root', undefined, rootKey);
          expect(list.status, JSON.stringify(list.body)).toBe(200);
          expect(list.body.items).toHaveLength(1);
        }
      } finally {
        for (const service of services) expect(await service.stop()).toBe(0);
        await drop();
        await release();
      }
    });
  },
);

describe('secrets never reach the logs', () => {
  it('no plaintext key appears in any log line of a busy run, except the one bootstrap stdout line', async () => {
    const service = await startService({ env: { KEYLEDGER_ROOT_KEY: '', KEYLEDGER_LOG_LEVEL: 'trace' } });
    let stopped = false;
    try {
      const [rootKey] = rootLines(service.output());
      expect(rootKey).toBeDefined();
      const admin = { ...service, rootKey: rootKey as string };
      const secrets: string[] = [rootKey as string];
      const issued = await api(admin, 'POST', '/v1/keys', { consumerId: 'logs', scopes: ['a:read'] });
      expect(issued.status).toBe(201);
      secrets.push(issued.body.secret);
      const rotated = await api(admin, 'POST', `/v1/keys/${issued.body.id}/rotate`, { gracePeriodSeconds: 60 });
      secrets.push(rotated.body.successor.secret);
      // Verify (valid, wrong scope, unknown, malformed) and management calls with bad credentials.
      await api(admin, 'POST', '/v1/verify', { key: issued.body.secret, scopes: ['a:read'] });
      await api(admin, 'POST', '/v1/verify', { key: rotated.body.successor.secret, scopes: ['b:write'] });
      const unknown = `kl_live_${randomBytes(8).toString('hex')}`;
      await api(admin, 'POST', '/v1/verify', { key: unknown });
      await api(admin, 'GET', '/v1/keys', undefined, issued.body.secret); // 403: no permission
      await api(admin, 'GET', '/v1/keys', undefined, `${issued.body.secret}x`); // 401
      await api(admin, 'POST', '/v1/keys', { consumerId: 'logs', secret: issued.body.secret }); // 400 unknown field
      await fetch(`${service.url}/v1/keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${rootKey}`, 'content-type': 'application/json' },
        body: `{"consumerId":"${issued.body.secret}`,
      }); // malformed JSON containing a key
      await api(admin, 'POST', `/v1/keys/${issued.body.id}/revoke`, {});
      await api(admin, 'POST', '/v1/verify', { key: issued.body.secret });
      expect(await service.stop()).toBe(0);
      stopped = true;

      const output = service.output();
      const lines = output.split('\n');
      const bootstrapLines = lines.filter((line) => line.includes(rootKey as string));
      expect(bootstrapLines).toEqual([`      ${rootKey}`]);
      for (const line of lines) {
        if (line === bootstrapLines[0]) continue;
        for (const secret of secrets) expect(line).not.toContain(secret);
        expect(line.match(KEY_SHAPE) ?? []).toEqual([]);
        // A truncated or partial key is no safer: the random part must not appear either.
        for (const secret of secrets) expect(line).not.toContain(secret.slice(8, 30));
      }
      expect(output).not.toContain(unknown);
    } finally {
      if (!stopped) await service.stop('SIGKILL');
    }
  });
});
