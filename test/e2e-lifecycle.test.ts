/**
 * The key lifecycle over real HTTP against the real, built service process: once on SQLite and
 * once on PostgreSQL. Issue, scope, throttle, suspend, reinstate, rotate (the old key is still
 * listed and verifies during grace), revoke, history and state as of an earlier instant.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { holdFenceLock } from '../packages/service/test/store/pg-test-schema.js';
import { type ServiceProcess, startService } from './support/service-process.js';
import { createSchema, DATABASE_URL, skipWithoutPostgres } from './support/services.js';

interface Http {
  status: number;
  headers: Headers;
  body: any;
}

function client(service: () => ServiceProcess) {
  return async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Http> => {
    const response = await fetch(`${service().url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${service().rootKey}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function lifecycle(start: () => Promise<{ service: ServiceProcess; cleanup(): Promise<void> }>) {
  let service: ServiceProcess;
  let cleanup: () => Promise<void>;
  const http = client(() => service);

  beforeAll(async () => {
    ({ service, cleanup } = await start());
  });
  afterAll(async () => {
    if (service) expect(await service.stop()).toBe(0);
    await cleanup?.();
  });

  it('runs a key through its whole life', async () => {
    // issue
    const issued = await http('POST', '/v1/keys', { consumerId: 'acme', name: 'e2e', scopes: ['orders:read'] });
    expect(issued.status, JSON.stringify(issued.body)).toBe(201);
    const key = issued.body;
    expect(key.secret).toMatch(/^kl_live_/);
    expect(issued.headers.get('etag')).toBe('"0"');

    const verify = async (presented: string, scopes?: string[]) => {
      const response = await http('POST', '/v1/verify', { key: presented, ...(scopes ? { scopes } : {}) });
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      return response.body.code as string;
    };
    expect(await verify(key.secret, ['orders:read'])).toBe('VALID');
    await sleep(30);
    const afterIssue = new Date().toISOString();
    await sleep(30);

    // scope
    const scoped = await http('PUT', `/v1/keys/${key.id}/scopes`, { scopes: ['orders:read', 'invoices:*'] }, { 'if-match': '"0"' });
    expect(scoped.status, JSON.stringify(scoped.body)).toBe(200);
    expect(scoped.body.scopes).toEqual(['orders:read', 'invoices:*']);
    expect((await http('GET', `/v1/keys/${key.id}`)).body.scopes).toEqual(['orders:read', 'invoices:*']);
    expect(await verify(key.secret, ['invoices:write'])).toBe('VALID');
    const patched = await http('PATCH', `/v1/keys/${key.id}/scopes`, { remove: { scopes: ['invoices:*'] } });
    expect(patched.body.scopes).toEqual(['orders:read']);
    expect(await verify(key.secret, ['invoices:write'])).toBe('FORBIDDEN');

    // throttle
    const throttled = await http('PUT', `/v1/keys/${key.id}/limits`, { rateLimit: { limit: 1000, windowSeconds: 60 }, quota: { limit: 100000, period: 'day' } });
    expect(throttled.status, JSON.stringify(throttled.body)).toBe(200);
    expect(throttled.body.quota).toEqual({ limit: 100000, period: 'day' });
    expect((await http('GET', `/v1/keys/${key.id}`)).body.rateLimit).toMatchObject({ limit: 1000, windowSeconds: 60 });

    // suspend, reinstate
    const suspended = await http('POST', `/v1/keys/${key.id}/suspend`, { reason: 'audit' });
    expect(suspended.body.status).toBe('suspended');
    expect(await verify(key.secret)).toBe('SUSPENDED');
    const reinstated = await http('POST', `/v1/keys/${key.id}/reinstate`, {});
    expect(reinstated.body.status).toBe('active');
    expect(await verify(key.secret)).toBe('VALID');

    // a stale If-Match is refused
    const stale = await http('POST', `/v1/keys/${key.id}/suspend`, {}, { 'if-match': '"0"' });
    expect(stale.status).toBe(412);
    expect(stale.headers.get('content-type')).toMatch(/^application\/problem\+json/);

    // rotate: both keys work and are listed active during the grace period
    const rotated = await http('POST', `/v1/keys/${key.id}/rotate`, { gracePeriodSeconds: 3600 });
    expect(rotated.status, JSON.stringify(rotated.body)).toBe(201);
    const successor = rotated.body.successor;
    expect(successor.rotatedFrom).toBe(key.id);
    expect(successor.secret).toMatch(/^kl_live_/);
    expect(rotated.body.previous.rotatedTo).toBe(successor.id);
    const listed = await http('GET', '/v1/keys?consumerId=acme&status=active');
    expect(listed.body.items.map((k: { id: string }) => k.id)).toEqual([key.id, successor.id]);
    const old = listed.body.items[0];
    expect(old.validUntil).toBe(rotated.body.previous.validUntil);
    expect(Date.parse(old.validUntil)).toBeGreaterThan(Date.now());
    expect(await verify(key.secret, ['orders:read'])).toBe('VALID');
    expect(await verify(successor.secret, ['orders:read'])).toBe('VALID');

    // revoke the old key; a second revoke is a 409
    const revoked = await http('POST', `/v1/keys/${key.id}/revoke`, { reason: 'rotated out' });
    expect(revoked.body.status).toBe('revoked');
    expect(await verify(key.secret)).toBe('REVOKED');
    expect(await verify(successor.secret)).toBe('VALID');
    const again = await http('POST', `/v1/keys/${key.id}/revoke`, {});
    expect(again.status).toBe(409);
    expect(again.body.detail).toMatch(/already revoked/i);

    // history
    const history = await http('GET', `/v1/keys/${key.id}/history`);
    expect(history.status).toBe(200);
    expect(history.body.entries.map((e: { type: string }) => e.type)).toEqual([
      'KeyIssued', 'KeyScoped', 'KeyScoped', 'KeyThrottled', 'KeySuspended', 'KeyReinstated', 'KeyRotated', 'KeyRevoked',
    ]);
    for (const entry of history.body.entries) {
      expect(entry.actor.kind).toBe('key');
      expect(entry.requestId).toEqual(expect.any(String));
      expect(entry.sourceAddress).toEqual(expect.any(String));
    }
    expect(JSON.stringify(history.body)).not.toContain(key.secret);

    // state as of an earlier instant
    const then = await http('GET', `/v1/keys/${key.id}?at=${encodeURIComponent(afterIssue)}`);
    expect(then.status, JSON.stringify(then.body)).toBe(200);
    expect(then.body).toMatchObject({ status: 'active', scopes: ['orders:read'], rateLimit: null, rotatedTo: null, revision: 0 });
    const current = await http('GET', `/v1/keys/${key.id}`);
    expect(current.body.status).toBe('revoked');

    // the ledger feed holds every event and no secret
    const feed = await http('GET', '/v1/events?limit=1000&category=key');
    const text = JSON.stringify(feed.body);
    expect(feed.body.events.filter((e: { stream: string }) => e.stream === `key-${key.id}`)).toHaveLength(8);
    expect(text).not.toContain(key.secret);
    expect(text).not.toContain(successor.secret);

    // no plaintext key in the service's logs
    for (const secret of [key.secret, successor.secret]) expect(service.output()).not.toContain(secret);
  });
}

describe('key lifecycle over HTTP on SQLite', () => {
  lifecycle(async () => ({ service: await startService(), cleanup: async () => undefined }));
});

describe.skipIf(skipWithoutPostgres)(
  `key lifecycle over HTTP on PostgreSQL${skipWithoutPostgres ? ' (SKIPPED: set KEYLEDGER_TEST_DATABASE_URL)' : ''}`,
  () => {
    lifecycle(async () => {
      // Global reads wait behind the fence test's open writer; never run alongside it.
      const release = await holdFenceLock('shared');
      const { schema, drop } = await createSchema();
      try {
        const service = await startService({
          env: { KEYLEDGER_DATABASE_URL: DATABASE_URL as string, KEYLEDGER_DATABASE_SCHEMA: schema },
        });
        return { service, cleanup: async () => { await drop(); await release(); } };
      } catch (error) {
        await drop();
        await release();
        throw error;
      }
    });
  },
);
