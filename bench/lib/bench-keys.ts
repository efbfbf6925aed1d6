/**
 * The keys the startup and memory benchmarks write straight through the event store: key number
 * i has a realistic, bounded shape (20k consumers, 3 plans, 8 scope sets, an endpoint rule on a
 * quarter, meta per consumer), the same on every run, so figures of different runs compare.
 */
import { createHash } from 'node:crypto';
import { checksumOf, type EventData, keyHint } from '@keyledger/schemas';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

export function base62(seed: string, length: number): string {
  const bytes = createHash('sha256').update(seed).digest();
  let out = '';
  for (let i = 0; i < length; i++) out += BASE62[(bytes[i % 32] as number) % 62];
  return out;
}

export const PLANS = [
  { planId: 'free', rateLimit: { limit: 10, windowSeconds: 1 }, quota: { limit: 1_000, period: 'day' as const } },
  { planId: 'pro', rateLimit: { limit: 100, windowSeconds: 1 }, quota: { limit: 100_000, period: 'month' as const } },
  { planId: 'enterprise', rateLimit: { limit: 1_000, windowSeconds: 1 }, quota: null },
];
export const SCOPE_SETS = [[], ['orders:read'], ['orders:read', 'orders:write'], ['billing:read'], ['orders:read', 'billing:read', 'users:read'], ['users:read'], ['reports:read'], ['orders:*']];

/** Key number i: a realistic, bounded shape (20k consumers, 3 plans, 8 scope sets, meta per consumer). */
export function keyNumber(i: number): { plaintext: string; data: EventData<'KeyIssued'> } {
  const environment = i % 10 === 0 ? 'test' : 'live';
  const prefix = `kl_${environment}`;
  const random = base62(`bench key ${i}`, 22);
  const plaintext = `${prefix}_${random}${checksumOf(prefix, random)}`;
  const plan = PLANS[i % 3]!;
  const consumerId = `consumer-${i % 20_000}`;
  return {
    plaintext,
    data: {
      kind: 'consumer',
      keyId: `key_${base62(`bench id ${i}`, 20)}`,
      consumerId,
      planId: plan.planId,
      name: i % 10 < 3 ? `service ${i}` : null,
      environment,
      digest: createHash('sha256').update(plaintext).digest('hex'),
      hint: keyHint(plaintext),
      scopes: SCOPE_SETS[i % SCOPE_SETS.length] as string[],
      endpoints: i % 4 === 0 ? ['GET /orders/*'] : [],
      permissions: [],
      expiresAt: i % 5 === 0 ? '2031-12-31T00:00:00.000Z' : null,
      meta: { tenant: consumerId, tier: plan.planId },
      rateLimit: plan.rateLimit,
      quota: plan.quota,
      rotatedFrom: null,
      networks: [],
    },
  };
}

export const metadata = (occurredAt: string) => ({
  schemaVersion: 1,
  actor: { kind: 'system', id: 'bench' },
  requestId: null,
  sourceAddress: null,
  occurredAt,
  correlationId: null,
  causationId: null,
});

