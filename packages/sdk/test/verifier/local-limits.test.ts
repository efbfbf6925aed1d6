/**
 * `limits: 'local'` counts exactly as the service's limiter does: the same calls at the same
 * instants get the same decisions and the same remaining counts from the SDK's local counting and
 * from the service's real memory limiter (the oracle, with an injected clock). The rate limit
 * charges one call per verify whatever its cost; the quota charges the cost in units.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryLimiter, type MemoryLimiter } from '../../../service/src/limits/index.js';
import { compactFacts, type KeyFacts } from '../../src/verifier/key-facts.js';
import { checkLocalLimits, seedLocalLimits, type LocalLimitState } from '../../src/verifier/local-limits.js';
import type { VerifyResult } from '../../src/types.js';

type RateLimit = NonNullable<KeyFacts['rateLimit']>;
type Quota = NonNullable<KeyFacts['quota']>;

const NEVER = Number.POSITIVE_INFINITY;
/** Inside one UTC day, far from its end, so the daily quota window does not roll over. */
const T0 = Date.UTC(2026, 0, 15, 6, 0, 0);

function factsWith(rateLimit: RateLimit | null, quota: Quota | null): KeyFacts {
  return compactFacts({
    keyId: 'key_local',
    consumerId: 'cons',
    scopes: [],
    endpoints: [],
    meta: {},
    expiresAt: null,
    validUntil: null,
    revoked: false,
    suspended: false,
    rateLimit,
    quota,
  });
}

/** A fresh local state, as seeded by a service answer that left the whole quota available. */
function freshState(facts: KeyFacts, now: number): LocalLimitState {
  const result = {
    valid: true,
    code: 'VALID',
    keyId: facts.keyId,
    consumerId: facts.consumerId,
    scopes: [],
    meta: {},
    expiresAt: null,
    limits: {
      rate: null,
      quota: facts.quota
        ? { limit: facts.quota.limit, remaining: facts.quota.limit, resetAt: new Date(Date.UTC(2026, 0, 16)).toISOString(), period: facts.quota.period }
        : null,
    },
  } as unknown as VerifyResult;
  return seedLocalLimits(result, facts, now);
}

let limiter: MemoryLimiter | undefined;
afterEach(async () => {
  await limiter?.close();
  limiter = undefined;
});

/** Runs the same calls through both and returns the local and the service's decisions side by side. */
async function compare(facts: KeyFacts, calls: Array<{ atMs: number; cost: number }>) {
  let clock = T0;
  limiter = createMemoryLimiter({ now: () => clock });
  const state = freshState(facts, T0);
  const rows: Array<{ local: unknown; service: unknown }> = [];
  for (const call of calls) {
    clock = T0 + call.atMs;
    const local = checkLocalLimits(facts, state, call.cost, clock, NEVER);
    if (local.kind === 'report') throw new Error('no report can be due in this test');
    const decision = await limiter.check({
      subject: facts.keyId,
      cost: call.cost,
      ...(facts.rateLimit ? { rate: facts.rateLimit } : {}),
      ...(facts.quota ? { quota: facts.quota } : {}),
    });
    rows.push({
      local: {
        code: local.kind === 'admit' ? 'VALID' : local.code,
        rateRemaining: local.limits.rate?.remaining,
        rateReset: local.limits.rate?.resetSeconds,
        quotaRemaining: local.limits.quota?.remaining,
        retryAfter: local.rateLimit?.retryAfter,
      },
      service: {
        code: decision.allowed ? 'VALID' : decision.code,
        rateRemaining: decision.rate?.remaining,
        rateReset: decision.rate?.resetSeconds,
        quotaRemaining: decision.quota?.remaining,
        retryAfter: decision.allowed ? undefined : decision.code === 'RATE_LIMITED' ? decision.rate?.retryAfterSeconds : Math.max(1, Math.ceil((decision.quota!.resetAt.getTime() - clock) / 1000)),
      },
    });
  }
  return rows;
}

describe("limits: 'local' counts as the service does", () => {
  it('charges the rate limit one call per verify, whatever the cost', async () => {
    // 5 calls per minute, burst 5: five calls of cost 4 are five calls, not twenty units.
    const facts = factsWith({ limit: 5, windowSeconds: 60, burst: 5 }, null);
    const calls = [0, 1, 2, 3, 4, 5, 6].map((i) => ({ atMs: i, cost: 4 }));
    const rows = await compare(facts, calls);
    for (const row of rows) expect(row.local).toEqual(row.service);
    expect(rows.map((r) => (r.local as { code: string }).code)).toEqual(['VALID', 'VALID', 'VALID', 'VALID', 'VALID', 'RATE_LIMITED', 'RATE_LIMITED']);
  });

  it('charges the quota the cost in units, and a refusal charges neither', async () => {
    const facts = factsWith({ limit: 10, windowSeconds: 1, burst: 3 }, { limit: 12, period: 'day' });
    const calls = [
      { atMs: 0, cost: 5 },
      { atMs: 10, cost: 0 },
      { atMs: 20, cost: 4 },
      { atMs: 30, cost: 1 }, // burst of 3 used up: rate limited, quota untouched
      { atMs: 400, cost: 4 }, // 11 + 4 > 12: quota exceeded, rate untouched
      { atMs: 400, cost: 3 },
      { atMs: 401, cost: 0 },
      { atMs: 1_000, cost: 1 },
      { atMs: 5_000, cost: 0 },
      { atMs: 5_001, cost: 1 },
    ];
    const rows = await compare(facts, calls);
    for (const [i, row] of rows.entries()) expect(row.local, `call ${i}`).toEqual(row.service);
    expect(rows.map((r) => (r.local as { code: string }).code)).toEqual([
      'VALID',
      'VALID',
      'VALID',
      'RATE_LIMITED',
      'QUOTA_EXCEEDED',
      'VALID',
      'VALID',
      'QUOTA_EXCEEDED',
      'VALID',
      'QUOTA_EXCEEDED',
    ]);
  });

  it('agrees over a long pseudo-random run of costs and arrival times', async () => {
    const facts = factsWith({ limit: 20, windowSeconds: 2, burst: 4 }, { limit: 500, period: 'day' });
    let seed = 42;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    let at = 0;
    const calls = Array.from({ length: 400 }, () => ({ atMs: (at += Math.floor(random() * 150)), cost: Math.floor(random() * 6) }));
    const rows = await compare(facts, calls);
    for (const [i, row] of rows.entries()) expect(row.local, `call ${i}`).toEqual(row.service);
    const codes = new Set(rows.map((r) => (r.local as { code: string }).code));
    // The run exercises every outcome, so agreement is not only on admissions.
    expect(codes).toEqual(new Set(['VALID', 'RATE_LIMITED', 'QUOTA_EXCEEDED']));
  });
});
