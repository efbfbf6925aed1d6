/**
 * The key commands, each a spec run by the generic command handler (command-handler.ts) and made
 * idempotent by its wrapper (idempotency.ts). This module only knows keys: which streams a
 * command reads, what it decides (domain/keys/decide.ts), what metadata its events carry and how
 * the answer looks.
 *
 * Idempotency-derived material: with an Idempotency-Key the key id (issue), the successor id
 * (rotate) and the plaintext of both are derived from (actor, key), so a replay can answer with
 * the same secret without it ever being stored; only within the replay window
 * (`secretReplayWindowSeconds`), after which the answer says why it is withheld.
 */
import {
  type Actor,
  CURRENT_SCHEMA_VERSION,
  type EventMetadata,
  type IssueKeyRequest,
  type Key,
  type KeyEvent,
  PROBLEM_TYPES,
  type SecretWithheld,
} from '@keyledger/schemas';
import {
  type Authority,
  type KeyCommand,
  type KeyState,
  decide,
  evolve,
  foldKey,
  successorIssue,
  toKeyEvent,
  toKeyView,
} from '../domain/keys/index.js';
import { deriveKey, generateKey, newKeyId } from '../domain/key-material.js';
import type { EventStore, RecordedEvent } from '../store/port.js';
import { classifyEvent } from '../projections/event-kinds.js';
import type { ProjectionRunner } from '../projections/runner.js';
import {
  CommandHandler,
  type CommandOutcome,
  type CommandSpec,
  type Decider,
  type LoadedStream,
} from './command-handler.js';
import { notFound, writtenByNewerVersion } from './errors.js';
import { handleIdempotently, type IdempotencyContext } from './idempotency.js';
import { deterministicKeyId } from './ids.js';

export interface CommandContext {
  actor: Actor;
  /** What the actor may do; the decider checks every command against it. */
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

export interface KeyCommandsOptions {
  store: EventStore;
  runner: Pick<ProjectionRunner, 'waitFor' | 'checkpoint'>;
  keyPrefixes: { live: string; test: string };
  maxGracePeriodSeconds: number;
  /** Derives the plaintext of idempotently issued keys; never stored. */
  serverSecret: Buffer;
  /** Active admin keys other than `keyId`, for the last-admin rule (from the key projection). */
  otherActiveAdminKeys: (keyId: string, nowMs: number) => number;
  /** How long a replay of issue / rotate may still show the plaintext. Default 24 h. */
  secretReplayWindowSeconds?: number;
  /** How long a command waits for this instance to apply its events before answering 503. Default 5000. */
  applyTimeoutMs?: number;
  now?: () => Date;
  maxAttempts?: number;
}

export interface CommandResult {
  key: Key;
  replayed: boolean;
  /** The key's whole stream after the command (as of the original, for a replay). */
  stream: RecordedEvent[];
  /** The checkpoint this instance has applied, at least the command's own events. */
  appliedCheckpoint: string | null;
}

export interface IssueResult extends CommandResult {
  /** The plaintext key; null only on a replay, with `secretWithheld` saying why. */
  secret: string | null;
  secretWithheld: SecretWithheld | null;
}

export const keyStream = (keyId: string) => `key-${keyId}`;
export const keyResource = (keyId: string) => `/v1/keys/${keyId}`;

export type KeyMaterial = { plaintext: string; digest: string; hint: string };

type KeyStream = LoadedStream<KeyState | null>;

/** The key aggregate's read side for the handler: fold recorded events with the domain's evolve. */
export const keyDecider: Decider<KeyState | null> = {
  initialState: () => null,
  evolve: (state, recorded) => {
    // The projections skip what they do not know; a command must not decide on half a stream.
    const classified = classifyEvent(recorded);
    if (classified.kind === 'skip') throw writtenByNewerVersion(recorded.stream, recorded.type, classified.reason);
    const { event, ...at } = toDomain(classified.event);
    return evolve(state, event, at);
  },
};

export class KeyCommands {
  readonly #now: () => Date;
  readonly #handler: CommandHandler;
  readonly #secretWindowMs: number;

