/**
 * The gateway verifier's live feed (SSE) cut mid-stream: a TCP proxy sits between the SDK's
 * verifier (packages/sdk/src/verifier) and the service and destroys the feed's sockets, refusing
 * new feed connections for a moment. Other calls (verify, key reads) pass through.
 *
 * In every trial: a key is cached and served from the cache; the feed is cut; the verifier drops
 * to remote (live false); the key is revoked at the service while the feed is down, and the very
 * next verify through the verifier is remote and says REVOKED. While the feed is down nothing is
 * served from the cache (no hits, nothing cached). Once the feed is back and caught up the cache
 * serves again and follows new events (a revoke reaches it through the feed).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, createVerifier, type KeyledgerClient, type Verifier } from '@keyledger/sdk';
import { eventually } from '../support/eventually.js';
import { printFigures, summarise } from '../support/figures.js';
import { call, sleep } from '../support/http.js';
import { type ServiceProcess, startService } from '../support/service-process.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

const TRIALS = 6;
const FEED = 'GET /v1/events/stream';

describe('the verifier feed cut mid-stream', () => {
  let service: ServiceProcess;
  let proxy: TcpProxy;
  let client: KeyledgerClient;
  let verifier: Verifier;

  beforeAll(async () => {
    service = await startService();
    proxy = await startTcpProxy(service.port);
    client = createClient({ baseUrl: proxy.url, token: service.rootKey });
    verifier = createVerifier({ client });
    await verifier.ready();
  });

  afterAll(async () => {
    await verifier?.close();
    await client?.close();
    await proxy?.close();
    await service?.stop();
  });

  const issue = async () => {
    const issued = await call(service.url, service.rootKey, 'POST', '/v1/keys', { consumerId: 'fault_sse', scopes: ['orders:read'] });
    expect(issued.status).toBe(201);
    return issued.body as { id: string; secret: string };
  };
  const revoke = async (id: string) => {
    const revoked = await call(service.url, service.rootKey, 'POST', `/v1/keys/${id}/revoke`, { reason: 'feed cut trial' });
    expect(revoked.status).toBe(200);
  };
  /** Verifies through the verifier and says whether the answer came from the cache. */
  const verifyTraced = async (secret: string) => {
    const before = verifier.stats();
    const result = await verifier.verify(secret, { scopes: ['orders:read'] });
    const after = verifier.stats();
    return { code: result.code, fromCache: after.hits > before.hits, remote: after.remote > before.remote };
  };
  const cacheIt = (secret: string) =>
    eventually('the key to be cached', async () => (await verifier.verify(secret), verifier.peek(secret)?.code === 'VALID'), 5_000);

  it('goes remote the moment the feed drops, never serves a stale cached answer, and caches again once caught up', async () => {
    const noticed: number[] = [];
    const recovered: number[] = [];
    const figures = { cuts: 0, socketsCut: 0, revokedWhileCut: 0, revokedFound: 0, staleServed: 0, hitsWhileDown: 0, remoteWhileDown: 0 };
    for (let trial = 1; trial <= TRIALS; trial++) {
      const key = await issue();
      const other = await issue();
      await cacheIt(key.secret);
      expect((await verifyTraced(key.secret)).fromCache, 'served from the cache while live').toBe(true);

      proxy.refuse(FEED);
      const cutAt = performance.now();
      const cut = proxy.cut(FEED);
      expect(cut, 'the feed connection was found and cut').toBeGreaterThanOrEqual(1);
      figures.cuts++;
      figures.socketsCut += cut;
      if (trial % 2 === 0) {
        // Even trials: wait until the drop is seen, and time it.
        await eventually('the verifier to notice the cut', () => !verifier.live, 5_000);
        noticed.push(performance.now() - cutAt);
        expect(verifier.peek(key.secret), 'nothing is served from the cache while the feed is down').toBeUndefined();
      }
      // Odd trials revoke at once: the cut reaches the verifier (same process, loopback) before the
      // answer to a request made after it.
      await revoke(key.id);
      expect(verifier.live, 'the verifier has noticed the cut by the time the revoke is answered').toBe(false);
      figures.revokedWhileCut++;
      const next = await verifyTraced(key.secret);
      expect(next, 'the very next verify after a revoke during the cut').toEqual({ code: 'REVOKED', fromCache: false, remote: true });
      if (next.code === 'REVOKED') figures.revokedFound++;
      else figures.staleServed++;

      // A key that verifies fine is still answered remotely, every time, while the feed is down.
      for (let i = 0; i < 3; i++) {
        const answer = await verifyTraced(other.secret);
        if (answer.fromCache) figures.hitsWhileDown++;
        if (answer.remote) figures.remoteWhileDown++;
        expect(answer).toEqual({ code: 'VALID', fromCache: false, remote: true });
      }
      await sleep(50 + Math.random() * 150);

      // Back: every verify until the verifier is caught up again is remote.
      proxy.refuse(undefined);
      const backAt = performance.now();
      await eventually('the verifier to be caught up again', async () => {
        const wasLive = verifier.live;
        const answer = await verifyTraced(other.secret);
        if (!wasLive && answer.fromCache) figures.hitsWhileDown++;
        if (answer.code !== 'VALID') figures.staleServed++;
        return verifier.live;
      }, 15_000);
      recovered.push(performance.now() - backAt);
      expect((await verifyTraced(key.secret)).code, 'the revoke made during the cut holds after it').toBe('REVOKED');

      // Caught up: the cache serves again and follows the feed.
      await cacheIt(other.secret);
      expect((await verifyTraced(other.secret)).fromCache).toBe(true);
      await revoke(other.id);
      await eventually('the revoke to reach the cache through the feed', () => verifier.peek(other.secret)?.code === 'REVOKED', 5_000);
    }
    printFigures('SSE feed cut', {
      trials: TRIALS,
      'sockets cut': figures.socketsCut,
      acknowledged: figures.revokedWhileCut,
      found: figures.revokedFound,
      lost: figures.staleServed,
      'cache hits while down': figures.hitsWhileDown,
      'remote verifies while down': figures.remoteWhileDown,
      'time to notice (cut to live=false, polled every 10 ms)': summarise(noticed),
      'time to recover (feed allowed to caught up)': summarise(recovered),
    });
    expect(figures.hitsWhileDown).toBe(0);
    expect(figures.staleServed).toBe(0);
  }, 90_000);
});
