/** Request and response bodies of the HTTP API. Unknown fields are rejected (`strict`). */
import { isIP } from 'node:net';
import { z } from 'zod';
import { ConsumerId, Instant, JsonValue, KeyId, Meta, PlanId, Reason } from './common.js';
import { Actor, Environment, EventMetadata, KeyKind, VerifyCodeValues } from './events.js';
import { Quota, QuotaPeriod, RateLimit } from './limits.js';
import { Permission } from './permissions.js';
import { EndpointRule, Scope } from './scopes.js';
import { Networks } from './consumers.js';

const Scopes = z.array(Scope).max(100);
const Endpoints = z.array(EndpointRule).max(100);

export const IssueKeyRequest = z
  .object({
    consumerId: ConsumerId,
    name: z.string().min(1).max(200).optional(),
    planId: PlanId.optional(),
    environment: Environment.default('live'),
    /** Defaults to `management` when permissions are given, otherwise `consumer`. */
    kind: KeyKind.optional(),
    scopes: Scopes.default([]),
    endpoints: Endpoints.default([]),
    permissions: z.array(Permission).max(10).default([]),
    expiresAt: Instant.optional(),
    meta: Meta.default({}),
    rateLimit: RateLimit.optional(),
    quota: Quota.optional(),
    /** Client networks (CIDRs) the key may be used from: within its plan's and consumer's, never wider. */
    networks: Networks.default([]),
  })
  .strict()
  .meta({ id: 'IssueKeyRequest' });

export const KeyStatus = z.enum(['active', 'suspended', 'revoked', 'expired']).meta({ id: 'KeyStatus' });

export const Key = z
  .object({
    id: KeyId,
    kind: KeyKind,
    consumerId: ConsumerId,
    planId: PlanId.nullable(),
    name: z.string().nullable(),
    environment: Environment,
    hint: z.string(),
    status: KeyStatus,
    scopes: z.array(Scope),
    endpoints: z.array(EndpointRule),
    permissions: z.array(Permission),
    meta: Meta,
    expiresAt: Instant.nullable(),
    rateLimit: RateLimit.nullable(),
    quota: Quota.nullable(),
    rotatedFrom: KeyId.nullable(),
    networks: z.array(z.string()),
    /** Set once the key was rotated: its successor and when this key stops working. */
    rotatedTo: KeyId.nullable(),
    validUntil: Instant.nullable(),
    suspendedReason: z.string().nullable(),
    revokedAt: Instant.nullable(),
    revokedReason: z.string().nullable(),
    createdAt: Instant,
    updatedAt: Instant,
    /** The key stream's revision; also the ETag. */
    revision: z.int(),
  })
  .meta({ id: 'Key' });

/** Why an idempotent replay answers without the plaintext: a problem (type, title, detail), not an error. */
export const SecretWithheld = z
  .object({ type: z.string(), title: z.string(), detail: z.string() })
  .meta({ id: 'SecretWithheld' });

/** Returned once, at issue and rotation: the only time the plaintext key exists outside its holder. */
export const IssuedKey = Key.extend({
  secret: z.string().nullable().meta({
    description:
      'The plaintext key, shown once. null only on an idempotent replay that may not or cannot show it; `secretWithheld` says why.',
  }),
  secretWithheld: SecretWithheld.nullable().meta({ description: 'Set exactly when `secret` is null.' }),
}).meta({ id: 'IssuedKey' });

/** The ledger checkpoint the answering instance had applied when it answered (also the `keyledger-checkpoint` header). */
export const AppliedCheckpoint = z
  .string()
  .nullable()
  .meta({ description: 'Ledger checkpoint this instance had applied when answering; null before it applied any event.' });

export const KeyList = z
  .object({ items: z.array(Key), nextCursor: z.string().nullable(), checkpoint: AppliedCheckpoint })
  .meta({ id: 'KeyList' });

export const ListKeysQuery = z
  .object({
    consumerId: ConsumerId.optional(),
    planId: PlanId.optional(),
    status: KeyStatus.optional(),
    cursor: z.string().max(200).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
  })
  .strict();

export const GetKeyQuery = z.object({ at: Instant.optional() }).strict();

export const AddCreditsRequest = z
  .object({ amount: z.int().min(1).max(1_000_000_000_000), reason: Reason.optional() })
  .strict()
  .meta({ id: 'AddCreditsRequest' });

