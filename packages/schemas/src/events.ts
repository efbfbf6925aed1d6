/**
 * The ledger's event types. Names are stable and past tense; the schema version travels in each
 * event's metadata (`schemaVersion`) and old versions are upcast on read (`upcastEvent`).
 * No event ever holds a plaintext key: only its SHA-256 digest and a display hint.
 */
import { z } from 'zod';
import { ConsumerId, Instant, KeyId, Meta, PlanId, Reason } from './common.js';
import { Quota, RateLimit } from './limits.js';
import {
  CONSUMER_EVENT_VERSIONS,
  consumerEventSchemas,
  Networks,
  KEY_REQUEST_EVENT_VERSIONS,
  keyRequestEventSchemas,
  PLAN_EVENT_VERSIONS,
  planEventSchemas,
} from './consumers.js';
import { Permission } from './permissions.js';
import { ALERT_EVENT_VERSIONS, alertEventSchemas, WEBHOOK_EVENT_VERSIONS, webhookEventSchemas } from './webhooks.js';
import { EndpointRule, Scope } from './scopes.js';

export const Digest = z.string().regex(/^[0-9a-f]{64}$/, 'must be a hex SHA-256 digest');
export const Hint = z.string().max(64);
export const Environment = z.enum(['live', 'test']).meta({ id: 'Environment' });

/**
 * Consumer keys are what third parties present to gateways; management keys call keyledger's own
 * API. They are different kinds, fixed at issue, so that no command can turn one into the other:
 * a consumer key never carries a management permission, a management key never verifies VALID.
 */
export const KeyKind = z.enum(['consumer', 'management']).meta({ id: 'KeyKind' });
export type KeyKind = z.infer<typeof KeyKind>;

export const KeyIssued = z
  .object({
    keyId: KeyId,
    kind: KeyKind,
    consumerId: ConsumerId,
    planId: PlanId.nullable(),
    name: z.string().max(200).nullable(),
    environment: Environment,
    digest: Digest,
    hint: Hint,
    scopes: z.array(Scope),
    endpoints: z.array(EndpointRule),
    permissions: z.array(Permission),
    expiresAt: Instant.nullable(),
    meta: Meta,
    rateLimit: RateLimit.nullable(),
    quota: Quota.nullable(),
    /** Set when this key is the successor of a rotation. */
    rotatedFrom: KeyId.nullable(),
    /** Client networks (CIDRs) the key may be used from, on top of its consumer's and plan's; empty: anywhere they allow. */
    networks: Networks,
  })
  .strict();

export const KeyScoped = z
  .object({
    keyId: KeyId,
    scopes: z.array(Scope),
    endpoints: z.array(EndpointRule),
    /** What changed, so history can say it without diffing. */
    added: z.object({ scopes: z.array(Scope), endpoints: z.array(EndpointRule) }).strict(),
    removed: z.object({ scopes: z.array(Scope), endpoints: z.array(EndpointRule) }).strict(),
  })
  .strict();

export const KeyThrottled = z
  .object({ keyId: KeyId, rateLimit: RateLimit.nullable(), quota: Quota.nullable() })
  .strict();

export const KeySuspended = z.object({ keyId: KeyId, reason: Reason.nullable() }).strict();
export const KeyReinstated = z.object({ keyId: KeyId, reason: Reason.nullable() }).strict();

export const KeyRotated = z
  .object({
    keyId: KeyId,
    successorId: KeyId,
    successorHint: Hint,
    gracePeriodSeconds: z.int().min(0),
    /** The old key stops working at this instant (now + grace period). */
    validUntil: Instant,
  })
  .strict();

export const KeyRevoked = z.object({ keyId: KeyId, reason: Reason.nullable() }).strict();

/** Prepaid credits bought for a key on a plan with credits (a top-up): added once, on every instance. */
export const KeyCreditsAdded = z
  .object({ keyId: KeyId, amount: z.int().min(1).max(1_000_000_000_000), reason: Reason.nullable() })
  .strict();

