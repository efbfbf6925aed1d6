/**
 * The consumer-closure process manager survives kill -9. A consumer with 200 keys is closed; at
 * once every key is verified (it must answer REVOKED: the closure itself revokes them for verify,
 * before any per-key revocation is written); then the process is SIGKILLed while it is still
 * writing the revocations, and started again on the same ledger. Eventually every key has exactly
 * one KeyRevoked on its stream, caused by nothing but the closure, and verify still answers REVOKED.
 *
 * The ledger is read straight from the store while the process is down, so "revoked before the
 * kill" is what was committed, not what an answer claimed. On SQLite, and on PostgreSQL too.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Config } from '../../packages/service/src/config/config.js';
import { openEventStore } from '../../packages/service/src/store/open-store.js';
import type { RecordedEvent } from '../../packages/service/src/store/port.js';
import { eventually } from '../support/eventually.js';
import { printFigures } from '../support/figures.js';
import { call } from '../support/http.js';
import { makeTestKey, type ServiceProcess, startService } from '../support/service-process.js';
import { createSchema, DATABASE_URL, skipWithoutPostgres } from '../support/services.js';

const KEYS = 200;

async function ok(service: ServiceProcess, method: string, path: string, body?: unknown): Promise<any> {
  const answer = await call(service.url, service.rootKey, method, path, body);
  if (answer.status >= 300) throw new Error(`${method} ${path} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  return answer.body;
}

/** Runs `task` over `items`, `width` at a time. */
async function pool<T, R>(items: readonly T[], width: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]!);
    }
  }));
  return results;
}

async function readEvents(database: Config['database'], types: string[]): Promise<RecordedEvent[]> {
  const store = await openEventStore(database);
  try {
    const events: RecordedEvent[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await store.readAll({ ...(after === undefined ? {} : { after }), maxCount: 1000, types });
      events.push(...page.events);
      if (page.events.length === 0 || page.checkpoint === undefined) return events;
      after = page.checkpoint;
    }
  } finally {
    await store.close();
  }
}

/**
 * `verifiesBeforeKill`: how many verifies must have answered before the kill (0: killed right
 * after the close answer; on SQLite the closure would otherwise be done before the first few
 * verifies answer, as they share one busy process).
 */
