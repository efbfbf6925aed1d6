/**
 * The metadata every command's events record (who, which request, when, correlation), for any
 * aggregate. Key commands build the same shape; new aggregates use this one piece.
 */
import { type Actor, CURRENT_SCHEMA_VERSION, type EventMetadata, type EventType } from '@keyledger/schemas';

export interface MetadataContext {
  actor: Actor;
  requestId: string | null;
  clientRequestId?: string | undefined;
  sourceAddress: string | null;
  correlationId?: string | null;
  causationId?: string | null;
}

export function commandMetadata(type: EventType, ctx: MetadataContext, now: Date, causationId?: string | null): EventMetadata {
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
  return commandMetadata(type, { actor: { kind: 'system', id: component }, requestId: null, sourceAddress: null, correlationId: null }, now, causationId);
}
