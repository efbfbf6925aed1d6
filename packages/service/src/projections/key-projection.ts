/**
 * The key read model: every key's current state by id, by SHA-256 digest (the verify path's
 * lookup) and by consumer, kept in memory so verify answers without I/O.
 */
import type { KeyStatus } from '@keyledger/schemas';
import { evolve, isActiveAdminKey, type KeyState, toKeyEvent } from '../domain/keys/index.js';
import { keyStatusAt } from '../domain/keys/status.js';
import type { RecordedEvent } from '../store/port.js';
import type { Projection } from './runner.js';

export interface KeyListQuery {
  consumerId?: string | undefined;
  status?: KeyStatus | undefined;
  /** Id of the last key of the previous page. */
  after?: string | undefined;
  limit: number;
}

export class KeyProjection implements Projection {
  readonly name = 'keys';
  readonly #byId = new Map<string, KeyState>();
  readonly #byDigest = new Map<string, string>();
  readonly #byConsumer = new Map<string, string[]>();
  /** Management keys are few; kept apart so authority checks never scan every key. */
  readonly #managementKeys = new Set<string>();
  /** Keys in issue order, for stable cursors. */
  readonly #order: string[] = [];
  readonly #ordinal = new Map<string, number>();
  readonly #listeners = new Set<(state: KeyState, event: RecordedEvent) => void>();

  apply(event: RecordedEvent): void {
    if (event.category !== 'key') return;
    const { event: keyEvent, ...recorded } = toKeyEvent(event);
    const keyId = keyEvent.data.keyId;
    const previous = this.#byId.get(keyId) ?? null;
    const next = evolve(previous, keyEvent, recorded);
    this.#byId.set(keyId, next);
    if (previous === null) {
      if (next.kind === 'management') this.#managementKeys.add(keyId);
      this.#byDigest.set(next.digest, keyId);
      this.#ordinal.set(keyId, this.#order.length);
      this.#order.push(keyId);
      const list = this.#byConsumer.get(next.consumerId);
      if (list) list.push(keyId);
      else this.#byConsumer.set(next.consumerId, [keyId]);
    }
    for (const listener of this.#listeners) listener(next, event);
  }

  /** Called after each applied key event (cache invalidation, live feeds). */
  onChange(listener: (state: KeyState, event: RecordedEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get size(): number {
    return this.#byId.size;
  }

  getById(keyId: string): KeyState | undefined {
    return this.#byId.get(keyId);
  }

  /** Management keys that currently act as admin. */
  activeAdminKeys(nowMs: number): KeyState[] {
    const active: KeyState[] = [];
    for (const id of this.#managementKeys) {
      const state = this.#byId.get(id) as KeyState;
      if (isActiveAdminKey(state, nowMs)) active.push(state);
    }
    return active;
  }

  /** Active admin keys other than `exceptKeyId` (the last-admin rule). */
  otherActiveAdminKeys(exceptKeyId: string, nowMs: number): number {
    return this.activeAdminKeys(nowMs).filter((state) => state.id !== exceptKeyId).length;
  }

  getByDigest(digest: string): KeyState | undefined {
    const keyId = this.#byDigest.get(digest);
    return keyId === undefined ? undefined : this.#byId.get(keyId);
  }

  /** One page of keys in issue order, filtered; `nextAfter` is set when more may follow. */
  list(query: KeyListQuery, now: Date): { items: KeyState[]; nextAfter: string | null } {
    const ids = query.consumerId === undefined ? this.#order : (this.#byConsumer.get(query.consumerId) ?? []);
    let start = 0;
    if (query.after !== undefined) {
      const ordinal = this.#ordinal.get(query.after);
      if (ordinal === undefined) return { items: [], nextAfter: null };
      // Both lists are in issue order, so the first id issued after the cursor starts the page.
      start = lowerBound(ids, (id) => (this.#ordinal.get(id) ?? 0) > ordinal);
    }
    const items: KeyState[] = [];
    for (let i = start; i < ids.length; i++) {
      const state = this.#byId.get(ids[i] as string) as KeyState;
      if (query.status !== undefined && keyStatusAt(state, now) !== query.status) continue;
      if (items.length === query.limit) return { items, nextAfter: items.at(-1)?.id ?? null };
      items.push(state);
    }
    return { items, nextAfter: null };
  }

  /** A canonical dump of the whole model, to prove that a rebuild from the log is identical. */
  snapshot(): unknown {
    return {
      keys: [...this.#byId.entries()].sort(([a], [b]) => (a < b ? -1 : 1)),
      digests: [...this.#byDigest.entries()].sort(([a], [b]) => (a < b ? -1 : 1)),
      consumers: [...this.#byConsumer.entries()].sort(([a], [b]) => (a < b ? -1 : 1)),
      order: this.#order,
    };
  }
}

function lowerBound(ids: readonly string[], isAfter: (id: string) => boolean): number {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (isAfter(ids[mid] as string)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
