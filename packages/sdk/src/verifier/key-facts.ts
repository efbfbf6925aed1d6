/**
 * What the verifier remembers about a key it has seen: exactly the fields the service's verify
 * path reads (status, expiry, scopes, endpoint rules, limits), so a cached decision is computed the
 * same way the service would compute it. Ledger events for the key update these facts in place.
 */
import type { Key, LedgerEvent } from '../types.js';

type RateLimit = NonNullable<Key['rateLimit']>;
type Quota = NonNullable<Key['quota']>;

export interface KeyFacts {
  keyId: string;
  consumerId: string;
  scopes: string[];
  endpoints: string[];
  meta: Key['meta'];
  expiresAt: string | null;
  /** End of a rotation's grace period. */
  validUntil: string | null;
  revoked: boolean;
  suspended: boolean;
  rateLimit: RateLimit | null;
  quota: Quota | null;
}

export function factsFromKey(key: Key): KeyFacts {
  return {
    keyId: key.id,
    consumerId: key.consumerId,
    scopes: [...key.scopes],
    endpoints: [...key.endpoints],
    meta: key.meta,
    expiresAt: key.expiresAt,
    validUntil: key.validUntil,
    revoked: key.status === 'revoked',
    // 'expired' and 'revoked' outrank 'suspended' in the status, and both are final anyway.
    suspended: key.status === 'suspended',
    rateLimit: key.rateLimit,
    quota: key.quota,
  };
}

/** Facts known from a REVOKED answer alone: revocation is final, nothing else matters. */
export function revokedFacts(result: { keyId: string; consumerId: string; scopes: string[]; meta: Key['meta'] | null; expiresAt: string | null }): KeyFacts {
  return {
    keyId: result.keyId,
    consumerId: result.consumerId,
    scopes: result.scopes,
    endpoints: [],
    meta: result.meta ?? {},
    expiresAt: result.expiresAt,
    validUntil: null,
    revoked: true,
    suspended: false,
    rateLimit: null,
    quota: null,
  };
}

export const KEY_EVENT_TYPES = ['KeyIssued', 'KeyScoped', 'KeyThrottled', 'KeySuspended', 'KeyReinstated', 'KeyRotated', 'KeyRevoked'] as const;

/** The keyId an event is about, or undefined for events the verifier does not care about. */
export function keyIdOf(event: LedgerEvent): string | undefined {
  if (!(KEY_EVENT_TYPES as readonly string[]).includes(event.type)) return undefined;
  const data = event.data as { keyId?: unknown };
  return typeof data.keyId === 'string' ? data.keyId : undefined;
}

/**
 * Applies one key event to cached facts. Returns the updated facts, or undefined when the entry
 * should be dropped (an event whose effect we cannot compute exactly from the event alone).
 */
export function applyKeyEvent(facts: KeyFacts, event: LedgerEvent): KeyFacts | undefined {
  const data = event.data as Record<string, unknown>;
  switch (event.type) {
    case 'KeyRevoked':
      return { ...facts, revoked: true };
    case 'KeySuspended':
      return { ...facts, suspended: true };
    case 'KeyReinstated':
      return { ...facts, suspended: false };
    case 'KeyScoped':
      if (!Array.isArray(data.scopes) || !Array.isArray(data.endpoints)) return undefined;
      return { ...facts, scopes: [...(data.scopes as string[])], endpoints: [...(data.endpoints as string[])] };
    case 'KeyThrottled':
      if (!('rateLimit' in data) || !('quota' in data)) return undefined;
      return { ...facts, rateLimit: (data.rateLimit as RateLimit | null) ?? null, quota: (data.quota as Quota | null) ?? null };
    case 'KeyRotated':
      if (typeof data.validUntil !== 'string') return undefined;
      return { ...facts, validUntil: data.validUntil };
    default:
      // KeyIssued for a key we already hold, or a type we do not know: start over from the service.
      return undefined;
  }
}

/** Consumer events change what every key of the consumer may do. */
const CONSUMER_EVENT_TYPES: readonly string[] = ['ConsumerRegistered', 'ConsumerApproved', 'ConsumerRejected', 'ConsumerSuspended', 'ConsumerReinstated', 'ConsumerClosed'];

export function consumerIdOf(event: LedgerEvent): string | undefined {
  if (!CONSUMER_EVENT_TYPES.includes(event.type)) return undefined;
  const consumerId = (event.data as { consumerId?: unknown }).consumerId;
  return typeof consumerId === 'string' ? consumerId : undefined;
}
