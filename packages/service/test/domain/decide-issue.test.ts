import { describe, it } from 'vitest';
import type { KeyCommand } from '../../src/domain/keys/index.js';
import { ADMIN, issueCommand, issued, KEY_ID, revoked } from './fixtures.js';
import { given, NOW, type ScenarioCommand } from './given.js';

describe('IssueKey', () => {
  it('given no key, when issued, then KeyIssued carries every setting of the command', () => {
    given([]).when(issueCommand()).then([issued()]);
  });

  it('given no key, when issued with repeated scopes and endpoints, then repeats are dropped and order kept', () => {
    given([])
      .when(
        issueCommand({
          scopes: ['orders:write', 'orders:read', 'orders:write', 'billing:*', 'orders:read'],
          endpoints: ['POST /orders', 'GET /orders/*', 'POST /orders'],
        }),
      )
      .then([
        issued({
          scopes: ['orders:write', 'orders:read', 'billing:*'],
          endpoints: ['POST /orders', 'GET /orders/*'],
        }),
      ]);
  });

  it('given no key, when an admin issues a management key with repeated permissions, then repeats are dropped and order kept', () => {
    const management = { kind: 'management' as const, planId: null, scopes: [] as string[], endpoints: [] as string[], rateLimit: null, quota: null };
    given([])
      .when(issueCommand({ ...management, authority: ADMIN, permissions: ['keys:read', 'admin', 'keys:read'] }))
      .then([issued({ ...management, permissions: ['keys:read', 'admin'] })]);
  });

  it('given no key, when issued with an expiry in the future, then the expiry is stored on the key', () => {
    const expiresAt = new Date(NOW.getTime() + 1000).toISOString();
    given([]).when(issueCommand({ expiresAt })).then([issued({ expiresAt })]);
  });

  it('given no key, when issued with an expiry of exactly now, then INVALID_ARGUMENT says it is not in the future', () => {
    given([])
      .when(issueCommand({ expiresAt: NOW.toISOString() }))
      .thenThrows('INVALID_ARGUMENT', /expiresAt .* not in the future/);
  });

  it('given no key, when issued with an expiry in the past, then INVALID_ARGUMENT', () => {
    given([])
      .when(issueCommand({ expiresAt: '2020-01-01T00:00:00Z' }))
      .thenThrows('INVALID_ARGUMENT', /2020-01-01T00:00:00Z is not in the future/);
  });

  it('given no key, when issued with an expiry that is not a date, then INVALID_ARGUMENT names it', () => {
    given([]).when(issueCommand({ expiresAt: 'next tuesday' })).thenThrows('INVALID_ARGUMENT', /next tuesday/);
  });

  it('given an issued key, when issued again, then KEY_EXISTS', () => {
    given([issued()]).when(issueCommand()).thenThrows('KEY_EXISTS', new RegExp(`${KEY_ID} already exists`));
  });

  it('given a revoked key, when issued again under the same id, then KEY_EXISTS (ids are never reused)', () => {
    given([issued(), revoked()]).when(issueCommand()).thenThrows('KEY_EXISTS');
  });

  it('given no key, when issued with data its event schema rejects, then INVALID_ARGUMENT names the field', () => {
    given([]).when(issueCommand({ digest: 'not-a-digest' })).thenThrows('INVALID_ARGUMENT', /digest/);
    given([]).when(issueCommand({ scopes: ['Orders:Read'] })).thenThrows('INVALID_ARGUMENT', /scopes\.0/);
    given([]).when(issueCommand({ keyId: 'nope' })).thenThrows('INVALID_ARGUMENT', /keyId/);
  });
});

describe('text every backend can store', () => {
  it('given no key, when a name holds a lone surrogate, then INVALID_ARGUMENT names the field', () => {
    given([]).when(issueCommand({ name: 'bad \ud800 name' })).thenThrows('INVALID_ARGUMENT', /^name: must be well-formed Unicode/);
    given([]).when(issueCommand({ name: '\udc00' })).thenThrows('INVALID_ARGUMENT', /^name:/);
  });

  it('given no key, when meta holds a NUL character in a value or a key, then INVALID_ARGUMENT names where', () => {
    given([]).when(issueCommand({ meta: { a: { b: ['ok', 'x\u0000y'] } } })).thenThrows('INVALID_ARGUMENT', /^meta\.a\.b\.1:/);
    given([]).when(issueCommand({ meta: { 'k\u0000': 1 } })).thenThrows('INVALID_ARGUMENT', /^meta\.\(key\):/);
  });

  it('given an active key, when suspended with a reason holding a lone surrogate, then INVALID_ARGUMENT', () => {
    given([issued()]).when({ type: 'SuspendKey', reason: 'x\udfff' }).thenThrows('INVALID_ARGUMENT', /^reason:/);
  });

  it('given no key, when text holds proper surrogate pairs and other scripts, then it is accepted', () => {
    const name = 'café 🔑 ключ 鍵';
    given([]).when(issueCommand({ name, meta: { '🔑': '✓' } })).then([issued({ name, meta: { '🔑': '✓' } })]);
  });
});

describe('any command on a key that does not exist', () => {
  const commands: ScenarioCommand[] = [
    { type: 'ReplaceScopes', scopes: ['orders:read'] },
    { type: 'PatchScopes', add: { scopes: ['orders:read'], endpoints: [] } },
    { type: 'SetLimits', rateLimit: null },
    { type: 'SuspendKey', reason: null },
    { type: 'ReinstateKey', reason: null },
    {
      type: 'RotateKey',
      successorId: 'key_SuccessorSuccessor1',
      successorHint: 'x',
      gracePeriodSeconds: 0,
      maxGracePeriodSeconds: 10,
    },
    { type: 'RevokeKey', reason: null },
  ];
  it.each(commands.map((command) => [command.type, command] as const))(
    'given no key, when %s, then KEY_NOT_FOUND',
    (_name, command) => {
      given([]).when(command).thenThrows('KEY_NOT_FOUND', /not found/);
    },
  );
});