export const ReplaceScopesRequest = z
  .object({ scopes: Scopes, endpoints: Endpoints.optional() })
  .strict()
  .meta({ id: 'ReplaceScopesRequest' });

export const PatchScopesRequest = z
  .object({
    add: z.object({ scopes: Scopes.default([]), endpoints: Endpoints.default([]) }).strict().optional(),
    remove: z.object({ scopes: Scopes.default([]), endpoints: Endpoints.default([]) }).strict().optional(),
  })
  .strict()
  .refine((body) => body.add !== undefined || body.remove !== undefined, 'give add, remove or both')
  .meta({ id: 'PatchScopesRequest' });

export const SetLimitsRequest = z
  .object({ rateLimit: RateLimit.nullable().optional(), quota: Quota.nullable().optional() })
  .strict()
  .refine((body) => body.rateLimit !== undefined || body.quota !== undefined, 'give rateLimit, quota or both (null removes one)')
  .meta({ id: 'SetLimitsRequest' });

export const ReasonRequest = z.object({ reason: Reason.optional() }).strict().meta({ id: 'ReasonRequest' });

export const RotateKeyRequest = z
  .object({ gracePeriodSeconds: z.int().min(0) })
  .strict()
  .meta({ id: 'RotateKeyRequest' });

export const RotatedKey = z
  .object({ previous: Key, successor: IssuedKey })
  .meta({ id: 'RotatedKey' });

export const HistoryEntry = z
  .object({
    revision: z.int(),
    type: z.string(),
    occurredAt: Instant,
    actor: Actor,
    /** The answering instance's id for the request. */
    requestId: z.string().nullable(),
    /** The client's own x-request-id, when it sent one. */
    clientRequestId: z.string().nullable(),
    sourceAddress: z.string().nullable(),
    /** Field-level description of what this event changed. */
    changes: z.record(z.string(), JsonValue),
  })
  .meta({ id: 'HistoryEntry' });

export const KeyHistory = z
  .object({ keyId: KeyId, entries: z.array(HistoryEntry) })
  .meta({ id: 'KeyHistory' });

export const LedgerEvent = z
  .object({
    id: z.uuid(),
    checkpoint: z.string(),
    stream: z.string(),
    revision: z.int(),
    type: z.string(),
    data: z.record(z.string(), JsonValue),
    metadata: EventMetadata,
    recordedAt: Instant,
  })
  .meta({ id: 'LedgerEvent' });

export const EventsQuery = z
  .object({
    after: z.string().max(100).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    category: z.string().max(100).optional(),
    type: z.string().max(500).optional(),
  })
  .strict();

export const EventPage = z
  .object({ events: z.array(LedgerEvent), checkpoint: z.string().nullable() })
  .meta({ id: 'EventPage' });

export const VerifyCode = z.enum(VerifyCodeValues).meta({ id: 'VerifyCode' });

export const VerifyRequest = z
  .object({
    // Generous on purpose: a gateway forwards whatever it was sent, and anything that is not a
    // well-formed key is answered MALFORMED (200) by the checksum check, without a lookup.
    key: z.string().max(16_384),
    scopes: z.array(Scope).max(50).optional(),
    endpoint: z.object({ method: z.string().min(1).max(16), path: z.string().min(1).max(2048) }).strict().optional(),
    cost: z.int().min(0).max(1_000_000).default(1),
    /** The caller's client address, checked against the consumer's, plan's and key's allowed networks. */
    clientIp: z.string().max(64).refine((value) => isIP(value) !== 0, 'must be an IPv4 or IPv6 address').optional(),
    /**
     * Makes the charge idempotent: a retry with the same id (per key) is answered with the first
     * outcome and charges nothing again, on every instance.
     */
    chargeId: z.string().regex(/^[\x21-\x7e]{1,128}$/, 'must be 1-128 visible ASCII characters').optional(),
  })
  .strict()
  .meta({ id: 'VerifyRequest' });

/** Which rule a FORBIDDEN answer broke. */
export const ForbiddenReason = z.enum(['scope', 'endpoint', 'network']).meta({ id: 'ForbiddenReason' });
export type ForbiddenReason = z.infer<typeof ForbiddenReason>;

export const NamedRateState = z
  .object({ name: z.string(), limit: z.int(), remaining: z.int(), resetSeconds: z.number() })
  .meta({ id: 'NamedRateState' });