export const VerifyCodeValues = [
  'VALID',
  'MALFORMED',
  'NOT_FOUND',
  'REVOKED',
  'EXPIRED',
  'SUSPENDED',
  'FORBIDDEN',
  'RATE_LIMITED',
  'QUOTA_EXCEEDED',
  'CREDITS_EXHAUSTED',
] as const;

/** Verifications of one key aggregated over one interval; quotas and bills rebuild from these. */
export const UsageRecorded = z
  .object({
    keyId: KeyId,
    from: Instant,
    to: Instant,
    counts: z.partialRecord(z.enum(VerifyCodeValues), z.int().min(0)),
    units: z.int().min(0),
    /** Quota window the units were charged to (UTC start), when the key has a quota. */
    quotaWindowStart: Instant.nullable(),
    quotaPeriod: Quota.shape.period.nullable(),
    instanceId: z.string().max(100),
  })
  .strict();

/**
 * Verifications of every key one instance saw in one flush interval, in one event: at 1M active
 * keys a per-key event per flush would be 100k events/s per instance. Quota windows are listed
 * once and referenced by index, so an entry stays a few dozen bytes. Per-key `UsageRecorded`
 * events written before this type existed keep being read.
 */
export const UsageBatchRecorded = z
  .object({
    from: Instant,
    to: Instant,
    instanceId: z.string().max(100),
    /** Quota windows the entries' units were charged to (UTC start). */
    windows: z.array(z.object({ period: Quota.shape.period, start: Instant }).strict()),
    entries: z.array(
      z
        .object({
          keyId: KeyId,
          counts: z.partialRecord(z.enum(VerifyCodeValues), z.int().min(0)),
          units: z.int().min(0),
          /** Index into `windows`, or null when the key has no quota. */
          window: z.int().min(0).nullable(),
        })
        .strict(),
    ),
  })
  .strict()
  .refine((batch) => batch.entries.every((e) => e.window === null || e.window < batch.windows.length), 'entry window index out of range');

export const keyEventSchemas = {
  KeyIssued,
  KeyScoped,
  KeyThrottled,
  KeySuspended,
  KeyReinstated,
  KeyRotated,
  KeyRevoked,
  KeyCreditsAdded,
} as const;

export const eventSchemas = {
  ...keyEventSchemas,
  UsageRecorded,
  ...consumerEventSchemas,
  ...planEventSchemas,
  ...keyRequestEventSchemas,
  UsageBatchRecorded,
  ...webhookEventSchemas,
  ...alertEventSchemas,
} as const;

export type EventType = keyof typeof eventSchemas;
export type EventData<T extends EventType> = z.infer<(typeof eventSchemas)[T]>;
export type KeyEventType = keyof typeof keyEventSchemas;

/** A key stream event as the domain sees it: a discriminated union on `type`. */
export type KeyEvent = { [T in KeyEventType]: { type: T; data: EventData<T> } }[KeyEventType];
export type UsageEvent =
  | { type: 'UsageRecorded'; data: EventData<'UsageRecorded'> }
  | { type: 'UsageBatchRecorded'; data: EventData<'UsageBatchRecorded'> };

/** Current schema version of every event type; bump it and add an upcaster when a shape changes. */
export const CURRENT_SCHEMA_VERSION: Record<EventType, number> = {
  /**
   * v2 added `kind` (v1 events are upcast: a key with permissions was a management key); v3 added
   * `networks` (earlier keys have none).
   */
  KeyIssued: 3,
  KeyScoped: 1,
  KeyThrottled: 1,
  KeySuspended: 1,
  KeyReinstated: 1,
  KeyRotated: 1,
  KeyRevoked: 1,
  KeyCreditsAdded: 1,
  UsageRecorded: 1,
  UsageBatchRecorded: 1,
  ...CONSUMER_EVENT_VERSIONS,
  ...PLAN_EVENT_VERSIONS,
  ...KEY_REQUEST_EVENT_VERSIONS,
  ...WEBHOOK_EVENT_VERSIONS,
  ...ALERT_EVENT_VERSIONS,
};

export function isEventType(type: string): type is EventType {
  return Object.hasOwn(eventSchemas, type);
}

