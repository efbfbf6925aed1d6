/** Who asks, from where, and how: what every command records with its events. */
import { type Actor, CURRENT_SCHEMA_VERSION, type EventMetadata, type EventType } from '@keyledger/schemas';
import type { Authority } from '../domain/keys/index.js';

export interface CommandContext {
  actor: Actor;
  /** What the actor may do; the deciders check commands against it. */
  authority: Authority;
  /** The client's own x-request-id, kept beside ours for correlation. */
  clientRequestId?: string | undefined;
  requestId: string | null;
  sourceAddress: string | null;
  idempotencyKey?: string | undefined;
  requestHash?: string | undefined;
  /** From If-Match: the revision the caller last saw. */
  expectedRevision?: number | undefined;
  correlationId?: string | null;
  causationId?: string | null;
}

/** What the metadata of an event needs of its context (a command's, or keyledger's own). */
export type MetadataContext = Pick<CommandContext, 'actor' | 'requestId' | 'clientRequestId' | 'sourceAddress' | 'correlationId' | 'causationId'>;

/** The metadata of one event a command decided (idempotency adds its key and hash on top). */
export function eventMetadata(type: EventType, ctx: MetadataContext, now: Date, causationId?: string | null): EventMetadata {
  return {
    schemaVersion: CURRENT_SCHEMA_VERSION[type],
    actor: ctx.actor,
    requestId: ctx.requestId,
    ...(ctx.clientRequestId ? { clientRequestId: ctx.clientRequestId } : {}),
    sourceAddress: ctx.sourceAddress,
    occurredAt: now.toISOString(),
    correlationId: ctx.correlationId ?? ctx.requestId,
    causationId: causationId ?? ctx.causationId ?? null,
  };
}

/** Metadata of an event keyledger derives by itself (alerts, usage windows, failing endpoints). */
export function systemMetadata(type: EventType, component: string, now: Date, causationId: string | null = null): EventMetadata {
  return eventMetadata(type, { actor: { kind: 'system', id: component }, requestId: null, sourceAddress: null, correlationId: null }, now, causationId);
}
