/**
 * Webhook endpoints (`webhook-<id>` streams), the alerts keyledger derives from its own ledger,
 * leaked-key reports and closed usage windows: their events and API bodies.
 *
 * Alerts are events like any other: webhooks, the SSE feed and the CLI see them. Each carries the
 * key's (or consumer's) `consumerId` and `planId`, so endpoint filters work on every alert.
 */
import { z } from 'zod';
import { ConsumerId, Instant, KeyId, PlanId } from './common.js';
import { QuotaPeriod } from './limits.js';
import { KeyRequestId, LeakAction } from './consumers.js';

export const WebhookEndpointId = z
  .string()
  .regex(/^wh_[0-9A-Za-z]{16,32}$/, 'must be a webhook endpoint id such as wh_3kTz8Qm2Xw9bLp0R')
  .meta({ id: 'WebhookEndpointId' });

/**
 * An event type, or a pattern where `*` stands for any characters: `Key*`, `*Threshold*`, `*`.
 * Only letters, digits and `*`, so a pattern is never a regular expression in disguise.
 */
export const EventTypePattern = z
  .string()
  .regex(/^[A-Za-z0-9*]{1,100}$/, 'must be an event type or a pattern with *, e.g. Key* or *')
  .meta({ id: 'EventTypePattern' });

export const WebhookFilters = z
  .object({
    /** Only events of these consumers (an event's `consumerId`, or its key's). Empty: every consumer. */
    consumerIds: z.array(ConsumerId).max(100).default([]),
    /** Only events of keys on these plans (an event's `planId`, or its key's). Empty: every plan. */
    planIds: z.array(PlanId).max(100).default([]),
  })
  .strict()
  .meta({ id: 'WebhookFilters' });
export type WebhookFilters = z.infer<typeof WebhookFilters>;

/** `event`: the public event view as JSON. `cloudevents`: a CloudEvents 1.0 structured-mode envelope around it. */
export const WebhookFormat = z.enum(['event', 'cloudevents']).meta({ id: 'WebhookFormat' });
export type WebhookFormat = z.infer<typeof WebhookFormat>;

export const WebhookUrl = z
  .string()
  .max(2000)
  .refine((value) => {
    try {
      const url = new URL(value);
      return (url.protocol === 'http:' || url.protocol === 'https:') && url.username === '' && url.password === '';
    } catch {
      return false;
    }
  }, 'must be an http:// or https:// URL without credentials')
  .meta({ id: 'WebhookUrl' });

export const WebhookEndpointCreated = z
  .object({
    endpointId: WebhookEndpointId,
    url: WebhookUrl,
    eventTypes: z.array(EventTypePattern).min(1).max(50),
    filters: WebhookFilters,
    format: WebhookFormat,
    description: z.string().max(500).nullable(),
    /**
     * Random, not secret by itself: the signing secret is HMAC(server secret, endpoint id, salt),
     * derived by every instance when it signs and never stored. Hidden from public views anyway.
     */
    secretSalt: z.string().regex(/^[0-9a-f]{32}$/),
  })
  .strict();
export const WebhookEndpointDisabled = z
  .object({
    endpointId: WebhookEndpointId,
    /** `manual`: an operator; `failing`: deliveries failed for longer than the configured limit. */
    cause: z.enum(['manual', 'failing']),
    detail: z.string().max(500).nullable(),
    failingSince: Instant.nullable(),
  })
  .strict();
export const WebhookEndpointEnabled = z.object({ endpointId: WebhookEndpointId }).strict();
export const WebhookEndpointDeleted = z.object({ endpointId: WebhookEndpointId }).strict();
export const WebhookReplayRequested = z
  .object({
    endpointId: WebhookEndpointId,
    /** Deliver again every matching event after this checkpoint; null: from the start of the ledger. */
    from: z.string().max(200).nullable(),
  })
  .strict();

export const webhookEventSchemas = {
  WebhookEndpointCreated,
  WebhookEndpointDisabled,
  WebhookEndpointEnabled,
  WebhookEndpointDeleted,
  WebhookReplayRequested,
} as const;

