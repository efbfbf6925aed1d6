/**
 * Consumers, vetting, usage plans, pricing and usage reports end to end, through the SDK client
 * against real service processes: once on SQLite (one process), once on PostgreSQL + Redis (two
 * processes on one schema and one Redis prefix, commands and verifies spread over both).
 *
 * "At once on every instance" is checked without a clock: after a command, the test reads the
 * checkpoint the commanding instance had applied, waits until the other instance has applied it
 * too (the `keyledger-checkpoint` header of any /v1 answer), and from then on the other instance
 * must answer with the change.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareLedgerCheckpoints } from '@keyledger/schemas';
import { createClient, type DefinePlanRequest, KeyledgerApiError, type KeyledgerClient, type VerifyResult } from '@keyledger/sdk';
import { eventually } from './support/eventually.js';
import { call } from './support/http.js';
import { startService, type ServiceProcess } from './support/service-process.js';
import { createSchema, DATABASE_URL, REDIS_URL, skipWithoutPostgres, skipWithoutRedis, uniqueName } from './support/services.js';

interface Node {
  name: string;
  service: ServiceProcess;
  client: KeyledgerClient;
}

const REGISTER_ACME = { name: 'Acme', email: 'dev@acme.test', organisation: 'Acme Ltd', intendedUse: 'checkout integration', externalId: 'acme-1' };
const PRICE_V1 = { currency: 'EUR', flatFee: 1900, includedUnits: 1000, unitPricePer1000: 50 };
const STARTER: DefinePlanRequest = {
  name: 'Starter',
  rateLimits: [
    { name: 'burst', limit: 5, windowSeconds: 1 },
    { name: 'sustained', limit: 1000, windowSeconds: 3600 },
  ],
  quota: { limit: 10000, period: 'month' },
  scopes: ['orders:read', 'orders:write'],
  approvalRequired: false,
  price: PRICE_V1,
};
/**
 * Version 2: other limits, and every unit beyond (none included) at 2.5 minor units (rounding is
 * exercised). The burst is wide: the limiter's state carries over from version 1, and the test's
 * verifies must never depend on how fast the machine runs them.
 */
const PRICE_V2 = { currency: 'EUR', flatFee: 1900, includedUnits: 0, unitPricePer1000: 2500 };
const STARTER_V2: DefinePlanRequest = {
  ...STARTER,
  rateLimits: [
    { name: 'burst', limit: 100, windowSeconds: 1 },
    { name: 'sustained', limit: 2000, windowSeconds: 3600 },
  ],
  price: PRICE_V2,
};

/** The checkpoint `node` had applied when it answered (any /v1 answer carries it). */
async function appliedCheckpoint(node: Node): Promise<string> {
  const answer = await call(node.service.url, node.service.rootKey, 'GET', '/v1/plans?limit=1');
  const checkpoint = answer.headers.get('keyledger-checkpoint');
  if (!checkpoint) throw new Error(`${node.name} sent no keyledger-checkpoint header`);
  return checkpoint;
}

/** Waits until every node has applied what `from` had applied (after a command answered there). */
async function sync(from: Node, nodes: readonly Node[]): Promise<void> {
  const target = await appliedCheckpoint(from);
  for (const node of nodes) {
    await eventually(`${node.name} to apply checkpoint ${target}`, async () => (compareLedgerCheckpoints(await appliedCheckpoint(node), target) ?? -1) >= 0);
  }
}

async function problemOf(promise: Promise<unknown>): Promise<KeyledgerApiError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof KeyledgerApiError) return error;
    throw error;
  }
  throw new Error('expected a problem answer, got a success');
}

async function expectRule(promise: Promise<unknown>, statuses: number[], rule: string): Promise<void> {
  const problem = await problemOf(promise);
  expect(statuses, `${problem.message}`).toContain(problem.status);
  expect(problem.problem.rule, `${problem.message}`).toBe(rule);
}

/** Rounded half up, as a bill is (the service works in thousandths of a minor unit). */
const perThousand = (units: number, pricePer1000: number) => Math.floor((units * pricePer1000 + 500) / 1000);

