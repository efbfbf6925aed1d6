/**
 * A real keyledger (SQLite file in a temp dir, real projections, real fastify app) driven with
 * `app.inject`: no network, nothing mocked.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { makeTestKey } from '../../../../test/support/service-process.js';
import { createKeyledger, type Keyledger, type CreateOptions } from '../../src/app/keyledger.js';
import { loadConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/logging.js';

export interface Harness {
  service: Keyledger;
  rootKey: string;
  dataDir: string;
  call(method: string, url: string, options?: CallOptions): Promise<Reply>;
  /** Issues a key as root and returns the 201 body. */
  issue(body?: Record<string, unknown>, headers?: Record<string, string>): Promise<Record<string, any>>;
  close(): Promise<void>;
}

export interface CallOptions {
  body?: unknown;
  /** Raw payload (sent as is); overrides body. */
  payload?: string | Buffer;
  /** Bearer key; the root key unless null. */
  key?: string | null;
  headers?: Record<string, string>;
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: any;
  text: string;
}

export async function startHarness(env: Record<string, string> = {}, options: CreateOptions = {}): Promise<Harness> {
  const dataDir = mkdtempSync(join(tmpdir(), 'keyledger-http-'));
  const rootKey = makeTestKey();
  const service = await createKeyledger(
    loadConfig({ KEYLEDGER_DATA_DIR: dataDir, KEYLEDGER_ROOT_KEY: rootKey, KEYLEDGER_LOG_LEVEL: 'silent', ...env }),
    createLogger('silent'),
    options,
  );
  await service.app.ready();

  const call = async (method: string, url: string, options: CallOptions = {}): Promise<Reply> => {
    const headers: Record<string, string> = { ...options.headers };
    const key = options.key === undefined ? rootKey : options.key;
    if (key !== null && headers.authorization === undefined) headers.authorization = `Bearer ${key}`;
    let payload: string | Buffer | undefined = options.payload;
    if (payload === undefined && options.body !== undefined) {
      payload = JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    const response = await service.app.inject({ method: method as 'GET', url, headers, ...(payload === undefined ? {} : { payload }) });
    let body: unknown;
    try {
      body = response.body === '' ? undefined : JSON.parse(response.body);
    } catch {
      body = undefined;
    }
    return { status: response.statusCode, headers: response.headers, body, text: response.body };
  };

  return {
    service,
    rootKey,
    dataDir,
    call,
    async issue(body = { consumerId: 'acme' }, headers = {}) {
      const response = await call('POST', '/v1/keys', { body, headers });
      expect(response.status, response.text).toBe(201);
      return response.body;
    },
    async close() {
      await service.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Asserts an RFC 9457 problem with the given status and type suffix; returns the body. */
export function expectProblem(reply: Reply, status: number, type: string): Record<string, any> {
  expect(reply.status, reply.text).toBe(status);
  expect(reply.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(reply.body.type).toBe(`https://keyledger.dev/problems/${type}`);
  expect(reply.body.status).toBe(status);
  expect(typeof reply.body.title).toBe('string');
  expect(typeof reply.body.detail).toBe('string');
  return reply.body;
}

/** Every event currently in the ledger, read through GET /v1/events. */
export async function countEvents(h: Harness): Promise<number> {
  let count = 0;
  let after: string | undefined;
  for (;;) {
    const page = await h.call('GET', `/v1/events?limit=1000${after ? `&after=${encodeURIComponent(after)}` : ''}`);
    expect(page.status, page.text).toBe(200);
    count += page.body.events.length;
    if (page.body.events.length === 0) return count;
    after = page.body.checkpoint;
  }
}
