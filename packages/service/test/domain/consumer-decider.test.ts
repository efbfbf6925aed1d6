/** The consumer decider, given/when/then: registration, vetting checks, review, suspension, closing. */
import type { ConsumerEvent } from '@keyledger/schemas';
import { describe, expect, it } from 'vitest';
import { type ConsumerCommand, decideConsumer, foldConsumer } from '../../src/domain/consumers/index.js';
import { assertMayReceiveKeys } from '../../src/domain/consumers/decide.js';
import { DomainError } from '../../src/domain/errors.js';
import { recordedAt } from './given.js';

const ID = 'acme-1';
const registered: ConsumerEvent = {
  type: 'ConsumerRegistered',
  data: { consumerId: ID, name: 'Acme', email: 'dev@acme.test', organisation: 'Acme Ltd', intendedUse: 'checkout', externalId: 'acme-1', allowedNetworks: [] },
};
const check = (name: string, passed = true): ConsumerEvent => ({
  type: 'ConsumerCheckRecorded',
  data: { consumerId: ID, check: name, passed, performedBy: 'ops', evidence: {} },
});
const approved: ConsumerEvent = { type: 'ConsumerApproved', data: { consumerId: ID, reviewer: 'key_reviewer', reason: 'ok' } };
const rejected: ConsumerEvent = { type: 'ConsumerRejected', data: { consumerId: ID, reviewer: 'key_reviewer', reason: 'bot' } };
const suspended: ConsumerEvent = { type: 'ConsumerSuspended', data: { consumerId: ID, reason: 'billing' } };
const closed: ConsumerEvent = { type: 'ConsumerClosed', data: { consumerId: ID, reason: null } };

const fold = (history: ConsumerEvent[]) => foldConsumer(history.map((event, revision) => ({ event, revision, occurredAt: recordedAt(revision) })));

function given(history: ConsumerEvent[]) {
  return {
    when(command: ConsumerCommand) {
      const run = () => decideConsumer(command, fold(history));
      return {
        then: (expected: ConsumerEvent[]) => expect(run()).toEqual(expected),
        thenThrows(code: string, rule?: string, message?: RegExp) {
          let caught: unknown;
          try {
            run();
          } catch (error) {
            caught = error;
          }
          expect(caught).toBeInstanceOf(DomainError);
          expect((caught as DomainError).code).toBe(code);
          if (rule) expect((caught as DomainError).rule).toBe(rule);
          if (message) expect((caught as DomainError).message).toMatch(message);
        },
      };
    },
  };
}

const approve = (requiredChecks: string[] = []): ConsumerCommand => ({ type: 'ApproveConsumer', reviewer: 'key_reviewer', reason: 'ok', requiredChecks });

