import { describe, expect, it } from 'vitest';
import {
  type EventData,
  type EventType,
  eventSchemas,
  isEventType,
  upcastEvent,
  validateEventData,
} from '../src/index.js';

const keyId = 'key_0123456789abcdefABCD';

/** One valid example per event type; `satisfies` keeps them in step with the schemas' types. */
const examples = {
  KeyIssued: {
    keyId,
    kind: 'management',
    consumerId: 'acme',
    planId: null,
    name: 'checkout',
    environment: 'live',
    digest: 'ab'.repeat(32),
    hint: 'kl_live_…Wx9z',
    scopes: ['orders:read'],
    endpoints: ['GET /orders/*'],
    permissions: ['keys:read'],
    expiresAt: '2031-01-01T00:00:00Z',
    meta: { tier: 'gold', nested: { a: [1, 2] } },
    rateLimit: { limit: 10, windowSeconds: 1, burst: 20 },
    quota: { limit: 1000, period: 'month' },
    rotatedFrom: null,
    networks: [],
  },
  KeyScoped: {
    keyId,
    scopes: ['orders:*'],
    endpoints: [],
    added: { scopes: ['orders:*'], endpoints: [] },
    removed: { scopes: ['orders:read'], endpoints: ['GET /orders/*'] },
  },
  KeyThrottled: { keyId, rateLimit: null, quota: { limit: 5, period: 'day' } },
  KeySuspended: { keyId, reason: 'fraud' },
  KeyReinstated: { keyId, reason: null },
  KeyRotated: {
    keyId,
    successorId: 'key_SuccessorSuccessor1',
    successorHint: 'kl_live_…Nw3q',
    gracePeriodSeconds: 3600,
    validUntil: '2030-06-01T13:00:00.000Z',
  },
  KeyRevoked: { keyId, reason: 'leaked' },
  UsageRecorded: {
    keyId,
    from: '2030-06-01T12:00:00Z',
    to: '2030-06-01T12:01:00Z',
    counts: { VALID: 10, RATE_LIMITED: 2 },
    units: 12,
    quotaWindowStart: '2030-06-01T00:00:00Z',
    quotaPeriod: 'day',
    instanceId: 'node-1',
  },
  ConsumerRegistered: {
    consumerId: 'acme',
    name: 'Acme',
    email: 'dev@acme.test',
    organisation: 'Acme Ltd',
    intendedUse: 'checkout integration',
    externalId: 'acme-1',
    allowedNetworks: ['203.0.113.0/24', '2001:db8::/32'],
  },
  ConsumerCheckRecorded: { consumerId: 'acme', check: 'terms_accepted', passed: true, performedBy: 'portal', evidence: { version: '2026-10' } },
  ConsumerApproved: { consumerId: 'acme', reviewer: 'key_reviewer', reason: 'identity reviewed' },
  ConsumerRejected: { consumerId: 'acme', reviewer: 'key_reviewer', reason: null },
  ConsumerSuspended: { consumerId: 'acme', reason: 'billing overdue' },
  ConsumerReinstated: { consumerId: 'acme', reason: null },
  ConsumerClosed: { consumerId: 'acme', reason: 'contract ended' },
  PlanDefined: {
    planId: 'starter',
    version: 1,
    name: 'Starter',
    rateLimits: [{ name: 'burst', limit: 5, windowSeconds: 1 }],
    quota: { limit: 10000, period: 'month' },
    credits: { initial: 100, refill: { amount: 100, period: 'month', mode: 'reset' } },
    scopes: ['orders:read'],
    endpoints: ['GET /orders/*'],
    networks: [],
    approvalRequired: false,
    price: { currency: 'EUR', flatFee: 1900, includedUnits: 1000, unitPricePer1000: 50 },
    leakAction: null,
  },
  PlanRevised: {
    planId: 'starter',
    version: 2,
    name: 'Starter',
    rateLimits: [],
    quota: null,
    credits: null,
    scopes: [],
    endpoints: [],
    networks: ['10.0.0.0/8'],
    approvalRequired: true,
    price: null,
    leakAction: null,
  },
  PlanRetired: { planId: 'starter', reason: null },
  KeyCreditsAdded: { keyId, amount: 500, reason: 'invoice 42' },
  KeyRequested: { requestId: 'kr_0123456789abcdefAB', consumerId: 'acme', planId: 'starter', name: 'checkout', claimDigest: 'cd'.repeat(32) },
  KeyRequestApproved: { requestId: 'kr_0123456789abcdefAB', reviewer: 'plan', reason: null, keyId: keyId },
  KeyRequestRejected: { requestId: 'kr_0123456789abcdefAB', reviewer: 'key_reviewer', reason: 'unknown company' },
  KeyRequestClaimed: { requestId: 'kr_0123456789abcdefAB', keyId },
  UsageBatchRecorded: {
    from: '2030-06-01T12:00:00Z',
    to: '2030-06-01T12:00:10Z',
    instanceId: 'node-1',
    windows: [{ period: 'day', start: '2030-06-01T00:00:00Z' }],
    entries: [
      { keyId, counts: { VALID: 10, RATE_LIMITED: 2 }, units: 12, window: 0 },
      { keyId: 'key_SuccessorSuccessor1', counts: { NOT_FOUND: 1 }, units: 0, window: null },
    ],
  },
  WebhookEndpointCreated: {
    endpointId: 'wh_0123456789abcdefAB',
    url: 'https://hooks.example.com/in',
    eventTypes: ['Key*'],
    filters: { consumerIds: ['acme'], planIds: [] },
    format: 'event',
    description: null,
    secretSalt: '0123456789abcdef0123456789abcdef',
  },
  WebhookEndpointDisabled: { endpointId: 'wh_0123456789abcdefAB', cause: 'failing', detail: 'HTTP 500', failingSince: '2030-06-01T12:00:00Z' },
  WebhookEndpointEnabled: { endpointId: 'wh_0123456789abcdefAB' },
  WebhookEndpointDeleted: { endpointId: 'wh_0123456789abcdefAB' },
  WebhookReplayRequested: { endpointId: 'wh_0123456789abcdefAB', from: null },
  QuotaThresholdCrossed: {
    keyId,
    consumerId: 'acme',
    planId: null,
    level: 'key',
    period: 'day',
    windowStart: '2030-06-01T00:00:00Z',
    limit: 100,
    used: 75,
    percent: 75,
  },
  CreditThresholdCrossed: {
    keyId,
    consumerId: 'acme',
    planId: 'starter',
    level: 'plan',
    allotment: 100,
    balance: 10,
    periodStart: '2030-06-01T00:00:00Z',
    percent: 90,
  },
  KeyExpiring: { keyId, consumerId: 'acme', planId: null, expiresAt: '2030-06-05T00:00:00Z', withinDays: 7 },
  KeyRotationGraceEnding: {
    keyId,
    consumerId: 'acme',
    planId: null,
    successorId: 'key_SuccessorSuccessor1',
    validUntil: '2030-06-01T13:00:00Z',
    withinHours: 24,
  },
  ApprovalOverdue: {
    subject: 'keyRequest',
    consumerId: 'acme',
    requestId: 'kr_0123456789abcdefAB',
    planId: 'starter',
    pendingSince: '2030-06-01T00:00:00Z',
    overdueHours: 24,
  },
  UsageWindowClosed: {
    keyId,
    consumerId: 'acme',
    planId: null,
    windowStart: '2030-06-01T12:00:00Z',
    windowEnd: '2030-06-01T13:00:00Z',
    counts: { VALID: 10 },
    units: 10,
  },
  KeyLeakReported: {
    keyId,
    consumerId: 'acme',
    planId: null,
    reportId: 'leak_0123456789abcdef0123456789abcdef',
    reporter: 'github',
    url: 'https://github.com/octo/repo/blob/main/config.js',
    source: 'content',
    tokenType: 'keyledger_live_key',
    action: 'suspend',
  },
} satisfies { [T in EventType]: EventData<T> };

