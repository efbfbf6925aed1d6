/**
 * Key requests: a consumer asks for a key on a plan (`keyrequest-<id>`). The key is issued by the
 * key decider in the same transaction (appendToStreams) as the decision that lets it exist: the
 * request itself on a plan without approval, the claim on a plan with approval. So no crash can
 * leave an approved request without its key, or a key without its request.
 *
 * Nothing secret is stored: the claim token and the key's plaintext are derived from the server
 * secret and the request id (HMAC), so any instance with the same secret can hand the secret out
 * at the claim, and the ledger holds only the token's SHA-256 and the key's digest. A claim is
 * accepted once; the second gets 410.
 */
import { createHash, createHmac } from 'node:crypto';
import type { Key, KeyRequest } from '@keyledger/schemas';
import { base62FromBytes, deriveKey, type KeyMaterial, randomBase62 } from '../domain/key-material.js';
import type { ConsumerState } from '../domain/consumers/index.js';
import { decideKeyRequest, type KeyRequestState, toKeyRequestView } from '../domain/key-requests/decide.js';
import { type Authority, decide as decideKey, type IssueKey, type KeyState, toKeyView } from '../domain/keys/index.js';
import { currentVersion, type PlanState } from '../domain/plans/index.js';
import { assertMayIssue, type UnregisteredConsumers } from '../domain/policy/key-admission.js';
import type { RecordedEvent } from '../store/port.js';
import type { CommandContext } from './command-context.js';
import type { StreamWrite } from './command-handler.js';
import type { CommandRunner } from './command-runner.js';
import { notFound, unavailable } from './errors.js';
import { aggregateId, deterministicKeyId } from './ids.js';
import { type AggregateStream, existingState, stateOf, streamOf } from './ledger-decider.js';

export interface KeyRequestCommandsOptions {
  serverSecret: Buffer;
  /** The live key prefix: keys from requests are live keys. */
  keyPrefix: string;
  unregisteredConsumers: UnregisteredConsumers;
}

export interface KeyRequestResult {
  view: KeyRequest;
  replayed: boolean;
  appliedCheckpoint: string | null;
}

export interface ClaimResult extends KeyRequestResult {
  key: Key;
  secret: string;
}

export const keyRequestResource = (id: string) => `/v1/key-requests/${id}`;

export class KeyRequestCommands {
  constructor(
    private readonly runner: CommandRunner,
    private readonly options: KeyRequestCommandsOptions,
  ) {}

