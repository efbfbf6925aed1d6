/**
 * Command handling for keys: load the stream, fold it (evolve), decide, append with the stream's
 * expected revision, retry a bounded number of times on a concurrent write, then wait until the
 * projections have applied the result so that a read on this instance reflects it.
 *
 * Idempotency: with an Idempotency-Key the key id (for issue), the successor id (for rotate) and
 * every event id are derived from (actor, key), and the events carry the key and a hash of the
 * request. A retry finds its own events in the stream and answers with the state as of those
 * events (the first outcome) without writing; a concurrent duplicate is caught by the store's
 * duplicate-event-id rule; the same key with another request is a 422.
 */
import {
  type Actor,
  CURRENT_SCHEMA_VERSION,
  type EventMetadata,
  type IssueKeyRequest,
  type Key,
  type KeyEvent,
} from '@keyledger/schemas';
import {
  type KeyCommand,
  type KeyState,
  decide,
  foldKey,
  successorIssue,
  toKeyView,
} from '../domain/keys/index.js';
import { deriveKey, generateKey, newKeyId } from '../domain/key-material.js';
import { WrongExpectedRevisionError } from '../store/errors.js';
import type { EventStore, RecordedEvent } from '../store/port.js';
import { readWholeStream } from '../store/read-whole-stream.js';
import type { ProjectionRunner } from '../projections/runner.js';
import { conflict, idempotencyMismatch, notFound, preconditionFailed } from './errors.js';
import { deterministicKeyId, deterministicUuid } from './ids.js';

export interface CommandContext {
  actor: Actor;
  requestId: string | null;
  sourceAddress: string | null;
  idempotencyKey?: string | undefined;
  requestHash?: string | undefined;
  /** From If-Match: the revision the caller last saw. */
  expectedRevision?: number | undefined;
  correlationId?: string | null;
  /** The event that caused this command (rotation: the successor's issue is caused by KeyRotated). */
  causationId?: string | null;
}

export interface KeyCommandsOptions {
  store: EventStore;
  runner: ProjectionRunner;
  keyPrefixes: { live: string; test: string };
  maxGracePeriodSeconds: number;
  /** Derives the plaintext of idempotently issued keys; never stored. */
  serverSecret: Buffer;
  now?: () => Date;
  maxAttempts?: number;
}

export interface CommandResult {
  key: Key;
  replayed: boolean;
  /** The key's whole stream after the command, so follow-up steps need not read it again. */
  stream: RecordedEvent[];
}

export interface IssueResult extends CommandResult {
  /** The plaintext key; null only on a replay whose secret cannot be re-derived. */
  secret: string | null;
}

export const keyStream = (keyId: string) => `key-${keyId}`;

export type KeyMaterial = { plaintext: string; digest: string; hint: string };

type LoadedStream = { events: RecordedEvent[]; state: KeyState | null };

export class KeyCommands {
  readonly #now: () => Date;

  constructor(private readonly options: KeyCommandsOptions) {
    this.#now = options.now ?? (() => new Date());
  }

  /**
   * `fixed` is for bootstrap only: the root key's id and material are chosen by the caller so
   * that instances starting together create it once.
   */
  async issue(
    request: IssueKeyRequest,
    ctx: CommandContext,
    fixed?: { keyId: string; material: KeyMaterial },
  ): Promise<IssueResult> {
    const prefix = this.options.keyPrefixes[request.environment];
    const idem = ctx.idempotencyKey;
    const keyId = fixed?.keyId ?? (idem ? deterministicKeyId('issue', ctx.actor.id, idem) : newKeyId());
    const material =
      fixed?.material ??
      (idem ? deriveKey(prefix, this.options.serverSecret, `issue\n${ctx.actor.id}\n${idem}`) : generateKey(prefix));
    const command: KeyCommand = {
      type: 'IssueKey',
      keyId,
      consumerId: request.consumerId,
      planId: request.planId ?? null,
      name: request.name ?? null,
      environment: request.environment,
      digest: material.digest,
      hint: material.hint,
      scopes: request.scopes,
      endpoints: request.endpoints,
      permissions: request.permissions,
      expiresAt: request.expiresAt ?? null,
      meta: request.meta,
      rateLimit: request.rateLimit ?? null,
      quota: request.quota ?? null,
      rotatedFrom: null,
    };
    // An existing key that is not this request's replay is refused by decide (KEY_EXISTS).
    const result = await this.#execute(keyId, ctx, () => command, undefined, true);
    // On a replay the secret is ours to return only if it derives to the stored digest.
    const secret = !result.replayed || foldKey(result.stream.map(toDomain))?.digest === material.digest ? material.plaintext : null;
    return { ...result, secret };
  }

