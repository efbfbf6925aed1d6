/**
 * The key decider: given a command, the key's current state and the time, which events happen.
 * Pure: no I/O, no clock of its own, no randomness (key material is made before deciding, so a
 * command can be decided twice with the same result). A refused command throws KeyDomainError.
 */
import type { KeyEvent, Quota, RateLimit } from '@keyledger/schemas';
import { eventProblems, unique } from '../validate-event.js';
import type {
  IssueKey,
  KeyCommand,
  PatchScopes,
  ReinstateKey,
  ReplaceScopes,
  RevokeKey,
  RotateKey,
  SetLimits,
  SuspendKey,
} from './commands.js';
import { assertKindInvariants, assertMayActOn, assertMayHoldSecretWith, assertNotLastAdmin } from './authority.js';
import { KeyDomainError } from './errors.js';
import type { KeyState } from './state.js';

export function decide(command: KeyCommand, state: KeyState | null, now: Date): KeyEvent[] {
  const events = decideUnchecked(command, state, now);
  for (const event of events) assertValidEvent(event);
  return events;
}

function decideUnchecked(command: KeyCommand, state: KeyState | null, now: Date): KeyEvent[] {
  if (command.type === 'IssueKey') return issue(command, state, now);
  if (state === null) throw new KeyDomainError('KEY_NOT_FOUND', 'key not found');
  // Authority first: a caller who may not touch this key learns nothing more about it.
  assertMayActOn(state.kind, command.authority, ACTION[command.type]);
  // Revocation is final: nothing may change a revoked key, not even another revoke.
  if (state.revoked) {
    const message =
      command.type === 'RevokeKey'
        ? `key ${state.id} is already revoked (since ${state.revokedAt})`
        : `key ${state.id} is revoked; a revoked key cannot be changed`;
    throw new KeyDomainError('KEY_REVOKED', message);
  }
  switch (command.type) {
    case 'ReplaceScopes':
      return replaceScopes(command, state);
    case 'PatchScopes':
      return patchScopes(command, state);
    case 'SetLimits':
      return setLimits(command, state);
    case 'SuspendKey':
      return suspend(command, state, now);
    case 'ReinstateKey':
      return reinstate(command, state);
    case 'RotateKey':
      return rotate(command, state, now);
    case 'RevokeKey':
      return revoke(command, state, now);
    case 'AddCredits':
      if (state.kind !== 'consumer') throw new KeyDomainError('INVALID_ARGUMENT', `key ${state.id} is a management key; credits are for consumer keys`);
      return [{ type: 'KeyCreditsAdded', data: { keyId: state.id, amount: command.amount, reason: command.reason } }];
    default:
      return unknownCommand(command);
  }
}

const ACTION: Record<Exclude<KeyCommand['type'], 'IssueKey'>, string> = {
  ReplaceScopes: 're-scope',
  PatchScopes: 're-scope',
  SetLimits: 'change the limits of',
  SuspendKey: 'suspend',
  ReinstateKey: 'reinstate',
  RotateKey: 'rotate',
  RevokeKey: 'revoke',
  AddCredits: 'add credits to',
};

function unknownCommand(command: never): never {
  throw new KeyDomainError('INVALID_ARGUMENT', `unknown key command '${(command as { type: string }).type}'`);
}

function issue(command: IssueKey, state: KeyState | null, now: Date): KeyEvent[] {
  if (state !== null) throw new KeyDomainError('KEY_EXISTS', `key ${state.id} already exists`);
  const { type: _type, authority, ...data } = command;
  assertMayActOn(data.kind, authority, 'issue');
  assertMayHoldSecretWith(data.permissions, authority);
  assertKindInvariants(data);
  if (data.expiresAt !== null) {
    const expiresAt = Date.parse(data.expiresAt);
    if (Number.isNaN(expiresAt)) {
      throw new KeyDomainError('INVALID_ARGUMENT', `expiresAt '${data.expiresAt}' is not a date-time`);
    }
    if (expiresAt <= now.getTime()) {
      throw new KeyDomainError('INVALID_ARGUMENT', `expiresAt ${data.expiresAt} is not in the future (now is ${now.toISOString()})`);
    }
  }
  return [
    {
      type: 'KeyIssued',
      data: {
        ...data,
        scopes: unique(data.scopes),
        endpoints: unique(data.endpoints),
        permissions: unique(data.permissions),
        networks: unique(data.networks),
      },
    },
  ];
}

function replaceScopes(command: ReplaceScopes, state: KeyState): KeyEvent[] {
  const scopes = unique(command.scopes);
  const endpoints = command.endpoints === undefined ? state.endpoints : unique(command.endpoints);
  return scopedEvent(state, scopes, endpoints);
}

function patchScopes(command: PatchScopes, state: KeyState): KeyEvent[] {
  if (command.add === undefined && command.remove === undefined) {
    throw new KeyDomainError('INVALID_ARGUMENT', 'give add, remove or both');
  }
  const add = { scopes: command.add?.scopes ?? [], endpoints: command.add?.endpoints ?? [] };
  const remove = { scopes: command.remove?.scopes ?? [], endpoints: command.remove?.endpoints ?? [] };
  // Adding and removing the same thing at once has no sensible order; refuse rather than guess.
  const contested = [
    ...add.scopes.filter((s) => remove.scopes.includes(s)),
    ...add.endpoints.filter((e) => remove.endpoints.includes(e)),
  ];
  if (contested.length > 0) {
    throw new KeyDomainError('INVALID_ARGUMENT', `both added and removed: ${unique(contested).join(', ')}`);
  }
  const scopes = unique([...state.scopes.filter((s) => !remove.scopes.includes(s)), ...add.scopes]);
  const endpoints = unique([...state.endpoints.filter((e) => !remove.endpoints.includes(e)), ...add.endpoints]);
  return scopedEvent(state, scopes, endpoints);
}

