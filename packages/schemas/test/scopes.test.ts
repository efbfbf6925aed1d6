import { describe, expect, it } from 'vitest';
import { EndpointRule, Scope, scopeCovers } from '../src/index.js';

describe('scopeCovers', () => {
  const cases: [granted: string, requested: string, covers: boolean][] = [
    ['orders:read', 'orders:read', true],
    ['orders:read', 'orders:write', false],
    ['*', 'orders:read', true],
    ['*', 'anything:at:all:depth', true],
    ['*', 'orders', true],
    ['orders:*', 'orders:read', true],
    ['orders:*', 'orders:write', true],
    // A trailing `*` also covers deeper scopes.
    ['orders:*', 'orders:read:own', true],
    ['orders:*', 'orders:a:b:c:d', true],
    // ...but not the parent itself, nor another parent.
    ['orders:*', 'orders', false],
    ['orders:*', 'billing:read', false],
    // A `*` in the middle matches exactly one segment.
    ['*:read', 'billing:read', true],
    ['*:read', 'billing:write', false],
    ['*:read', 'billing:read:own', false],
    ['orders:*:own', 'orders:read:own', true],
    ['orders:*:own', 'orders:read:all', false],
    ['orders:*:own', 'orders:read:own:deep', false],
    // A plain scope never covers a deeper one.
    ['orders', 'orders:read', false],
    ['orders:read', 'orders:read:own', false],
    ['orders:read:own', 'orders:read', false],
    // No partial-segment matches.
    ['orders', 'orders2', false],
    ['order', 'orders', false],
    ['orders:re', 'orders:read', false],
    ['order:*', 'orders:read', false],
    ['orders:read', 'orders:reader', false],
    // A requested wildcard is only covered by a grant at least as broad.
    ['orders:read', 'orders:*', false],
    ['orders:*', 'orders:*', true],
    ['orders:*', '*', false],
  ];
  it.each(cases)('%s covers %s: %s', (granted, requested, covers) => {
    expect(scopeCovers(granted, requested)).toBe(covers);
  });
});

describe('Scope schema', () => {
  it.each(['orders:read', 'orders:*', '*', 'a', 'billing.v2:read-all', 'x:y_z:*'])('accepts %s', (scope) => {
    expect(Scope.safeParse(scope).success).toBe(true);
  });
  it.each(['', 'Orders:read', 'orders read', 'orders:', ':read', 'orders::read', 'ord*', 'orders:re*', '-x', 'x'.repeat(129)])(
    'rejects %j',
    (scope) => {
      expect(Scope.safeParse(scope).success).toBe(false);
    },
  );
});

describe('EndpointRule schema', () => {
  it.each(['GET /orders/*', '* /public/**', 'POST /orders', 'GET /', 'DELETE /orders/*/items/*', 'PATCH /a/b%20c'])(
    'accepts %s',
    (rule) => {
      expect(EndpointRule.safeParse(rule).success).toBe(true);
    },
  );
  it.each([
    'get /orders',
    'FETCH /orders',
    'GET orders',
    'GET  /orders',
    'GET /orders/**/items',
    'GET /orders?x=1',
    'GET',
    '/orders',
    'GET /ord ers',
  ])('rejects %j', (rule) => {
    expect(EndpointRule.safeParse(rule).success).toBe(false);
  });
});