type Schemas<T extends Record<string, z.ZodType>> = { [K in keyof T]: { type: K; data: z.infer<T[K]> } }[keyof T];
export type WebhookEvent = Schemas<typeof webhookEventSchemas>;

/** Whose threshold it was: the key's own quota or credits, or its plan's (plan thresholds come with plan wiring). */
const ThresholdLevel = z.enum(['key', 'plan']);
const KeyRef = { keyId: KeyId, consumerId: ConsumerId, planId: PlanId.nullable() };
const Percent = z.int().min(1).max(1000);

export const QuotaThresholdCrossed = z
  .object({
    ...KeyRef,
    level: ThresholdLevel,
    period: QuotaPeriod,
    windowStart: Instant,
    limit: z.int().min(1),
    /** Units used in the window as the ledger knew it when the threshold was seen crossed. */
    used: z.int().min(0),
    percent: Percent,
  })
  .strict();

export const CreditThresholdCrossed = z
  .object({
    ...KeyRef,
    level: ThresholdLevel,
    /** The credits of one refill period (or the initial grant without refill) the percentage is of. */
    allotment: z.int().min(1),
    balance: z.int().min(0),
    /** Start of the refill period; null without refill. */
    periodStart: Instant.nullable(),
    percent: Percent,
  })
  .strict();

export const KeyExpiring = z.object({ ...KeyRef, expiresAt: Instant, withinDays: z.number().positive() }).strict();

export const KeyRotationGraceEnding = z
  .object({ ...KeyRef, successorId: KeyId, validUntil: Instant, withinHours: z.number().positive() })
  .strict();

export const ApprovalOverdue = z
  .object({
    subject: z.enum(['consumer', 'keyRequest']),
    consumerId: ConsumerId,
    requestId: KeyRequestId.nullable(),
    planId: PlanId.nullable(),
    pendingSince: Instant,
    overdueHours: z.number().positive(),
  })
  .strict();

/** One key's verifications in one closed usage window (the unit a metering system ingests). */
export const UsageWindowClosed = z
  .object({
    ...KeyRef,
    windowStart: Instant,
    windowEnd: Instant,
    counts: z.record(z.string().max(32), z.int().min(0)),
    units: z.int().min(0),
  })
  .strict();

// LeakAction is defined with the plans (consumers.ts), which may name their own.

/** A live key was reported as published somewhere. Never the plaintext: the key id says which. */
export const KeyLeakReported = z
  .object({
    ...KeyRef,
    /** Derived from the key and where it was found: the same report twice is one report. */
    reportId: z.string().regex(/^leak_[0-9a-f]{32}$/),
    reporter: z.string().min(1).max(100),
    url: z.string().max(2000).nullable(),
    source: z.string().max(100).nullable(),
    tokenType: z.string().max(100).nullable(),
    action: LeakAction,
  })
  .strict();

export const alertEventSchemas = {
  QuotaThresholdCrossed,
  CreditThresholdCrossed,
  KeyExpiring,
  KeyRotationGraceEnding,
  ApprovalOverdue,
  UsageWindowClosed,
  KeyLeakReported,
} as const;
export type AlertEvent = Schemas<typeof alertEventSchemas>;

export const WEBHOOK_EVENT_VERSIONS: Record<WebhookEvent['type'], number> = {
  WebhookEndpointCreated: 1,
  WebhookEndpointDisabled: 1,
  WebhookEndpointEnabled: 1,
  WebhookEndpointDeleted: 1,
  WebhookReplayRequested: 1,
};
export const ALERT_EVENT_VERSIONS: Record<AlertEvent['type'], number> = {
  QuotaThresholdCrossed: 1,
  CreditThresholdCrossed: 1,
  KeyExpiring: 1,
  KeyRotationGraceEnding: 1,
  ApprovalOverdue: 1,
  UsageWindowClosed: 1,
  KeyLeakReported: 1,
};

// ---------------------------------------------------------------------------------------------
// API bodies

