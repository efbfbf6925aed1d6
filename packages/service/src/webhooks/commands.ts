/**
 * Webhook endpoint commands, each a spec for the generic command handler, made idempotent by its
 * wrapper: create (the id, salt and so the secret derive from the Idempotency-Key, so a replay
 * shows the same secret), enable, disable, delete, replay from a checkpoint, and the delivery
 * worker's own "disabled because failing".
 */
import { createHash, randomBytes } from 'node:crypto';
import { BASE62, type WebhookEvent, type WebhookFilters, type WebhookFormat } from '@keyledger/schemas';
import { CommandHandler, type CommandOutcome, type LoadedStream } from '../app/command-handler.js';
import { notFound } from '../app/errors.js';
import { eventMetadata, systemMetadata } from '../app/command-context.js';
import { handleIdempotently, type IdempotencyContext } from '../app/idempotency.js';
import type { CommandContext } from '../app/key-commands.js';
import { decideWebhook, type WebhookCommand, type WebhookState } from '../domain/webhooks/index.js';
import type { ProjectionRunner } from '../projections/runner.js';
import type { EventStore } from '../store/port.js';
import { toEndpointView, webhookDecider, webhookResource, webhookStream } from './endpoints.js';
import { deriveWebhookSecret } from './signing.js';

export interface WebhookCommandsOptions {
  store: EventStore;
  runner: Pick<ProjectionRunner, 'waitFor' | 'checkpoint'>;
  serverSecret: Buffer;
  applyTimeoutMs?: number;
  now?: () => Date;
}

export interface CreateEndpointInput {
  url: string;
  eventTypes: string[];
  filters?: Partial<WebhookFilters> | undefined;
  format?: WebhookFormat | undefined;
  description?: string | undefined;
}

type Stream = LoadedStream<WebhookState | null>;

export interface EndpointResult {
  endpoint: ReturnType<typeof toEndpointView>;
  replayed: boolean;
  appliedCheckpoint: string | null;
}

export class WebhookCommands {
  readonly #handler: CommandHandler;

  constructor(private readonly options: WebhookCommandsOptions) {
    this.#handler = new CommandHandler({
      store: options.store,
      waitForApplied: (checkpoint, timeoutMs) => options.runner.waitFor(checkpoint, timeoutMs),
      applyTimeoutMs: options.applyTimeoutMs,
      ...(options.now ? { now: options.now } : {}),
    });
  }

  async create(input: CreateEndpointInput, ctx: CommandContext): Promise<EndpointResult & { secret: string }> {
    const idem = ctx.idempotencyKey;
    const seed = idem ? createHash('sha256').update(`webhook\0${ctx.actor.id}\0${idem}`).digest() : randomBytes(32);
    const endpointId = `wh_${[...seed.subarray(0, 20)].map((byte) => BASE62[byte % 62]).join('')}`;
    const secretSalt = seed.subarray(16, 32).toString('hex');
    const command: WebhookCommand = {
      type: 'CreateEndpoint',
      endpointId,
      url: input.url,
      eventTypes: input.eventTypes,
      filters: { consumerIds: input.filters?.consumerIds ?? [], planIds: input.filters?.planIds ?? [] },
      format: input.format ?? 'event',
      description: input.description ?? null,
      secretSalt,
    };
    const result = await this.#run(endpointId, ctx, () => command);
    // The salt is the stored one: a replay answers with the secret of the original.
    const state = await this.state(endpointId);
    return { ...result, secret: deriveWebhookSecret(this.options.serverSecret, endpointId, state?.secretSalt ?? secretSalt) };
  }

  enable(endpointId: string, ctx: CommandContext) {
    return this.#run(endpointId, ctx, () => ({ type: 'EnableEndpoint' }));
  }

  disable(endpointId: string, ctx: CommandContext) {
    return this.#run(endpointId, ctx, () => ({ type: 'DisableEndpoint', detail: null }));
  }

  delete(endpointId: string, ctx: CommandContext) {
    return this.#run(endpointId, ctx, () => ({ type: 'DeleteEndpoint' }));
  }

  replay(endpointId: string, from: string | null, ctx: CommandContext) {
    return this.#run(endpointId, ctx, () => ({ type: 'ReplayEndpoint', from }));
  }

  /** The delivery worker's: only if the endpoint is still at the revision it saw failing. */
  async disableFailing(endpointId: string, seenRevision: number, failingSince: Date, detail: string): Promise<void> {
    await this.#handler.handle({
      streams: [webhookStream(endpointId)],
      decider: webhookDecider,
      resource: webhookResource(endpointId),
      decide: ([target]) => [
        {
          stream: (target as Stream).stream,
          events: decideWebhook(
            { type: 'DisableFailingEndpoint', seenRevision, failingSince: failingSince.toISOString(), detail },
            (target as Stream).state,
          ),
        },
      ],
      metadata: (event, _place, now) => systemMetadata(event.type, 'webhook-delivery', now),
      result: () => undefined,
    });
  }

  /** The endpoint as its stream says now (not a projection: always reflects this instance's own writes). */
  async state(endpointId: string): Promise<WebhookState | null> {
    return (await this.#handler.load(webhookStream(endpointId), webhookDecider)).state;
  }

  #run(endpointId: string, ctx: CommandContext, command: () => WebhookCommand): Promise<EndpointResult> {
    const idem: IdempotencyContext | undefined = ctx.idempotencyKey
      ? { key: ctx.idempotencyKey, actorId: ctx.actor.id, requestHash: ctx.requestHash }
      : undefined;
    return handleIdempotently(
      this.#handler,
      {
        streams: [webhookStream(endpointId)],
        decider: webhookDecider,
        resource: webhookResource(endpointId),
        expectedRevision: ctx.expectedRevision,
        decide: ([target]) => [{ stream: (target as Stream).stream, events: decideWebhook(command(), (target as Stream).state) }],
        metadata: (event: WebhookEvent, _place, now) => eventMetadata(event.type, ctx, now),
        result: ([target], outcome: CommandOutcome) => {
          const state = (target as Stream).state;
          if (!state) throw notFound(`webhook endpoint ${endpointId} not found`);
          return { endpoint: toEndpointView(state), replayed: outcome.replayed, appliedCheckpoint: this.options.runner.checkpoint ?? null };
        },
      },
      idem,
    );
  }
}
