/**
 * Webhook endpoints as the delivery worker and the routes read them: each `webhook-<id>` stream
 * folded with the domain's evolve. The read model follows only the `webhook` category of the log
 * (a filtered read from its own checkpoint), so it needs no place in the projection snapshots and
 * a start reads just the (few) endpoint events.
 */
import { type WebhookEndpoint, type WebhookEvent, webhookEventSchemas } from '@keyledger/schemas';
import type { Decider } from '../app/command-handler.js';
import { writtenByNewerVersion } from '../app/errors.js';
import { evolveWebhook, type WebhookState } from '../domain/webhooks/index.js';
import { classifyEvent } from '../projections/event-kinds.js';
import { type EventStore, occurredAtOf, type RecordedEvent } from '../store/port.js';

export const WEBHOOK_CATEGORY = 'webhook';
export const webhookStream = (endpointId: string) => `${WEBHOOK_CATEGORY}-${endpointId}`;
export const webhookResource = (endpointId: string) => `/v1/webhooks/${endpointId}`;

/** The domain event of a recorded one; throws (503) on a type or version this keyledger cannot fold. */
export function toWebhookEvent(recorded: RecordedEvent): WebhookEvent {
  const classified = classifyEvent(recorded);
  if (classified.kind === 'skip' || !Object.hasOwn(webhookEventSchemas, recorded.type)) {
    throw writtenByNewerVersion(recorded.stream, recorded.type, classified.kind === 'skip' ? classified.reason : 'unknown_type');
  }
  return { type: recorded.type, data: classified.event.data } as WebhookEvent;
}

export const webhookDecider: Decider<WebhookState | null> = {
  initialState: () => null,
  evolve: (state, recorded) =>
    evolveWebhook(state, toWebhookEvent(recorded), { occurredAt: occurredAtOf(recorded), revision: recorded.revision, checkpoint: recorded.checkpoint }),
};

export function toEndpointView(state: WebhookState): WebhookEndpoint {
  return {
    id: state.id,
    url: state.url,
    eventTypes: state.eventTypes,
    filters: state.filters,
    format: state.format,
    description: state.description,
    status: state.enabled ? 'enabled' : 'disabled',
    disabledCause: state.disabledCause,
    disabledDetail: state.disabledDetail,
    createdAt: state.createdAt,
    updatedAt: state.updatedAt,
    revision: state.revision,
  };
}

export class WebhookEndpoints {
  readonly #byId = new Map<string, WebhookState>();
  #checkpoint: string | undefined;
  #catchingUp: Promise<void> | undefined;

  constructor(private readonly store: EventStore) {}

  /** Reads every endpoint event written since the last call (one read at a time). */
  catchUp(): Promise<void> {
    this.#catchingUp ??= this.#read().finally(() => {
      this.#catchingUp = undefined;
    });
    return this.#catchingUp;
  }

  async #read(): Promise<void> {
    for (;;) {
      const page = await this.store.readAll({ ...(this.#checkpoint ? { after: this.#checkpoint } : {}), categories: [WEBHOOK_CATEGORY], maxCount: 500 });
      for (const recorded of page.events) {
        const id = recorded.stream.slice(WEBHOOK_CATEGORY.length + 1);
        try {
          this.#byId.set(id, webhookDecider.evolve(this.#byId.get(id) ?? null, recorded) as WebhookState);
        } catch {
          // A newer version's event: this endpoint keeps its last known state until an upgrade.
        }
      }
      if (page.checkpoint !== undefined) this.#checkpoint = page.checkpoint;
      if (page.events.length === 0) return;
    }
  }

  get(id: string): WebhookState | undefined {
    const state = this.#byId.get(id);
    return state && !state.deleted ? state : undefined;
  }

  /** Live (not deleted) endpoints in creation order. */
  list(): WebhookState[] {
    return [...this.#byId.values()].filter((state) => !state.deleted);
  }
}
