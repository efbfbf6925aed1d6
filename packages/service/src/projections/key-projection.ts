/**
 * The key read model: every key's current state by id, by SHA-256 digest (the verify path's
 * lookup) and by consumer, kept in memory so verify answers without I/O.
 *
 * States live in one array in issue order (the ordinal); the id and digest indexes map strings
 * to ordinals without a Map entry per key, so a million keys restore from a snapshot quickly and
 * cost little beyond the states themselves.
 *
 * Values keys share are held once: scopes and endpoint rules (one frozen RuleSet per distinct
 * set; plans make that the common case), permissions, meta and limits (one frozen copy per
 * distinct value), consumer, plan and environment strings. A replayed key costs its own strings
 * (id, digest, hint, instants) and one state object; a snapshot restore shares the same way.
 */
import { type KeyStatus, RuleSets } from '@keyledger/schemas';
import { evolve, isActiveAdminKey, type KeyState, toKeyEvent } from '../domain/keys/index.js';
import { keyStatusAt } from '../domain/keys/status.js';
import type { RecordedEvent } from '../store/port.js';
import { decodeKeyStates, encodeKeyStates, KEY_SNAPSHOT_VERSION } from './key-snapshot-codec.js';
import { hashHexDigest, hashString, OrdinalIndex } from './ordinal-index.js';
import type { Projection } from './runner.js';
import type { SnapshotPart } from './snapshot-part.js';

export interface KeyListQuery {
  consumerId?: string | undefined;
  planId?: string | undefined;
  status?: KeyStatus | undefined;
  /** Id of the last key of the previous page. */
  after?: string | undefined;
  limit: number;
}

export class KeyProjection implements Projection, SnapshotPart {
  readonly name = 'keys';
  readonly snapshotVersion = KEY_SNAPSHOT_VERSION;
  /** Every key's state, in issue order: the index is the key's ordinal. */
  #states: KeyState[] = [];
  #byId = this.#newIdIndex(16);
  #byDigest = this.#newDigestIndex(16);
  /** Ordinals of each consumer's keys, ascending (issue order). */
  #byConsumer = new Map<string, number[]>();
  /** Ordinals of management keys: they are few, so authority checks never scan every key. */
  #managementKeys: number[] = [];
  readonly #listeners = new Set<(state: KeyState, event: RecordedEvent) => void>();
  readonly #shared = new KeyValues();

  constructor(private readonly options: { onListenerError?: (error: unknown) => void } = {}) {}

