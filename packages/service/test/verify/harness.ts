/**
 * A real keyledger (SQLite file in a temp dir, memory limiter) driven through `app.inject`, plus
 * small helpers to issue keys and verify them. No part of the service is mocked.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checksumOf } from '@keyledger/schemas';
import { randomBytes } from 'node:crypto';
import { createKeyledger, type Keyledger } from '../../src/app/keyledger.js';
import { loadConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/logging.js';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** A well-formed key with a valid checksum, built here rather than with the service's code. */
export function wellFormedKey(prefix = 'kl_live'): string {
  let random = '';
  for (const byte of randomBytes(22)) random += BASE62[byte % 62];
  return `${prefix}_${random}${checksumOf(prefix, random)}`;
}

export interface Harness {
  service: Keyledger;
  rootKey: string;
  dataDir: string;
  /** JSON request with the root key (or `auth`) as bearer. */
  call(method: 'GET' | 'POST' | 'PUT' | 'PATCH', url: string, body?: unknown, auth?: string | null): Promise<InjectResult>;
  /** Issues a key; returns its id and plaintext secret. */
  issue(body?: Record<string, unknown>): Promise<{ id: string; secret: string }>;
  verify(body: Record<string, unknown>, auth?: string | null): Promise<InjectResult>;
  close(): Promise<void>;
}

export interface InjectResult {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: any;
}

export async function startHarness(env: Record<string, string> = {}, dataDir?: string): Promise<Harness> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'keyledger-verify-'));
  const rootKey = env.KEYLEDGER_ROOT_KEY ?? wellFormedKey();
  const config = loadConfig({ KEYLEDGER_DATA_DIR: dir, KEYLEDGER_ROOT_KEY: rootKey, KEYLEDGER_LOG_LEVEL: 'silent', ...env });
  const service = await createKeyledger(config, createLogger('silent'));
  await service.app.ready();

  const call: Harness['call'] = async (method, url, body, auth) => {
    const token = auth === undefined ? rootKey : auth;
    const response = await service.app.inject({
      method,
      url,
      headers: {
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    });
    const text = response.body;
    let parsed: unknown = text;
    if ((response.headers['content-type'] ?? '').toString().includes('json') && text.length > 0) parsed = JSON.parse(text);
    return { status: response.statusCode, headers: response.headers, body: parsed };
  };

  return {
    service,
    rootKey,
    dataDir: dir,
    call,
    async issue(body = {}) {
      const response = await call('POST', '/v1/keys', { consumerId: 'acme', ...body });
      if (response.status !== 201) throw new Error(`issue failed: ${response.status} ${JSON.stringify(response.body)}`);
      return { id: response.body.id as string, secret: response.body.secret as string };
    },
    verify: (body, auth) => call('POST', '/v1/verify', body, auth),
    async close() {
      await service.close();
      if (dataDir === undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}