export const CreateWebhookRequest = z
  .object({
    url: WebhookUrl,
    eventTypes: z.array(EventTypePattern).min(1).max(50),
    filters: WebhookFilters.optional(),
    format: WebhookFormat.default('event'),
    description: z.string().max(500).optional(),
  })
  .strict()
  .meta({ id: 'CreateWebhookRequest' });

export const WebhookEndpoint = z
  .object({
    id: WebhookEndpointId,
    url: z.string(),
    eventTypes: z.array(z.string()),
    filters: z.object({ consumerIds: z.array(z.string()), planIds: z.array(z.string()) }),
    format: WebhookFormat,
    description: z.string().nullable(),
    status: z.enum(['enabled', 'disabled']),
    disabledCause: z.enum(['manual', 'failing']).nullable(),
    disabledDetail: z.string().nullable(),
    createdAt: Instant,
    updatedAt: Instant,
    revision: z.int(),
  })
  .meta({ id: 'WebhookEndpoint' });
export type WebhookEndpoint = z.infer<typeof WebhookEndpoint>;

export const CreatedWebhookEndpoint = WebhookEndpoint.extend({
  secret: z.string().nullable().meta({
    description: 'The signing secret (whsec_…), shown once. null on an idempotent replay after the replay window.',
  }),
}).meta({ id: 'CreatedWebhookEndpoint' });

export const WebhookEndpointList = z.object({ items: z.array(WebhookEndpoint) }).meta({ id: 'WebhookEndpointList' });

export const ReplayWebhookRequest = z
  .object({
    /** A checkpoint (as in GET /v1/events); events strictly after it are delivered again. "" = from the start. */
    from: z.string().max(200),
  })
  .strict()
  .meta({ id: 'ReplayWebhookRequest' });

export const WebhookDelivery = z
  .object({
    eventId: z.string(),
    eventType: z.string(),
    checkpoint: z.string(),
    attempt: z.int().min(1),
    outcome: z.enum(['delivered', 'failed']),
    httpStatus: z.int().nullable(),
    latencyMs: z.int().min(0),
    error: z.string().nullable(),
    at: Instant,
    instanceId: z.string(),
  })
  .meta({ id: 'WebhookDelivery' });

export const WebhookDeliveryList = z
  .object({
    items: z.array(WebhookDelivery),
    /** The checkpoint of the last event delivered (or skipped as not matching); null before the first. */
    deliveredThrough: z.string().nullable(),
  })
  .meta({ id: 'WebhookDeliveryList' });

export const WebhookDeliveriesQuery = z
  .object({ limit: z.coerce.number().int().min(1).max(1000).default(100) })
  .strict();

/** A generic leak report from any scanner (`POST /v1/leaks`). */
export const LeakReportRequest = z
  .object({
    token: z.string().min(1).max(512),
    url: z.string().max(2000).optional(),
    source: z.string().max(100).optional(),
    reporter: z.string().min(1).max(100).optional(),
  })
  .strict()
  .meta({ id: 'LeakReportRequest' });

export const LeakReportResult = z
  .object({
    label: z.enum(['true_positive', 'false_positive']),
    keyId: z.string().nullable(),
    reportId: z.string().nullable(),
    action: LeakAction.nullable(),
    /** This very report was received before: nothing was done again. */
    replayed: z.boolean(),
  })
  .meta({ id: 'LeakReportResult' });

/** What GitHub's secret scanning partner program posts: one or more matches. */
export const GithubLeakReport = z
  .array(
    z
      .object({
        token: z.string().max(512),
        type: z.string().max(200),
        url: z.string().max(2000).optional(),
        source: z.string().max(100).optional(),
      })
      .loose(),
  )
  .min(1)
  .max(1000)
  .meta({ id: 'GithubLeakReport' });

/** GitHub's partner feedback format: the token's SHA-256 (never echoed raw), its type and a label. */
export const GithubLeakFeedback = z
  .array(z.object({ token_hash: z.string(), token_type: z.string(), label: z.enum(['true_positive', 'false_positive']) }))
  .meta({ id: 'GithubLeakFeedback' });
