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
import { type IssueKeyRequest, type Key, PROBLEM_TYPES, type SecretWithheld } from '@keyledger/schemas';
import type { ConsumerState } from '../domain/consumers/index.js';
import { type KeyCommand, type KeyState, decide, evolve, successorIssue, toKeyView } from '../domain/keys/index.js';
import { deriveKey, generateKey, newKeyId } from '../domain/key-material.js';
import type { PlanState } from '../domain/plans/index.js';
import { assertMayIssue, assertStaysWithinPlan, assertTakesCredits, type UnregisteredConsumers } from '../domain/policy/key-admission.js';
import type { EventStore, RecordedEvent } from '../store/port.js';
import type { ProjectionRunner } from '../projections/runner.js';
import type { CommandContext } from './command-context.js';
import type { CommandOutcome } from './command-handler.js';
import { CommandRunner, type RunSpec } from './command-runner.js';
import { notFound } from './errors.js';
import { deterministicKeyId } from './ids.js';
import { type AggregateStream, stateOf, streamOf } from './ledger-decider.js';

export type { CommandContext } from './command-context.js';

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
  /** Whether a consumer key may name a consumer nobody registered (keys from before consumers existed). Default allow. */
  unregisteredConsumers?: UnregisteredConsumers;
  /** Shared with the other aggregates' commands; made from the options above when absent. */
  commandRunner?: CommandRunner;
  /** A key's plan id from the key projection (undefined: not known here yet). It never changes, so it saves a read. */
  planIdOf?: (keyId: string) => string | null | undefined;
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

export const keyStream = streamOf.key;
export const keyResource = (keyId: string) => `/v1/keys/${keyId}`;

export type KeyMaterial = { plaintext: string; digest: string; hint: string };

/** A loaded key stream (folded by the ledger decider, so its state is a KeyState or null). */
type KeyStream = AggregateStream;

export class KeyCommands {
  readonly #now: () => Date;
  readonly #runner: CommandRunner;
  readonly #secretWindowMs: number;

  constructor(private readonly options: KeyCommandsOptions) {
    this.#runner =
      options.commandRunner ??
      new CommandRunner({ store: options.store, runner: options.runner, applyTimeoutMs: options.applyTimeoutMs, now: options.now, maxAttempts: options.maxAttempts });
    this.#now = this.#runner.now;
    this.#secretWindowMs = (options.secretReplayWindowSeconds ?? 24 * 3600) * 1000;
  }

  get runner(): CommandRunner {
    return this.#runner;
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
      networks: request.networks,
    };
    const planStream = command.planId === null ? [] : [streamOf.plan(command.planId)];
    return this.#run(ctx, {
      // The consumer and the plan are read, not written: the key must be admissible against them.
      streams: [keyStream(keyId), streamOf.consumer(command.consumerId), ...planStream],
      resource: keyResource(keyId),
      // An existing key that is not this request's replay is refused by decide (KEY_EXISTS).
      decide: ([target, consumer, plan], now) => {
        const events = decide(command, stateOf<KeyState>(target), now);
        assertMayIssue(
          command,
          { consumer: stateOf<ConsumerState>(consumer), plan: stateOf<PlanState>(plan), unregisteredConsumers: this.options.unregisteredConsumers ?? 'allow' },
        );
        return [{ stream: (target as KeyStream).stream, events }];
      },
      result: ([target], outcome) => {
        const result = this.#keyResult(target as KeyStream, outcome);
        return { ...result, ...this.#secretFor(material, stateOf<KeyState>(target), outcome) };
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

  /** A top-up of prepaid credits; every instance hands it to its limiter once (verify/credit-ledger.ts). */
  addCredits(keyId: string, amount: number, reason: string | null, ctx: CommandContext) {
    return this.#change(keyId, ctx, () => ({ type: 'AddCredits', authority: ctx.authority, amount, reason }), (state, plan) => assertTakesCredits(state, plan));
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
        const issued = decide(issueCommand, stateOf<KeyState>(successor), now);
        return [
          { stream: (old as KeyStream).stream, events: rotated },
          { stream: (successor as KeyStream).stream, events: issued },
        ];
      },
      // The successor's issue is caused by the rotation (its event id is known before the append).
      causationOf: (place) => (place.write === 1 ? (place.ids[0]?.[0] ?? null) : undefined),
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
    const state = stateOf<KeyState>(await this.#runner.loadAt(keyStream(keyId), at));
    if (!state) throw notFound(`key ${keyId} did not exist at ${at.toISOString()}`);
    return toKeyView(state, at);
  }

  history(keyId: string): Promise<RecordedEvent[]> {
    return this.#runner.history(keyStream(keyId), `key ${keyId}`);
  }

  #otherAdmins(keyId: string): number {
    return this.options.otherActiveAdminKeys(keyId, this.#now().getTime());
  }

  /**
   * A command on one existing key. A key on a plan is read with its plan, so a change of scopes
   * or limits that would reach beyond the plan's current version is refused. The plan id never
   * changes: it comes from the key projection, or from the key stream when this instance has not
   * seen the key yet.
   */
  async #change(
    keyId: string,
    ctx: CommandContext,
    command: (state: KeyState) => KeyCommand,
    alsoCheck?: (state: KeyState, plan: PlanState | null) => void,
  ): Promise<CommandResult> {
    const known = this.options.planIdOf?.(keyId);
    const planId = known !== undefined ? known : (stateOf<KeyState>(await this.#runner.load(keyStream(keyId)))?.planId ?? null);
    return this.#run(ctx, {
      streams: [keyStream(keyId), ...(planId === null ? [] : [streamOf.plan(planId)])],
      resource: keyResource(keyId),
      expectedRevision: ctx.expectedRevision,
      decide: ([target, plan], now) => {
        const state = existing(target as KeyStream, keyId);
        const events = decide(command(state), state, now);
        alsoCheck?.(state, stateOf<PlanState>(plan));
        if (events.some((event) => event.type === 'KeyScoped' || event.type === 'KeyThrottled')) {
          let next = state;
          for (const event of events) next = evolve(next, event, { occurredAt: now.toISOString(), revision: next.revision + 1 });
          assertStaysWithinPlan(next, stateOf<PlanState>(plan));
        }
        return [{ stream: (target as KeyStream).stream, events }];
      },
      result: ([target], outcome) => this.#keyResult(target as KeyStream, outcome),
    });
  }

  #run<Result>(ctx: CommandContext, spec: RunSpec<Result>): Promise<Result> {
    return this.#runner.run(ctx, spec);
  }

  #keyResult(stream: KeyStream, outcome: CommandOutcome): CommandResult {
    const state = existing(stream, stream.stream.slice('key-'.length));
    return {
      key: toKeyView(state, outcome.now),
      replayed: outcome.replayed,
      stream: stream.events,
      appliedCheckpoint: this.#runner.appliedCheckpoint,
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
}

function existing(stream: KeyStream, keyId: string): KeyState {
  const state = stateOf<KeyState>(stream);
  if (!state) throw notFound(`key ${keyId} not found`);
  return state;
}

function withheld(detail: string): Pick<IssueResult, 'secret' | 'secretWithheld'> {
  return { secret: null, secretWithheld: { type: PROBLEM_TYPES.secretWithheld, title: 'Secret withheld', detail } };
}
