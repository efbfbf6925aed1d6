/**
 * The gateway verifier against a real service process (SQLite): offline refusal of malformed
 * keys, caching, local scope/endpoint checks equal to the service's, updates from the live feed,
 * limits in remote mode, and remote verification while the feed is down.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, createVerifier, type KeyledgerClient, type Verifier } from '@keyledger/sdk';
import { makeTestKey, type ServiceProcess, startService } from '../../../../test/support/service-process.js';
import { eventually } from '../../../../test/support/eventually.js';

let service: ServiceProcess;
let client: KeyledgerClient;
let verifier: Verifier;

beforeAll(async () => {
  service = await startService();
  client = createClient({ baseUrl: service.url, token: service.rootKey });
  verifier = createVerifier({ client });
  await verifier.ready();
});

afterAll(async () => {
  await verifier?.close();
  await client?.close();
  await service?.stop();
});

/** Verifies until the answer comes from the cache (the fill runs in the background). */
async function untilCached(key: string, context = {}) {
  return eventually('a cached decision', async () => {
    await verifier.verify(key, context);
    return verifier.peek(key, context);
  });
}

describe('verifier (SQLite, one service process)', () => {
  it('refuses malformed keys offline, without any network call', async () => {
    const offline = createVerifier({ baseUrl: 'http://127.0.0.1:1', token: service.rootKey, follow: false });
    const wellFormed = makeTestKey();
    const tampered = wellFormed.slice(0, -1) + (wellFormed.endsWith('A') ? 'B' : 'A');
    expect((await offline.verify(tampered)).code).toBe('MALFORMED');
    expect((await offline.verify('not a key')).code).toBe('MALFORMED');
    expect(offline.stats()).toMatchObject({ remote: 0, offline: 2 });
    await expect(offline.verify(wellFormed)).rejects.toThrow();
    await offline.close();
  });

  it('caches a valid key and serves it without calling the service', async () => {
    const issued = await client.keys.issue({ consumerId: 'cons_cache' });
    const first = await verifier.verify(issued.secret!);
    expect(first).toMatchObject({ valid: true, code: 'VALID', keyId: issued.id, consumerId: 'cons_cache' });
    await untilCached(issued.secret!);
    const before = verifier.stats();
    const again = await verifier.verify(issued.secret!);
    expect(again).toMatchObject({ valid: true, code: 'VALID', keyId: issued.id });
    expect(verifier.stats().remote).toBe(before.remote);
    expect(verifier.stats().hits).toBe(before.hits + 1);
  });

  it('applies a revoke from the feed at once: the cached entry answers REVOKED', async () => {
    const issued = await client.keys.issue({ consumerId: 'cons_revoke' });
    await untilCached(issued.secret!);
    await client.keys.revoke(issued.id, { reason: 'test' });
    const revoked = await eventually('the revoke to reach the cache', () => verifier.peek(issued.secret!)?.code === 'REVOKED' && verifier.peek(issued.secret!));
    expect(revoked).toMatchObject({ valid: false, keyId: issued.id });
    const remoteBefore = verifier.stats().remote;
    expect((await verifier.verify(issued.secret!)).code).toBe('REVOKED');
    expect(verifier.stats().remote).toBe(remoteBefore);
  });

  it('follows suspend and reinstate', async () => {
    const issued = await client.keys.issue({ consumerId: 'cons_suspend' });
    await untilCached(issued.secret!);
    await client.keys.suspend(issued.id, {});
    await eventually('suspension in the cache', () => verifier.peek(issued.secret!)?.code === 'SUSPENDED');
    expect((await verifier.verify(issued.secret!)).code).toBe('SUSPENDED');
    await client.keys.reinstate(issued.id, {});
    await eventually('reinstatement in the cache', () => verifier.peek(issued.secret!)?.code === 'VALID');
  });

  it('evaluates scopes and endpoint rules locally exactly as the service does', async () => {
    const issued = await client.keys.issue({ consumerId: 'cons_scope', scopes: ['orders:read', 'billing:*'], endpoints: ['GET /orders/*', '* /billing/**'] });
    await untilCached(issued.secret!, { endpoint: { method: 'GET', path: '/orders/1' } });
    const contexts = [
      { scopes: ['orders:read'], endpoint: { method: 'GET', path: '/orders/7' } },
      { scopes: ['orders:write'], endpoint: { method: 'GET', path: '/orders/7' } },
      { scopes: ['billing:invoices:read'], endpoint: { method: 'POST', path: '/billing/a/b' } },
      { scopes: ['orders:read'], endpoint: { method: 'POST', path: '/orders/7' } },
      { scopes: ['orders:read'], endpoint: { method: 'GET', path: '/orders' } },
      { scopes: ['orders:read'] },
    ];
    for (const context of contexts) {
      const local = verifier.peek(issued.secret!, context);
      const service = await client.verify({ key: issued.secret!, ...context });
      expect(local?.code, JSON.stringify(context)).toBe(service.code);
    }
    // A re-scope from the feed changes the local answer.
    await client.keys.replaceScopes(issued.id, { scopes: ['orders:write'], endpoints: [] });
    await eventually('the new scopes in the cache', () => verifier.peek(issued.secret!, { scopes: ['orders:write'] })?.code === 'VALID');
    expect(verifier.peek(issued.secret!, { scopes: ['orders:read'] })?.code).toBe('FORBIDDEN');
  });

  it('remembers NOT_FOUND briefly and forgets it when a key is issued', async () => {
    const unknown = makeTestKey();
    expect((await verifier.verify(unknown)).code).toBe('NOT_FOUND');
    await untilCached(unknown);
    expect(verifier.stats().cachedNotFound).toBeGreaterThan(0);
    await client.keys.issue({ consumerId: 'cons_other' });
    await eventually('negative entries dropped', () => verifier.stats().cachedNotFound === 0);
  });

  it("in remote limit mode sends every call of a limited key to the service, which counts it", async () => {
    const issued = await client.keys.issue({ consumerId: 'cons_limited', rateLimit: { limit: 3, windowSeconds: 3600 } });
    const codes: string[] = [];
    const remoteBefore = verifier.stats().remote;
    for (let i = 0; i < 5; i++) codes.push((await verifier.verify(issued.secret!)).code);
    expect(codes).toEqual(['VALID', 'VALID', 'VALID', 'RATE_LIMITED', 'RATE_LIMITED']);
    expect(verifier.stats().remote - remoteBefore).toBe(5);
    const limited = await verifier.verify(issued.secret!);
    expect(limited.rateLimit?.retryAfter).toBeGreaterThan(0);
  });

  it('in local limit mode counts locally and refuses beyond the burst', async () => {
    const local = createVerifier({ client, limits: 'local', reportIntervalMs: 60_000 });
    await local.ready();
    const issued = await client.keys.issue({ consumerId: 'cons_local', rateLimit: { limit: 5, windowSeconds: 3600 } });
    await eventually('local counting to start', async () => {
      await local.verify(issued.secret!);
      return local.stats().hits > 0;
    });
    const codes = new Set<string>();
    for (let i = 0; i < 10; i++) codes.add((await local.verify(issued.secret!)).code);
    expect(codes.has('RATE_LIMITED')).toBe(true);
    await local.close();
  });
});

