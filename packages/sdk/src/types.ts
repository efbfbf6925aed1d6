/**
 * Public types of the SDK, all derived from the types openapi-typescript generates from the
 * service's OpenAPI document (src/generated/openapi.ts). Nothing here restates a shape the
 * generator provides: request bodies only relax fields the server defaults, and the verify
 * result is the generated VerifyResponse narrowed into a discriminated union.
 */
import type { components, operations } from './generated/openapi.js';

type GeneratedSchemas = components['schemas'];

/** Any JSON value: what `meta`, event `data` and history `changes` hold (a recursive component). */
export type JsonValue = GeneratedSchemas['JsonValue'];

/** Kept as an identity for callers of earlier versions; the document no longer needs repairs. */
export type RepairJson<T> = T;

type Schemas = GeneratedSchemas;

/** Makes the listed fields optional: the server fills them with their documented defaults. */
type WithDefaults<T, K extends keyof T> = Omit<T, K> & Partial<Pick<T, K>>;

// Responses.
export type Key = Schemas['Key'];
export type IssuedKey = Schemas['IssuedKey'];
export type KeyList = Schemas['KeyList'];
export type RotatedKey = Schemas['RotatedKey'];
export type KeyHistory = Schemas['KeyHistory'];
export type HistoryEntry = Schemas['HistoryEntry'];
export type LedgerEvent = Schemas['LedgerEvent'];
export type EventPage = Schemas['EventPage'];
export type Problem = Schemas['Problem'];
export type QuotaResponse = Schemas['QuotaResponse'];
export type UsageResponse = Schemas['UsageResponse'];
export type VerifyResponse = Schemas['VerifyResponse'];
export type VerifyCode = Schemas['VerifyCode'];
export type KeyStatus = Schemas['KeyStatus'];
export type Consumer = Schemas['Consumer'];
export type ConsumerList = Schemas['ConsumerList'];
export type ConsumerStatus = Schemas['ConsumerStatus'];
export type Plan = Schemas['Plan'];
export type PlanList = Schemas['PlanList'];
export type KeyRequest = Schemas['KeyRequest'];
export type CreatedKeyRequest = Schemas['CreatedKeyRequest'];
export type ClaimedKeyRequest = Schemas['ClaimedKeyRequest'];
export type KeyRequestList = Schemas['KeyRequestList'];
export type AggregateHistory = Schemas['AggregateHistory'];
export type UsageReport = Schemas['UsageReport'];
export type AuditPublicKey = Schemas['AuditPublicKey'];
export type AuditCheckpoint = Schemas['AuditCheckpoint'];
export type AuditCosignature = Schemas['AuditCosignature'];
export type InclusionProof = Schemas['InclusionProof'];
export type ConsistencyProof = Schemas['ConsistencyProof'];
export type CosignatureSubmission = Schemas['CosignatureSubmission'];

/**
 * `keys.get` answers the key plus its ETag (to pass back as `ifMatch` on a guarded write) and the
 * ledger checkpoint the answering instance had applied (`keyledger-checkpoint`), when it said.
 */
export type KeyWithEtag = Key & { etag: string; checkpoint?: string };

// Request bodies (the generator's "Input" variants describe what the server accepts).
type JsonBody<Op extends keyof operations> = operations[Op] extends { requestBody: { content: { 'application/json': infer B } } }
  ? RepairJson<B>
  : operations[Op] extends { requestBody?: { content: { 'application/json': infer B } } }
    ? RepairJson<B>
    : never;

export type IssueKeyRequest = WithDefaults<JsonBody<'issueKey'>, 'environment' | 'scopes' | 'endpoints' | 'permissions' | 'meta' | 'networks'>;
export type ReplaceScopesRequest = JsonBody<'replaceScopes'>;
type PatchScopesBody = JsonBody<'patchScopes'>;
type PatchScopesChange = NonNullable<PatchScopesBody['add']>;
export type PatchScopesRequest = {
  add?: Partial<PatchScopesChange>;
  remove?: Partial<NonNullable<PatchScopesBody['remove']>>;
};
export type SetLimitsRequest = JsonBody<'setLimits'>;
export type ReasonRequest = Schemas['ReasonRequestInput'];
export type RotateKeyRequest = JsonBody<'rotateKey'>;
export type VerifyRequest = WithDefaults<JsonBody<'verifyKey'>, 'cost'>;
export type RegisterConsumerRequest = WithDefaults<JsonBody<'registerConsumer'>, 'allowedNetworks'>;
export type RecordCheckRequest = WithDefaults<JsonBody<'recordConsumerCheck'>, 'passed' | 'evidence'>;
export type DecisionRequest = JsonBody<'approveConsumer'>;
export type DefinePlanRequest = WithDefaults<JsonBody<'definePlan'>, 'rateLimits' | 'scopes' | 'endpoints' | 'networks' | 'approvalRequired'>;
export type RevisePlanRequest = WithDefaults<JsonBody<'revisePlan'>, 'rateLimits' | 'scopes' | 'endpoints' | 'networks' | 'approvalRequired'>;
export type CreateKeyRequestBody = JsonBody<'requestKey'>;
export type AddCreditsRequest = JsonBody<'addCredits'>;

