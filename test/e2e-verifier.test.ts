/**
 * Revocation across instances: two service processes share one PostgreSQL schema; a verifier
 * follows instance B and has the key cached; the key is revoked through instance A; the
 * verifier must refuse it (the event reaches it through B's live feed), with no TTL involved.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, createVerifier, type KeyledgerClient, type Verifier } from '@keyledger/sdk';
import { type ServiceProcess, startService } from './support/service-process.js';
import { eventually } from './support/eventually.js';
import { createSchema, DATABASE_URL, skipWithoutPostgres } from './support/services.js';

const name = skipWithoutPostgres
  ? 'verifier across instances (SKIPPED: set KEYLEDGER_TEST_DATABASE_URL to run against PostgreSQL)'
  : 'verifier across instances (PostgreSQL, two service processes)';

describe.skipIf(skipWithoutPostgres)(name, () => {
  let schema: Awaited<ReturnType<typeof createSchema>>;
  let a: ServiceProcess;
  let b: ServiceProcess;
  let clientA: KeyledgerClient;
  let clientB: KeyledgerClient;
  let verifier: Verifier;

  beforeAll(async () => {
    schema = await createSchema('kl_e2e_verifier');
    const env = { KEYLEDGER_DATABASE_URL: DATABASE_URL!, KEYLEDGER_DATABASE_SCHEMA: schema.schema };
    a = await startService({ env });
    b = await startService({ env, rootKey: a.rootKey });
    clientA = createClient({ baseUrl: a.url, token: a.rootKey });
    clientB = createClient({ baseUrl: b.url, token: b.rootKey });
    verifier = createVerifier({ client: clientB });
    await verifier.ready();
  });

  afterAll(async () => {
    await verifier?.close();
    await clientA?.close();
    await clientB?.close();
    await b?.stop();
    await a?.stop();
    await schema?.drop();
  });

  it('rejects a key revoked through instance A', async () => {
    const issued = await clientA.keys.issue({ consumerId: 'cons_multi', scopes: ['orders:read'] });
    // B learns of the key through the shared ledger.
    await eventually('B to accept the key', async () => (await verifier.verify(issued.secret!)).code === 'VALID');
    await eventually('the key to be cached', async () => (await verifier.verify(issued.secret!), verifier.peek(issued.secret!)?.code === 'VALID'));
    await clientA.keys.revoke(issued.id, { reason: 'leaked' });
    await eventually('the revocation to reach the verifier on B', () => verifier.peek(issued.secret!)?.code === 'REVOKED', 5_000);
    const result = await verifier.verify(issued.secret!);
    expect(result).toMatchObject({ valid: false, code: 'REVOKED', keyId: issued.id });
  });

  it('applies a suspension made on A to the cache of a verifier on B', async () => {
    const issued = await clientA.keys.issue({ consumerId: 'cons_multi2' });
    await eventually('the key to be cached', async () => (await verifier.verify(issued.secret!), verifier.peek(issued.secret!)?.code === 'VALID'));
    await clientA.keys.suspend(issued.id, {});
    await eventually('the suspension to reach the verifier on B', () => verifier.peek(issued.secret!)?.code === 'SUSPENDED', 5_000);
    expect((await verifier.verify(issued.secret!)).code).toBe('SUSPENDED');
  });

  it('keys of a registered consumer or on a plan are never answered from the cache: a consumer suspended on A is SUSPENDED at once', async () => {
    const consumer = await clientA.consumers.register({ name: 'Verified shop', email: 'ops@shop.test' });
    await clientA.consumers.approve(consumer.id, { reason: 'reviewed' });
    const plan = await clientA.plans.define({ name: 'Basic', scopes: ['orders:read'] });
    const onPlan = await clientA.keys.issue({ consumerId: consumer.id, planId: plan.id });
    const ofConsumer = await clientA.keys.issue({ consumerId: consumer.id, scopes: ['orders:read'] });
    for (const key of [onPlan, ofConsumer]) {
      await eventually('B to accept the key', async () => (await verifier.verify(key.secret!)).code === 'VALID');
    }
    // The service answers them (its consumer's status and networks, the plan's terms apply): nothing is cached.
    expect(verifier.peek(onPlan.secret!)).toBeUndefined();
    expect(verifier.peek(ofConsumer.secret!)).toBeUndefined();
    const before = verifier.stats().remote;
    await verifier.verify(ofConsumer.secret!);
    expect(verifier.stats().remote).toBe(before + 1);
    await clientA.consumers.suspend(consumer.id, { reason: 'fraud review' });
    // B answers once it has applied the suspension; the verifier itself holds no stale answer.
    await eventually('B to apply the suspension', async () => (await clientB.verify({ key: ofConsumer.secret! })).code === 'SUSPENDED', 5_000);
    expect((await verifier.verify(ofConsumer.secret!)).code).toBe('SUSPENDED');
    expect((await verifier.verify(onPlan.secret!)).code).toBe('SUSPENDED');
  });

  it('a key cached before its consumer id was registered (adoption) is dropped from the cache by the registration', async () => {
    const legacy = await clientA.keys.issue({ consumerId: 'adopted-shop', scopes: ['orders:read'] });
    await eventually('the key to be cached', async () => (await verifier.verify(legacy.secret!), verifier.peek(legacy.secret!)?.code === 'VALID'));
    await clientA.consumers.register({ id: 'adopted-shop', name: 'Adopted', email: 'ops@adopted.test' });
    await eventually('the registration to evict the cached key', () => verifier.peek(legacy.secret!) === undefined, 5_000);
    await clientA.consumers.approve('adopted-shop');
    await clientA.consumers.suspend('adopted-shop', { reason: 'review' });
    await eventually('B to apply the suspension', async () => (await verifier.verify(legacy.secret!)).code === 'SUSPENDED', 5_000);
  });
});
