import { describe, it } from 'vitest';
import { issued, scoped } from './fixtures.js';
import { given } from './given.js';

const key = issued({ scopes: ['orders:read', 'billing:read'], endpoints: ['GET /orders/*'] });

describe('ReplaceScopes', () => {
  it('given a key, when scopes are replaced, then KeyScoped has the new lists and what was added and removed', () => {
    given([key])
      .when({ type: 'ReplaceScopes', scopes: ['orders:read', 'orders:write'], endpoints: ['POST /orders'] })
      .then([
        scoped({
          scopes: ['orders:read', 'orders:write'],
          endpoints: ['POST /orders'],
          added: { scopes: ['orders:write'], endpoints: ['POST /orders'] },
          removed: { scopes: ['billing:read'], endpoints: ['GET /orders/*'] },
        }),
      ]);
  });

  it('given a key, when endpoints are left out, then the endpoint rules are kept', () => {
    given([key])
      .when({ type: 'ReplaceScopes', scopes: ['orders:*'] })
      .then([
        scoped({
          scopes: ['orders:*'],
          endpoints: ['GET /orders/*'],
          added: { scopes: ['orders:*'], endpoints: [] },
          removed: { scopes: ['orders:read', 'billing:read'], endpoints: [] },
        }),
      ]);
  });

  it('given a key, when endpoints are an empty list, then all endpoint rules are removed', () => {
    given([key])
      .when({ type: 'ReplaceScopes', scopes: ['orders:read', 'billing:read'], endpoints: [] })
      .then([
        scoped({
          scopes: ['orders:read', 'billing:read'],
          endpoints: [],
          added: { scopes: [], endpoints: [] },
          removed: { scopes: [], endpoints: ['GET /orders/*'] },
        }),
      ]);
  });

  it('given a key, when replaced with repeats, then repeats are dropped and first positions kept', () => {
    given([key])
      .when({ type: 'ReplaceScopes', scopes: ['a:b', 'orders:read', 'a:b'] })
      .then([
        scoped({
          scopes: ['a:b', 'orders:read'],
          endpoints: ['GET /orders/*'],
          added: { scopes: ['a:b'], endpoints: [] },
          removed: { scopes: ['billing:read'], endpoints: [] },
        }),
      ]);
  });

  it('given a key, when replaced with the same lists, then no event', () => {
    given([key])
      .when({ type: 'ReplaceScopes', scopes: ['orders:read', 'billing:read'], endpoints: ['GET /orders/*'] })
      .then([]);
  });

  it('given a key, when replaced with the same scopes in another order, then no event (scopes are a set)', () => {
    given([key]).when({ type: 'ReplaceScopes', scopes: ['billing:read', 'orders:read'] }).then([]);
  });

  it('given a key, when a scope is malformed, then INVALID_ARGUMENT names it', () => {
    given([key]).when({ type: 'ReplaceScopes', scopes: ['orders read'] }).thenThrows('INVALID_ARGUMENT', /scopes\.0/);
  });

  it('given a key scoped before, when replaced, then the diff is against the latest lists', () => {
    const rescoped = scoped({
      scopes: ['x:y'],
      endpoints: [],
      added: { scopes: ['x:y'], endpoints: [] },
      removed: { scopes: ['orders:read', 'billing:read'], endpoints: ['GET /orders/*'] },
    });
    given([key, rescoped])
      .when({ type: 'ReplaceScopes', scopes: ['x:y', 'orders:read'] })
      .then([
        scoped({
          scopes: ['x:y', 'orders:read'],
          endpoints: [],
          added: { scopes: ['orders:read'], endpoints: [] },
          removed: { scopes: [], endpoints: [] },
        }),
      ]);
  });
});

describe('PatchScopes', () => {
  it('given a key, when scopes are added, then they are appended and only the new ones are reported', () => {
    given([key])
      .when({ type: 'PatchScopes', add: { scopes: ['orders:read', 'orders:write'], endpoints: ['POST /orders'] } })
      .then([
        scoped({
          scopes: ['orders:read', 'billing:read', 'orders:write'],
          endpoints: ['GET /orders/*', 'POST /orders'],
          added: { scopes: ['orders:write'], endpoints: ['POST /orders'] },
          removed: { scopes: [], endpoints: [] },
        }),
      ]);
  });

  it('given a key, when scopes are removed, then only the ones it had are reported', () => {
    given([key])
      .when({ type: 'PatchScopes', remove: { scopes: ['billing:read', 'never:had'], endpoints: ['GET /orders/*'] } })
      .then([
        scoped({
          scopes: ['orders:read'],
          endpoints: [],
          added: { scopes: [], endpoints: [] },
          removed: { scopes: ['billing:read'], endpoints: ['GET /orders/*'] },
        }),
      ]);
  });

  it('given a key, when adding and removing at once, then both apply', () => {
    given([key])
      .when({
        type: 'PatchScopes',
        add: { scopes: ['orders:write'], endpoints: [] },
        remove: { scopes: ['orders:read'], endpoints: [] },
      })
      .then([
        scoped({
          scopes: ['billing:read', 'orders:write'],
          endpoints: ['GET /orders/*'],
          added: { scopes: ['orders:write'], endpoints: [] },
          removed: { scopes: ['orders:read'], endpoints: [] },
        }),
      ]);
  });

  it('given a key, when adding what it has and removing what it lacks, then no event', () => {
    given([key])
      .when({
        type: 'PatchScopes',
        add: { scopes: ['orders:read'], endpoints: ['GET /orders/*'] },
        remove: { scopes: ['not:there'], endpoints: ['DELETE /x'] },
      })
      .then([]);
  });

  it('given a key, when the same scope is both added and removed, then INVALID_ARGUMENT names it', () => {
    given([key])
      .when({
        type: 'PatchScopes',
        add: { scopes: ['orders:write'], endpoints: [] },
        remove: { scopes: ['orders:write'], endpoints: [] },
      })
      .thenThrows('INVALID_ARGUMENT', /both added and removed: orders:write/);
  });

  it('given a key, when neither add nor remove is given, then INVALID_ARGUMENT', () => {
    given([key]).when({ type: 'PatchScopes' }).thenThrows('INVALID_ARGUMENT', /add, remove or both/);
  });

  it('given a key, when an added endpoint rule is malformed, then INVALID_ARGUMENT names it', () => {
    given([key])
      .when({ type: 'PatchScopes', add: { scopes: [], endpoints: ['FETCH /orders'] } })
      .thenThrows('INVALID_ARGUMENT', /endpoints/);
  });
});
