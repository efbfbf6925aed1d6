/** API bodies for consumers, usage plans, key requests and usage reports. Unknown fields are rejected. */
import { z } from 'zod';
import { ConsumerId, Instant, KeyId, PlanId, Reason } from './common.js';
import {
  CheckName,
  KeyRequestId,
  ConsumerStatus,
  LeakAction,
  Credits,
  Email,
  Evidence,
  NamedRateLimit,
  Networks,
  Price,
} from './consumers.js';
import { HistoryEntry, Key, KeyStatus } from './api.js';
import { VerifyCodeValues } from './events.js';
import { Quota } from './limits.js';
import { EndpointRule, Scope } from './scopes.js';

const Cursor = z.string().max(500);
const Limit = z.coerce.number().int().min(1).max(500).default(50);

export const RegisterConsumerRequest = z
  .object({
    /** Choose the id (e.g. to adopt keys issued before consumers existed); generated otherwise. */
    id: ConsumerId.optional(),
    name: z.string().min(1).max(200),
    email: Email,
    organisation: z.string().min(1).max(200).optional(),
    intendedUse: z.string().min(1).max(2000).optional(),
    externalId: z.string().min(1).max(200).optional(),
    allowedNetworks: Networks.default([]),
  })
  .strict()
  .meta({ id: 'RegisterConsumerRequest' });

export const VettingCheck = z
  .object({ check: z.string(), passed: z.boolean(), performedBy: z.string().nullable(), evidence: Evidence, recordedAt: Instant })
  .meta({ id: 'VettingCheck' });

export const Consumer = z
  .object({
    id: ConsumerId,
    name: z.string(),
    email: z.string(),
    organisation: z.string().nullable(),
    intendedUse: z.string().nullable(),
    externalId: z.string().nullable(),
    allowedNetworks: z.array(z.string()),
    status: ConsumerStatus,
    checks: z.array(VettingCheck),
    decidedBy: z.string().nullable(),
    decisionReason: z.string().nullable(),
    suspendedReason: z.string().nullable(),
    closedReason: z.string().nullable(),
    createdAt: Instant,
    updatedAt: Instant,
    revision: z.int(),
  })
  .meta({ id: 'Consumer' });

export const RecordCheckRequest = z
  .object({
    check: CheckName,
    passed: z.boolean().default(true),
    performedBy: z.string().min(1).max(200).optional(),
    evidence: Evidence.default({}),
  })
  .strict()
  .meta({ id: 'RecordCheckRequest' });

export const ConsumerList = z.object({ items: z.array(Consumer), nextCursor: z.string().nullable() }).meta({ id: 'ConsumerList' });

export const ListConsumersQuery = z
  .object({
    status: ConsumerStatus.optional(),
    /** Consumers holding at least one key on this plan. */
    planId: PlanId.optional(),
    createdFrom: Instant.optional(),
    createdTo: Instant.optional(),
    cursor: Cursor.optional(),
    limit: Limit,
  })
  .strict();

/** Money as sent: any JSON number, so that a fraction of a minor unit is refused by the plan rules (422) by name. */
const ProposedPrice = z
  .object({
    currency: Price.shape.currency,
    flatFee: z.number(),
    includedUnits: z.number(),
    unitPricePer1000: z.number(),
  })
  .strict();

export const DefinePlanRequest = z
  .object({
    /** Choose the id; generated otherwise. */
    id: PlanId.optional(),
    name: z.string().min(1).max(200),
    rateLimits: z.array(NamedRateLimit).max(10).default([]),
    quota: Quota.optional(),
    credits: Credits.optional(),
    scopes: z.array(Scope).max(100).default([]),
    endpoints: z.array(EndpointRule).max(100).default([]),
    networks: Networks.default([]),
    approvalRequired: z.boolean().default(false),
    price: ProposedPrice.optional(),
    leakAction: LeakAction.optional(),
  })
  .strict()
  .meta({ id: 'DefinePlanRequest' });

export const RevisePlanRequest = DefinePlanRequest.omit({ id: true }).meta({ id: 'RevisePlanRequest' });

export const Plan = z
  .object({
    id: PlanId,
    version: z.int(),
    name: z.string(),
    rateLimits: z.array(NamedRateLimit),
    quota: Quota.nullable(),
    credits: Credits.nullable(),
    scopes: z.array(Scope),
    endpoints: z.array(EndpointRule),
    networks: z.array(z.string()),
    approvalRequired: z.boolean(),
    price: Price.nullable(),
    leakAction: LeakAction.nullable(),
    status: z.enum(['active', 'retired']),
    retiredReason: z.string().nullable(),
    /** When the current version came into force. */
    versionEffectiveFrom: Instant,
    createdAt: Instant,
    updatedAt: Instant,
    revision: z.int(),
  })
  .meta({ id: 'Plan' });