  constructor(private readonly options: KeyCommandsOptions) {
    this.#now = options.now ?? (() => new Date());
    this.#secretWindowMs = (options.secretReplayWindowSeconds ?? 24 * 3600) * 1000;
    this.#handler = new CommandHandler({
      store: options.store,
      waitForApplied: (checkpoint, timeoutMs) => options.runner.waitFor(checkpoint, timeoutMs),
      applyTimeoutMs: options.applyTimeoutMs,
      now: this.#now,
      maxAttempts: options.maxAttempts,
    });
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
      authority: ctx.authority,
      keyId,
      kind: request.kind ?? (request.permissions.length > 0 ? 'management' : 'consumer'),
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
    return this.#run(ctx, {
      streams: [keyStream(keyId)],
      resource: keyResource(keyId),
      // An existing key that is not this request's replay is refused by decide (KEY_EXISTS).
      decide: ([target], now) => [{ stream: (target as KeyStream).stream, events: decide(command, (target as KeyStream).state, now) }],
      metadata: (event, _place, now) => this.#metadata(event, ctx, now),
      result: ([target], outcome) => {
        const result = this.#keyResult(target as KeyStream, outcome);
        return { ...result, ...this.#secretFor(material, (target as KeyStream).state, outcome) };
      },
    });
  }

  replaceScopes(keyId: string, scopes: string[], endpoints: string[] | undefined, ctx: CommandContext) {
    return this.#change(keyId, ctx, () => ({ type: 'ReplaceScopes', authority: ctx.authority, scopes, endpoints }));
  }

  patchScopes(
    keyId: string,
    add: { scopes: string[]; endpoints: string[] } | undefined,
    remove: { scopes: string[]; endpoints: string[] } | undefined,
    ctx: CommandContext,
  ) {
    return this.#change(keyId, ctx, () => ({ type: 'PatchScopes', authority: ctx.authority, add, remove }));
  }

  setLimits(keyId: string, limits: Pick<Extract<KeyCommand, { type: 'SetLimits' }>, 'rateLimit' | 'quota'>, ctx: CommandContext) {
    return this.#change(keyId, ctx, () => ({ type: 'SetLimits', authority: ctx.authority, ...limits }));
  }

  suspend(keyId: string, reason: string | null, ctx: CommandContext) {
    return this.#change(keyId, ctx, () => ({ type: 'SuspendKey', authority: ctx.authority, reason, otherActiveAdminKeys: this.#otherAdmins(keyId) }));
  }

  reinstate(keyId: string, reason: string | null, ctx: CommandContext) {
    return this.#change(keyId, ctx, () => ({ type: 'ReinstateKey', authority: ctx.authority, reason }));
  }

  revoke(keyId: string, reason: string | null, ctx: CommandContext) {
    return this.#change(keyId, ctx, () => ({ type: 'RevokeKey', authority: ctx.authority, reason, otherActiveAdminKeys: this.#otherAdmins(keyId) }));
  }

  /**
   * Rotation changes two streams in one transaction (appendToStreams): `KeyRotated` on the old
   * key (naming the successor) and `KeyIssued` for the successor, decided together from the old
   * key's state. Both are written or neither: no crash or concurrent revoke can leave a rotation
   * naming a successor that does not exist, or a successor whose predecessor was not rotated.
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
    return this.#run(ctx, {
      streams: [keyStream(keyId), keyStream(successorId)],
      resource: keyResource(keyId),
      decide: ([old, successor], now) => {
        const before = existing(old as KeyStream, keyId);
        const successorMaterial = materialFor(before);
        const rotated = decide(
          {
            type: 'RotateKey',
            authority: ctx.authority,
            successorId,
            successorHint: successorMaterial.hint,
            gracePeriodSeconds,
            maxGracePeriodSeconds: this.options.maxGracePeriodSeconds,
          },
          before,
          now,
        );
        const issueCommand = successorIssue(
          before,
          { keyId: successorId, digest: successorMaterial.digest, hint: successorMaterial.hint },
          ctx.authority,
        );
        const issued = decide(issueCommand, (successor as KeyStream).state, now);
        return [
          { stream: (old as KeyStream).stream, events: rotated },
          { stream: (successor as KeyStream).stream, events: issued },
        ];
      },
      // The successor's issue is caused by the rotation (its event id is known before the append).
      metadata: (event, place, now) =>
        this.#metadata(event, ctx, now, place.write === 1 ? (place.ids[0]?.[0] ?? null) : undefined),
      result: ([old, successor], outcome) => {
        const successorState = existing(successor as KeyStream, successorId);
        const previous = this.#keyResult(old as KeyStream, outcome);
        const issued = this.#keyResult(successor as KeyStream, outcome);
        // The material derives from the environment, which the successor shares with its predecessor.
        const secret = this.#secretFor(materialFor(successorState), successorState, outcome);
        return { previous, successor: { ...issued, ...secret } };
      },
    });
  }

  /** The key's state as of an instant, folded from the ledger (not the projection). */
  async stateAt(keyId: string, at: Date): Promise<Key> {
    const { events } = await this.#handler.load(keyStream(keyId), keyDecider);
    const upTo = events.filter((e) => Date.parse(occurredAt(e)) <= at.getTime());
    const state = foldKey(upTo.map(toDomain));
    if (!state) throw notFound(`key ${keyId} did not exist at ${at.toISOString()}`);
    return toKeyView(state, at);
  }

  async history(keyId: string): Promise<RecordedEvent[]> {
    // Not folded: history shows events this version cannot fold (a newer version's types) too.
    const events = await this.options.store.readStream(keyStream(keyId));
    if (events.length === 0) throw notFound(`key ${keyId} not found`);
    return events;
  }

  #otherAdmins(keyId: string): number {
    return this.options.otherActiveAdminKeys(keyId, this.#now().getTime());
  }

  /** A command on one existing key. */
  #change(keyId: string, ctx: CommandContext, command: (state: KeyState) => KeyCommand): Promise<CommandResult> {
    return this.#run(ctx, {
      streams: [keyStream(keyId)],
      resource: keyResource(keyId),
      expectedRevision: ctx.expectedRevision,
      decide: ([target], now) => {
        const state = existing(target as KeyStream, keyId);
        return [{ stream: (target as KeyStream).stream, events: decide(command(state), state, now) }];
      },
      metadata: (event, _place, now) => this.#metadata(event, ctx, now),
      result: ([target], outcome) => this.#keyResult(target as KeyStream, outcome),
    });
  }

  #run<Result>(ctx: CommandContext, spec: Omit<CommandSpec<KeyState | null, Result, KeyEvent>, 'decider'>): Promise<Result> {
    const idem: IdempotencyContext | undefined = ctx.idempotencyKey
      ? { key: ctx.idempotencyKey, actorId: ctx.actor.id, requestHash: ctx.requestHash }
      : undefined;
    return handleIdempotently(this.#handler, { ...spec, decider: keyDecider }, idem);
  }

  #keyResult(stream: KeyStream, outcome: CommandOutcome): CommandResult {
    const state = existing(stream, stream.stream.slice('key-'.length));
    return {
      key: toKeyView(state, outcome.now),
      replayed: outcome.replayed,
      stream: stream.events,
      appliedCheckpoint: this.options.runner.checkpoint ?? null,
    };
  }

  /**
   * The plaintext of a created key: always on the first answer; on a replay only while it derives
   * to the stored digest (same server secret) and the original is within the replay window.
   */
  #secretFor(material: KeyMaterial, state: KeyState | null, outcome: CommandOutcome): Pick<IssueResult, 'secret' | 'secretWithheld'> {
    if (!outcome.replayed) return { secret: material.plaintext, secretWithheld: null };
    if (state?.digest !== material.digest) {
      return withheld(
        'this instance cannot re-derive the secret of the original request (set the same KEYLEDGER_SECRET on every instance)',
      );
    }
    const originalAt = outcome.originalAt ?? outcome.now;
    if (outcome.now.getTime() - originalAt.getTime() > this.#secretWindowMs) {
      return withheld(
        `the original request was answered at ${originalAt.toISOString()}; a replay shows the secret only within ` +
          `${this.#secretWindowMs / 1000} s of it (KEYLEDGER_IDEMPOTENT_SECRET_WINDOW_SECONDS). Rotate the key if the secret was lost`,
      );
    }
    return { secret: material.plaintext, secretWithheld: null };
  }

  #metadata(event: KeyEvent, ctx: CommandContext, now: Date, causationId?: string | null): EventMetadata {
    return {
      schemaVersion: CURRENT_SCHEMA_VERSION[event.type],
      actor: ctx.actor,
      requestId: ctx.requestId,
      ...(ctx.clientRequestId ? { clientRequestId: ctx.clientRequestId } : {}),
      sourceAddress: ctx.sourceAddress,
      occurredAt: now.toISOString(),
      correlationId: ctx.correlationId ?? ctx.requestId,
      causationId: causationId ?? ctx.causationId ?? null,
    };
  }
}

function existing(stream: KeyStream, keyId: string): KeyState {
  if (!stream.state) throw notFound(`key ${keyId} not found`);
  return stream.state;
}

function withheld(detail: string): Pick<IssueResult, 'secret' | 'secretWithheld'> {
  return { secret: null, secretWithheld: { type: PROBLEM_TYPES.secretWithheld, title: 'Secret withheld', detail } };
}

export function occurredAt(event: RecordedEvent): string {
  return (event.metadata as { occurredAt?: string }).occurredAt ?? event.recordedAt.toISOString();
}

/** A stored key event, upcast to the current schema, as the decider folds it. */
export function toDomain(event: RecordedEvent): { event: KeyEvent; occurredAt: string; revision: number } {
  return toKeyEvent(event);
}