const types = Object.keys(eventSchemas) as EventType[];

describe('event schemas', () => {
  it('have an example for every event type', () => {
    expect(Object.keys(examples).sort()).toEqual([...types].sort());
  });

  it.each(types)('%s accepts a valid example unchanged', (type) => {
    expect(eventSchemas[type].parse(examples[type])).toEqual(examples[type]);
    expect(() => validateEventData(type, examples[type])).not.toThrow();
  });

  it.each(types)('%s rejects an unknown field', (type) => {
    const result = eventSchemas[type].safeParse({ ...examples[type], plaintext: 'kl_live_secret' });
    expect(result.success).toBe(false);
    expect(() => validateEventData(type, { ...examples[type], extra: 1 })).toThrow(/extra|unrecognized/i);
  });

  it.each(types)('%s rejects a missing field', (type) => {
    const example = examples[type] as Record<string, unknown>;
    const first = Object.keys(example)[0] as string;
    const { [first]: _omitted, ...rest } = example;
    expect(eventSchemas[type].safeParse(rest).success).toBe(false);
    expect(() => validateEventData(type, rest)).toThrow(new RegExp(first));
  });

  it('a usage batch rejects an entry pointing past its windows, and unknown fields inside entries', () => {
    const batch = examples.UsageBatchRecorded;
    expect(() => validateEventData('UsageBatchRecorded', { ...batch, windows: [] })).toThrow(/window index out of range/);
    expect(eventSchemas.UsageBatchRecorded.safeParse({ ...batch, entries: [{ ...batch.entries[0], plaintext: 'x' }] }).success).toBe(false);
  });

  it('nested objects are strict too (KeyScoped.added, limits)', () => {
    const scoped = examples.KeyScoped;
    expect(eventSchemas.KeyScoped.safeParse({ ...scoped, added: { ...scoped.added, extra: [] } }).success).toBe(false);
    const issued = examples.KeyIssued;
    expect(eventSchemas.KeyIssued.safeParse({ ...issued, rateLimit: { ...issued.rateLimit, extra: 1 } }).success).toBe(false);
    expect(eventSchemas.KeyIssued.safeParse({ ...issued, quota: { ...issued.quota, extra: 1 } }).success).toBe(false);
  });

  it('reject a malformed digest, key id and instant', () => {
    expect(() => validateEventData('KeyIssued', { ...examples.KeyIssued, digest: 'AB'.repeat(32) })).toThrow(/digest/);
    expect(() => validateEventData('KeyRevoked', { ...examples.KeyRevoked, keyId: 'key_short' })).toThrow(/keyId/);
    expect(() => validateEventData('KeyRotated', { ...examples.KeyRotated, validUntil: 'tomorrow' })).toThrow(/validUntil/);
  });

  it('validateEventData refuses unknown types, including inherited property names', () => {
    expect(() => validateEventData('KeyExploded', {})).toThrow(/unknown event type 'KeyExploded'/);
    expect(isEventType('toString')).toBe(false);
    expect(isEventType('constructor')).toBe(false);
    expect(isEventType('KeyIssued')).toBe(true);
  });
});