  replaceScopes(keyId: string, scopes: string[], endpoints: string[] | undefined, ctx: CommandContext) {
    return this.#execute(keyId, ctx, () => ({ type: 'ReplaceScopes', scopes, endpoints }));
  }

  patchScopes(
    keyId: string,
    add: { scopes: string[]; endpoints: string[] } | undefined,
    remove: { scopes: string[]; endpoints: string[] } | undefined,
    ctx: CommandContext,
  ) {
    return this.#execute(keyId, ctx, () => ({ type: 'PatchScopes', add, remove }));
  }

  setLimits(keyId: string, limits: Pick<Extract<KeyCommand, { type: 'SetLimits' }>, 'rateLimit' | 'quota'>, ctx: CommandContext) {
    return this.#execute(keyId, ctx, () => ({ type: 'SetLimits', ...limits }));
  }

  suspend(keyId: string, reason: string | null, ctx: CommandContext) {
    return this.#execute(keyId, ctx, () => ({ type: 'SuspendKey', reason }));
  }

  reinstate(keyId: string, reason: string | null, ctx: CommandContext) {
    return this.#execute(keyId, ctx, () => ({ type: 'ReinstateKey', reason }));
  }

  revoke(keyId: string, reason: string | null, ctx: CommandContext) {
    return this.#execute(keyId, ctx, () => ({ type: 'RevokeKey', reason }));
  }

