/**
 * The adapters against a real service process (SQLite): the fastify plugin through a real
 * fastify app (inject) and the plain request guard behind a real node:http server. Status codes,
 * problem+json bodies and RateLimit headers; fail closed (503) and fail open when the service is
 * unreachable.
 */
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, createRequestGuard, createVerifier, keyledgerFastify, type KeyledgerClient, type Verifier } from '@keyledger/sdk';
import { makeTestKey, type ServiceProcess, startService } from '../../../../test/support/service-process.js';

// fastify is a dependency of the service, not of the SDK (the plugin is typed structurally).
const requireFromService = createRequire(new URL('../../../service/package.json', import.meta.url));
const Fastify = requireFromService('fastify') as (opts?: object) => {
  register(plugin: unknown, opts: unknown): Promise<void> | unknown;
  get(path: string, handler: (request: { keyledger?: unknown; params: unknown }) => unknown): unknown;
  inject(opts: { method: string; url: string; headers?: Record<string, string> }): Promise<{ statusCode: number; headers: Record<string, string | undefined>; json(): any }>;
  ready(): Promise<void>;
  close(): Promise<void>;
};

let service: ServiceProcess;
let client: KeyledgerClient;
let verifier: Verifier;
let readKey: string;
let writeOnlyKey: string;
let limitedKey: string;
let suspendedKey: string;
let revokedKey: string;

beforeAll(async () => {
  service = await startService();
  client = createClient({ baseUrl: service.url, token: service.rootKey });
  verifier = createVerifier({ client });
  await verifier.ready();
  readKey = (await client.keys.issue({ consumerId: 'cons_a', scopes: ['orders:read'] })).secret!;
  writeOnlyKey = (await client.keys.issue({ consumerId: 'cons_b', scopes: ['orders:write'] })).secret!;
  limitedKey = (await client.keys.issue({ consumerId: 'cons_c', scopes: ['orders:read'], rateLimit: { limit: 1, windowSeconds: 3600 } })).secret!;
  const suspended = await client.keys.issue({ consumerId: 'cons_d', scopes: ['orders:read'] });
  await client.keys.suspend(suspended.id, {});
  suspendedKey = suspended.secret!;
  const revoked = await client.keys.issue({ consumerId: 'cons_e', scopes: ['orders:read'] });
  await client.keys.revoke(revoked.id, {});
  revokedKey = revoked.secret!;
});

afterAll(async () => {
  await verifier?.close();
  await client?.close();
  await service?.stop();
});

const scopes = { 'GET /orders/:id': ['orders:read'], 'GET /orders': ['orders:read'] };

async function fastifyApp(v: Verifier, failOpen = false) {
  const app = Fastify();
  await app.register(keyledgerFastify, { verifier: v, scopes, failOpen, publicRoutes: ['/health'] });
  app.get('/orders/:id', async (request) => ({ params: request.params, consumer: (request.keyledger as { consumerId?: string } | undefined)?.consumerId ?? null }));
  app.get('/health', async () => ({ ok: true }));
  await app.ready();
  return app;
}

