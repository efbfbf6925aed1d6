/**
 * Verify under consumers and plans, through the real app (SQLite file, memory limiter): the plan's
 * current version applies at once (revisions included), the consumer's status and networks
 * apply to all its keys with one event, credits are spent exactly and a chargeId is charged once,
 * and a key from before consumers existed keeps its old answers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

let seq = 0;
async function approvedConsumer(extra: Record<string, unknown> = {}): Promise<string> {
  const registered = await h.call('POST', '/v1/consumers', { name: `C${++seq}`, email: `c${seq}@acme.test`, ...extra });
  expect(registered.status).toBe(201);
  expect((await h.call('POST', `/v1/consumers/${registered.body.id}/approve`, { reason: 'reviewed' })).status).toBe(200);
  return registered.body.id as string;
}

async function plan(body: Record<string, unknown>): Promise<string> {
  const defined = await h.call('POST', '/v1/plans', { name: `P${++seq}`, ...body });
  expect(defined.status).toBe(201);
  return defined.body.id as string;
}

describe('verify on a plan', () => {
  it('answers with the consumer, the plan and its version, and charges every named rate limit', async () => {
    const consumerId = await approvedConsumer();
    const planId = await plan({ rateLimits: [{ name: 'burst', limit: 2, windowSeconds: 60 }, { name: 'sustained', limit: 100, windowSeconds: 3600 }], scopes: ['orders:read'] });
    const key = await h.issue({ consumerId, planId });
    const first = await h.verify({ key: key.secret, scopes: ['orders:read'] });
    expect(first.body).toMatchObject({ code: 'VALID', consumerId, plan: { id: planId, version: 1 }, scopes: ['orders:read'], consumerRegistered: true });
    expect(first.body.limits.rates.map((rate: { name: string; remaining: number }) => [rate.name, rate.remaining])).toEqual([['burst', 1], ['sustained', 99]]);
    await h.verify({ key: key.secret });
    const third = await h.verify({ key: key.secret });
    expect(third.body.code).toBe('RATE_LIMITED');
    // Refused by 'burst': 'sustained' was not charged (all or none).
    expect(third.body.limits.rates.find((rate: { name: string }) => rate.name === 'sustained').remaining).toBe(98);
  });

  it('a revision applies to every key on the plan at once', async () => {
    const consumerId = await approvedConsumer();
    const planId = await plan({ scopes: ['a:read'] });
    const key = await h.issue({ consumerId, planId });
    expect((await h.verify({ key: key.secret, scopes: ['a:write'] })).body).toMatchObject({ code: 'FORBIDDEN', reason: 'scope' });
    const revised = await h.call('POST', `/v1/plans/${planId}/revise`, { name: 'wider', scopes: ['a:read', 'a:write'] });
    expect(revised.body.version).toBe(2);
    expect((await h.verify({ key: key.secret, scopes: ['a:write'] })).body).toMatchObject({ code: 'VALID', plan: { id: planId, version: 2 } });
  });

  it('a retired plan takes no new keys, and its keys keep working', async () => {
    const consumerId = await approvedConsumer();
    const planId = await plan({});
    const key = await h.issue({ consumerId, planId });
    expect((await h.call('POST', `/v1/plans/${planId}/retire`, { reason: 'legacy' })).body.status).toBe('retired');
    const refused = await h.call('POST', '/v1/keys', { consumerId, planId });
    expect(refused.status).toBe(409);
    expect(refused.body.rule).toBe('plan-retired');
    expect((await h.verify({ key: key.secret })).body.code).toBe('VALID');
  });

  it('networks: the consumer\'s and the plan\'s lists both apply; no clientIp where they are set is refused', async () => {
    const consumerId = await approvedConsumer({ allowedNetworks: ['10.0.0.0/8', '2001:db8::/32'] });
    const planId = await plan({ networks: ['10.1.0.0/16', '2001:db8::/32'] });
    const key = await h.issue({ consumerId, planId });
    expect((await h.verify({ key: key.secret, clientIp: '10.1.2.3' })).body.code).toBe('VALID');
    expect((await h.verify({ key: key.secret, clientIp: '2001:db8::1' })).body.code).toBe('VALID');
    expect((await h.verify({ key: key.secret, clientIp: '10.2.0.1' })).body).toMatchObject({ code: 'FORBIDDEN', reason: 'network' });
    expect((await h.verify({ key: key.secret })).body).toMatchObject({ code: 'FORBIDDEN', reason: 'network' });
    const bad = await h.verify({ key: key.secret, clientIp: '10.1.2.300' });
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].path).toBe('body.clientIp');
  });

  it("a key's own networks narrow further, on a plan or not; they carry over a rotation", async () => {
    const own = await h.issue({ consumerId: 'net-shop', networks: ['192.0.2.0/24'] });
    expect((await h.verify({ key: own.secret, clientIp: '192.0.2.10' })).body.code).toBe('VALID');
    expect((await h.verify({ key: own.secret, clientIp: '198.51.100.1' })).body).toMatchObject({ code: 'FORBIDDEN', reason: 'network' });
    const rotated = await h.call('POST', `/v1/keys/${own.id}/rotate`, { gracePeriodSeconds: 0 });
    expect(rotated.body.successor.networks).toEqual(['192.0.2.0/24']);
    const consumerId = await approvedConsumer();
    const planId = await plan({ networks: ['10.0.0.0/8'] });
    const narrower = await h.issue({ consumerId, planId, networks: ['10.9.0.0/16'] });
    expect((await h.verify({ key: narrower.secret, clientIp: '10.9.1.1' })).body.code).toBe('VALID');
    expect((await h.verify({ key: narrower.secret, clientIp: '10.1.1.1' })).body).toMatchObject({ code: 'FORBIDDEN', reason: 'network' });
    const wider = await h.call('POST', '/v1/keys', { consumerId, planId, networks: ['0.0.0.0/0'] });
    expect(wider.status).toBe(422);
    expect(wider.body.rule).toBe('networks-within-plan');
  });

  it('credits: spent exactly to zero, then CREDITS_EXHAUSTED; a chargeId is charged once and answered again', async () => {
    const consumerId = await approvedConsumer();
    const planId = await plan({ credits: { initial: 3, refill: null } });
    const key = await h.issue({ consumerId, planId });
    const first = await h.verify({ key: key.secret, chargeId: 'order-1' });
    expect(first.body).toMatchObject({ code: 'VALID', replayed: false, limits: { credits: { remaining: 2 } } });
    const retried = await h.verify({ key: key.secret, chargeId: 'order-1' });
    expect(retried.body).toMatchObject({ code: 'VALID', replayed: true, limits: { credits: { remaining: 2 } } });
    const codes = [];
    for (let i = 2; i <= 4; i++) codes.push((await h.verify({ key: key.secret, chargeId: `order-${i}` })).body.code);
    expect(codes).toEqual(['VALID', 'VALID', 'CREDITS_EXHAUSTED']);
  });
});

describe('credit top-ups and restarts', () => {
  it('a top-up adds to the balance once; a restart (memory limiter) keeps the balance the ledger says', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'keyledger-credits-'));
    const own = await startHarness({}, dataDir);
    try {
      const registered = await own.call('POST', '/v1/consumers', { name: 'Prepaid', email: 'pre@paid.test' });
      await own.call('POST', `/v1/consumers/${registered.body.id}/approve`, {});
      const defined = await own.call('POST', '/v1/plans', { name: 'Prepaid', credits: { initial: 3, refill: null } });
      const planless = await own.issue({ consumerId: registered.body.id });
      const key = await own.issue({ consumerId: registered.body.id, planId: defined.body.id });
      await own.verify({ key: key.secret });
      await own.verify({ key: key.secret });
      const topUp = await own.call('POST', `/v1/keys/${key.id}/credits`, { amount: 5, reason: 'invoice 42' });
      expect(topUp.status).toBe(200);
      const refused = await own.call('POST', `/v1/keys/${planless.id}/credits`, { amount: 5 });
      expect(refused.status).toBe(409);
      expect(refused.body.rule).toBe('plan-without-credits');
      expect((await own.call('GET', `/v1/keys/${key.id}/quota`)).body.credits.remaining).toBe(6);
      expect((await own.verify({ key: key.secret })).body.limits.credits.remaining).toBe(5);
      // Closing flushes the usage this instance counted: the spent credits are in the ledger.
      await own.close();
      const again = await startHarness({ KEYLEDGER_ROOT_KEY: own.rootKey }, dataDir);
      try {
        // 3 initial + 5 bought - 3 spent: not the plan's initial balance again, and the top-up not twice.
        expect((await again.call('GET', `/v1/keys/${key.id}/quota`)).body.credits.remaining).toBe(5);
        expect((await again.verify({ key: key.secret })).body.limits.credits.remaining).toBe(4);
        const history = await again.call('GET', `/v1/keys/${key.id}/history`);
        expect(history.body.entries.at(-1)).toMatchObject({ type: 'KeyCreditsAdded', changes: { creditsAdded: 5, reason: 'invoice 42' } });
      } finally {
        await again.close();
      }
    } finally {
      await own.close().catch(() => undefined);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('usage units are billed once per chargeId', () => {
  it('a priced plan without limits: a retried verify with the same chargeId counts one unit', async () => {
    const consumerId = await approvedConsumer();
    const planId = await plan({ price: { currency: 'EUR', flatFee: 0, includedUnits: 0, unitPricePer1000: 1000 } });
    const key = await h.issue({ consumerId, planId });
    expect((await h.verify({ key: key.secret, chargeId: 'r-1' })).body).toMatchObject({ code: 'VALID', replayed: false });
    expect((await h.verify({ key: key.secret, chargeId: 'r-1' })).body).toMatchObject({ code: 'VALID', replayed: true });
    expect((await h.verify({ key: key.secret, chargeId: 'r-2' })).body.replayed).toBe(false);
    const period = new Date().toISOString().slice(0, 7);
    const report = await h.call('GET', `/v1/consumers/${consumerId}/usage?period=${period}`);
    expect(report.status).toBe(200);
    // Three VALID answers, two charged units, each 1000/1000 = 1 minor unit.
    expect(report.body).toMatchObject({ units: 2, charge: 2, byOutcome: { VALID: 3 } });
  });
});

describe('verify and the consumer', () => {
  it('suspending the consumer suspends every key at once; reinstating restores them; closing revokes them', async () => {
    const consumerId = await approvedConsumer();
    const keys = [await h.issue({ consumerId }), await h.issue({ consumerId })];
    const codes = async () => Promise.all(keys.map(async (key) => (await h.verify({ key: key.secret })).body.code));
    expect(await codes()).toEqual(['VALID', 'VALID']);
    await h.call('POST', `/v1/consumers/${consumerId}/suspend`, { reason: 'unpaid invoice' });
    expect(await codes()).toEqual(['SUSPENDED', 'SUSPENDED']);
    // One event, not one per key.
    expect((await h.service.store.readStream(`key-${keys[0]!.id}`)).map((event) => event.type)).toEqual(['KeyIssued']);
    await h.call('POST', `/v1/consumers/${consumerId}/reinstate`, { reason: 'paid' });
    expect(await codes()).toEqual(['VALID', 'VALID']);
    await h.call('POST', `/v1/consumers/${consumerId}/close`, { reason: 'contract ended' });
    expect(await codes()).toEqual(['REVOKED', 'REVOKED']);
    await h.service.consumerClosure.idle();
    for (const key of keys) {
      const types = (await h.service.store.readStream(`key-${key.id}`)).map((event) => event.type);
      expect(types).toEqual(['KeyIssued', 'KeyRevoked']);
    }
  });

  it('a key from before consumers existed keeps verifying; registering its consumer (adoption) makes its status apply', async () => {
    const legacy = await h.issue({ consumerId: 'legacy-shop' });
    expect((await h.verify({ key: legacy.secret })).body).toMatchObject({ code: 'VALID', consumerRegistered: false, plan: null });
    const adopted = await h.call('POST', '/v1/consumers', { id: 'legacy-shop', name: 'Legacy shop', email: 'ops@legacy.test' });
    expect(adopted.status).toBe(201);
    // Pending review: the keys it already had keep working until someone decides.
    expect((await h.verify({ key: legacy.secret })).body).toMatchObject({ code: 'VALID', consumerRegistered: true });
    await h.call('POST', '/v1/consumers/legacy-shop/approve', {});
    await h.call('POST', '/v1/consumers/legacy-shop/suspend', { reason: 'review' });
    expect((await h.verify({ key: legacy.secret })).body.code).toBe('SUSPENDED');
  });
});

describe('lists', () => {
  it('consumers by status and by plan, a page at a time; plans by status', async () => {
    const onPlan = await approvedConsumer();
    const elsewhere = await approvedConsumer();
    const pending = (await h.call('POST', '/v1/consumers', { name: 'Waiting', email: 'wait@acme.test' })).body.id as string;
    const planId = await plan({ name: 'Listed' });
    await h.issue({ consumerId: onPlan, planId });
    await h.issue({ consumerId: elsewhere });
    const byPlan = await h.call('GET', `/v1/consumers?planId=${planId}`);
    expect(byPlan.body.items.map((c: { id: string }) => c.id)).toEqual([onPlan]);
    const pendingOnes = (await h.call('GET', '/v1/consumers?status=pending&limit=500')).body.items.map((c: { id: string }) => c.id);
    expect(pendingOnes).toContain(pending);
    expect(pendingOnes).not.toContain(onPlan);
    // Cursor pagination walks every consumer once, in registration order.
    const seen: string[] = [];
    for (let cursor: string | null = null, pages = 0; pages === 0 || cursor !== null; pages++) {
      const page: { body: { items: { id: string }[]; nextCursor: string | null } } = await h.call('GET', `/v1/consumers?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...page.body.items.map((c) => c.id));
      cursor = page.body.nextCursor;
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.indexOf(onPlan)).toBeLessThan(seen.indexOf(elsewhere));
    expect(seen).toContain(pending);
    await h.call('POST', `/v1/plans/${planId}/retire`, {});
    expect((await h.call('GET', '/v1/plans?status=retired')).body.items.map((p: { id: string }) => p.id)).toContain(planId);
    expect((await h.call('GET', '/v1/plans?status=active')).body.items.map((p: { id: string }) => p.id)).not.toContain(planId);
  });
});