async function closureTrial(backend: string, env: Record<string, string>, database: (dataDir: string) => Config['database'], verifiesBeforeKill: number): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'keyledger-closure-'));
  const rootKey = makeTestKey();
  const start = () => startService({ dataDir, rootKey, env });
  let service = await start();
  try {
    const consumer = await ok(service, 'POST', '/v1/consumers', { name: 'Closing Co', email: 'ops@closing.test' });
    await ok(service, 'POST', `/v1/consumers/${consumer.id}/approve`, {});
    const keys: { id: string; secret: string }[] = await pool(Array.from({ length: KEYS }, (_, i) => i), 8, async (i) => {
      const issued = await ok(service, 'POST', '/v1/keys', { consumerId: consumer.id, name: `key ${i}` });
      return { id: issued.id as string, secret: issued.secret as string };
    });
    // A bystander's key: the closure must leave it alone.
    const other = await ok(service, 'POST', '/v1/keys', { consumerId: 'someone-else' });

    await ok(service, 'POST', `/v1/consumers/${consumer.id}/close`, { reason: 'contract ended' });
    // Verifies race the closure; the process is killed as soon as a few have answered (the others
    // die with it), so the kill lands while the revocations are still being written.
    let answered = 0;
    const running = service;
    const verifying = pool(verifiesBeforeKill === 0 ? [] : keys, 8, async (key) => {
      const answer = await call(running.url, rootKey, 'POST', '/v1/verify', { key: key.secret }).catch(() => undefined);
      if (answer) answered++;
      return answer?.body.code as string | undefined;
    });
    await eventually('a few verifies to answer', () => answered >= verifiesBeforeKill);
    await service.stop('SIGKILL');
    const answers = await verifying;

    const closed = (await readEvents(database(dataDir), ['ConsumerClosed'])).filter((event) => event.stream === `consumer-${consumer.id}`);
    expect(closed).toHaveLength(1);
    const ownRevocations = (events: RecordedEvent[]) => events.filter((event) => keys.some((key) => event.stream === `key-${key.id}`));
    const beforeKill = ownRevocations(await readEvents(database(dataDir), ['KeyRevoked']));
    const revokedBeforeKill = new Set(beforeKill.map((event) => event.stream));
    const verifiedBeforeWritten = keys.filter((key, i) => answers[i] === 'REVOKED' && !revokedBeforeKill.has(`key-${key.id}`)).length;
    expect(answers.filter((code) => code !== undefined && code !== 'REVOKED')).toEqual([]);

    service = await start();
    await eventually('the restarted service to be ready', async () => (await call(service.url, rootKey, 'GET', '/readyz')).status === 200);
    const afterRestart = await pool(keys, 16, async (key) => (await call(service.url, rootKey, 'POST', '/v1/verify', { key: key.secret })).body.code as string);
    expect(afterRestart.filter((code) => code !== 'REVOKED')).toEqual([]);
    await eventually(
      'every key of the closed consumer to be revoked',
      async () => (await ok(service, 'GET', `/v1/consumers/${consumer.id}/keys?status=revoked&limit=500`)).items.length === KEYS,
      30_000,
    );

    const listed = await ok(service, 'GET', `/v1/consumers/${consumer.id}/keys?limit=500`);
    expect(listed.items.filter((key: { status: string }) => key.status !== 'revoked')).toEqual([]);
    expect((await ok(service, 'POST', '/v1/verify', { key: other.secret })).code).toBe('VALID');
    await service.stop();

    const revocations = ownRevocations(await readEvents(database(dataDir), ['KeyRevoked']));
    const perStream = new Map<string, number>();
    for (const event of revocations) perStream.set(event.stream, (perStream.get(event.stream) ?? 0) + 1);
    printFigures(`consumer closure, kill -9 while revoking (${backend})`, {
      keys: KEYS,
      revokedBeforeKill: revokedBeforeKill.size,
      revokedAfterRestart: revocations.length - beforeKill.length,
      verifiesAnsweredBeforeKill: answers.filter((code) => code !== undefined).length,
      verifiedRevokedBeforeTheirRevocationWasWritten: verifiedBeforeWritten,
      streamsWithOneRevocation: [...perStream.values()].filter((count) => count === 1).length,
    });
    expect(perStream.size).toBe(KEYS);
    expect([...perStream.entries()].filter(([, count]) => count !== 1)).toEqual([]);
    for (const event of revocations) {
      expect(event.metadata).toMatchObject({ actor: { kind: 'system', id: 'consumer-closure' } });
      expect((event.data as { reason: string }).reason).toBe(`consumer ${consumer.id} closed: contract ended`);
    }
    // Every revocation names the closure as its cause, those written after the restart too.
    for (const event of revocations) expect(event.metadata.causationId).toBe(closed[0]!.id);
  } finally {
    await service.stop('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

describe('consumer closure with kill -9', () => {
  it('SQLite: every key revoked exactly once after a crash mid-closure; verify says REVOKED throughout', async () => {
    await closureTrial('SQLite', {}, (dataDir) => ({ kind: 'sqlite', file: join(dataDir, 'keyledger.db'), synchronous: 'FULL' }), 0);
  }, 120_000);

  describe.skipIf(skipWithoutPostgres)('PostgreSQL', () => {
    let schema: Awaited<ReturnType<typeof createSchema>> | undefined;
    afterAll(async () => schema?.drop());
    it('PostgreSQL: every key revoked exactly once after a crash mid-closure; verify says REVOKED throughout', async () => {
      schema = await createSchema('kl_fault_closure');
      const env = { KEYLEDGER_DATABASE_URL: DATABASE_URL!, KEYLEDGER_DATABASE_SCHEMA: schema.schema };
      await closureTrial('PostgreSQL', env, () => ({ kind: 'postgres', url: DATABASE_URL!, schema: schema!.schema }), 8);
    }, 120_000);
  });
});
