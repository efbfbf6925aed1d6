/** The key request decider, given/when/then: request, approval or rejection, one claim. */
import type { KeyRequestEvent } from '@keyledger/schemas';
import { describe, expect, it } from 'vitest';
import { DomainError } from '../../src/domain/errors.js';
import { decideKeyRequest, evolveKeyRequest, keyIssuedWith, type KeyRequestCommand, type KeyRequestState } from '../../src/domain/key-requests/decide.js';
import { recordedAt } from './given.js';

const REQUEST = 'kr_0123456789abcdefAB';
const KEY = 'key_0123456789abcdefABCD';
const DIGEST = 'cd'.repeat(32);
const requestKey = (approvalRequired: boolean): KeyRequestCommand => ({
  type: 'RequestKey', requestId: REQUEST, consumerId: 'acme', planId: 'starter', name: null, claimDigest: DIGEST, approvalRequired, keyId: KEY,
});
const requested: KeyRequestEvent = { type: 'KeyRequested', data: { requestId: REQUEST, consumerId: 'acme', planId: 'starter', name: null, claimDigest: DIGEST } };
const autoApproved: KeyRequestEvent = { type: 'KeyRequestApproved', data: { requestId: REQUEST, reviewer: 'plan', reason: 'the plan needs no approval', keyId: KEY } };
const approved: KeyRequestEvent = { type: 'KeyRequestApproved', data: { requestId: REQUEST, reviewer: 'key_op', reason: 'ok', keyId: null } };
const claimed: KeyRequestEvent = { type: 'KeyRequestClaimed', data: { requestId: REQUEST, keyId: KEY } };

function fold(history: KeyRequestEvent[]): KeyRequestState | null {
  let state: KeyRequestState | null = null;
  history.forEach((event, revision) => (state = evolveKeyRequest(state, event, { occurredAt: recordedAt(revision), revision })));
  return state;
}
function when(history: KeyRequestEvent[], command: KeyRequestCommand): KeyRequestEvent[] | DomainError {
  try {
    return decideKeyRequest(command, fold(history));
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw error;
  }
}

describe('key request decider', () => {
  it('given nothing, when requested on a plan without approval, then requested and approved with its key at once', () => {
    const events = when([], requestKey(false)) as KeyRequestEvent[];
    expect(events).toEqual([requested, autoApproved]);
    expect(keyIssuedWith(events, null)).toBe(KEY);
  });

  it('given nothing, when requested on a plan with approval, then pending, and no key yet', () => {
    const events = when([], requestKey(true)) as KeyRequestEvent[];
    expect(events).toEqual([requested]);
    expect(keyIssuedWith(events, null)).toBeNull();
    expect(fold(events)?.status).toBe('pending');
  });

  it('given a pending request, when approved, then approved (the key comes with the claim); approving twice is refused', () => {
    expect(when([requested], { type: 'ApproveKeyRequest', reviewer: 'key_op', reason: 'ok' })).toEqual([approved]);
    expect(when([requested, approved], { type: 'ApproveKeyRequest', reviewer: 'key_op', reason: null })).toMatchObject({ code: 'INVALID_TRANSITION', rule: 'key-request-not-pending' });
  });

  it('given a pending request, when rejected, then rejected; and a rejected request cannot be claimed', () => {
    const rejected = when([requested], { type: 'RejectKeyRequest', reviewer: 'key_op', reason: 'unknown' }) as KeyRequestEvent[];
    expect(rejected).toEqual([{ type: 'KeyRequestRejected', data: { requestId: REQUEST, reviewer: 'key_op', reason: 'unknown' } }]);
    expect(when([requested, ...rejected], { type: 'ClaimKeyRequest', claimDigest: DIGEST, keyId: KEY })).toMatchObject({ rule: 'key-request-not-approved' });
  });

  it('given an approved request, when claimed with the right token, then claimed; with the key issued now if it was not', () => {
    const afterApproval = when([requested, approved], { type: 'ClaimKeyRequest', claimDigest: DIGEST, keyId: KEY }) as KeyRequestEvent[];
    expect(afterApproval).toEqual([claimed]);
    expect(keyIssuedWith(afterApproval, fold([requested, approved]))).toBe(KEY);
    const afterAuto = when([requested, autoApproved], { type: 'ClaimKeyRequest', claimDigest: DIGEST, keyId: 'key_other0000000000000' }) as KeyRequestEvent[];
    expect(afterAuto).toEqual([claimed]);
    expect(keyIssuedWith(afterAuto, fold([requested, autoApproved]))).toBeNull();
  });

  it('given an approved request, when claimed with a wrong token, then INVALID_ARGUMENT (claim-token-invalid)', () => {
    expect(when([requested, autoApproved], { type: 'ClaimKeyRequest', claimDigest: 'ab'.repeat(32), keyId: KEY })).toMatchObject({ code: 'INVALID_ARGUMENT', rule: 'claim-token-invalid' });
  });

  it('given a pending request, when claimed, then refused: not approved yet', () => {
    expect(when([requested], { type: 'ClaimKeyRequest', claimDigest: DIGEST, keyId: KEY })).toMatchObject({ code: 'INVALID_TRANSITION', rule: 'key-request-not-approved' });
  });

  it('given a claimed request, when claimed again, then GONE (410)', () => {
    expect(when([requested, autoApproved, claimed], { type: 'ClaimKeyRequest', claimDigest: DIGEST, keyId: KEY })).toMatchObject({ code: 'GONE', rule: 'claimed-once' });
  });
});
