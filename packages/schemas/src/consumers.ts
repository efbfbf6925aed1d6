/**
 * Consumers (the third parties that get keys) and usage plans (what they may call, how often,
 * at what price): their events and the pieces their API bodies share. Plans are versioned: every
 * revision is a whole new version, so a usage report can price each unit with the version that
 * was in force when it was used. Money is integer minor units (cents), never floating point.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { ConsumerId, JsonValue, PlanId, Reason } from './common.js';
import { Quota, QuotaPeriod } from './limits.js';
import { EndpointRule, Scope } from './scopes.js';

/** An IPv4 or IPv6 network in CIDR notation (`203.0.113.0/24`, `2001:db8::/32`); a bare address is a /32 or /128. */
export const Cidr = z
  .string()
  .max(64)
  .refine(isCidr, 'must be an IPv4 or IPv6 network in CIDR notation, e.g. 203.0.113.0/24')
  .meta({ id: 'Cidr' });

export function isCidr(value: string): boolean {
  const [address, prefix, extra] = value.split('/');
  if (address === undefined || extra !== undefined) return false;
  const family = isIP(address);
  if (family === 0) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

export const Networks = z.array(Cidr).max(100);

export const Email = z.email().max(254);

/** Vetting checks keyledger knows by name; any other lower_snake_case name is recorded as well. */
export const KNOWN_CHECKS = ['email_verified', 'terms_accepted', 'bot_check_passed', 'identity_reviewed'] as const;
export const CheckName = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,63}$/, 'must be lower_snake_case, e.g. email_verified')
  .meta({ id: 'CheckName', description: `A vetting check, e.g. ${KNOWN_CHECKS.join(', ')}` });

export const Evidence = z
  .record(z.string().max(64), JsonValue)
  .refine((value) => JSON.stringify(value).length <= 4096, 'evidence must serialise to at most 4096 bytes')
  .meta({ id: 'Evidence', description: 'What the check saw (e.g. the address verified, the terms version accepted)' });

export const ConsumerStatus = z.enum(['pending', 'approved', 'rejected', 'suspended', 'closed']).meta({ id: 'ConsumerStatus' });
export type ConsumerStatus = z.infer<typeof ConsumerStatus>;

export const ConsumerProfile = z
  .object({
    name: z.string().min(1).max(200),
    email: Email,
    organisation: z.string().min(1).max(200).nullable(),
    intendedUse: z.string().min(1).max(2000).nullable(),
    externalId: z.string().min(1).max(200).nullable(),
    /** Keys of this consumer verify only from these networks (empty: anywhere). */
    allowedNetworks: Networks,
  })
  .strict();

export const ConsumerRegistered = ConsumerProfile.extend({ consumerId: ConsumerId }).strict();

export const ConsumerCheckRecorded = z
  .object({
    consumerId: ConsumerId,
    check: CheckName,
    passed: z.boolean(),
    /** Who or what performed the check (an operator, a bot-check service); the actor recorded it. */
    performedBy: z.string().min(1).max(200).nullable(),
    evidence: Evidence,
  })
  .strict();

const Decision = z.object({ consumerId: ConsumerId, reviewer: z.string().max(100), reason: Reason.nullable() }).strict();
export const ConsumerApproved = Decision;
export const ConsumerRejected = Decision;

const ReasonOnly = z.object({ consumerId: ConsumerId, reason: Reason.nullable() }).strict();
export const ConsumerSuspended = ReasonOnly;
export const ConsumerReinstated = ReasonOnly;
export const ConsumerClosed = ReasonOnly;

/** A named rate limit of a plan: verify charges every limit of the plan, or none. */
export const NamedRateLimit = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'must be a short lowercase name, e.g. burst'),
    limit: z.int().min(1).max(1_000_000_000),
    windowSeconds: z.int().min(1).max(86_400 * 366),
    burst: z.int().min(1).max(1_000_000_000).optional(),
  })
  .strict()
  .meta({ id: 'NamedRateLimit' });
export type NamedRateLimit = z.infer<typeof NamedRateLimit>;

/**
 * Prepaid credits: each verify spends its cost. The refill either adds `amount` each period
 * (`add`, unused credits carry over) or sets the balance back to `amount` (`reset`).
 */
export const Credits = z
  .object({
    initial: z.int().min(0).max(1_000_000_000_000),
    refill: z
      .object({ amount: z.int().min(1).max(1_000_000_000_000), period: QuotaPeriod, mode: z.enum(['add', 'reset']) })
      .strict()
      .nullable(),
  })
  .strict()
  .meta({ id: 'Credits' });
export type Credits = z.infer<typeof Credits>;