describe('consumer decider', () => {
  it('given nothing, when registered, then ConsumerRegistered (pending) with repeated networks dropped', () => {
    given([])
      .when({ type: 'RegisterConsumer', ...registered.data, allowedNetworks: ['10.0.0.0/8', '10.0.0.0/8'] } as ConsumerCommand)
      .then([{ ...registered, data: { ...registered.data, allowedNetworks: ['10.0.0.0/8'] } } as ConsumerEvent]);
    expect(fold([registered])?.status).toBe('pending');
  });

  it('given a registered consumer, when registered again, then EXISTS', () => {
    given([registered]).when({ type: 'RegisterConsumer', ...registered.data } as ConsumerCommand).thenThrows('EXISTS', 'consumer-exists');
  });

  it('given a bad email or network, when registered, then INVALID_ARGUMENT names the field', () => {
    given([]).when({ type: 'RegisterConsumer', ...registered.data, email: 'nope' } as ConsumerCommand).thenThrows('INVALID_ARGUMENT', undefined, /email/);
    given([]).when({ type: 'RegisterConsumer', ...registered.data, allowedNetworks: ['10.0.0.0/33'] } as ConsumerCommand).thenThrows('INVALID_ARGUMENT', undefined, /allowedNetworks\.0/);
  });

  it('given a pending consumer, when a check is recorded, then ConsumerCheckRecorded with its evidence', () => {
    given([registered])
      .when({ type: 'RecordCheck', check: 'terms_accepted', passed: true, performedBy: null, evidence: { version: '2026-10' } })
      .then([{ type: 'ConsumerCheckRecorded', data: { consumerId: ID, check: 'terms_accepted', passed: true, performedBy: null, evidence: { version: '2026-10' } } }]);
  });

  it('given a pending consumer, when approved, then ConsumerApproved naming the reviewer', () => {
    given([registered]).when(approve()).then([approved]);
  });

  it('given required checks that have not (or no longer) passed, when approved, then RULE_VIOLATED names them', () => {
    given([registered, check('email_verified')]).when(approve(['email_verified', 'bot_check_passed'])).thenThrows('RULE_VIOLATED', 'checks-required', /bot_check_passed$/);
    given([registered, check('email_verified'), check('email_verified', false)]).when(approve(['email_verified'])).thenThrows('RULE_VIOLATED', 'checks-required');
    given([registered, check('email_verified', false), check('email_verified')]).when(approve(['email_verified'])).then([approved]);
  });

  it('given an approved consumer, when approved twice, then INVALID_TRANSITION (consumer-not-pending)', () => {
    given([registered, approved]).when(approve()).thenThrows('INVALID_TRANSITION', 'consumer-not-pending', /approved, not pending/);
  });

  it('given a rejected consumer, when approved or rejected, then INVALID_TRANSITION', () => {
    given([registered, rejected]).when(approve()).thenThrows('INVALID_TRANSITION', 'consumer-not-pending');
    given([registered, rejected]).when({ type: 'RejectConsumer', reviewer: 'x', reason: null }).thenThrows('INVALID_TRANSITION');
  });

  it('given an approved consumer, when suspended and reinstated, then back to approved', () => {
    given([registered, approved]).when({ type: 'SuspendConsumer', reason: 'billing' }).then([suspended]);
    given([registered, approved, suspended]).when({ type: 'ReinstateConsumer', reason: 'paid' }).then([{ type: 'ConsumerReinstated', data: { consumerId: ID, reason: 'paid' } }]);
    expect(fold([registered, approved, suspended, { type: 'ConsumerReinstated', data: { consumerId: ID, reason: 'paid' } }])?.status).toBe('approved');
  });

  it('given a pending or suspended consumer, when suspended, then INVALID_TRANSITION', () => {
    given([registered]).when({ type: 'SuspendConsumer', reason: null }).thenThrows('INVALID_TRANSITION', 'consumer-not-approved');
    given([registered, approved, suspended]).when({ type: 'SuspendConsumer', reason: null }).thenThrows('INVALID_TRANSITION');
    given([registered, approved]).when({ type: 'ReinstateConsumer', reason: null }).thenThrows('INVALID_TRANSITION', 'consumer-not-suspended');
  });

  it('given any consumer, when closed, then ConsumerClosed; and nothing changes a closed consumer', () => {
    for (const history of [[registered], [registered, approved], [registered, rejected], [registered, approved, suspended]]) {
      given(history).when({ type: 'CloseConsumer', reason: null }).then([closed]);
    }
    given([registered, closed]).when({ type: 'CloseConsumer', reason: null }).thenThrows('INVALID_TRANSITION', 'consumer-closed');
    given([registered, closed]).when(approve()).thenThrows('INVALID_TRANSITION', 'consumer-closed');
    given([registered, closed]).when({ type: 'RecordCheck', check: 'x', passed: true, performedBy: null, evidence: {} }).thenThrows('INVALID_TRANSITION');
  });

  it('given no consumer, when any command but register, then NOT_FOUND', () => {
    given([]).when(approve()).thenThrows('NOT_FOUND');
  });

  it('keys are issued only to approved consumers', () => {
    for (const [history, status] of [
      [[registered], 'pending'],
      [[registered, rejected], 'rejected'],
      [[registered, approved, suspended], 'suspended'],
      [[registered, closed], 'closed'],
    ] as const) {
      expect(() => assertMayReceiveKeys(fold([...history])!)).toThrow(new RegExp(`is ${status}; keys are issued only to approved consumers`));
    }
    expect(() => assertMayReceiveKeys(fold([registered, approved])!)).not.toThrow();
  });
});