export const CreditsState = z
  .object({ remaining: z.int(), refillAt: Instant.nullable() })
  .meta({ id: 'CreditsState' });

export const RateState = z
  .object({ limit: z.int(), remaining: z.int(), resetSeconds: z.number() })
  .meta({ id: 'RateState' });

export const QuotaState = z
  .object({ limit: z.int(), remaining: z.int(), resetAt: Instant, period: QuotaPeriod })
  .meta({ id: 'QuotaState' });

export const VerifyResponse = z
  .object({
    valid: z.boolean(),
    code: VerifyCode,
    keyId: KeyId.nullable(),
    consumerId: ConsumerId.nullable(),
    scopes: z.array(Scope),
    meta: Meta.nullable(),
    expiresAt: Instant.nullable(),
    limits: z.object({
      rate: RateState.nullable(),
      quota: QuotaState.nullable(),
      /** The plan's named rate limits, in the plan's order (empty without a plan). */
      rates: z.array(NamedRateState),
      credits: CreditsState.nullable(),
    }),
    /** The usage plan and the version whose terms this answer applied; null for a key without a plan. */
    plan: z.object({ id: PlanId, version: z.int() }).nullable(),
    /** For FORBIDDEN: which rule refused (scope, endpoint or network); null otherwise. */
    reason: ForbiddenReason.nullable(),
    /** True when this answer repeats the first outcome of the same chargeId (nothing charged again). */
    replayed: z.boolean(),
    /**
     * True when the key's consumer is registered: its status and allowed networks apply to the key
     * (a cache must then follow the consumer's events too, or ask every time).
     */
    consumerRegistered: z.boolean(),
    checkpoint: AppliedCheckpoint,
  })
  .meta({ id: 'VerifyResponse' });

export const QuotaResponse = z
  .object({
    keyId: KeyId,
    rate: RateState.nullable(),
    quota: QuotaState.extend({ used: z.int() }).nullable(),
    /** A plan's named rate limits. */
    rates: z.array(NamedRateState),
    /** A plan's prepaid credits. */
    credits: CreditsState.nullable(),
  })
  .meta({ id: 'QuotaResponse' });

export const UsageQuery = z
  .object({ from: Instant.optional(), to: Instant.optional(), granularity: z.enum(['minute', 'hour', 'day', 'month']).default('hour') })
  .strict();

export const UsageBucket = z
  .object({ start: Instant, counts: z.record(z.string(), z.int()), units: z.int() })
  .meta({ id: 'UsageBucket' });

export const UsageResponse = z
  .object({ keyId: KeyId, granularity: QuotaPeriod, buckets: z.array(UsageBucket) })
  .meta({ id: 'UsageResponse' });

/** An event a projection could not apply: set aside so the log keeps moving, kept for an operator. */
export const ParkedEvent = z
  .object({
    projection: z.string(),
    eventId: z.uuid(),
    checkpoint: z.string(),
    stream: z.string(),
    revision: z.int(),
    type: z.string(),
    /** What the projection threw (its message only; event data is never copied here). */
    error: z.string(),
    parkedAt: Instant,
  })
  .meta({ id: 'ParkedEvent' });

export const ParkedEventsResponse = z
  .object({
    /** Every event parked since this instance's projections were rebuilt, including ones no longer listed. */
    total: z.int().min(0),
    /** The most recent parked events, oldest first (bounded). */
    items: z.array(ParkedEvent),
  })
  .meta({ id: 'ParkedEventsResponse' });

export type IssueKeyRequest = z.infer<typeof IssueKeyRequest>;
export type Key = z.infer<typeof Key>;
export type IssuedKey = z.infer<typeof IssuedKey>;
export type SecretWithheld = z.infer<typeof SecretWithheld>;
export type KeyStatus = z.infer<typeof KeyStatus>;
export type VerifyRequest = z.infer<typeof VerifyRequest>;
export type VerifyResponse = z.infer<typeof VerifyResponse>;
export type VerifyCode = z.infer<typeof VerifyCode>;
export type HistoryEntry = z.infer<typeof HistoryEntry>;
export type LedgerEvent = z.infer<typeof LedgerEvent>;
export type ParkedEvent = z.infer<typeof ParkedEvent>;
export type ParkedEventsResponse = z.infer<typeof ParkedEventsResponse>;