/** A price in integer minor units of `currency` (ISO 4217): flat fee per period, included units, then per 1,000 units. */
export const Price = z
  .object({
    currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code, e.g. EUR'),
    /** Per calendar month. */
    flatFee: z.int().min(0).max(1_000_000_000_000),
    includedUnits: z.int().min(0).max(1_000_000_000_000),
    unitPricePer1000: z.int().min(0).max(1_000_000_000_000),
  })
  .strict()
  .meta({ id: 'Price' });
export type Price = z.infer<typeof Price>;

/** What keyledger does with a live key reported as leaked (besides recording the report). */
export const LeakAction = z.enum(['notify', 'suspend', 'revoke']).meta({ id: 'LeakAction' });
export type LeakAction = z.infer<typeof LeakAction>;

/** Everything one version of a plan says. */
export const PlanTerms = z
  .object({
    name: z.string().min(1).max(200),
    rateLimits: z.array(NamedRateLimit).max(10),
    quota: Quota.nullable(),
    credits: Credits.nullable(),
    scopes: z.array(Scope).max(100),
    endpoints: z.array(EndpointRule).max(100),
    networks: Networks,
    approvalRequired: z.boolean(),
    price: Price.nullable(),
    /** What a reported leak of a key on this plan does; null: the installation's KEYLEDGER_LEAK_ACTION. */
    leakAction: LeakAction.nullable(),
  })
  .strict();
export type PlanTerms = z.infer<typeof PlanTerms>;

export const PlanDefined = PlanTerms.extend({ planId: PlanId, version: z.literal(1) }).strict();
export const PlanRevised = PlanTerms.extend({ planId: PlanId, version: z.int().min(2) }).strict();
export const PlanRetired = z.object({ planId: PlanId, reason: Reason.nullable() }).strict();

type Schemas<T extends Record<string, z.ZodType>> = { [K in keyof T]: { type: K; data: z.infer<T[K]> } }[keyof T];

/**
 * Key requests (`keyrequest-<id>`): a consumer asks for a key on a plan. On a plan without
 * approval the request is approved (and its key issued) at once; otherwise it waits for an
 * operator. The requester collects the secret once, with the claim token it got with the request;
 * only the token's SHA-256 digest is stored.
 */
export const KeyRequestId = z
  .string()
  .regex(/^kr_[0-9A-Za-z]{16,32}$/, 'must be a key request id such as kr_3kTz8Qm2Xw9bLp0R')
  .meta({ id: 'KeyRequestId' });

export const KeyRequested = z
  .object({
    requestId: KeyRequestId,
    consumerId: ConsumerId,
    planId: PlanId,
    name: z.string().min(1).max(200).nullable(),
    claimDigest: z.string().regex(/^[0-9a-f]{64}$/),
  })
  .strict();
export const KeyRequestApproved = z
  .object({
    requestId: KeyRequestId,
    /** `plan` when the plan needs no approval. */
    reviewer: z.string().max(100),
    reason: Reason.nullable(),
    /** The key issued with the approval; null when it is issued at claim time. */
    keyId: z.string().nullable(),
  })
  .strict();
export const KeyRequestRejected = z.object({ requestId: KeyRequestId, reviewer: z.string().max(100), reason: Reason.nullable() }).strict();
export const KeyRequestClaimed = z.object({ requestId: KeyRequestId, keyId: z.string() }).strict();

export const keyRequestEventSchemas = { KeyRequested, KeyRequestApproved, KeyRequestRejected, KeyRequestClaimed } as const;
export type KeyRequestEvent = Schemas<typeof keyRequestEventSchemas>;
export const KEY_REQUEST_EVENT_VERSIONS: Record<KeyRequestEvent['type'], number> = {
  KeyRequested: 1,
  KeyRequestApproved: 1,
  KeyRequestRejected: 1,
  KeyRequestClaimed: 1,
};

export const consumerEventSchemas = {
  ConsumerRegistered,
  ConsumerCheckRecorded,
  ConsumerApproved,
  ConsumerRejected,
  ConsumerSuspended,
  ConsumerReinstated,
  ConsumerClosed,
} as const;

export const planEventSchemas = { PlanDefined, PlanRevised, PlanRetired } as const;

export type ConsumerEvent = Schemas<typeof consumerEventSchemas>;
export type PlanEvent = Schemas<typeof planEventSchemas>;

export const CONSUMER_EVENT_VERSIONS: Record<ConsumerEvent['type'], number> = {
  ConsumerRegistered: 1,
  ConsumerCheckRecorded: 1,
  ConsumerApproved: 1,
  ConsumerRejected: 1,
  ConsumerSuspended: 1,
  ConsumerReinstated: 1,
  ConsumerClosed: 1,
};
/** PlanDefined and PlanRevised v2 added `leakAction` (earlier versions: null, the installation's action). */
export const PLAN_EVENT_VERSIONS: Record<PlanEvent['type'], number> = { PlanDefined: 2, PlanRevised: 2, PlanRetired: 1 };
