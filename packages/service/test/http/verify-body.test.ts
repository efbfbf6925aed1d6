import { VerifyRequest } from '@keyledger/schemas';
import { describe, expect, it } from 'vitest';
import { fastVerifyBody } from '../../src/http/routes/verify-body.js';

// Every body here is run through both: the fast path either returns exactly zod's output or
// defers (undefined), and it never accepts what zod refuses.
const bodies: unknown[] = [
  { key: 'kl_live_x' },
  { key: 'kl_live_x', scopes: [] },
  { key: 'kl_live_x', scopes: ['orders:read', 'orders:*', '*'] },
  { key: 'kl_live_x', scopes: ['Orders:read'] },
  { key: 'kl_live_x', scopes: ['a'.repeat(129)] },
  { key: 'kl_live_x', scopes: Array.from({ length: 51 }, () => 'a') },
  { key: 'kl_live_x', scopes: 'orders:read' },
  { key: 'kl_live_x', scopes: [1] },
  { key: 'kl_live_x', scopes: null },
  { key: 'kl_live_x', scopes: undefined },
  { key: 'kl_live_x', endpoint: { method: 'GET', path: '/orders/1' } },
  { key: 'kl_live_x', endpoint: { method: 'GET', path: '/orders/1', extra: 1 } },
  { key: 'kl_live_x', endpoint: { method: '', path: '/' } },
  { key: 'kl_live_x', endpoint: { method: 'GET', path: 'x'.repeat(2049) } },
  { key: 'kl_live_x', endpoint: { method: 'GET' } },
  { key: 'kl_live_x', endpoint: null },
  { key: 'kl_live_x', endpoint: [] },
  { key: 'kl_live_x', cost: 0 },
  { key: 'kl_live_x', cost: 1_000_000 },
  { key: 'kl_live_x', cost: 1_000_001 },
  { key: 'kl_live_x', cost: -1 },
  { key: 'kl_live_x', cost: 1.5 },
  { key: 'kl_live_x', cost: '1' },
  { key: 'kl_live_x', cost: null },
  { key: 'kl_live_x', other: true },
  { key: 'k'.repeat(16_384) },
  { key: 'k'.repeat(16_385) },
  { key: 42 },
  { scopes: ['a'] },
  {},
  [],
  null,
  'kl_live_x',
  { key: 'kl_live_x', scopes: ['a:b'], endpoint: { path: '/p', method: 'POST' }, cost: 3 },
];

describe('the verify body fast path', () => {
  it('given bodies zod accepts or refuses, when validated fast, then it returns zod\'s value or defers', () => {
    let fast = 0;
    for (const body of bodies) {
      const zod = VerifyRequest.safeParse(body);
      const value = fastVerifyBody(body);
      if (value === undefined) continue;
      fast++;
      expect(zod.success, JSON.stringify(body)).toBe(true);
      expect(value).toEqual(zod.data);
    }
    // The common shapes take the fast path.
    expect(fast).toBeGreaterThanOrEqual(8);
  });

  it('given the common valid bodies, when validated fast, then none defers to zod', () => {
    for (const body of [{ key: 'k' }, { key: 'k', scopes: ['orders:read'] }, { key: 'k', endpoint: { method: 'GET', path: '/' }, cost: 2 }]) {
      expect(fastVerifyBody(body)).toEqual(VerifyRequest.parse(body));
    }
  });
});
