/**
 * A gateway verifier whose answering instance lags its own feed. One keyledger runs in this
 * process (SQLite, a real HTTP port); its projection is paused, so its live feed (read straight
 * from the ledger) delivers a revoke that its verify answers do not reflect yet. The verifier
 * must never cache the stale VALID answer: it compares the answer's checkpoint with the feed
 * position at which it asked. Once the projection resumes, the key is REVOKED, cached as such.
 *
 * Why pause() and not a fault-injection setting: the lag is made by the test through the
 * runner's own API, so no configuration can ever switch a production instance into lying.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareLedgerCheckpoints } from '@keyledger/schemas';
import { createClient, createVerifier, KeyledgerApiError, type KeyledgerClient, type Verifier } from '@keyledger/sdk';
import { createKeyledger, createLogger, type Keyledger, loadConfig } from '@keyledger/service';
import { eventually } from './support/eventually.js';
import { makeTestKey } from './support/service-process.js';

describe('verifier against an instance that lags its own feed', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'keyledger-lag-'));
  const rootKey = makeTestKey();
  let service: Keyledger;
  let client: KeyledgerClient;
  let noRetry: KeyledgerClient;
  let verifier: Verifier;
  let baseUrl: string;

  beforeAll(async () => {
    service = await createKeyledger(
      loadConfig({ KEYLEDGER_DATA_DIR: dataDir, KEYLEDGER_ROOT_KEY: rootKey, KEYLEDGER_LOG_LEVEL: 'silent', KEYLEDGER_COMMAND_APPLY_TIMEOUT_MS: '100' }),
      createLogger('silent'),
    );
    const address = await service.app.listen({ port: 0, host: '127.0.0.1' });
    baseUrl = address;
    client = createClient({ baseUrl: address, token: rootKey });
    noRetry = createClient({ baseUrl: address, token: rootKey, retries: 0 });
    verifier = createVerifier({ client });
    await verifier.ready();
  });

  afterAll(async () => {
    service?.runner.resume();
    await verifier?.close();
    await noRetry?.close();
    await client?.close();
    await service?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('the live feed says, like every /v1 answer, which checkpoint the instance had applied', async () => {
    const controller = new AbortController();
    const response = await request(`${baseUrl}/v1/events/stream`, {
      headers: { authorization: `Bearer ${rootKey}` },
      signal: controller.signal,
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers['keyledger-checkpoint']).toBe(service.runner.checkpoint);
    controller.abort();
    await response.body.text().catch(() => undefined);
  });

  it('never serves a revoked key from the cache, however long the lag; caches REVOKED once caught up', async () => {
    const issued = await client.keys.issue({ consumerId: 'cons_lag' });
    const secret = issued.secret!;
    // A verifier that has the key cached before the lag: the feed updates its entry.
    await eventually('the key to be cached', async () => (await verifier.verify(secret), verifier.peek(secret)?.code === 'VALID'));

    await service.runner.pause();
    const revokedAt = performance.now();
    const failure = await noRetry.keys.revoke(issued.id, { reason: 'leaked' }).catch((e: unknown) => e);
    // Written, not applied here: the command says so instead of a silent 200.
    expect(failure).toBeInstanceOf(KeyledgerApiError);
    const problem = (failure as KeyledgerApiError).problem;
    expect(problem).toMatchObject({ status: 503, written: true, resource: `/v1/keys/${issued.id}` });
    const revokeCheckpoint = problem.checkpoint as string;

    // The feed (read from the ledger, not the paused projection) delivers the revoke.
    await eventually('the feed to pass the revoke', () => {
      const at = verifier.stats().feedCheckpoint;
      return at !== undefined && (compareLedgerCheckpoints(at, revokeCheckpoint) ?? -1) >= 0;
    });
    // A verifier that meets the key only now, while the instance answering it lags.
    const lagging = createVerifier({ client });
    await lagging.ready();
    expect(compareLedgerCheckpoints(lagging.stats().feedCheckpoint!, revokeCheckpoint)).toBeGreaterThanOrEqual(0);

    // Longer than the old settle guard (1 s) would have tolerated.
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const rounds = 5;
    for (let i = 0; i < rounds; i++) {
      const answer = await lagging.verify(secret);
      // The lagging instance answers VALID (and says it is behind: its checkpoint is before the revoke).
      expect(answer.code).toBe('VALID');
      expect(compareLedgerCheckpoints(answer.checkpoint!, revokeCheckpoint)).toBeLessThan(0);
      await eventually('the fill to finish', () => lagging.stats().fillsInFlight === 0);
      expect(lagging.peek(secret)).toBeUndefined();
      expect(lagging.stats().staleFills).toBe(i + 1);
    }
    const stats = lagging.stats();
    expect(stats.staleFills).toBe(rounds);
    expect(stats.hits).toBe(0);
    expect(stats.cachedKeys).toBe(0);
    // The verifier that had the key cached applied the revoke from its feed.
    expect(verifier.peek(secret)?.code).toBe('REVOKED');
    const lagMs = Math.round(performance.now() - revokedAt);

    service.runner.resume();
    await eventually('the instance to catch up', async () => (await lagging.verify(secret)).code === 'REVOKED');
    await eventually('REVOKED to be cached', async () => (await lagging.verify(secret), lagging.peek(secret)?.code === 'REVOKED'));
    console.log(
      `lagging instance: ${lagMs} ms behind its feed, ${rounds} remote VALID answers, ${stats.staleFills} stale fills refused, ` +
        `0 served from cache; after catch-up: ${JSON.stringify(lagging.stats())}`,
    );
    await lagging.close();
  });
});