// Query strings.
export type ListKeysQuery = NonNullable<operations['listKeys']['parameters']['query']>;
export type EventsQuery = NonNullable<operations['listEvents']['parameters']['query']>;
export type UsageQuery = NonNullable<operations['getUsage']['parameters']['query']>;
export type ListConsumersQuery = NonNullable<operations['listConsumers']['parameters']['query']>;
export type ListPlansQuery = NonNullable<operations['listPlans']['parameters']['query']>;
export type ListKeyRequestsQuery = NonNullable<operations['listKeyRequests']['parameters']['query']>;
export type ConsumerKeysQuery = NonNullable<operations['listConsumerKeys']['parameters']['query']>;

/** The IETF RateLimit fields the service sent with a verify answer, when the key has limits. */
export interface RateLimitInfo {
  /** `RateLimit-Policy`, e.g. `"burst";q=100;w=60` */
  policy: string;
  /** `RateLimit`, e.g. `"burst";r=42;t=17` */
  value: string;
  /** `Retry-After` in seconds, on a refusal. */
  retryAfter?: number;
}

type NonNullFields<T, K extends keyof T> = Omit<T, K> & { [P in K]: NonNullable<T[P]> };

/**
 * The ledger checkpoint the answering service instance had applied; absent on answers the
 * gateway verifier made from its cache.
 */
type AnsweredAt = { checkpoint?: string | null };

/** A key that passed every check. */
export type VerifyValid = NonNullFields<Omit<VerifyResponse, 'valid' | 'code' | 'checkpoint'>, 'keyId' | 'consumerId' | 'meta'> & AnsweredAt & {
  valid: true;
  code: 'VALID';
  rateLimit?: RateLimitInfo;
};

/** Codes for which the presented key matched no known key: nothing about a key is disclosed. */
export type UnknownKeyCode = Extract<VerifyCode, 'MALFORMED' | 'NOT_FOUND'>;
/** Codes for a known key that is refused. */
export type RefusedKeyCode = Exclude<VerifyCode, 'VALID' | UnknownKeyCode>;

export type VerifyInvalid =
  | (Omit<VerifyResponse, 'valid' | 'code' | 'keyId' | 'consumerId' | 'checkpoint'> & AnsweredAt & {
      valid: false;
      code: UnknownKeyCode;
      keyId: null;
      consumerId: null;
      rateLimit?: RateLimitInfo;
    })
  | (NonNullFields<Omit<VerifyResponse, 'valid' | 'code' | 'checkpoint'>, 'keyId' | 'consumerId'> & AnsweredAt & {
      valid: false;
      code: RefusedKeyCode;
      rateLimit?: RateLimitInfo;
    });

/** Narrow with `result.valid` or `result.code`. */
export type VerifyResult = VerifyValid | VerifyInvalid;

/** Per-call options every method accepts. */
export interface CallOptions {
  /** Abort this call (no retry follows an abort). */
  signal?: AbortSignal;
  /** For mutating calls: the key under which the server records the outcome; a random UUID otherwise. */
  idempotencyKey?: string;
  /** For guarded writes: the ETag (or revision number) last seen; the server answers 412 when it changed. */
  ifMatch?: string | number;
  /** Overrides the client's timeout for each attempt of this call. */
  timeoutMs?: number;
}

// Webhooks and leak reports.
export type WebhookEndpoint = Schemas['WebhookEndpoint'];
export type CreatedWebhookEndpoint = Schemas['CreatedWebhookEndpoint'];
export type WebhookEndpointList = Schemas['WebhookEndpointList'];
export type WebhookDeliveryList = Schemas['WebhookDeliveryList'];
export type WebhookDelivery = Schemas['WebhookDelivery'];
export type CreateWebhookRequest = WithDefaults<JsonBody<'createWebhook'>, 'format'>;
export type LeakReportRequest = JsonBody<'reportLeak'>;
export type LeakReportResult = Schemas['LeakReportResult'];