describe('verifier while the feed is down (SQLite, service restarted)', () => {
  it('verifies remotely from the moment the feed drops until it has caught up again', async () => {
    const first = await startService();
    const dataDir = first.dataDir;
    const port = first.port;
    const c = createClient({ baseUrl: first.url, token: first.rootKey, retries: 0 });
    const v = createVerifier({ client: c });
    let restarted: ServiceProcess | undefined;
    try {
      await v.ready();
      const issued = await c.keys.issue({ consumerId: 'cons_drop' });
      await eventually('cached', async () => (await v.verify(issued.secret!), v.peek(issued.secret!)));
      // A crash cuts the connection at once (SIGTERM drains first, and the service keeps the
      // stream open while draining). stop() later removes the data dir, after the restart.
      first.child.kill('SIGKILL');
      await eventually('the verifier to notice the drop', () => !v.live);
      expect(v.peek(issued.secret!)).toBeUndefined();
      expect(v.stats().cachedKeys).toBe(0);
      await expect(v.verify(issued.secret!)).rejects.toThrow();
      restarted = await startService({ dataDir, port, rootKey: first.rootKey });
      await v.ready();
      expect(v.live).toBe(true);
      const remoteBefore = v.stats().remote;
      expect((await v.verify(issued.secret!)).code).toBe('VALID');
      expect(v.stats().remote).toBe(remoteBefore + 1);
    } finally {
      await v.close();
      await c.close();
      await restarted?.stop();
      await first.stop();
    }
  });
});