  /**
   * Rotation writes two streams: `KeyRotated` on the old key first (it names the successor), then
   * `KeyIssued` for the successor. Old-key-first means a concurrent revoke can never leave an
   * orphan successor that works; a crash between the two appends is completed by the caller's
   * retry with the same Idempotency-Key (the SDK always sends one).
   */
  async rotate(keyId: string, gracePeriodSeconds: number, ctx: CommandContext): Promise<{ previous: CommandResult; successor: IssueResult }> {
    const idem = ctx.idempotencyKey;
    const successorId = idem ? deterministicKeyId('rotate', ctx.actor.id, idem, keyId) : newKeyId();
    let material: KeyMaterial | undefined;
    const materialFor = (state: KeyState) => {
      const prefix = this.options.keyPrefixes[state.environment];
      material ??= idem
        ? deriveKey(prefix, this.options.serverSecret, `rotate\n${ctx.actor.id}\n${idem}\n${keyId}`)
        : generateKey(prefix);
      return material;
    };
    let before: KeyState | null = null;
    const previous = await this.#execute(keyId, ctx, (state) => {
      before = state;
      return {
        type: 'RotateKey',
        successorId,
        successorHint: materialFor(state).hint,
        gracePeriodSeconds,
        maxGracePeriodSeconds: this.options.maxGracePeriodSeconds,
      };
    });
    // On a replay the rotation happened earlier: rebuild the pre-rotation state from the stream.
    const rotatedAt = previous.stream.find((e) => e.type === 'KeyRotated');
    if (!rotatedAt) throw conflict(`key ${keyId} has no rotation to complete`);
    const rotatedData = rotatedAt.data as { successorId: string };
    before ??= foldKey(previous.stream.filter((e) => e.revision < rotatedAt.revision).map(toDomain));
    const stateBefore = before as KeyState | null;
    if (!stateBefore) throw notFound(`key ${keyId} not found`);
    const successorMaterial = materialFor(stateBefore);
    const issueCommand = successorIssue(stateBefore, {
      keyId: rotatedData.successorId,
      digest: successorMaterial.digest,
      hint: successorMaterial.hint,
    });
    const successorCtx: CommandContext = { ...ctx, expectedRevision: undefined, causationId: rotatedAt.id };
    const successorLoaded = await this.#load(rotatedData.successorId);
    if (successorLoaded.state) {
      // Completed earlier: the secret is ours to return only if it derives to the stored digest.
      const existing = successorLoaded.state;
      const secret = existing.digest === successorMaterial.digest ? successorMaterial.plaintext : null;
      return { previous, successor: { key: toKeyView(existing, this.#now()), replayed: true, stream: successorLoaded.events, secret } };
    }
    // A concurrent duplicate can only be a retry with the same Idempotency-Key, whose material is the same.
    const successor = await this.#execute(rotatedData.successorId, successorCtx, () => issueCommand, successorLoaded, true);
    return { previous, successor: { ...successor, secret: successorMaterial.plaintext } };
  }

  /** The key's state as of an instant, folded from the ledger (not the projection). */
  async stateAt(keyId: string, at: Date): Promise<Key> {
    const { events } = await this.#load(keyId);
    const upTo = events.filter((e) => Date.parse(occurredAt(e)) <= at.getTime());
    const state = foldKey(upTo.map(toDomain));
    if (!state) throw notFound(`key ${keyId} did not exist at ${at.toISOString()}`);
    return toKeyView(state, at);
  }

  async history(keyId: string): Promise<RecordedEvent[]> {
    // Not folded: history shows events this version cannot fold (a newer version's types) too.
    const events = await readWholeStream(this.options.store, keyStream(keyId));
    if (events.length === 0) throw notFound(`key ${keyId} not found`);
    return events;
  }

  async #load(keyId: string): Promise<LoadedStream> {
    const events = await readWholeStream(this.options.store, keyStream(keyId));
    return { events, state: foldKey(events.map(toDomain)) };
  }

  /** Finds this request's own earlier events; returns the state as of the last of them. */
  #findReplay(loaded: LoadedStream, ctx: CommandContext): { state: KeyState | null } | undefined {
    const key = ctx.idempotencyKey;
    if (!key) return undefined;
    let last = -1;
    for (const event of loaded.events) {
      const meta = event.metadata as Partial<EventMetadata>;
      if (meta.idempotencyKey !== key || meta.actor?.id !== ctx.actor.id) continue;
      if (meta.requestHash !== ctx.requestHash) throw idempotencyMismatch(key);
      last = event.revision;
    }
    if (last === -1) return undefined;
    return { state: foldKey(loaded.events.filter((e) => e.revision <= last).map(toDomain)) };
  }

  async #execute(
    keyId: string,
    ctx: CommandContext,
    command: (state: KeyState) => KeyCommand,
    preloaded?: LoadedStream,
    creates = false,
  ): Promise<CommandResult> {
    const stream = keyStream(keyId);
    const maxAttempts = this.options.maxAttempts ?? 5;
    let loaded = preloaded ?? (await this.#load(keyId));
    for (let attempt = 1; ; attempt++) {
      const replay = this.#findReplay(loaded, ctx);
      if (replay) {
        if (!replay.state) throw notFound(`key ${keyId} not found`);
        return { key: toKeyView(replay.state, this.#now()), replayed: true, stream: loaded.events };
      }
      const { state } = loaded;
      if (ctx.expectedRevision !== undefined && state && state.revision !== ctx.expectedRevision) {
        throw preconditionFailed(ctx.expectedRevision, state.revision);
      }
      const now = this.#now();
      // Only an issue may target a missing stream; everything else is a 404 before any work.
      if (state === null && !creates) throw notFound(`key ${keyId} not found`);
      const cmd = command(state as KeyState);
      const events = decide(cmd, state, now);
      if (events.length === 0) {
        if (!state) throw notFound(`key ${keyId} not found`);
        return { key: toKeyView(state, now), replayed: false, stream: loaded.events };
      }
      try {
        const result = await this.options.store.appendToStream(
          stream,
          events.map((event, index) => ({
            id: ctx.idempotencyKey
              ? deterministicUuid(ctx.actor.id, ctx.idempotencyKey, stream, String(index))
              : undefined,
            type: event.type,
            data: event.data,
            metadata: this.#metadata(event, ctx, now),
          })),
          { expectedRevision: state ? state.revision : 'no_stream' },
        );
        await this.options.runner.waitFor(result.checkpoint);
        const streamAfter = [...loaded.events, ...result.events];
        const after = foldKey(streamAfter.map(toDomain)) as KeyState;
        return { key: toKeyView(after, this.#now()), replayed: result.replayed, stream: streamAfter };
      } catch (error) {
        if (!(error instanceof WrongExpectedRevisionError)) throw error;
        if (ctx.expectedRevision !== undefined) throw preconditionFailed(ctx.expectedRevision, error.actual);
        if (attempt >= maxAttempts) {
          throw conflict(`key ${keyId} kept changing concurrently; gave up after ${attempt} attempts, retry later`);
        }
        loaded = await this.#load(keyId);
      }
    }
  }

  #metadata(event: KeyEvent, ctx: CommandContext, now: Date): EventMetadata {
    const meta: EventMetadata = {
      schemaVersion: CURRENT_SCHEMA_VERSION[event.type],
      actor: ctx.actor,
      requestId: ctx.requestId,
      sourceAddress: ctx.sourceAddress,
      occurredAt: now.toISOString(),
      correlationId: ctx.correlationId ?? ctx.requestId,
      causationId: ctx.causationId ?? null,
    };
    if (ctx.idempotencyKey) {
      meta.idempotencyKey = ctx.idempotencyKey;
      if (ctx.requestHash) meta.requestHash = ctx.requestHash;
    }
    return meta;
  }
}

export function occurredAt(event: RecordedEvent): string {
  return (event.metadata as { occurredAt?: string }).occurredAt ?? event.recordedAt.toISOString();
}

export function toDomain(event: RecordedEvent): { event: KeyEvent; occurredAt: string; revision: number } {
  return { event: { type: event.type, data: event.data } as KeyEvent, occurredAt: occurredAt(event), revision: event.revision };
}
