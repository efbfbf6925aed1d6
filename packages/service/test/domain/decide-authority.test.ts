/**
 * The management plane's invariants (domain/keys/authority.ts), decided with no HTTP in sight:
 * consumer and management keys are different kinds, management keys answer only to admin, no
 * secret leaves with more authority than its caller's, and the last admin key stays.
 */
import { describe, it } from 'vitest';
import type { Authority } from '../../src/domain/keys/index.js';
import { ADMIN, issueCommand, issued, issuedManagement, KEY_ID, revoked, rotateCommand, rotated, suspended, WRITER } from './fixtures.js';
import { given, NOW, type ScenarioCommand } from './given.js';

const READER: Authority = { kind: 'key', permissions: ['keys:read', 'keys:verify', 'events:read'] };
const management = { kind: 'management' as const, planId: null, scopes: [] as string[], endpoints: [] as string[], rateLimit: null, quota: null };

describe('issuing by kind', () => {
  it('given no key, when a writer issues a consumer key, then it is issued', () => {
    given([]).when(issueCommand({ authority: WRITER })).then([issued()]);
  });

  it('given no key, when a writer issues a management key (even with only keys:read), then FORBIDDEN', () => {
    given([])
      .when(issueCommand({ ...management, authority: WRITER, permissions: ['keys:read'] }))
      .thenThrows('FORBIDDEN', /only an admin credential may issue a management key/);
  });

  it('given no key, when a consumer key would carry a management permission, then INVALID_ARGUMENT names the rule', () => {
    given([])
      .when(issueCommand({ authority: ADMIN, kind: 'consumer', permissions: ['keys:read'] }))
      .thenThrows('INVALID_ARGUMENT', /a consumer key cannot carry management permissions \(keys:read\)/);
  });

  it('given no key, when a management key has no permission, then INVALID_ARGUMENT', () => {
    given([])
      .when(issueCommand({ ...management, authority: ADMIN, permissions: [] }))
      .thenThrows('INVALID_ARGUMENT', /at least one permission/);
  });

  it('given no key, when a management key has scopes, endpoint rules, limits or a plan, then INVALID_ARGUMENT names them', () => {
    given([])
      .when(issueCommand({ kind: 'management', authority: ADMIN, permissions: ['keys:read'] }))
      .thenThrows('INVALID_ARGUMENT', /cannot have scopes, endpoints, rateLimit, quota, planId/);
  });

  it('given no key, when an admin issues a management key, then it is issued', () => {
    given([])
      .when(issueCommand({ ...management, authority: ADMIN, permissions: ['keys:read'] }))
      .then([issued({ ...management, permissions: ['keys:read'] })]);
  });
});

describe('commands on a management key need admin', () => {
  const commands: [string, ScenarioCommand][] = [
    ['rotate', rotateCommand({ gracePeriodSeconds: 0 })],
    ['revoke', { type: 'RevokeKey', reason: null }],
    ['suspend', { type: 'SuspendKey', reason: null }],
    ['re-scope', { type: 'ReplaceScopes', scopes: ['x:y'] }],
    ['re-scope', { type: 'PatchScopes', add: { scopes: ['x:y'], endpoints: [] } }],
    ['change the limits of', { type: 'SetLimits', rateLimit: { limit: 1, windowSeconds: 1 } }],
  ];
  for (const [action, command] of commands) {
    for (const [who, authority] of [['a writer', WRITER], ['a reader', READER]] as const) {
      it(`given a management key, when ${who} sends ${command.type}, then FORBIDDEN (${action})`, () => {
        given([issuedManagement()])
          .when({ ...command, authority })
          .thenThrows('FORBIDDEN', new RegExp(`only an admin credential may ${action} a management key`));
      });
    }
  }

  it('given a suspended management key, when a writer reinstates it, then FORBIDDEN', () => {
    given([issuedManagement(), suspended()])
      .when({ type: 'ReinstateKey', reason: null, authority: WRITER })
      .thenThrows('FORBIDDEN', /only an admin credential may reinstate a management key/);
  });

  it('given a management key, when an admin rotates it, then it rotates (the successor keeps its permissions)', () => {
    given([issuedManagement()])
      .when(rotateCommand({ authority: ADMIN, gracePeriodSeconds: 0 }))
      .then([rotated({ gracePeriodSeconds: 0, validUntil: NOW.toISOString() })]);
  });

  it('given a consumer key, when a writer rotates, suspends or revokes it, then it is done', () => {
    given([issued()]).when(rotateCommand({ authority: WRITER })).then([rotated({ validUntil: new Date(NOW.getTime() + 3_600_000).toISOString() })]);
    given([issued()]).when({ type: 'RevokeKey', reason: 'x', authority: WRITER }).then([revoked('x')]);
  });
});

describe('no secret with more authority than the caller', () => {
  it('given a management key with keys:read, when a caller holding only keys:read rotates it, then FORBIDDEN', () => {
    given([issuedManagement({ permissions: ['keys:read'] })])
      .when(rotateCommand({ authority: { kind: 'key', permissions: ['keys:read', 'keys:write'] } }))
      .thenThrows('FORBIDDEN');
  });

  it('given no key, when a non-admin asks for a key with admin, then FORBIDDEN before anything else', () => {
    given([])
      .when(issueCommand({ ...management, authority: { kind: 'key', permissions: ['keys:write', 'keys:read'] }, permissions: ['admin'] }))
      .thenThrows('FORBIDDEN');
  });
});

describe('the last active admin key', () => {
  it('given the only admin key, when an admin revokes it, then LAST_ADMIN_KEY', () => {
    given([issuedManagement()])
      .when({ type: 'RevokeKey', reason: null, authority: ADMIN, otherActiveAdminKeys: 0 })
      .thenThrows('LAST_ADMIN_KEY', new RegExp(`${KEY_ID} is the last active admin key; revoke it`));
  });

  it('given the only admin key, when an admin suspends it, then LAST_ADMIN_KEY', () => {
    given([issuedManagement()])
      .when({ type: 'SuspendKey', reason: null, authority: ADMIN, otherActiveAdminKeys: 0 })
      .thenThrows('LAST_ADMIN_KEY', /suspend it/);
  });

  it('given another active admin key, when an admin revokes this one, then it is revoked', () => {
    given([issuedManagement()])
      .when({ type: 'RevokeKey', reason: 'rotated out', authority: ADMIN, otherActiveAdminKeys: 1 })
      .then([revoked('rotated out')]);
  });

  it('given a suspended admin key and no other admin, when revoked, then it is revoked (it was not active)', () => {
    given([issuedManagement(), suspended()])
      .when({ type: 'RevokeKey', reason: null, authority: ADMIN, otherActiveAdminKeys: 0 })
      .then([revoked(null)]);
  });

  it('given a management key without admin and no admin key left, when revoked by admin, then it is revoked', () => {
    given([issuedManagement({ permissions: ['keys:read'] })])
      .when({ type: 'RevokeKey', reason: null, authority: ADMIN, otherActiveAdminKeys: 0 })
      .then([revoked(null)]);
  });
});
