import { describe, expect, it } from 'vitest';
import { type AccessFacts, checkAccess, effectiveExpiry, isExpiredAt } from '../src/index.js';

const NOW = Date.parse('2026-06-01T12:00:00Z');
const facts = (overrides: Partial<AccessFacts> = {}): AccessFacts => ({
  revoked: false,
  suspended: false,
  expiresAt: null,
  validUntil: null,
  scopes: ['orders:read'],
  endpoints: [],
  ...overrides,
});

describe('checkAccess: the verify checks before the limiter, in their fixed order', () => {
  it('passes a usable key with a covered scope', () => {
    expect(checkAccess(facts(), { scopes: ['orders:read'] }, NOW)).toBeNull();
  });

  it('revoked wins over everything after it', () => {
    const all = facts({ revoked: true, suspended: true, expiresAt: '2020-01-01T00:00:00Z' });
    expect(checkAccess(all, { scopes: ['admin:all'] }, NOW)).toBe('REVOKED');
  });

  it('expired (expiry or end of grace) wins over suspended and forbidden', () => {
    expect(checkAccess(facts({ suspended: true, expiresAt: '2026-06-01T12:00:00Z' }), { scopes: ['x:y'] }, NOW)).toBe('EXPIRED');
    expect(checkAccess(facts({ suspended: true, validUntil: '2026-06-01T11:59:59Z' }), {}, NOW)).toBe('EXPIRED');
  });

  it('suspended wins over a forbidden scope', () => {
    expect(checkAccess(facts({ suspended: true }), { scopes: ['billing:write'] }, NOW)).toBe('SUSPENDED');
  });

  it('forbids an uncovered scope, an endpoint outside the rules, and an unnamed endpoint when rules exist', () => {
    expect(checkAccess(facts(), { scopes: ['orders:write'] }, NOW)).toBe('FORBIDDEN');
    const ruled = facts({ endpoints: ['GET /orders/*'] });
    expect(checkAccess(ruled, { endpoint: { method: 'GET', path: '/orders/1' } }, NOW)).toBeNull();
    expect(checkAccess(ruled, { endpoint: { method: 'DELETE', path: '/orders/1' } }, NOW)).toBe('FORBIDDEN');
    expect(checkAccess(ruled, {}, NOW)).toBe('FORBIDDEN');
  });
});

describe('expiry helpers', () => {
  it('a key is expired at, not after, its instant', () => {
    expect(isExpiredAt({ expiresAt: '2026-06-01T12:00:00.001Z', validUntil: null }, NOW)).toBe(false);
    expect(isExpiredAt({ expiresAt: '2026-06-01T12:00:00Z', validUntil: null }, NOW)).toBe(true);
  });

  it('the effective expiry is the earlier of expiry and end of grace', () => {
    expect(effectiveExpiry({ expiresAt: null, validUntil: null })).toBeNull();
    expect(effectiveExpiry({ expiresAt: '2027-01-01T00:00:00Z', validUntil: null })).toBe('2027-01-01T00:00:00Z');
    expect(effectiveExpiry({ expiresAt: '2027-01-01T00:00:00Z', validUntil: '2026-07-01T00:00:00Z' })).toBe('2026-07-01T00:00:00Z');
    expect(effectiveExpiry({ expiresAt: '2026-07-01T00:00:00Z', validUntil: '2027-01-01T00:00:00Z' })).toBe('2026-07-01T00:00:00Z');
  });
});