function currentPeriod(): string {
  const now = new Date();
  return `${now.getUTCFullYear()}-${String(now.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** The whole flow of the issue's contract examples; `nodes` are one or more instances of one ledger. */
function consumerPlanFlow(setup: () => Promise<Node[]>, teardown: () => Promise<void>) {
  let nodes: Node[];
  let a: Node;
  let b: Node;
  let consumerId: string;
  let planId: string;
  let secret: string;
  let keyId: string;
  const validByVersion = { 1: 0, 2: 0 };
  /** Every outcome of the main key's verifies, as the usage report must count them. */
  const outcomes: Record<string, number> = {};

  const verifyOn = async (node: Node, body: Parameters<KeyledgerClient['verify']>[0], version?: 1 | 2): Promise<VerifyResult> => {
    const result = await node.client.verify(body);
    if (body.key === secret) {
      outcomes[result.code] = (outcomes[result.code] ?? 0) + 1;
      if (version !== undefined && result.code === 'VALID') validByVersion[version]++;
    }
    return result;
  };

  /** Makes every instance write out the usage it counted (a usage report flushes first). */
  const flushAll = async () => {
    for (const node of nodes) await node.client.consumers.usage(consumerId, currentPeriod());
  };

  beforeAll(async () => {
    nodes = await setup();
    a = nodes[0]!;
    b = nodes.at(-1)!;
  }, 60_000);

  afterAll(teardown, 60_000);

  it('registers a consumer with the contract body, records a check, approves it once (twice is a 409 naming the rule)', async () => {
    const registered = await a.client.consumers.register(REGISTER_ACME);
    expect(registered).toMatchObject({ status: 'pending', name: 'Acme', email: 'dev@acme.test', organisation: 'Acme Ltd', externalId: 'acme-1' });
    consumerId = registered.id;
    const checked = await a.client.consumers.recordCheck(consumerId, { check: 'email_verified', evidence: { address: 'dev@acme.test' } });
    expect(checked.checks).toMatchObject([{ check: 'email_verified', passed: true, evidence: { address: 'dev@acme.test' } }]);
    const approved = await a.client.consumers.approve(consumerId, { reason: 'identity reviewed' });
    expect(approved.status).toBe('approved');
    await sync(a, nodes);
    const twice = await problemOf(b.client.consumers.approve(consumerId, { reason: 'identity reviewed' }));
    expect(twice.status).toBe(409);
    expect(twice.problem.rule).toBe('consumer-not-pending');
  });

  it('defines the plan with its price, issues a key on it, and verify names the consumer and plan version 1 on every instance', async () => {
    const plan = await a.client.plans.define(STARTER);
    expect(plan).toMatchObject({ version: 1, name: 'Starter', price: PRICE_V1, status: 'active' });
    planId = plan.id;
    const issued = await a.client.keys.issue({ consumerId, planId, scopes: ['orders:read'] });
    secret = issued.secret!;
    keyId = issued.id;
    await sync(a, nodes);
    for (const node of nodes) {
      const result = await verifyOn(node, { key: secret, scopes: ['orders:read'] }, 1);
      expect(result, node.name).toMatchObject({ code: 'VALID', keyId, consumerId, plan: { id: planId, version: 1 }, consumerRegistered: true });
      expect(result.limits.rates.map((rate) => [rate.name, rate.limit])).toEqual([['burst', 5], ['sustained', 1000]]);
      expect(result.limits.quota).toMatchObject({ limit: 10000, period: 'month' });
    }
  });

  it('suspending the consumer makes its key SUSPENDED on every instance as soon as it applied the suspension; reinstating restores it', async () => {
    await a.client.consumers.suspend(consumerId, { reason: 'chargeback' });
    await sync(a, nodes);
    for (const node of nodes) expect((await verifyOn(node, { key: secret }, 1)).code, node.name).toBe('SUSPENDED');
    // The key itself was not touched: one consumer event suspends them all.
    expect((await b.client.keys.get(keyId)).status).toBe('active');

    await b.client.consumers.reinstate(consumerId, { reason: 'resolved' });
    await sync(b, nodes);
    for (const node of nodes) expect((await verifyOn(node, { key: secret }, 1)).code, node.name).toBe('VALID');
    const history = await a.client.consumers.history(consumerId);
    expect(history.entries.map((entry) => entry.type)).toEqual([
      'ConsumerRegistered', 'ConsumerCheckRecorded', 'ConsumerApproved', 'ConsumerSuspended', 'ConsumerReinstated',
    ]);
  });

  it('revising the plan gives version 2 and its limits on every instance at once', async () => {
    await flushAll();
    const revised = await a.client.plans.revise(planId, STARTER_V2);
    expect(revised).toMatchObject({ version: 2, price: PRICE_V2 });
    await sync(a, nodes);
    // Usage counted from here on starts after the revision, so it is priced with version 2.
    await flushAll();
    for (const node of nodes) {
      for (let i = 0; i < 3; i++) {
        const result = await verifyOn(node, { key: secret, scopes: ['orders:read'] }, 2);
        expect(result, node.name).toMatchObject({ code: 'VALID', plan: { id: planId, version: 2 } });
        expect(result.limits.rates.map((rate) => [rate.name, rate.limit])).toEqual([['burst', 100], ['sustained', 2000]]);
      }
    }
    const v1 = await b.client.plans.at(planId, new Date(Date.parse(revised.versionEffectiveFrom) - 1));
    expect(v1.version).toBe(1);
  });

  it("the month's usage report counts the VALID verifications and charges them with the version in force; CSV is text/csv", async () => {
    const period = currentPeriod();
    // Every other instance flushes first, the last one asked then reads everything.
    for (const node of nodes.slice(1)) await node.client.consumers.usage(consumerId, period);
    const report = await a.client.consumers.usage(consumerId, period);
    const units = validByVersion[1] + validByVersion[2];
    // Version 1's units fall within its 1,000 included; version 2 includes none and prices each at 2,500 per 1,000.
    const charge = PRICE_V1.flatFee + perThousand(validByVersion[2], PRICE_V2.unitPricePer1000);
    console.log(`[e2e] ${a.name}: usage ${period}: units=${report.units} (v1 ${validByVersion[1]}, v2 ${validByVersion[2]}), charge=${report.charge} ${report.currency}, expected ${charge}`);
    expect(report).toMatchObject({ period, final: false, consumerId, currency: 'EUR', units, charge, flatFee: PRICE_V1.flatFee });
    expect(report.byKey).toEqual([expect.objectContaining({ keyId, planId, units })]);
    expect(outcomes).toMatchObject({ VALID: units, SUSPENDED: nodes.length });
    expect(report.byKey[0]!.verifications).toEqual(outcomes);
    expect(report.byOutcome).toEqual(outcomes);
    const refused = Object.values(outcomes).reduce((sum, count) => sum + count, 0) - units;
    expect(report.byPlanVersion).toEqual([
      { planId, version: 1, units: validByVersion[1] },
      { planId, version: 2, units: validByVersion[2] },
    ]);
    expect(report.byDay.reduce((sum, day) => sum + day.units, 0)).toBe(units);

    const planReport = await b.client.plans.usage(planId, period);
    expect(planReport).toMatchObject({ planId, units, charge });

    const csv = await a.client.consumers.usageCsv(consumerId, period);
    expect(csv.split('\n')[0]).toBe('period,consumer_id,plan_id,key_id,units,valid,refused,currency,charge_minor_units');
    expect(csv).toContain(`${period},${consumerId},,TOTAL,${units},${units},${refused},EUR,${charge}`);
    const raw = await call(b.service.url, b.service.rootKey, 'GET', `/v1/consumers/${consumerId}/usage?period=${period}&format=csv`);
    expect(raw.status).toBe(200);
    expect(raw.headers.get('content-type')).toMatch(/^text\/csv/);
  });

  it('key requests: issued at once on a plan without approval (claim once: wrong token 422, second claim 410)', async () => {
    const request = await a.client.consumers.requestKey(consumerId, { planId, name: 'from the portal' });
    expect(request).toMatchObject({ status: 'approved', consumerId, planId });
    expect(request.keyId).not.toBeNull();
    expect(request.claimToken).toMatch(/^klc_/);
    await sync(a, nodes);
    await expectRule(b.client.keyRequests.claim(request.id, `${request.claimToken.slice(0, -1)}x`), [422], 'claim-token-invalid');
    const claimed = await b.client.keyRequests.claim(request.id, request.claimToken);
    expect(claimed.request.status).toBe('claimed');
    expect(claimed.key).toMatchObject({ id: request.keyId, consumerId, planId });
    await sync(b, nodes);
    for (const node of nodes) expect((await node.client.verify({ key: claimed.secret, scopes: ['orders:read'] })).code, node.name).toBe('VALID');
    const second = await problemOf(a.client.keyRequests.claim(request.id, request.claimToken));
    expect(second.status).toBe(410);
    expect(second.problem.rule).toBe('claimed-once');
  });

  it('key requests: on a plan with approval the request waits, is approved, then claimed', async () => {
    const gated = await a.client.plans.define({ ...STARTER, name: 'Gated', approvalRequired: true });
    const request = await a.client.consumers.requestKey(consumerId, { planId: gated.id });
    expect(request).toMatchObject({ status: 'pending', keyId: null });
    await sync(a, nodes);
    await expectRule(b.client.keyRequests.claim(request.id, request.claimToken), [409], 'key-request-not-approved');
    expect((await b.client.keyRequests.list({ status: 'pending', consumerId })).items.map((item) => item.id)).toContain(request.id);
    const approved = await b.client.keyRequests.approve(request.id, { reason: 'looks fine' });
    expect(approved.status).toBe('approved');
    await sync(b, nodes);
    const claimed = await a.client.keyRequests.claim(request.id, request.claimToken);
    expect(claimed.key).toMatchObject({ consumerId, planId: gated.id });
    await sync(a, nodes);
    for (const node of nodes) {
      expect(await node.client.verify({ key: claimed.secret })).toMatchObject({ code: 'VALID', plan: { id: gated.id, version: 1 } });
    }
  });

  it('bad input: each refusal is a 409/422 problem naming its rule', async () => {
    const pending = await a.client.consumers.register({ name: 'Pending', email: 'p@example.test' });
    await expectRule(a.client.keys.issue({ consumerId: pending.id, planId, scopes: ['orders:read'] }), [409, 422], 'consumer-not-approved');
    await expectRule(a.client.keys.issue({ consumerId: pending.id }), [409, 422], 'consumer-not-approved');
    await a.client.consumers.reject(pending.id, { reason: 'bot' });
    await expectRule(a.client.keys.issue({ consumerId: pending.id, planId, scopes: ['orders:read'] }), [409, 422], 'consumer-not-approved');

    const later = await a.client.consumers.register({ name: 'Later', email: 'l@example.test' });
    await a.client.consumers.approve(later.id, {});
    await a.client.consumers.suspend(later.id, { reason: 'review' });
    await expectRule(b.client.keys.issue({ consumerId: later.id, planId, scopes: ['orders:read'] }), [409, 422], 'consumer-not-approved');
    await a.client.consumers.close(later.id, { reason: 'gone' });
    await expectRule(a.client.keys.issue({ consumerId: later.id, planId, scopes: ['orders:read'] }), [409, 422], 'consumer-not-approved');
    await expectRule(a.client.consumers.reinstate(later.id, {}), [409], 'consumer-closed');

    const retired = await a.client.plans.define({ ...STARTER, name: 'Old' });
    await a.client.plans.retire(retired.id, { reason: 'replaced' });
    await expectRule(a.client.keys.issue({ consumerId, planId: retired.id, scopes: ['orders:read'] }), [409, 422], 'plan-retired');

    await expectRule(a.client.keys.issue({ consumerId, planId, scopes: ['admin:delete'] }), [422], 'scopes-within-plan');
    await expectRule(a.client.keys.issue({ consumerId, planId, scopes: ['orders:read'], rateLimit: { limit: 500, windowSeconds: 1 } }), [422], 'limits-only-lower');
    await expectRule(a.client.keys.issue({ consumerId, planId, scopes: ['orders:read'], quota: { limit: 20000, period: 'month' } }), [422], 'limits-only-lower');
    await expectRule(a.client.keys.issue({ consumerId: 'nobody-registered', planId }), [409, 422], 'consumer-not-registered');

    for (const period of ['2026-13', '2026/11', '26-11', 'last month']) {
      await expectRule(a.client.consumers.usage(consumerId, period), [422], 'period-format');
    }
    await expectRule(a.client.plans.usage(planId, '2026-1'), [422], 'period-format');
    await expectRule(a.client.plans.define({ ...STARTER, price: { ...PRICE_V1, flatFee: 19.5 } }), [422], 'price-whole-minor-units');
    await expectRule(a.client.plans.revise(planId, { ...STARTER_V2, price: { ...PRICE_V2, unitPricePer1000: 0.1 } }), [422], 'price-whole-minor-units');
    // Nothing of the refused revision was written.
    expect((await a.client.plans.get(planId)).version).toBe(2);
  });

  it("verify with a clientIp outside the plan's networks is FORBIDDEN with reason network", async () => {
    const office = await a.client.plans.define({ ...STARTER, name: 'Office only', networks: ['10.0.0.0/8', '2001:db8::/32'] });
    const issued = await a.client.keys.issue({ consumerId, planId: office.id, scopes: ['orders:read'] });
    await sync(a, nodes);
    for (const node of nodes) {
      expect(await node.client.verify({ key: issued.secret!, clientIp: '192.168.1.7' })).toMatchObject({ code: 'FORBIDDEN', reason: 'network' });
      // No address where networks are restricted cannot be checked: refused too.
      expect(await node.client.verify({ key: issued.secret! })).toMatchObject({ code: 'FORBIDDEN', reason: 'network' });
      expect(await node.client.verify({ key: issued.secret!, clientIp: '10.20.30.40' })).toMatchObject({ code: 'VALID', reason: null });
      expect(await node.client.verify({ key: issued.secret!, clientIp: '2001:db8::1' })).toMatchObject({ code: 'VALID' });
      expect(await node.client.verify({ key: issued.secret!, clientIp: '10.20.30.40', scopes: ['orders:write'] })).toMatchObject({ code: 'FORBIDDEN', reason: 'scope' });
    }
  });

  it('a key issued to an unregistered consumer id keeps verifying; once that id is registered (adopted), its status applies', async () => {
    const legacyId = `legacy-${randomBytes(4).toString('hex')}`;
    const legacy = await a.client.keys.issue({ consumerId: legacyId, scopes: ['orders:read'] });
    await sync(a, nodes);
    for (const node of nodes) {
      expect(await node.client.verify({ key: legacy.secret! })).toMatchObject({ code: 'VALID', consumerId: legacyId, plan: null, consumerRegistered: false });
    }
    const adopted = await b.client.consumers.register({ id: legacyId, name: 'Legacy Ltd', email: 'ops@legacy.test' });
    expect(adopted).toMatchObject({ id: legacyId, status: 'pending' });
    await sync(b, nodes);
    for (const node of nodes) expect(await node.client.verify({ key: legacy.secret! })).toMatchObject({ code: 'VALID', consumerRegistered: true });
    expect((await a.client.consumers.keys(legacyId)).items.map((key) => key.id)).toEqual([legacy.id]);
    await b.client.consumers.approve(legacyId, {});
    await b.client.consumers.suspend(legacyId, { reason: 'adopted, then suspended' });
    await sync(b, nodes);
    for (const node of nodes) expect((await node.client.verify({ key: legacy.secret! })).code, node.name).toBe('SUSPENDED');
    await a.client.consumers.reinstate(legacyId, {});
    await sync(a, nodes);
    for (const node of nodes) expect((await node.client.verify({ key: legacy.secret! })).code, node.name).toBe('VALID');
  });
}

describe('consumers and plans end to end (SQLite, one process)', () => {
  let service: ServiceProcess;
  let node: Node;
  consumerPlanFlow(
    async () => {
      service = await startService();
      node = { name: 'sqlite', service, client: createClient({ baseUrl: service.url, token: service.rootKey }) };
      return [node];
    },
    async () => {
      await node?.client.close();
      await service?.stop();
    },
  );
});

const skipShared = skipWithoutPostgres || skipWithoutRedis;
describe.skipIf(skipShared)(
  skipShared
    ? 'consumers and plans end to end (SKIPPED: set KEYLEDGER_TEST_DATABASE_URL and KEYLEDGER_TEST_REDIS_URL)'
    : 'consumers and plans end to end (PostgreSQL + Redis, two processes)',
  () => {
    let schema: Awaited<ReturnType<typeof createSchema>>;
    const services: ServiceProcess[] = [];
    const nodes: Node[] = [];
    consumerPlanFlow(
      async () => {
        schema = await createSchema('kl_e2e_consumers');
        const env = {
          KEYLEDGER_DATABASE_URL: DATABASE_URL!,
          KEYLEDGER_DATABASE_SCHEMA: schema.schema,
          KEYLEDGER_REDIS_URL: REDIS_URL!,
          KEYLEDGER_REDIS_PREFIX: `${uniqueName('kl_cons')}:`,
          // Shared, so a key request filed on one instance can be claimed on the other.
          KEYLEDGER_SECRET: randomBytes(32).toString('hex'),
        };
        const first = await startService({ env });
        services.push(first, await startService({ env, rootKey: first.rootKey }));
        services.forEach((service, i) => nodes.push({ name: `pg-${'ab'[i]}`, service, client: createClient({ baseUrl: service.url, token: service.rootKey }) }));
        return nodes;
      },
      async () => {
        for (const node of nodes) await node.client.close();
        for (const service of services) await service.stop();
        await schema?.drop();
      },
    );
  },
);
