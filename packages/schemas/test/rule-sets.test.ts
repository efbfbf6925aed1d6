import { describe, expect, it } from 'vitest';
import { allowsEndpointOf, grantsScopes } from '../src/access.js';
import { RuleSets } from '../src/rule-sets.js';

const SCOPE_SETS = [[], ['orders:read'], ['orders:*'], ['*'], ['orders:read', 'billing:*'], ['a:*:c'], ['a:b:*']];
const REQUESTED = [undefined, [], ['orders:read'], ['orders:write'], ['orders'], ['orders:read:deep'], ['billing:x', 'orders:read'], ['a:b:c'], ['a:x:c'], ['a:b'], ['a:b:c:d']];
const ENDPOINT_SETS = [[], ['GET /orders/*'], ['* /public/**'], ['POST /orders', 'GET /orders/*/items'], ['GET /'], ['* /**'], ['GET /orders/*/'], ['GET /orders/**'], ['* /']];
const ENDPOINTS = [
  undefined,
  { method: 'GET', path: '/orders/1' },
  { method: 'get', path: '/orders/1?x=1' },
  { method: 'GET', path: '/orders/' },
  { method: 'GET', path: '/orders' },
  { method: 'POST', path: '/orders' },
  { method: 'GET', path: '/orders/1/items' },
  { method: 'PUT', path: '/public/a/b' },
  { method: 'PUT', path: '/public' },
  { method: 'GET', path: '/public/../admin' },
  { method: 'GET', path: '/public/%2e%2E/admin' },
  { method: 'GET', path: '/' },
  { method: 'DELETE', path: '/x' },
  { method: 'GET', path: '/orders//items' },
  { method: 'GET', path: '/orders/1/' },
  { method: 'GET', path: '/orders/1?next=/a/b' },
  { method: 'GET', path: '/orders/1?x=..' },
  { method: 'GET', path: '/orders/.%2e' },
  { method: 'GET', path: '/orders/...' },
  { method: 'GET', path: '/orders/%2e%2e%2e' },
  { method: 'GET', path: '/orders/%41' },
  { method: 'gEt', path: '/orders/1' },
  { method: 'GÉT', path: '/orders/1' },
  { method: 'GET', path: '' },
  { method: 'GET', path: 'orders/1' },
  { method: 'POST', path: '/orders?' },
];

describe('compiled rule sets', () => {
  it('given every scope set and request, when checked compiled, then the answer is grantsScopes\'s', () => {
    const sets = new RuleSets();
    for (const scopes of SCOPE_SETS) {
      const set = sets.of(scopes, []);
      // Twice: the second pass answers from the memo.
      for (let pass = 0; pass < 2; pass++) for (const requested of REQUESTED) expect(set.grants(requested), `${scopes} ${requested}`).toBe(grantsScopes(scopes, requested));
    }
  });

  it('given every endpoint rule set and request, when checked compiled, then the answer is allowsEndpointOf\'s', () => {
    const sets = new RuleSets();
    for (const rules of ENDPOINT_SETS) {
      const set = sets.of([], rules);
      for (const endpoint of ENDPOINTS) expect(set.allows(endpoint), `${rules} ${JSON.stringify(endpoint)}`).toBe(allowsEndpointOf(rules, endpoint));
    }
  });

  it('given keys with the same rules and values, when interned, then they share one object', () => {
    const sets = new RuleSets();
    expect(sets.of(['a', 'b'], ['GET /x'])).toBe(sets.of(['a', 'b'], ['GET /x']));
    expect(sets.of(['a', 'b'], [])).not.toBe(sets.of(['b', 'a'], []));
    expect(sets.of(['a'], ['GET /x']).scopes).toEqual(['a']);
    const meta = sets.value({ tier: 'pro', n: [1] });
    expect(sets.value({ tier: 'pro', n: [1] })).toBe(meta);
    expect(Object.isFrozen(meta)).toBe(true);
    expect(sets.value(null)).toBeNull();
  });

  it('given values it handed out (a state carried over), when interned again, then they come back as themselves; after clear, equal ones are fresh copies', () => {
    const sets = new RuleSets();
    const set = sets.of(['a'], ['GET /x']);
    expect(sets.of(set.scopes, set.endpoints)).toBe(set);
    // Its scopes with other endpoints are another set, found by content.
    const other = sets.of(set.scopes, ['GET /y']);
    expect(other).not.toBe(set);
    expect(other).toBe(sets.of(['a'], ['GET /y']));
    const meta = sets.value({ tier: 'pro' });
    expect(sets.value(meta)).toBe(meta);
    sets.clear();
    const again = sets.value({ tier: 'pro' });
    expect(again).not.toBe(meta);
    expect(sets.value(meta)).toBe(again);
    expect(sets.of(['a'], ['GET /x'])).not.toBe(set);
    expect(sets.of(set.scopes, set.endpoints)).toBe(sets.of(['a'], ['GET /x']));
  });
});