export const PlanList = z.object({ items: z.array(Plan), nextCursor: z.string().nullable() }).meta({ id: 'PlanList' });

export const ListPlansQuery = z
  .object({
    status: z.enum(['active', 'retired']).optional(),
    createdFrom: Instant.optional(),
    createdTo: Instant.optional(),
    cursor: Cursor.optional(),
    limit: Limit,
  })
  .strict();

/** `approved`: ready to claim (the key exists already when the plan needs no approval). */
export const KeyRequestStatus = z.enum(['pending', 'approved', 'rejected', 'claimed']).meta({ id: 'KeyRequestStatus' });

export const CreateKeyRequestBody = z
  .object({ planId: PlanId, name: z.string().min(1).max(200).optional() })
  .strict()
  .meta({ id: 'CreateKeyRequestBody' });

export const KeyRequest = z
  .object({
    id: KeyRequestId,
    consumerId: ConsumerId,
    planId: PlanId,
    name: z.string().nullable(),
    status: KeyRequestStatus,
    keyId: KeyId.nullable(),
    decidedBy: z.string().nullable(),
    decisionReason: z.string().nullable(),
    createdAt: Instant,
    updatedAt: Instant,
    revision: z.int(),
  })
  .meta({ id: 'KeyRequest' });

export const CreatedKeyRequest = KeyRequest.extend({
  /** Shown once: present it to POST /v1/key-requests/{id}/claim to collect the key's secret, once. */
  claimToken: z.string(),
}).meta({ id: 'CreatedKeyRequest' });

export const ClaimKeyRequestBody = z.object({ claimToken: z.string().min(1).max(200) }).strict().meta({ id: 'ClaimKeyRequestBody' });

export const DecisionRequest = z.object({ reason: Reason.optional() }).strict().meta({ id: 'DecisionRequest' });

export const UsagePeriodQuery = z
  .object({
    /** `YYYY-MM` (UTC calendar month); checked by the report (422 naming the rule). */
    period: z.string().max(20),
    format: z.enum(['json', 'csv']).default('json'),
  })
  .strict();

const UnitsByOutcome = z.partialRecord(z.enum(VerifyCodeValues), z.int().min(0));

export const UsageReport = z
  .object({
    period: z.string(),
    /** Whether the period has ended: a final report gives the same figures everywhere, always. */
    final: z.boolean(),
    consumerId: ConsumerId.nullable(),
    planId: PlanId.nullable(),
    currency: z.string().nullable(),
    /** Charged units (quota/credit units of VALID verifications). */
    units: z.int(),
    /** In minor units of `currency`. */
    charge: z.int(),
    flatFee: z.int(),
    includedUnits: z.int(),
    billableUnits: z.int(),
    byKey: z.array(z.object({ keyId: KeyId, planId: PlanId.nullable(), units: z.int(), verifications: UnitsByOutcome })),
    byDay: z.array(z.object({ day: z.string(), units: z.int(), verifications: UnitsByOutcome })),
    byOutcome: UnitsByOutcome,
    byPlanVersion: z.array(z.object({ planId: PlanId, version: z.int(), units: z.int() })),
  })
  .meta({ id: 'UsageReport' });

export type RegisterConsumerRequest = z.infer<typeof RegisterConsumerRequest>;
export type Consumer = z.infer<typeof Consumer>;
export type DefinePlanRequest = z.infer<typeof DefinePlanRequest>;
export type Plan = z.infer<typeof Plan>;
export type KeyRequest = z.infer<typeof KeyRequest>;
export type UsageReport = z.infer<typeof UsageReport>;

/** `?at=`: the state as of an instant, folded from the ledger. */
export const AtQuery = z.object({ at: Instant.optional() }).strict();

/** One aggregate's events as history entries (consumer, plan, key request). */
export const AggregateHistory = z
  .object({ id: z.string(), entries: z.array(HistoryEntry) })
  .meta({ id: 'AggregateHistory' });

export const KeyRequestList = z.object({ items: z.array(KeyRequest), nextCursor: z.string().nullable() }).meta({ id: 'KeyRequestList' });

export const ListKeyRequestsQuery = z
  .object({
    status: KeyRequestStatus.optional(),
    consumerId: ConsumerId.optional(),
    createdFrom: Instant.optional(),
    createdTo: Instant.optional(),
    cursor: Cursor.optional(),
    limit: Limit,
  })
  .strict();

export const ClaimedKeyRequest = z
  .object({ request: KeyRequest, key: Key, secret: z.string().meta({ description: 'The key, shown once' }) })
  .meta({ id: 'ClaimedKeyRequest' });

export const ConsumerKeysQuery = z
  .object({ status: KeyStatus.optional(), cursor: Cursor.optional(), limit: Limit })
  .strict();
