/**
 * @keyledger/sdk: a typed client for the keyledger HTTP API (types generated from its OpenAPI
 * document), with automatic idempotent retries and a resumable live event feed.
 */
export { createClient } from './client.js';
export type { ClientOptions, KeyledgerClient } from './client.js';
export {
  KeyledgerApiError,
  KeyledgerNetworkError,
  KeyledgerProtocolError,
  KeyledgerTimeoutError,
} from './errors.js';
export { DEFAULT_IDLE_TIMEOUT_MS } from './event-feed.js';
export type { EventFeed, EventFeedListeners, EventStreamOptions } from './event-feed.js';
export { backoffDelay, DEFAULT_BACKOFF, shouldRetry } from './retry.js';
export type { BackoffPolicy, RetryClass } from './retry.js';
export { SseParser } from './sse.js';
export { verifyWebhook, WebhookSignatureError } from './webhooks.js';
export type { SseMessage } from './sse.js';
export type * from './types.js';
export type { components, operations, paths } from './generated/openapi.js';
export * from './verifier/index.js';
export * from './adapters/index.js';
// Offline verification of the ledger's transparency log (the same code the service uses).
export {
  CheckpointError,
  cosignatureVerifierFromKey,
  leafHashOfPublicView,
  NoteError,
  noteVerifierFromKey,
  openNote,
  parseCheckpoint,
  rootFromInclusionProof,
  verifyCheckpoint,
  verifyConsistency,
  verifyInclusion,
} from '@keyledger/schemas';
export type {
  Checkpoint,
  CheckpointTrust,
  ConsistencyClaim,
  CosignatureVerifier,
  InclusionClaim,
  NoteVerifier,
  OpenedNote,
  PublicLeafView,
  SealedFields,
  VerifiedCheckpoint,
} from '@keyledger/schemas';
