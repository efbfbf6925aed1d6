/**
 * The key request decider. A consumer asks for a key on a plan; the plan says whether an operator
 * must approve. The requester holds a claim token (only its digest is in the ledger) and collects
 * the key's secret with it exactly once. Pure.
 *
 * The key itself is issued by the key decider in the same transaction as the request's approval
 * (plans without approval) or its claim (plans with approval): see app/key-request-commands.ts.
 */
import type { KeyRequest, KeyRequestEvent } from '@keyledger/schemas';
import { DomainError } from '../errors.js';
import { validated } from '../validate-event.js';

export type KeyRequestStatus = 'pending' | 'approved' | 'rejected' | 'claimed';

export interface KeyRequestState {
  id: string;
  consumerId: string;
  planId: string;
  name: string | null;
  claimDigest: string;
  status: KeyRequestStatus;
  keyId: string | null;
  decidedBy: string | null;
  decisionReason: string | null;
  createdAt: string;
  updatedAt: string;
  revision: number;
}

export type KeyRequestCommand =
  | { type: 'RequestKey'; requestId: string; consumerId: string; planId: string; name: string | null; claimDigest: string; approvalRequired: boolean; keyId: string }
  | { type: 'ApproveKeyRequest'; reviewer: string; reason: string | null }
  | { type: 'RejectKeyRequest'; reviewer: string; reason: string | null }
  | { type: 'ClaimKeyRequest'; claimDigest: string; keyId: string };

export function evolveKeyRequest(state: KeyRequestState | null, event: KeyRequestEvent, recorded: { occurredAt: string; revision: number }): KeyRequestState {
  if (event.type === 'KeyRequested') {
    const { requestId, ...data } = event.data;
    return {
      id: requestId,
      ...data,
      status: 'pending',
      keyId: null,
      decidedBy: null,
      decisionReason: null,
      createdAt: recorded.occurredAt,
      updatedAt: recorded.occurredAt,
      revision: recorded.revision,
    };
  }
  if (state === null) throw new Error(`${event.type} before KeyRequested`);
  const next = { ...state, updatedAt: recorded.occurredAt, revision: recorded.revision };
  switch (event.type) {
    case 'KeyRequestApproved':
      return { ...next, status: 'approved', keyId: event.data.keyId, decidedBy: event.data.reviewer, decisionReason: event.data.reason };
    case 'KeyRequestRejected':
      return { ...next, status: 'rejected', decidedBy: event.data.reviewer, decisionReason: event.data.reason };
    case 'KeyRequestClaimed':
      return { ...next, status: 'claimed', keyId: event.data.keyId };
    default:
      return state;
  }
}

export function decideKeyRequest(command: KeyRequestCommand, state: KeyRequestState | null): KeyRequestEvent[] {
  return validated(decideUnchecked(command, state));
}

function decideUnchecked(command: KeyRequestCommand, state: KeyRequestState | null): KeyRequestEvent[] {
  if (command.type === 'RequestKey') {
    if (state !== null) throw new DomainError('EXISTS', `key request ${state.id} already exists`, 'key-request-exists');
    const requested: KeyRequestEvent = {
      type: 'KeyRequested',
      data: { requestId: command.requestId, consumerId: command.consumerId, planId: command.planId, name: command.name, claimDigest: command.claimDigest },
    };
    if (command.approvalRequired) return [requested];
    return [requested, { type: 'KeyRequestApproved', data: { requestId: command.requestId, reviewer: 'plan', reason: 'the plan needs no approval', keyId: command.keyId } }];
  }
  if (state === null) throw new DomainError('NOT_FOUND', 'key request not found');
  switch (command.type) {
    case 'ApproveKeyRequest':
    case 'RejectKeyRequest': {
      if (state.status !== 'pending') {
        throw new DomainError('INVALID_TRANSITION', `key request ${state.id} is ${state.status}, not pending`, 'key-request-not-pending');
      }
      return command.type === 'ApproveKeyRequest'
        ? [{ type: 'KeyRequestApproved', data: { requestId: state.id, reviewer: command.reviewer, reason: command.reason, keyId: null } }]
        : [{ type: 'KeyRequestRejected', data: { requestId: state.id, reviewer: command.reviewer, reason: command.reason } }];
    }
    case 'ClaimKeyRequest': {
      if (state.status === 'claimed') throw new DomainError('GONE', `key request ${state.id} was claimed already; its secret is shown once`, 'claimed-once');
      if (command.claimDigest !== state.claimDigest) throw new DomainError('INVALID_ARGUMENT', 'the claim token does not match this key request', 'claim-token-invalid');
      if (state.status !== 'approved') {
        throw new DomainError('INVALID_TRANSITION', `key request ${state.id} is ${state.status}; only an approved request can be claimed`, 'key-request-not-approved');
      }
      return [{ type: 'KeyRequestClaimed', data: { requestId: state.id, keyId: state.keyId ?? command.keyId } }];
    }
    default:
      throw new DomainError('INVALID_ARGUMENT', `unknown key request command '${(command as { type: string }).type}'`);
  }
}

/** The key must be issued with this decision: at once (no approval) or at the claim (approval). */
export function keyIssuedWith(events: readonly KeyRequestEvent[], state: KeyRequestState | null): string | null {
  for (const event of events) {
    if (event.type === 'KeyRequestApproved' && event.data.keyId !== null) return event.data.keyId;
    if (event.type === 'KeyRequestClaimed' && state?.keyId === null) return event.data.keyId;
  }
  return null;
}

/** The API view of a key request (the claim digest stays inside). */
export function toKeyRequestView(state: KeyRequestState): KeyRequest {
  return {
    id: state.id,
    consumerId: state.consumerId,
    planId: state.planId,
    name: state.name,
    status: state.status,
    keyId: state.keyId,
    decidedBy: state.decidedBy,
    decisionReason: state.decisionReason,
    createdAt: state.createdAt,
    updatedAt: state.updatedAt,
    revision: state.revision,
  };
}