/** Throws a readable error when `data` does not match the current schema of `type`. */
export function validateEventData(type: string, data: unknown): void {
  if (!isEventType(type)) throw new Error(`unknown event type '${type}'`);
  const result = eventSchemas[type].safeParse(data);
  if (!result.success) {
    throw new Error(result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '));
  }
}

/** Lifts an event stored under an older schema version to the current shape. */
export function upcastEvent(type: string, schemaVersion: number, data: unknown): unknown {
  if ((type === 'PlanDefined' || type === 'PlanRevised') && schemaVersion < 2 && data !== null && typeof data === 'object' && !('leakAction' in data)) {
    return { ...data, leakAction: null };
  }
  if (type === 'KeyIssued' && schemaVersion < 3 && data !== null && typeof data === 'object') {
    const stored = data as Record<string, unknown>;
    const addKind = schemaVersion < 2 && !('kind' in stored);
    const addNetworks = !('networks' in stored);
    if (!addKind && !addNetworks) return stored;
    // One copy with both fields (kind first, then networks), not a copy per field: a replay of
    // an old ledger upcasts every key's issue.
    const permissions = (stored.permissions as unknown[] | undefined) ?? [];
    const kind = permissions.length > 0 ? 'management' : 'consumer';
    if (addKind && addNetworks) return { ...stored, kind, networks: [] };
    return addKind ? { ...stored, kind } : { ...stored, networks: [] };
  }
  return data;
}

/**
 * Fields of an event's data that only keyledger itself may read: public event views (the events
 * API, the live feed, webhooks) leave them out. A digest is not a secret in the strict sense, but
 * it is what verify looks keys up by and what an offline guesser would test against.
 */
export const PRIVATE_EVENT_FIELDS: Partial<Record<EventType, readonly string[]>> = {
  KeyIssued: ['digest'],
  KeyRequested: ['claimDigest'],
  WebhookEndpointCreated: ['secretSalt'],
};

/** Metadata that only keyledger itself needs (replay detection); hidden from public views too. */
export const PRIVATE_METADATA_FIELDS: readonly string[] = ['idempotencyKey', 'requestHash'];

/** An event's data and metadata as anyone with `events:read` may see them. */
export function publicEventView<D, M>(type: string, data: D, metadata: M): { data: D; metadata: M } {
  const hiddenData = isEventType(type) ? PRIVATE_EVENT_FIELDS[type] : undefined;
  return { data: hiddenData ? omit(data, hiddenData) : data, metadata: omit(metadata, PRIVATE_METADATA_FIELDS) };
}

function omit<T>(value: T, fields: readonly string[]): T {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const copy = { ...(value as Record<string, unknown>) };
  for (const field of fields) delete copy[field];
  return copy as T;
}

/**
 * Who did it: a management key, keyledger itself (bootstrap, usage flushing), or the operator on
 * the host using the CLI with direct access to the store (break-glass root key reset).
 */
export const Actor = z
  .object({ kind: z.enum(['key', 'system', 'host-operator']), id: z.string().max(100) })
  .strict()
  .meta({ id: 'Actor' });

/**
 * Metadata of every event. `hash`, `previousHash` and `signature` are reserved for the coming
 * tamper-evidence chain, so adding them later changes no existing field.
 */
export const EventMetadata = z
  .object({
    schemaVersion: z.int().min(1),
    actor: Actor,
    /** The answering instance's own id for the request (never taken from the client). */
    requestId: z.string().max(200).nullable(),
    /** The client's `x-request-id`, kept for correlation with its logs. */
    clientRequestId: z.string().max(200).optional(),
    sourceAddress: z.string().max(100).nullable(),
    occurredAt: Instant,
    correlationId: z.string().max(200).nullable(),
    causationId: z.string().max(200).nullable(),
    idempotencyKey: z.string().max(200).optional(),
    requestHash: z.string().max(128).optional(),
    hash: z.string().optional(),
    previousHash: z.string().optional(),
    signature: z.string().optional(),
  })
  .meta({ id: 'EventMetadata' });

export type Actor = z.infer<typeof Actor>;
export type EventMetadata = z.infer<typeof EventMetadata>;