  /** Files a request; on a plan without approval its key is issued at once (collected with the claim token). */
  async create(consumerId: string, body: { planId: string; name?: string | undefined }, ctx: CommandContext): Promise<KeyRequestResult & { claimToken: string }> {
    const requestId = aggregateId('kr', () => randomBase62(20), ...(ctx.idempotencyKey ? ['key-request', ctx.actor.id, ctx.idempotencyKey] : []));
    const keyId = this.#keyIdOf(requestId);
    const claimToken = this.#claimToken(requestId);
    const requestStream = streamOf.keyRequest(requestId);
    const result = await this.runner.run(ctx, {
      streams: [requestStream, streamOf.key(keyId), streamOf.consumer(consumerId), streamOf.plan(body.planId)],
      resource: keyRequestResource(requestId),
      decide: ([request, key, consumer, plan], now) => {
        const planState = stateOf<PlanState>(plan);
        const issue = this.#issueCommand(keyId, requestId, consumerId, body.planId, body.name ?? null, ctx.authority);
        // The request is refused for the same reasons a key would be: consumer approved, plan active.
        assertMayIssue(issue, { consumer: stateOf<ConsumerState>(consumer), plan: planState, unregisteredConsumers: this.options.unregisteredConsumers });
        const approvalRequired = currentVersion(planState as PlanState).terms.approvalRequired;
        const events = decideKeyRequest(
          { type: 'RequestKey', requestId, consumerId, planId: body.planId, name: body.name ?? null, claimDigest: sha256(claimToken), approvalRequired, keyId },
          stateOf<KeyRequestState>(request),
        );
        const writes: StreamWrite[] = [{ stream: requestStream, events }];
        if (!approvalRequired) writes.push({ stream: streamOf.key(keyId), events: decideKey(issue, stateOf<KeyState>(key), now) });
        return writes;
      },
      // The key's issue is caused by the request's approval (the second event of the first write).
      causationOf: (place) => (place.write === 1 ? (place.ids[0]?.[1] ?? null) : undefined),
      result: ([request], outcome) => ({ ...this.#result(request, outcome.replayed, requestId), claimToken }),
    });
    return result;
  }

  approve(requestId: string, reason: string | null, ctx: CommandContext): Promise<KeyRequestResult> {
    return this.#decideOne(requestId, ctx, { type: 'ApproveKeyRequest', reviewer: ctx.actor.id, reason });
  }

  reject(requestId: string, reason: string | null, ctx: CommandContext): Promise<KeyRequestResult> {
    return this.#decideOne(requestId, ctx, { type: 'RejectKeyRequest', reviewer: ctx.actor.id, reason });
  }

  /** Hands out the key's secret once, for the right claim token; issues the key now if approval came first. */
  async claim(requestId: string, claimToken: string, ctx: CommandContext): Promise<ClaimResult> {
    const requestStream = streamOf.keyRequest(requestId);
    const before = stateOf<KeyRequestState>(await this.runner.load(requestStream));
    if (!before) throw notFound(`key request ${requestId} not found`);
    const keyId = this.#keyIdOf(requestId);
    const material = this.#material(requestId);
    return this.runner.run(ctx, {
      streams: [requestStream, streamOf.key(keyId), streamOf.consumer(before.consumerId), streamOf.plan(before.planId)],
      resource: keyRequestResource(requestId),
      decide: ([request, key, consumer, plan], now) => {
        const state = existingState<KeyRequestState>(request, `key request ${requestId}`);
        const events = decideKeyRequest({ type: 'ClaimKeyRequest', claimDigest: sha256(claimToken), keyId }, state);
        const writes: StreamWrite[] = [{ stream: requestStream, events }];
        if (state.keyId === null) {
          // Approved by an operator: the key is issued with the claim, if consumer and plan still allow it.
          const issue = this.#issueCommand(keyId, requestId, state.consumerId, state.planId, state.name, ctx.authority);
          assertMayIssue(issue, { consumer: stateOf<ConsumerState>(consumer), plan: stateOf<PlanState>(plan), unregisteredConsumers: this.options.unregisteredConsumers });
          writes.push({ stream: streamOf.key(keyId), events: decideKey(issue, stateOf<KeyState>(key), now) });
        }
        return writes;
      },
      causationOf: (place) => (place.write === 1 ? (place.ids[0]?.[0] ?? null) : undefined),
      result: ([request, key], outcome) => {
        const keyState = existingState<KeyState>(key, `key ${keyId}`);
        if (keyState.digest !== material.digest) {
          throw unavailable('this instance cannot re-derive the secret of this key request (set the same KEYLEDGER_SECRET on every instance)');
        }
        return { ...this.#result(request, outcome.replayed, requestId), key: toKeyView(keyState, outcome.now), secret: material.plaintext };
      },
    });
  }

  history(requestId: string): Promise<RecordedEvent[]> {
    return this.runner.history(streamOf.keyRequest(requestId), `key request ${requestId}`);
  }

  #decideOne(requestId: string, ctx: CommandContext, command: Parameters<typeof decideKeyRequest>[0]): Promise<KeyRequestResult> {
    const stream = streamOf.keyRequest(requestId);
    return this.runner.run(ctx, {
      streams: [stream],
      resource: keyRequestResource(requestId),
      expectedRevision: ctx.expectedRevision,
      decide: ([target]) => [{ stream, events: decideKeyRequest(command, existingState<KeyRequestState>(target, `key request ${requestId}`)) }],
      result: ([target], outcome) => this.#result(target, outcome.replayed, requestId),
    });
  }

  #issueCommand(keyId: string, requestId: string, consumerId: string, planId: string, name: string | null, authority: Authority): IssueKey {
    const material = this.#material(requestId);
    return {
      type: 'IssueKey',
      authority,
      keyId,
      kind: 'consumer',
      consumerId,
      planId,
      name,
      environment: 'live',
      digest: material.digest,
      hint: material.hint,
      // Empty: the key takes its plan's scopes, endpoint rules and limits (revisions included).
      scopes: [],
      endpoints: [],
      permissions: [],
      expiresAt: null,
      meta: { keyRequestId: requestId },
      rateLimit: null,
      quota: null,
      rotatedFrom: null,
      networks: [],
    };
  }

  #result(stream: AggregateStream | undefined, replayed: boolean, requestId: string): KeyRequestResult {
    return {
      view: toKeyRequestView(existingState<KeyRequestState>(stream, `key request ${requestId}`)),
      replayed,
      appliedCheckpoint: this.runner.appliedCheckpoint,
    };
  }

  #keyIdOf(requestId: string): string {
    return deterministicKeyId('key-request', requestId);
  }

  #material(requestId: string): KeyMaterial {
    return deriveKey(this.options.keyPrefix, this.options.serverSecret, `key-request\n${requestId}`);
  }

  #claimToken(requestId: string): string {
    let counter = 0;
    const block = () => createHmac('sha256', this.options.serverSecret).update(`key-request-claim\n${requestId}\n${counter++}`).digest();
    return `klc_${base62FromBytes(32, block)}`;
  }
}

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');
