/**
 * The key projection's snapshot encoding (see KEY_SNAPSHOT_VERSION). One binary row per key in issue order;
 * values many keys share (consumer, plan, scopes, endpoints, permissions, meta, limits, networks) are
 * written once in a dictionary and referenced by index, and decoded once, so a million restored
 * keys share a few hundred objects instead of holding millions of copies.
 */
import type { KeyState } from '../domain/keys/index.js';
import { BinaryReader, BinaryWriter, SnapshotFormatError } from './binary-codec.js';

/** 2: the key's kind (consumer or management) is stored; 3: its networks. An older snapshot means a rebuild. */
export const KEY_SNAPSHOT_VERSION = 3;

const SUSPENDED = 1;
const REVOKED = 2;
const UPDATED_DIFFERS = 4;
const MANAGEMENT = 8;

/** Interns JSON values: by identity first (restored states share objects), then by their JSON. */
class Dictionary {
  readonly values: unknown[] = [];
  readonly #byJson = new Map<string, number>();
  readonly #byRef = new Map<unknown, number>();

  ref(value: unknown): number {
    const known = this.#byRef.get(value);
    if (known !== undefined) return known;
    const json = JSON.stringify(value);
    let index = this.#byJson.get(json);
    if (index === undefined) {
      index = this.values.length;
      this.values.push(value);
      this.#byJson.set(json, index);
    }
    // Only objects by reference: equal primitives already meet in the JSON map.
    if (value !== null && typeof value === 'object') this.#byRef.set(value, index);
    return index;
  }
}

export function encodeKeyStates(states: readonly KeyState[]): Buffer {
  const dictionary = new Dictionary();
  const rows = new BinaryWriter(Math.max(1 << 16, states.length * 160));
  for (const s of states) {
    rows.str(s.id);
    rows.hex(s.digest, 32);
    rows.str(s.hint);
    rows.str(s.name);
    rows.varint(dictionary.ref(s.consumerId));
    rows.varint(dictionary.ref(s.planId));
    rows.varint(dictionary.ref(s.environment));
    rows.varint(dictionary.ref(s.scopes));
    rows.varint(dictionary.ref(s.endpoints));
    rows.varint(dictionary.ref(s.permissions));
    rows.varint(dictionary.ref(s.meta));
    rows.varint(dictionary.ref(s.rateLimit));
    rows.varint(dictionary.ref(s.quota));
    rows.varint(dictionary.ref(s.networks));
    rows.str(s.expiresAt);
    rows.str(s.rotatedFrom);
    rows.str(s.rotatedTo);
    rows.str(s.validUntil);
    rows.str(s.suspendedReason);
    rows.str(s.revokedAt);
    rows.str(s.revokedReason);
    rows.str(s.createdAt);
    const differs = s.updatedAt !== s.createdAt;
    rows.u8((s.suspended ? SUSPENDED : 0) | (s.revoked ? REVOKED : 0) | (differs ? UPDATED_DIFFERS : 0) | (s.kind === 'management' ? MANAGEMENT : 0));
    if (differs) rows.str(s.updatedAt);
    rows.varint(s.revision);
  }
  const out = new BinaryWriter(1024);
  out.u32(states.length);
  out.bytes(Buffer.from(JSON.stringify(dictionary.values), 'utf8'));
  out.bytes(rows.finish());
  return out.finish();
}

/** `share` may swap each dictionary value for an equal shared one (the projection's interning). */
export function decodeKeyStates(data: Buffer, share: (value: unknown) => unknown = (value) => value): KeyState[] {
  const top = new BinaryReader(data);
  const count = top.u32();
  const parsed = JSON.parse(top.bytes().toString('utf8')) as unknown[];
  if (!Array.isArray(parsed)) throw new SnapshotFormatError('key snapshot dictionary is not an array');
  const dictionary = parsed.map(share);
  const rows = new BinaryReader(top.bytes());
  if (!top.done) throw new SnapshotFormatError('trailing bytes after the key snapshot');
  const value = <T>(): T => {
    const index = rows.varint();
    if (index >= dictionary.length) throw new SnapshotFormatError(`dictionary index ${index} out of range`);
    return dictionary[index] as T;
  };
  const states: KeyState[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const id = rows.text();
    const digest = rows.hex(32);
    const hint = rows.text();
    const name = rows.str();
    const consumerId = value<KeyState['consumerId']>();
    const planId = value<KeyState['planId']>();
    const environment = value<KeyState['environment']>();
    const scopes = value<KeyState['scopes']>();
    const endpoints = value<KeyState['endpoints']>();
    const permissions = value<KeyState['permissions']>();
    const meta = value<KeyState['meta']>();
    const rateLimit = value<KeyState['rateLimit']>();
    const quota = value<KeyState['quota']>();
    const networks = value<KeyState['networks']>();
    const expiresAt = rows.str();
    const rotatedFrom = rows.str();
    const rotatedTo = rows.str();
    const validUntil = rows.str();
    const suspendedReason = rows.str();
    const revokedAt = rows.str();
    const revokedReason = rows.str();
    const createdAt = rows.text();
    const flags = rows.u8();
    const updatedAt = flags & UPDATED_DIFFERS ? rows.text() : createdAt;
    const revision = rows.varint();
    // Same property order as evolve() builds, so restored and replayed states share one shape.
    const state: KeyState = {
      kind: flags & MANAGEMENT ? 'management' : 'consumer',
      consumerId,
      planId,
      name,
      environment,
      digest,
      hint,
      scopes,
      endpoints,
      permissions,
      expiresAt,
      meta,
      rateLimit,
      quota,
      rotatedFrom,
      networks,
      id,
      rotatedTo,
      validUntil,
      suspended: (flags & SUSPENDED) !== 0,
      suspendedReason,
      revoked: (flags & REVOKED) !== 0,
      revokedAt,
      revokedReason,
      createdAt,
      updatedAt,
      revision,
    };
    states[i] = state;
  }
  if (!rows.done) throw new SnapshotFormatError('trailing bytes after the last key');
  return states;
}