  #newIdIndex(capacity: number): OrdinalIndex {
    return new OrdinalIndex(hashString, (ordinal) => (this.#states[ordinal] as KeyState).id, capacity);
  }

  #newDigestIndex(capacity: number): OrdinalIndex {
    return new OrdinalIndex(hashHexDigest, (ordinal) => (this.#states[ordinal] as KeyState).digest, capacity);
  }

  /** Expects an event already classified and upcast by the runner (see event-kinds.ts). */
  apply(event: RecordedEvent): void {
    if (event.category !== 'key') return;
    // The runner has upcast already; toKeyEvent's upcast is a no-op then, and keeps direct callers safe.
    // Named, not a rest copy: a rest pattern copies through V8's slow generic path, once per event.
    const { event: keyEvent, occurredAt, revision } = toKeyEvent(event);
    const recorded = { occurredAt, revision };
    const keyId = keyEvent.data.keyId;
    const ordinal = this.#byId.get(keyId);
    const previous = ordinal === undefined ? null : (this.#states[ordinal] as KeyState);
    // evolve throws before anything here is written: a parked event leaves the model unchanged.
    const next = this.#shared.intern(evolve(previous, keyEvent, recorded));
    if (ordinal === undefined) this.#add(next);
    else this.#states[ordinal] = next;
    for (const listener of this.#listeners) {
      try {
        listener(next, event);
      } catch (error) {
        // A listener's failure is not the projection's: the state is applied either way.
        this.options.onListenerError?.(error);
      }
    }
  }

  #add(state: KeyState): void {
    const ordinal = this.#states.length;
    this.#states.push(state);
    this.#byId.add(ordinal);
    this.#byDigest.add(ordinal);
    if (state.kind === 'management') this.#managementKeys.push(ordinal);
    const list = this.#byConsumer.get(state.consumerId);
    if (list) list.push(ordinal);
    else this.#byConsumer.set(state.consumerId, [ordinal]);
  }

  /** Called after each applied key event (cache invalidation, live feeds). */
  onChange(listener: (state: KeyState, event: RecordedEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get size(): number {
    return this.#states.length;
  }

  getById(keyId: string): KeyState | undefined {
    const ordinal = this.#byId.get(keyId);
    return ordinal === undefined ? undefined : this.#states[ordinal];
  }

  /** Management keys that currently act as admin. */
  activeAdminKeys(nowMs: number): KeyState[] {
    return this.#managementKeys.map((o) => this.#states[o] as KeyState).filter((state) => isActiveAdminKey(state, nowMs));
  }

  /** Active admin keys other than `exceptKeyId` (the last-admin rule). */
  otherActiveAdminKeys(exceptKeyId: string, nowMs: number): number {
    return this.activeAdminKeys(nowMs).filter((state) => state.id !== exceptKeyId).length;
  }

  getByDigest(digest: string): KeyState | undefined {
    const ordinal = this.#byDigest.get(digest);
    return ordinal === undefined ? undefined : this.#states[ordinal];
  }

  /** One page of keys in issue order, filtered; `nextAfter` is set when more may follow. */
  list(query: KeyListQuery, now: Date): { items: KeyState[]; nextAfter: string | null } {
    const ordinals = query.consumerId === undefined ? undefined : (this.#byConsumer.get(query.consumerId) ?? []);
    const total = ordinals === undefined ? this.#states.length : ordinals.length;
    const at = (i: number) => (ordinals === undefined ? i : (ordinals[i] as number));
    let start = 0;
    if (query.after !== undefined) {
      const after = this.#byId.get(query.after);
      if (after === undefined) return { items: [], nextAfter: null };
      // Both sequences are in issue order, so the first key issued after the cursor starts the page.
      start = lowerBound(total, (i) => at(i) > after);
    }
    const items: KeyState[] = [];
    for (let i = start; i < total; i++) {
      const state = this.#states[at(i)] as KeyState;
      if (query.status !== undefined && keyStatusAt(state, now) !== query.status) continue;
      if (query.planId !== undefined && state.planId !== query.planId) continue;
      if (items.length === query.limit) return { items, nextAfter: items.at(-1)?.id ?? null };
      items.push(state);
    }
    return { items, nextAfter: null };
  }

  /** A canonical dump of the whole model, to prove that a rebuild (or a restore) is identical. */
  snapshot(): unknown {
    const byId = (a: [string, unknown], b: [string, unknown]) => (a[0] < b[0] ? -1 : 1);
    return {
      keys: this.#states.map((s) => [s.id, s] as [string, KeyState]).sort(byId),
      digests: this.#states.map((s) => [s.digest, s.id] as [string, string]).sort(byId),
      consumers: [...this.#byConsumer.entries()]
        .map(([consumer, ordinals]) => [consumer, ordinals.map((o) => (this.#states[o] as KeyState).id)] as [string, string[]])
        .sort(byId),
      order: this.#states.map((s) => s.id),
    };
  }

  encodeSnapshot(): Buffer {
    return encodeKeyStates(this.#states);
  }

  restoreSnapshot(data: Buffer): void {
    // The codec shares dictionary values among keys already; interning them makes them the same
    // frozen objects a replay would hold (one intern per distinct value, not per key).
    const states = decodeKeyStates(data, (value) => this.#shared.anyValue(value));
    this.reset(states.length);
    for (const state of states) this.#add(state);
  }

  reset(capacity = 16): void {
    this.#states = [];
    this.#byId = this.#newIdIndex(capacity);
    this.#byDigest = this.#newDigestIndex(capacity);
    this.#byConsumer = new Map();
    this.#managementKeys = [];
  }
}

/** The interning behind the projection's sharing (see the header). */
class KeyValues {
  readonly #sets = new RuleSets();
  readonly #strings = new Map<string, string>();

  /**
   * The state as one fresh object literal with every field in its own slots, shareable fields
   * shared. A fresh literal, not the state itself: evolve builds states by spreading, which leaves
   * their fields in a separate, over-allocated property store (measured: about 700 B a key more
   * than a literal at 100k keys). Same property order as the snapshot codec's, so replayed and
   * restored states share one hidden class.
   */
  intern(s: KeyState): KeyState {
    const rules = this.#sets.of(s.scopes, s.endpoints);
    return {
      kind: s.kind,
      consumerId: this.string(s.consumerId),
      planId: s.planId === null ? null : this.string(s.planId),
      name: s.name,
      environment: this.string(s.environment),
      digest: s.digest,
      hint: s.hint,
      scopes: rules.scopes as string[],
      endpoints: rules.endpoints as string[],
      permissions: this.#sets.value(s.permissions),
      expiresAt: s.expiresAt,
      meta: this.#sets.value(s.meta),
      rateLimit: this.#sets.value(s.rateLimit),
      quota: this.#sets.value(s.quota),
      rotatedFrom: s.rotatedFrom,
      networks: this.#sets.value(s.networks),
      id: s.id,
      rotatedTo: s.rotatedTo,
      validUntil: s.validUntil,
      suspended: s.suspended,
      suspendedReason: s.suspendedReason,
      revoked: s.revoked,
      revokedAt: s.revokedAt,
      revokedReason: s.revokedReason,
      createdAt: s.createdAt,
      updatedAt: s.updatedAt,
      revision: s.revision,
    };
  }

  string<T extends string>(value: T): T {
    const known = this.#strings.get(value);
    if (known !== undefined) return known as T;
    this.#strings.set(value, value);
    return value;
  }

  anyValue(value: unknown): unknown {
    return typeof value === 'string' ? this.string(value) : this.#sets.value(value);
  }
}

function lowerBound(length: number, isAfter: (i: number) => boolean): number {
  let lo = 0;
  let hi = length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (isAfter(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
