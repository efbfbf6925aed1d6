/**
 * One ledger event as one Merkle leaf: the RFC 8785 (JCS) canonical JSON of
 *
 *   { "leaf": "keyledger/event/v1", "id", "stream", "revision", "type", "data", "metadata",
 *     "sealed"?: { "fields": [...], "hash": base64 } }
 *
 * `data` and `metadata` are the event's public view (what `events:read` shows). The fields that
 * only keyledger may read (a KeyIssued digest, idempotency keys, request hashes: see
 * PRIVATE_EVENT_FIELDS) are not left out but sealed: `sealed.hash` is
 * SHA-256(salt || JCS({ data: {...hidden}, metadata: {...hidden} })) with a random salt the log
 * keeps beside the leaf. So the tree commits to every byte of the event (tampering with a digest
 * breaks the root like any other change), a client holding only the public view can still
 * recompute the leaf given `sealed`, and the salt keeps the sealed hash from becoming a digest an
 * offline guesser could test keys (or low-entropy idempotency keys) against. `sealed.fields`
 * names what was sealed, so a leaf stays checkable if the private field lists grow later.
 *
 * Not in the leaf: the store's checkpoint (opaque and backend-specific: the same ledger moved
 * from SQLite to PostgreSQL must keep its tree) and the leaf's own index (the tree position is the
 * global order; inclusion proofs already bind it). The event id is in: it is the event's identity
 * for idempotent appends and what clients name an event by.
 */
import { randomBytes } from 'node:crypto';
import canonicalize from 'canonicalize';
import { PRIVATE_EVENT_FIELDS, PRIVATE_METADATA_FIELDS, isEventType } from '../events.js';
import { concatBytes, encodeBase64, utf8 } from './bytes.js';
import { hashLeaf, sha256 } from './hash.js';

export const EVENT_LEAF_FORMAT = 'keyledger/event/v1';
export const SEAL_SALT_BYTES = 16;

/** A whole event as the store recorded it (a RecordedEvent has all of these). */
export interface LoggableEvent {
  id: string;
  stream: string;
  revision: number;
  type: string;
  data: unknown;
  metadata: unknown;
}

/** The commitment to an event's private fields that a public view travels with. */
export interface SealedFields {
  /** Dotted names, e.g. `data.digest`, `metadata.idempotencyKey`, sorted. */
  fields: string[];
  /** base64 SHA-256(salt || JCS of the sealed values). */
  hash: string;
}

export interface PublicLeafView {
  id: string;
  stream: string;
  revision: number;
  type: string;
  data: unknown;
  metadata: unknown;
  /** Absent when the event had no private field. */
  sealed?: SealedFields;
}

export interface SealOptions {
  /** The salt the log stored for this leaf; needed whenever the event has a private field. */
  salt?: Uint8Array;
  /** Which fields were private when the leaf was made; defaults to the current lists. */
  privateDataFields?: readonly string[];
  privateMetadataFields?: readonly string[];
}

/** A fresh random salt for a new leaf (the log stores it with the leaf, never in a public view). */
export function newSealSalt(): Uint8Array {
  return new Uint8Array(randomBytes(SEAL_SALT_BYTES));
}

/** Splits an event into its public view and the commitment to its private fields. */
export function sealEvent(event: LoggableEvent, options: SealOptions = {}): PublicLeafView {
  const dataFields = options.privateDataFields ?? (isEventType(event.type) ? (PRIVATE_EVENT_FIELDS[event.type] ?? []) : []);
  const metadataFields = options.privateMetadataFields ?? PRIVATE_METADATA_FIELDS;
  const data = split(event.data, dataFields);
  const metadata = split(event.metadata, metadataFields);
  const fields = [...data.taken.map((f) => `data.${f}`), ...metadata.taken.map((f) => `metadata.${f}`)].sort();
  const view: PublicLeafView = { id: event.id, stream: event.stream, revision: event.revision, type: event.type, data: data.kept, metadata: metadata.kept };
  if (fields.length === 0) return view;
  const salt = options.salt;
  if (!salt || salt.length < SEAL_SALT_BYTES) {
    throw new Error(`event ${event.id} has private fields (${fields.join(', ')}): sealing them needs a salt of at least ${SEAL_SALT_BYTES} bytes`);
  }
  const hidden = canonicalJson({ data: data.hidden, metadata: metadata.hidden });
  return { ...view, sealed: { fields, hash: encodeBase64(sha256(concatBytes(salt, utf8(hidden)))) } };
}

/** The leaf bytes of a public view (with its `sealed` commitment, if any). */
export function leafOfPublicView(view: PublicLeafView): Uint8Array {
  if (typeof view.id !== 'string' || typeof view.stream !== 'string' || typeof view.type !== 'string') throw new Error('an event leaf needs string id, stream and type');
  if (!Number.isSafeInteger(view.revision) || view.revision < 0) throw new Error('an event leaf needs a non-negative integer revision');
  const leaf: Record<string, unknown> = {
    leaf: EVENT_LEAF_FORMAT,
    id: view.id,
    stream: view.stream,
    revision: view.revision,
    type: view.type,
    data: view.data,
    metadata: view.metadata,
  };
  if (view.sealed) leaf.sealed = { fields: view.sealed.fields, hash: view.sealed.hash };
  return utf8(canonicalJson(leaf));
}

/** The leaf bytes of a whole event: what the log appends. */
export function leafOfEvent(event: LoggableEvent, options?: SealOptions): Uint8Array {
  return leafOfPublicView(sealEvent(event, options));
}

/** RFC 9162 leaf hash of a whole event. */
export function leafHashOfEvent(event: LoggableEvent, options?: SealOptions): Uint8Array {
  return hashLeaf(leafOfEvent(event, options));
}

/** RFC 9162 leaf hash of a public view, for clients that never see the private fields. */
export function leafHashOfPublicView(view: PublicLeafView): Uint8Array {
  return hashLeaf(leafOfPublicView(view));
}

/**
 * RFC 8785 canonical JSON (the `canonicalize` package, by an RFC 8785 author). Like JSON.stringify,
 * and so like the store's own JSON round trip, it drops `undefined` properties and calls toJSON;
 * it refuses NaN, Infinity and lone surrogates, which no stored event can hold.
 */
export function canonicalJson(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new Error('value has no JSON representation');
  return text;
}

function split(value: unknown, fields: readonly string[]): { kept: unknown; hidden: Record<string, unknown>; taken: string[] } {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || fields.length === 0) return { kept: value, hidden: {}, taken: [] };
  const kept: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  const hidden: Record<string, unknown> = {};
  const taken: string[] = [];
  for (const field of fields) {
    // An undefined field is absent, as the store's JSON round trip makes it.
    if (kept[field] !== undefined) {
      hidden[field] = kept[field];
      taken.push(field);
    }
    delete kept[field];
  }
  return { kept, hidden, taken };
}
