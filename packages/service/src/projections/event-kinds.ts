/**
 * What a projection may do with a recorded event: apply it (upcast to the current schema
 * version first) or skip it, because a newer keyledger wrote a type or a schema version this one
 * does not know (a rolling deploy). Pure, so the rule has one definition and its own tests.
 */
import { CURRENT_SCHEMA_VERSION, isEventType, upcastEvent } from '@keyledger/schemas';
import type { RecordedEvent } from '../store/port.js';

export type SkipReason = 'unknown_type' | 'newer_version';

export type Classified = { kind: 'apply'; event: RecordedEvent } | { kind: 'skip'; reason: SkipReason; schemaVersion: number };

export interface SchemaKnowledge {
  currentVersion(type: string): number | undefined;
  upcast(type: string, schemaVersion: number, data: unknown): unknown;
}

export const knownSchemas: SchemaKnowledge = {
  currentVersion: (type) => (isEventType(type) ? CURRENT_SCHEMA_VERSION[type] : undefined),
  upcast: upcastEvent,
};

/** Events without a version in their metadata were written before versions existed: version 1. */
export function schemaVersionOf(event: RecordedEvent): number {
  const version = (event.metadata as { schemaVersion?: unknown } | null)?.schemaVersion;
  return typeof version === 'number' && Number.isInteger(version) && version >= 1 ? version : 1;
}

export function classifyEvent(event: RecordedEvent, schemas: SchemaKnowledge = knownSchemas): Classified {
  const schemaVersion = schemaVersionOf(event);
  const current = schemas.currentVersion(event.type);
  if (current === undefined) return { kind: 'skip', reason: 'unknown_type', schemaVersion };
  if (schemaVersion > current) return { kind: 'skip', reason: 'newer_version', schemaVersion };
  if (schemaVersion === current) return { kind: 'apply', event };
  return {
    kind: 'apply',
    event: {
      ...event,
      data: schemas.upcast(event.type, schemaVersion, event.data),
      metadata: { ...(event.metadata as object), schemaVersion: current },
    },
  };
}
