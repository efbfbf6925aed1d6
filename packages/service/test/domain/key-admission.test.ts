/**
 * Key admission, given/when/then: given a consumer's and a plan's history, when a key is issued
 * (or changed) as asked, then it is admitted or refused naming the rule.
 */
import type { ConsumerEvent, PlanEvent, PlanTerms } from '@keyledger/schemas';
import { describe, expect, it } from 'vitest';
import { foldConsumer } from '../../src/domain/consumers/index.js';
import { DomainError } from '../../src/domain/errors.js';
import { foldPlan } from '../../src/domain/plans/index.js';
import { type AdmittedKey, assertMayIssue, assertStaysWithinPlan, type UnregisteredConsumers } from '../../src/domain/policy/key-admission.js';
import { recordedAt } from './given.js';

const CONSUMER = 'acme';
const PLAN = 'starter';
const terms: PlanTerms = {
  name: 'Starter',
  rateLimits: [{ name: 'burst', limit: 5, windowSeconds: 1 }],
  quota: { limit: 10_000, period: 'month' },
  credits: null,
  scopes: ['orders:read', 'orders:write'],
  endpoints: ['GET /orders/**'],
  networks: [],
  approvalRequired: false,
  price: { currency: 'EUR', flatFee: 1900, includedUnits: 1000, unitPricePer1000: 50 },
    leakAction: null,
};
const registered: ConsumerEvent = {
  type: 'ConsumerRegistered',
  data: { consumerId: CONSUMER, name: 'Acme', email: 'dev@acme.test', organisation: null, intendedUse: null, externalId: null, allowedNetworks: [] },
};
const approved: ConsumerEvent = { type: 'ConsumerApproved', data: { consumerId: CONSUMER, reviewer: 'ops', reason: null } };
const rejected: ConsumerEvent = { type: 'ConsumerRejected', data: { consumerId: CONSUMER, reviewer: 'ops', reason: null } };
const suspended: ConsumerEvent = { type: 'ConsumerSuspended', data: { consumerId: CONSUMER, reason: null } };
const closed: ConsumerEvent = { type: 'ConsumerClosed', data: { consumerId: CONSUMER, reason: null } };
const defined: PlanEvent = { type: 'PlanDefined', data: { planId: PLAN, version: 1, ...terms } };
const retired: PlanEvent = { type: 'PlanRetired', data: { planId: PLAN, reason: 'legacy' } };

const key = (overrides: Partial<AdmittedKey> = {}): AdmittedKey => ({
  kind: 'consumer',
  consumerId: CONSUMER,
  planId: PLAN,
  scopes: ['orders:read'],
  endpoints: [],
  networks: [],
  rateLimit: null,
  quota: null,
  ...overrides,
});

function given(consumerHistory: ConsumerEvent[], planHistory: PlanEvent[], unregisteredConsumers: UnregisteredConsumers = 'allow') {
  const consumer = foldConsumer(consumerHistory.map((event, revision) => ({ event, revision, occurredAt: recordedAt(revision) })));
  const plan = foldPlan(planHistory.map((event, revision) => ({ event, revision, occurredAt: recordedAt(revision) })));
  const facts = { consumer, plan, unregisteredConsumers };
  return {
    whenIssued(asked: AdmittedKey) {
      return {
        thenAdmitted: () => expect(() => assertMayIssue(asked, facts)).not.toThrow(),
        thenRefused(code: string, rule: string) {
          const error = caught(() => assertMayIssue(asked, facts));
          expect(error.code).toBe(code);
          expect(error.rule).toBe(rule);
        },
      };
    },
    whenChangedTo(changed: AdmittedKey) {
      return {
        thenAdmitted: () => expect(() => assertStaysWithinPlan(changed, plan)).not.toThrow(),
        thenRefused(rule: string) {
          expect(caught(() => assertStaysWithinPlan(changed, plan)).rule).toBe(rule);
        },
      };
    },
  };
}

function caught(run: () => void): DomainError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(DomainError);
    return error as DomainError;
  }
  throw new Error('expected a refusal');
}

