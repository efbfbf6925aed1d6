/**
 * The SDK against real service processes (SQLite in a temp dir): every client method, typed
 * errors, an idempotent retry after the connection is cut once the server has committed, and a
 * live feed that resumes without gap or duplicate after its connection dies.
 *
 * A tiny TCP proxy (node:net) sits between client and service where a test needs to break the
 * connection at a precise moment; it forwards bytes untouched otherwise.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server, type Socket, connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createClient,
  KeyledgerApiError,
  KeyledgerNetworkError,
  type KeyledgerClient,
  type LedgerEvent,
  type EventsQuery,
} from '@keyledger/sdk';
import { startService, type ServiceProcess } from './support/service-process.js';

interface Proxy {
  port: number;
  url: string;
  /** Request lines (e.g. "POST /v1/keys") the proxy saw, in order. */
  requests: string[];
  /** The next POST/PUT/PATCH is forwarded, but its response is replaced by a dropped connection. */
  cutNextWriteResponse(): void;
  /** How many responses were cut. */
  cuts: number;
  /** Destroys every open connection (both sides). */
  dropAll(): void;
  /** Open connections stop delivering the server's bytes but stay open: a half-dead link. */
  freezeAll(): void;
  retarget(port: number): void;
  close(): Promise<void>;
}