describe('fastify plugin (real fastify app, real service)', () => {
  it('answers 200, 401, 403 and 429 with problem+json and the RateLimit headers', async () => {
    const app = await fastifyApp(verifier);
    try {
      const ok = await app.inject({ method: 'GET', url: '/orders/7', headers: { authorization: `Bearer ${readKey}` } });
      expect(ok.statusCode).toBe(200);
      expect(ok.json()).toEqual({ params: { id: '7' }, consumer: 'cons_a' });
      const viaHeader = await app.inject({ method: 'GET', url: '/orders/7', headers: { 'x-api-key': readKey } });
      expect(viaHeader.statusCode).toBe(200);

      const cases: Array<[Record<string, string>, number, string]> = [
        [{}, 401, 'MISSING'],
        [{ authorization: 'Bearer kl_live_nope' }, 401, 'MALFORMED'],
        [{ authorization: `Bearer ${makeTestKey()}` }, 401, 'NOT_FOUND'],
        [{ authorization: `Bearer ${revokedKey}` }, 401, 'REVOKED'],
        [{ authorization: `Bearer ${suspendedKey}` }, 403, 'SUSPENDED'],
        [{ authorization: `Bearer ${writeOnlyKey}` }, 403, 'FORBIDDEN'],
      ];
      for (const [headers, status, code] of cases) {
        const response = await app.inject({ method: 'GET', url: '/orders/7', headers });
        expect(response.statusCode, code).toBe(status);
        expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(response.json()).toMatchObject({ status, code });
        if (status === 401) expect(response.headers['www-authenticate']).toBe('Bearer');
      }

      const first = await app.inject({ method: 'GET', url: '/orders/1', headers: { authorization: `Bearer ${limitedKey}` } });
      expect(first.statusCode).toBe(200);
      expect(first.headers['ratelimit-policy']).toContain('"rate";q=1');
      const second = await app.inject({ method: 'GET', url: '/orders/1', headers: { authorization: `Bearer ${limitedKey}` } });
      expect(second.statusCode).toBe(429);
      expect(second.json()).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
      expect(second.headers.ratelimit).toMatch(/"rate";r=0/);
      expect(Number(second.headers['retry-after'])).toBeGreaterThan(0);

      const health = await app.inject({ method: 'GET', url: '/health' });
      expect(health.statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('fails closed with 503 when the service is unreachable, and open only when configured', async () => {
    const unreachable = createVerifier({ baseUrl: 'http://127.0.0.1:1', token: service.rootKey, follow: false });
    const closed = await fastifyApp(unreachable);
    const open = await fastifyApp(unreachable, true);
    try {
      const refused = await closed.inject({ method: 'GET', url: '/orders/7', headers: { authorization: `Bearer ${readKey}` } });
      expect(refused.statusCode).toBe(503);
      expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(JSON.stringify(refused.json())).not.toContain(readKey);
      const passed = await open.inject({ method: 'GET', url: '/orders/7', headers: { authorization: `Bearer ${readKey}` } });
      expect(passed.statusCode).toBe(200);
      // Failing open never turns a refusal the verifier can decide offline into a pass.
      const malformed = await open.inject({ method: 'GET', url: '/orders/7', headers: { authorization: 'Bearer kl_live_nope' } });
      expect(malformed.statusCode).toBe(401);
    } finally {
      await closed.close();
      await open.close();
      await unreachable.close();
    }
  });
});

describe('request guard behind node:http (real server, real service)', () => {
  let server: Server;
  let base: string;
  let guardVerifier: Verifier;
  let failOpenServer: Server;
  let failOpenBase: string;

  function serve(guard: ReturnType<typeof createRequestGuard>): Promise<[Server, string]> {
    const s = createServer(async (req, res) => {
      const decision = await guard({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers });
      for (const [name, value] of Object.entries(decision.headers)) res.setHeader(name, value);
      if (!decision.allow) {
        res.writeHead(decision.status).end(JSON.stringify(decision.body));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, failedOpen: decision.failedOpen ?? false }));
    });
    return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve([s, `http://127.0.0.1:${(s.address() as AddressInfo).port}`])));
  }

  beforeAll(async () => {
    [server, base] = await serve(createRequestGuard(verifier, { scopes: (r) => (r.url.startsWith('/orders') ? ['orders:read'] : undefined) }));
    guardVerifier = createVerifier({ baseUrl: 'http://127.0.0.1:1', token: service.rootKey, follow: false });
    [failOpenServer, failOpenBase] = await serve(createRequestGuard(guardVerifier, { failOpen: true }));
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await new Promise((resolve) => failOpenServer?.close(resolve));
    await guardVerifier?.close();
  });

  it('maps verify outcomes to status codes over real HTTP', async () => {
    const get = (key?: string, path = '/orders/9') => fetch(`${base}${path}`, { headers: key ? { authorization: `Bearer ${key}` } : {} });
    expect((await get(readKey)).status).toBe(200);
    const missing = await get();
    expect(missing.status).toBe(401);
    expect(missing.headers.get('content-type')).toBe('application/problem+json');
    expect((await get(revokedKey)).status).toBe(401);
    expect((await get(suspendedKey)).status).toBe(403);
    expect((await get(writeOnlyKey)).status).toBe(403);
    expect((await get(writeOnlyKey, '/public')).status).toBe(200);
    const limited = await get(limitedKey);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).not.toBeNull();
    expect(limited.headers.get('ratelimit-policy')).toContain('"rate"');
  });

  it('fails open only when configured, and says so', async () => {
    const response = await fetch(`${failOpenBase}/orders/1`, { headers: { 'x-api-key': readKey } });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true, failedOpen: true });
  });
});