describe('upcasting KeyIssued', () => {
  const v1 = { keyId, permissions: ['keys:read'], meta: {} };
  it('given a v1 issue, when upcast, then it gains kind (management: it had permissions) and then networks, the stored object untouched', () => {
    const lifted = upcastEvent('KeyIssued', 1, v1) as Record<string, unknown>;
    expect(lifted).toEqual({ ...v1, kind: 'management', networks: [] });
    expect(Object.keys(lifted).slice(-2)).toEqual(['kind', 'networks']);
    expect(v1).toEqual({ keyId, permissions: ['keys:read'], meta: {} });
    expect(upcastEvent('KeyIssued', 1, { keyId })).toEqual({ keyId, kind: 'consumer', networks: [] });
  });
  it('given a v2 issue or a v1 one that has a kind, when upcast, then only networks is added; a v3 one comes back as it is', () => {
    expect(upcastEvent('KeyIssued', 2, { keyId, kind: 'consumer' })).toEqual({ keyId, kind: 'consumer', networks: [] });
    expect(upcastEvent('KeyIssued', 1, { keyId, kind: 'consumer', permissions: ['keys:read'] })).toEqual({ keyId, kind: 'consumer', permissions: ['keys:read'], networks: [] });
    const withNetworks = { keyId, networks: ['10.0.0.0/8'] };
    expect(upcastEvent('KeyIssued', 1, withNetworks)).toEqual({ keyId, networks: ['10.0.0.0/8'], kind: 'consumer' });
    const v3 = { keyId, kind: 'consumer', networks: [] };
    expect(upcastEvent('KeyIssued', 3, v3)).toBe(v3);
    expect(upcastEvent('KeyIssued', 2, v3)).toBe(v3);
  });
});