async function startProxy(targetPort: number): Promise<Proxy> {
  let target = targetPort;
  let armed = false;
  const pairs = new Set<{ client: Socket; upstream: Socket; frozen: boolean }>();
  const proxy: Proxy = {
    port: 0,
    url: '',
    requests: [],
    cuts: 0,
    cutNextWriteResponse: () => void (armed = true),
    dropAll() {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
    },
    freezeAll() {
      for (const pair of pairs) pair.frozen = true;
    },
    retarget: (port) => void (target = port),
    async close() {
      proxy.dropAll();
      server.close();
      await once(server, 'close');
    },
  };
  const server: Server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1');
    const pair = { client, upstream, frozen: false };
    pairs.add(pair);
    let cutResponse = false;
    client.on('data', (chunk: Buffer) => {
      const requestLine = /^(GET|POST|PUT|PATCH|DELETE) (\S+) HTTP/.exec(chunk.toString('latin1'));
      if (requestLine) {
        proxy.requests.push(`${requestLine[1]} ${requestLine[2]!.split('?')[0]}`);
        if (armed && requestLine[1] !== 'GET') {
          armed = false;
          cutResponse = true;
        }
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (cutResponse) {
        // The server has answered, so it has committed: the client must never see this answer.
        proxy.cuts++;
        client.destroy();
        upstream.destroy();
        return;
      }
      if (!pair.frozen) client.write(chunk);
    });
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  proxy.port = (server.address() as { port: number }).port;
  proxy.url = `http://127.0.0.1:${proxy.port}`;
  return proxy;
}

async function allEvents(client: KeyledgerClient, query: Omit<EventsQuery, 'after' | 'limit'> = {}): Promise<LedgerEvent[]> {
  const events: LedgerEvent[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await client.events.list({ ...query, after, limit: 500 });
    events.push(...page.events);
    if (page.events.length === 0) return events;
    after = page.checkpoint ?? undefined;
  }
}

/** Reads from the feed in the background until `until` says stop. */
function consume(feed: AsyncIterable<LedgerEvent>, received: LedgerEvent[]) {
  const done = (async () => {
    for await (const event of feed) received.push(event);
  })();
  return done;
}

async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const SECOND_KEY_ID = 'key_0000000000000000';

describe('SDK client against a real service (SQLite)', () => {
  let service: ServiceProcess;
  let client: KeyledgerClient;
  // Our own data directory, so a restart can reuse it (startService removes only the ones it made).
  const dataDir = mkdtempSync(join(tmpdir(), 'keyledger-sdk-e2e-'));

  beforeAll(async () => {
    service = await startService({ dataDir });
    client = createClient({ baseUrl: service.url, token: service.rootKey, retries: 2 });
  });

  afterAll(async () => {
    await client?.close();
    await service?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('manages a key through every method', async () => {
    const issued = await client.keys.issue({ consumerId: 'acme', name: 'orders', scopes: ['orders:read'], meta: { tier: 'gold' } });
    expect(issued.id).toMatch(/^key_/);
    expect(issued.secret).toMatch(/^kl_live_/);
    expect(issued.status).toBe('active');

    const fetched = await client.keys.get(issued.id);
    expect(fetched.id).toBe(issued.id);
    expect(fetched.etag).toBe(`"${fetched.revision}"`);

    const replaced = await client.keys.replaceScopes(issued.id, { scopes: ['orders:read', 'orders:write'] }, { ifMatch: fetched.etag });
    expect(replaced.scopes).toEqual(['orders:read', 'orders:write']);
    const patched = await client.keys.patchScopes(issued.id, { add: { scopes: ['invoices:read'] }, remove: { scopes: ['orders:write'] } }, { ifMatch: replaced.revision });
    expect(patched.scopes.sort()).toEqual(['invoices:read', 'orders:read']);
    const limited = await client.keys.setLimits(issued.id, { rateLimit: { limit: 100, windowSeconds: 60 }, quota: { limit: 1000, period: 'day' } });
    expect(limited.rateLimit).toEqual(expect.objectContaining({ limit: 100, windowSeconds: 60 }));

    const verified = await client.verify({ key: issued.secret!, scopes: ['orders:read'] });
    expect(verified.valid).toBe(true);
    if (verified.valid) {
      // Narrowed: keyId and consumerId are strings here.
      expect(verified.keyId.startsWith('key_')).toBe(true);
      expect(verified.consumerId).toBe('acme');
      expect(verified.meta).toEqual({ tier: 'gold' });
    }
    expect(verified.rateLimit?.policy).toContain('q=100');
    expect(verified.rateLimit?.value).toMatch(/r=\d+/);

    const quota = await client.quotas.get(issued.id);
    expect(quota.keyId).toBe(issued.id);
    expect(quota.quota?.used).toBe(1);
    const usage = await client.usage.get(issued.id, { granularity: 'day' });
    expect(usage.buckets.reduce((sum, bucket) => sum + bucket.units, 0)).toBe(1);

    const suspended = await client.keys.suspend(issued.id, { reason: 'billing' });
    expect(suspended.status).toBe('suspended');
    const whileSuspended = await client.verify({ key: issued.secret! });
    expect(whileSuspended).toEqual(expect.objectContaining({ valid: false, code: 'SUSPENDED', keyId: issued.id }));
    expect((await client.keys.reinstate(issued.id)).status).toBe('active');

    const rotated = await client.keys.rotate(issued.id, { gracePeriodSeconds: 60 });
    expect(rotated.previous.id).toBe(issued.id);
    expect(rotated.previous.rotatedTo).toBe(rotated.successor.id);
    expect(rotated.successor.secret).toMatch(/^kl_live_/);
    expect((await client.verify({ key: rotated.successor.secret! })).code).toBe('VALID');

    const revoked = await client.keys.revoke(rotated.successor.id, { reason: 'leaked' });
    expect(revoked.status).toBe('revoked');
    const afterRevoke = await client.verify({ key: rotated.successor.secret! });
    expect(afterRevoke.valid).toBe(false);
    expect(afterRevoke.code).toBe('REVOKED');
    const unknown = await client.verify({ key: 'kl_live_not-a-real-key' });
    expect(unknown.valid).toBe(false);
    if (!unknown.valid && (unknown.code === 'MALFORMED' || unknown.code === 'NOT_FOUND')) expect(unknown.keyId).toBeNull();
    else throw new Error(`expected MALFORMED or NOT_FOUND, got ${unknown.code}`);

    const history = await client.keys.history(issued.id);
    expect(history.entries.map((entry) => entry.type)).toEqual(
      ['KeyIssued', 'KeyScoped', 'KeyScoped', 'KeyThrottled', 'KeySuspended', 'KeyReinstated', 'KeyRotated'],
    );

    // As of just after issue: the original scopes, before any change.
    const issuedAt = history.entries[0]!.occurredAt;
    const then = await client.keys.at(issued.id, new Date(Date.parse(issuedAt) + 1));
    expect(then.scopes).toEqual(['orders:read']);
    expect(then.status).toBe('active');

    const page = await client.keys.list({ consumerId: 'acme' });
    expect(page.items.map((key) => key.id).sort()).toEqual([issued.id, rotated.successor.id].sort());
    const all: string[] = [];
    for await (const key of client.keys.listAll({ consumerId: 'acme', limit: 1 })) all.push(key.id);
    expect(all.sort()).toEqual([issued.id, rotated.successor.id].sort());

    const keyEvents = await client.events.list({ category: 'key', limit: 500 });
    expect(keyEvents.events.filter((event) => event.stream === `key-${issued.id}`).length).toBe(history.entries.length);
    expect(keyEvents.checkpoint).toBe(keyEvents.events.at(-1)?.checkpoint);
  });

  it('throws typed problems: 404, 409, 412, 422, and 400 naming the failing fields', async () => {
    const notFound = await client.keys.get(SECOND_KEY_ID).catch((error: unknown) => error);
    expect(notFound).toBeInstanceOf(KeyledgerApiError);
    expect((notFound as KeyledgerApiError).status).toBe(404);
    expect((notFound as KeyledgerApiError).problem.title).toBeTruthy();
    expect((notFound as KeyledgerApiError).requestId).toBeTruthy();

    const key = await client.keys.issue({ consumerId: 'errors' });
    await client.keys.revoke(key.id);
    const conflict = await client.keys.suspend(key.id).catch((error: unknown) => error);
    expect(conflict).toBeInstanceOf(KeyledgerApiError);
    expect((conflict as KeyledgerApiError).status).toBe(409);

    const live = await client.keys.issue({ consumerId: 'errors' });
    const stale = await client.keys.replaceScopes(live.id, { scopes: ['a:read'] }, { ifMatch: live.revision + 5 }).catch((error: unknown) => error);
    expect(stale).toBeInstanceOf(KeyledgerApiError);
    expect((stale as KeyledgerApiError).status).toBe(412);
    expect((stale as KeyledgerApiError).problem.actualRevision).toBe(live.revision);

    const past = await client.keys.issue({ consumerId: 'errors', expiresAt: '2001-01-01T00:00:00Z' }).catch((error: unknown) => error);
    expect(past).toBeInstanceOf(KeyledgerApiError);
    expect((past as KeyledgerApiError).status).toBe(422);
    expect((past as KeyledgerApiError).problem.detail).toContain('expiresAt');

    const reused = await client.keys.suspend(live.id, { reason: 'one' }, { idempotencyKey: 'reuse-1' });
    expect(reused.status).toBe('suspended');
    const mismatch = await client.keys.suspend(live.id, { reason: 'two' }, { idempotencyKey: 'reuse-1' }).catch((error: unknown) => error);
    expect((mismatch as KeyledgerApiError).status).toBe(422);

    const invalid = await client.keys
      .issue({ consumerId: 'errors', rateLimit: { limit: -1, windowSeconds: 60 } })
      .catch((error: unknown) => error);
    expect(invalid).toBeInstanceOf(KeyledgerApiError);
    expect((invalid as KeyledgerApiError).status).toBe(400);
    expect((invalid as KeyledgerApiError).fieldErrors.map((error) => error.path)).toContain('body.rateLimit.limit');
  });

  it('reports an unreachable service as a network error the caller can tell from an API error', async () => {
    const closedPort = await startProxy(1).then(async (proxy) => {
      await proxy.close();
      return proxy.port;
    });
    const offline = createClient({ baseUrl: `http://127.0.0.1:${closedPort}`, token: service.rootKey, retries: 1, backoff: { baseDelayMs: 10, maxDelayMs: 20 } });
    try {
      const error = await offline.verify({ key: 'kl_live_x' }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(KeyledgerNetworkError);
      expect(error).not.toBeInstanceOf(KeyledgerApiError);
      expect((error as KeyledgerNetworkError).ambiguous).toBe(false);
    } finally {
      await offline.close();
    }
  });

  it('retries a write whose response was lost after the commit, without writing twice', async () => {
    const proxy = await startProxy(service.port);
    const viaProxy = createClient({ baseUrl: proxy.url, token: service.rootKey, backoff: { baseDelayMs: 20, maxDelayMs: 100 } });
    try {
      proxy.cutNextWriteResponse();
      const issued = await viaProxy.keys.issue({ consumerId: 'retry-consumer', scopes: ['retry:read'] });
      expect(proxy.cuts).toBe(1);
      expect(proxy.requests.filter((line) => line === 'POST /v1/keys')).toHaveLength(2);

      const issuedEvents = (await allEvents(client, { category: 'key', type: 'KeyIssued' })).filter(
        (event) => event.data.consumerId === 'retry-consumer',
      );
      expect(issuedEvents).toHaveLength(1);
      expect(issuedEvents[0]!.stream).toBe(`key-${issued.id}`);
      // The replayed answer carries the same secret: it verifies as the one key written.
      expect(issued.secret).toBeTruthy();
      const verified = await client.verify({ key: issued.secret! });
      expect(verified.valid && verified.keyId).toBe(issued.id);

      // The same holds for a guarded update.
      proxy.cutNextWriteResponse();
      const suspended = await viaProxy.keys.suspend(issued.id, { reason: 'cut' }, { ifMatch: issued.revision });
      expect(proxy.cuts).toBe(2);
      expect(suspended.status).toBe('suspended');
      const history = await client.keys.history(issued.id);
      expect(history.entries.map((entry) => entry.type)).toEqual(['KeyIssued', 'KeySuspended']);
    } finally {
      await viaProxy.close();
      await proxy.close();
    }
  });

  it('does not resend a verify whose response was lost (it may have been charged)', async () => {
    const key = await client.keys.issue({ consumerId: 'verify-once', quota: { limit: 100, period: 'day' } });
    const proxy = await startProxy(service.port);
    const viaProxy = createClient({ baseUrl: proxy.url, token: service.rootKey, backoff: { baseDelayMs: 20, maxDelayMs: 100 } });
    try {
      proxy.cutNextWriteResponse();
      const error = await viaProxy.verify({ key: key.secret! }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(KeyledgerNetworkError);
      expect((error as KeyledgerNetworkError).ambiguous).toBe(true);
      expect(proxy.requests.filter((line) => line === 'POST /v1/verify')).toHaveLength(1);
      expect((await client.quotas.get(key.id)).quota?.used).toBe(1);
    } finally {
      await viaProxy.close();
      await proxy.close();
    }
  });

  it('follows the live feed across a dropped connection with no gap and no duplicate', async () => {
    const proxy = await startProxy(service.port);
    const viaProxy = createClient({ baseUrl: proxy.url, token: service.rootKey });
    const feed = viaProxy.events.stream();
    let connects = 0;
    let disconnects = 0;
    feed.on('connected', () => connects++);
    feed.on('disconnected', () => disconnects++);
    const received: LedgerEvent[] = [];
    const consuming = consume(feed, received);
    try {
      for (let i = 0; i < 5; i++) await client.keys.issue({ consumerId: `feed-${i}` });
      const before = await allEvents(client);
      await waitFor(() => received.length >= before.length, 'the backlog and first writes');

      proxy.dropAll();
      // Written while the feed is down.
      const meanwhile = await client.keys.issue({ consumerId: 'feed-meanwhile' });
      await client.keys.suspend(meanwhile.id);
      await client.keys.revoke(meanwhile.id);
      await waitFor(() => connects >= 2, 'the feed to reconnect');
      for (let i = 0; i < 3; i++) await client.keys.issue({ consumerId: `feed-after-${i}` });

      const expected = await allEvents(client);
      await waitFor(() => received.length >= expected.length, 'every event on the feed');
      expect(received.map((event) => event.id)).toEqual(expected.map((event) => event.id));
      expect(disconnects).toBeGreaterThanOrEqual(1);
      expect(feed.checkpoint).toBe(expected.at(-1)!.checkpoint);
    } finally {
      feed.close();
      await consuming;
      await viaProxy.close();
      await proxy.close();
    }
  });

  it('replaces a silent (half-dead) feed connection and resumes a filtered feed after a restart', async () => {
    const proxy = await startProxy(service.port);
    const viaProxy = createClient({ baseUrl: proxy.url, token: service.rootKey });
    const start = (await client.events.list({ limit: 500 })).checkpoint ?? undefined;
    const filter = { category: 'key', types: ['KeyRevoked', 'KeySuspended'] };
    const feed = viaProxy.events.stream({ ...filter, after: start, idleTimeoutMs: 1_500 });
    let connects = 0;
    feed.on('connected', () => connects++);
    const received: LedgerEvent[] = [];
    const consuming = consume(feed, received);
    try {
      await waitFor(() => feed.connected, 'the feed to connect');
      const key = await client.keys.issue({ consumerId: 'silent' });
      await client.keys.suspend(key.id);
      await waitFor(() => received.length === 1, 'the first suspension');

      // The link stays open but delivers nothing: only the idle watchdog can notice.
      proxy.freezeAll();
      await client.keys.reinstate(key.id);
      await client.keys.suspend(key.id, { reason: 'again' });
      await waitFor(() => received.length === 2, 'the event written while the link was silent');
      expect(connects).toBeGreaterThanOrEqual(2);

      // Restart the service on the same data directory; write while the feed reconnects.
      const rootKey = service.rootKey;
      const restarted = service;
      proxy.dropAll();
      await restarted.stop();
      service = await startService({ dataDir, rootKey });
      proxy.retarget(service.port);
      await client.close();
      client = createClient({ baseUrl: service.url, token: service.rootKey, retries: 2 });
      await client.keys.revoke(key.id);
      const other = await client.keys.issue({ consumerId: 'silent-2' });
      await client.keys.suspend(other.id);

      const expected = await allEvents(client, { category: 'key', type: 'KeyRevoked,KeySuspended' });
      const expectedSinceStart = expected.slice(expected.findIndex((event) => event.id === received[0]!.id));
      await waitFor(() => received.length >= expectedSinceStart.length, 'the events written across the restart');
      expect(received.map((event) => event.id)).toEqual(expectedSinceStart.map((event) => event.id));
      expect(received.map((event) => event.type)).toEqual(['KeySuspended', 'KeySuspended', 'KeyRevoked', 'KeySuspended']);
    } finally {
      feed.close();
      await consuming;
      await viaProxy.close();
      await proxy.close();
    }
  });
});