/** KeyScoped with the resulting lists and exactly what changed; no event when nothing did. */
function scopedEvent(state: KeyState, scopes: string[], endpoints: string[]): KeyEvent[] {
  const added = { scopes: missingFrom(state.scopes, scopes), endpoints: missingFrom(state.endpoints, endpoints) };
  const removed = { scopes: missingFrom(scopes, state.scopes), endpoints: missingFrom(endpoints, state.endpoints) };
  const changed = added.scopes.length + added.endpoints.length + removed.scopes.length + removed.endpoints.length > 0;
  // Scopes are sets: a request that only reorders them changes nothing.
  if (!changed) return [];
  return [{ type: 'KeyScoped', data: { keyId: state.id, scopes, endpoints, added, removed } }];
}

function setLimits(command: SetLimits, state: KeyState): KeyEvent[] {
  const rateLimit = command.rateLimit === undefined ? state.rateLimit : command.rateLimit;
  const quota = command.quota === undefined ? state.quota : command.quota;
  if (sameRateLimit(rateLimit, state.rateLimit) && sameQuota(quota, state.quota)) return [];
  return [{ type: 'KeyThrottled', data: { keyId: state.id, rateLimit, quota } }];
}

function suspend(command: SuspendKey, state: KeyState, now: Date): KeyEvent[] {
  if (state.suspended) {
    throw new KeyDomainError('INVALID_TRANSITION', `key ${state.id} is already suspended`);
  }
  assertNotLastAdmin(state, command.otherActiveAdminKeys, now.getTime(), 'suspend');
  return [{ type: 'KeySuspended', data: { keyId: state.id, reason: command.reason } }];
}

function reinstate(command: ReinstateKey, state: KeyState): KeyEvent[] {
  if (!state.suspended) {
    throw new KeyDomainError('INVALID_TRANSITION', `key ${state.id} is not suspended, so it cannot be reinstated`);
  }
  return [{ type: 'KeyReinstated', data: { keyId: state.id, reason: command.reason } }];
}

function rotate(command: RotateKey, state: KeyState, now: Date): KeyEvent[] {
  if (state.rotatedTo !== null) {
    throw new KeyDomainError(
      'INVALID_TRANSITION',
      `key ${state.id} was already rotated to ${state.rotatedTo}; rotate the successor instead`,
    );
  }
  if (state.expiresAt !== null && Date.parse(state.expiresAt) <= now.getTime()) {
    throw new KeyDomainError('INVALID_TRANSITION', `key ${state.id} expired at ${state.expiresAt}; issue a new key instead`);
  }
  if (state.suspended) {
    throw new KeyDomainError('INVALID_TRANSITION', `key ${state.id} is suspended; reinstate it before rotating`);
  }
  const grace = command.gracePeriodSeconds;
  if (!Number.isInteger(grace) || grace < 0) {
    throw new KeyDomainError('INVALID_ARGUMENT', `gracePeriodSeconds must be a whole number of seconds >= 0, got ${grace}`);
  }
  if (grace > command.maxGracePeriodSeconds) {
    throw new KeyDomainError(
      'INVALID_ARGUMENT',
      `gracePeriodSeconds ${grace} exceeds the maximum of ${command.maxGracePeriodSeconds} seconds`,
    );
  }
  // The successor carries the old key's permissions and its secret goes to the caller.
  assertMayHoldSecretWith(state.permissions, command.authority);
  if (command.successorId === state.id) {
    throw new KeyDomainError('INVALID_ARGUMENT', `a key cannot be its own successor (${state.id})`);
  }
  // The old key never outlives its own expiry, whatever grace period was asked for.
  let validUntil = now.getTime() + grace * 1000;
  if (state.expiresAt !== null) validUntil = Math.min(validUntil, Date.parse(state.expiresAt));
  return [
    {
      type: 'KeyRotated',
      data: {
        keyId: state.id,
        successorId: command.successorId,
        successorHint: command.successorHint,
        gracePeriodSeconds: grace,
        validUntil: new Date(validUntil).toISOString(),
      },
    },
  ];
}

function revoke(command: RevokeKey, state: KeyState, now: Date): KeyEvent[] {
  assertNotLastAdmin(state, command.otherActiveAdminKeys, now.getTime(), 'revoke');
  return [{ type: 'KeyRevoked', data: { keyId: state.id, reason: command.reason } }];
}

function assertValidEvent(event: KeyEvent): void {
  const problems = eventProblems(event);
  if (problems !== null) throw new KeyDomainError('INVALID_ARGUMENT', problems);
}

/** Items of `next` that are not in `previous`, in `next`'s order. */
function missingFrom<T>(previous: readonly T[], next: readonly T[]): T[] {
  const before = new Set(previous);
  return next.filter((item) => !before.has(item));
}

function sameRateLimit(a: RateLimit | null, b: RateLimit | null): boolean {
  if (a === null || b === null) return a === b;
  return a.limit === b.limit && a.windowSeconds === b.windowSeconds && a.burst === b.burst;
}

function sameQuota(a: Quota | null, b: Quota | null): boolean {
  if (a === null || b === null) return a === b;
  return a.limit === b.limit && a.period === b.period;
}
