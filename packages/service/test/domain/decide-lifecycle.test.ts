import type { KeyEvent } from '@keyledger/schemas';
import { describe, it } from 'vitest';
import type { KeyCommand } from '../../src/domain/keys/index.js';
import { issued, KEY_ID, reinstated, revoked, rotateCommand, rotated, suspended } from './fixtures.js';
import { given, recordedAt, type ScenarioCommand } from './given.js';

describe('SuspendKey', () => {
  it('given an active key, when suspended, then KeySuspended with the reason', () => {
    given([issued()]).when({ type: 'SuspendKey', reason: 'fraud' }).then([suspended('fraud')]);
  });

  it('given an active key, when suspended without a reason, then the reason is null', () => {
    given([issued()]).when({ type: 'SuspendKey', reason: null }).then([suspended(null)]);
  });

  it('given a suspended key, when suspended again, then INVALID_TRANSITION says it already is', () => {
    given([issued(), suspended()])
      .when({ type: 'SuspendKey', reason: 'again' })
      .thenThrows('INVALID_TRANSITION', /already suspended/);
  });

  it('given a key suspended and reinstated, when suspended, then KeySuspended', () => {
    given([issued(), suspended(), reinstated()]).when({ type: 'SuspendKey', reason: null }).then([suspended(null)]);
  });

  it('given an active key, when suspended with an empty reason, then INVALID_ARGUMENT names the reason', () => {
    given([issued()]).when({ type: 'SuspendKey', reason: '' }).thenThrows('INVALID_ARGUMENT', /reason/);
  });
});

describe('ReinstateKey', () => {
  it('given a suspended key, when reinstated, then KeyReinstated with the reason', () => {
    given([issued(), suspended()]).when({ type: 'ReinstateKey', reason: 'cleared' }).then([reinstated('cleared')]);
  });

  it('given an active key, when reinstated, then INVALID_TRANSITION says it is not suspended', () => {
    given([issued()]).when({ type: 'ReinstateKey', reason: null }).thenThrows('INVALID_TRANSITION', /not suspended/);
  });

  it('given a key suspended and reinstated, when reinstated again, then INVALID_TRANSITION', () => {
    given([issued(), suspended(), reinstated()])
      .when({ type: 'ReinstateKey', reason: null })
      .thenThrows('INVALID_TRANSITION', /not suspended/);
  });
});

describe('RevokeKey', () => {
  it('given an active key, when revoked, then KeyRevoked with the reason', () => {
    given([issued()]).when({ type: 'RevokeKey', reason: 'leaked' }).then([revoked('leaked')]);
  });

  it('given a suspended key, when revoked, then KeyRevoked (suspension does not protect a key)', () => {
    given([issued(), suspended()]).when({ type: 'RevokeKey', reason: null }).then([revoked(null)]);
  });

  it('given a rotated key in its grace period, when revoked, then KeyRevoked', () => {
    given([issued(), rotated()]).when({ type: 'RevokeKey', reason: null }).then([revoked(null)]);
  });

  it('given an expired key, when revoked, then KeyRevoked', () => {
    given([issued({ expiresAt: '2030-01-01T00:00:00.000Z' })]).when({ type: 'RevokeKey', reason: null }).then([revoked(null)]);
  });

  it('given a revoked key, when revoked again, then KEY_REVOKED says it is already revoked and since when', () => {
    given([issued(), revoked()])
      .when({ type: 'RevokeKey', reason: 'again' })
      .thenThrows('KEY_REVOKED', new RegExp(`${KEY_ID} is already revoked \\(since ${recordedAt(1)}\\)`));
  });
});

describe('revocation is final', () => {
  const afterRevoke: ScenarioCommand[] = [
    { type: 'ReplaceScopes', scopes: ['orders:write'] },
    { type: 'PatchScopes', remove: { scopes: ['orders:read'], endpoints: [] } },
    { type: 'SetLimits', rateLimit: null },
    { type: 'SuspendKey', reason: null },
    { type: 'ReinstateKey', reason: null },
    rotateCommand(),
  ];
  const histories: [string, KeyEvent[]][] = [
    ['revoked', [issued(), revoked()]],
    ['suspended, then revoked', [issued(), suspended(), revoked()]],
  ];
  for (const [historyName, history] of histories) {
    it.each(afterRevoke.map((command) => [command.type, command] as const))(
      `given a ${historyName} key, when %s, then KEY_REVOKED`,
      (_name, command) => {
        given(history).when(command).thenThrows('KEY_REVOKED', /is revoked; a revoked key cannot be changed/);
      },
    );
  }

  it('given a revoked key, a change that would be a no-op is still refused', () => {
    given([issued(), revoked()])
      .when({ type: 'ReplaceScopes', scopes: ['orders:read'] })
      .thenThrows('KEY_REVOKED');
  });
});
