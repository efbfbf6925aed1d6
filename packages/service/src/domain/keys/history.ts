/**
 * What each key event changed, field by field, for `GET /keys/{id}/history`. Auditors read this
 * instead of diffing states. The digest is left out (it identifies the secret) and no event ever
 * holds a plaintext key, so neither can appear here.
 */
import {
  CURRENT_SCHEMA_VERSION,
  type HistoryEntry,
  isEventType,
  type KeyEvent,
  keyEventSchemas,
  publicEventView,
  upcastEvent,
} from '@keyledger/schemas';

export type Changes = HistoryEntry['changes'];
export type JsonValue = Changes[string];

export function describeChange(event: KeyEvent): Changes {
  switch (event.type) {
    case 'KeyIssued': {
      const { keyId: _keyId, digest: _digest, ...settings } = event.data;
      return json(settings);
    }
    case 'KeyScoped':
      return json({ added: event.data.added, removed: event.data.removed });
    case 'KeyThrottled':
      return json({ rateLimit: event.data.rateLimit, quota: event.data.quota });
    case 'KeySuspended':
      return { suspended: true, reason: event.data.reason };
    case 'KeyReinstated':
      return { suspended: false, reason: event.data.reason };
    case 'KeyRotated':
      return {
        rotatedTo: event.data.successorId,
        successorHint: event.data.successorHint,
        gracePeriodSeconds: event.data.gracePeriodSeconds,
        validUntil: event.data.validUntil,
      };
    case 'KeyRevoked':
      return { revoked: true, reason: event.data.reason };
    case 'KeyCreditsAdded':
      return { creditsAdded: event.data.amount, reason: event.data.reason };
    default:
      // An event type this version does not know (written by a newer one): say nothing rather than fail.
      return {};
  }
}

/**
 * The changes of a stored event of any type and schema version. Known versions are upcast and
 * described field by field; a type or version this keyledger does not know (a newer one wrote
 * it) is shown as stored, without a `digest` field, and never makes history fail.
 */
export function describeRecordedChange(type: string, schemaVersion: number, data: unknown): Changes {
  if (isEventType(type) && type in keyEventSchemas && schemaVersion <= CURRENT_SCHEMA_VERSION[type]) {
    try {
      return describeChange({ type, data: upcastEvent(type, schemaVersion, data) } as KeyEvent);
    } catch {
      /* malformed for its version: show it as stored, below */
    }
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return { data: json({ value: data }).value ?? null };
  // Other aggregates' events (consumers, plans, key requests) say what they changed in their data;
  // the private fields (digests) are left out as in every public view.
  const { digest: _digest, ...rest } = publicEventView(type, data as Record<string, unknown>, {}).data;
  return json(rest);
}

/** Event data is JSON already; the round trip drops `undefined` optionals the JSON type forbids. */
function json(value: object): Changes {
  return JSON.parse(JSON.stringify(value)) as Changes;
}