describe('issuing a key to a consumer on a plan', () => {
  it('an approved consumer on an active plan, within the plan: admitted', () => {
    given([registered, approved], [defined]).whenIssued(key()).thenAdmitted();
  });

  for (const [status, history] of [
    ['pending', [registered]],
    ['rejected', [registered, rejected]],
    ['suspended', [registered, approved, suspended]],
    ['closed', [registered, approved, closed]],
  ] as const) {
    it(`a ${status} consumer: refused (409 consumer-not-approved)`, () => {
      given([...history], [defined]).whenIssued(key()).thenRefused('RULE_VIOLATED', 'consumer-not-approved');
    });
  }

  it('a retired plan: refused (409 plan-retired)', () => {
    given([registered, approved], [defined, retired]).whenIssued(key()).thenRefused('RULE_VIOLATED', 'plan-retired');
  });

  it('a plan nobody defined: refused (422 plan-unknown)', () => {
    given([registered, approved], []).whenIssued(key()).thenRefused('INVALID_ARGUMENT', 'plan-unknown');
  });

  it('scopes beyond the plan: refused (422 scopes-within-plan)', () => {
    given([registered, approved], [defined]).whenIssued(key({ scopes: ['orders:read', 'admin:all'] })).thenRefused('INVALID_ARGUMENT', 'scopes-within-plan');
  });

  it('an endpoint rule beyond the plan: refused (422 endpoints-within-plan)', () => {
    given([registered, approved], [defined]).whenIssued(key({ endpoints: ['DELETE /orders/*'] })).thenRefused('INVALID_ARGUMENT', 'endpoints-within-plan');
  });

  it('a rate limit or quota above the plan: refused (422 limits-only-lower); lower ones are admitted', () => {
    const world = given([registered, approved], [defined]);
    world.whenIssued(key({ rateLimit: { limit: 50, windowSeconds: 1 } })).thenRefused('INVALID_ARGUMENT', 'limits-only-lower');
    world.whenIssued(key({ quota: { limit: 20_000, period: 'month' } })).thenRefused('INVALID_ARGUMENT', 'limits-only-lower');
    world.whenIssued(key({ rateLimit: { limit: 2, windowSeconds: 1 }, quota: { limit: 500, period: 'month' } })).thenAdmitted();
  });

  it('networks only narrower: within the plan\'s and the consumer\'s (422 networks-within-plan, networks-within-consumer)', () => {
    const withNetworks = (networks: string[]): PlanEvent => ({ type: 'PlanDefined', data: { planId: PLAN, version: 1, ...terms, networks } });
    const fenced: ConsumerEvent = { ...registered, data: { ...registered.data, allowedNetworks: ['10.0.0.0/8'] } } as ConsumerEvent;
    given([registered, approved], [withNetworks(['10.0.0.0/8'])]).whenIssued(key({ networks: ['10.1.0.0/16'] })).thenAdmitted();
    given([registered, approved], [withNetworks(['10.0.0.0/8'])]).whenIssued(key({ networks: ['192.168.0.0/16'] })).thenRefused('INVALID_ARGUMENT', 'networks-within-plan');
    given([fenced, approved], [defined]).whenIssued(key({ networks: ['0.0.0.0/0'] })).thenRefused('INVALID_ARGUMENT', 'networks-within-consumer');
    given([fenced, approved], [defined]).whenIssued(key({ networks: ['10.2.3.4'] })).thenAdmitted();
  });

  it('a consumer nobody registered: refused with a plan, admitted without one unless the installation refuses', () => {
    given([], [defined]).whenIssued(key()).thenRefused('RULE_VIOLATED', 'consumer-not-registered');
    given([], []).whenIssued(key({ planId: null })).thenAdmitted();
    given([], [], 'refuse').whenIssued(key({ planId: null })).thenRefused('RULE_VIOLATED', 'consumer-not-registered');
  });

  it('management keys are not the consumers\' access: neither rule applies', () => {
    given([registered], []).whenIssued(key({ kind: 'management', planId: null })).thenAdmitted();
  });
});

describe('changing a key on a plan', () => {
  it('narrower scopes and lower limits stay within the plan; wider ones are refused', () => {
    const world = given([registered, approved], [defined]);
    world.whenChangedTo(key({ scopes: ['orders:write'], quota: { limit: 100, period: 'month' } })).thenAdmitted();
    world.whenChangedTo(key({ scopes: ['billing:read'] })).thenRefused('scopes-within-plan');
    world.whenChangedTo(key({ quota: { limit: 10_001, period: 'month' } })).thenRefused('limits-only-lower');
  });
});
