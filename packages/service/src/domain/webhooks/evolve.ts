/** Folds webhook endpoint events into state. Pure. */
import type { WebhookEvent } from '@keyledger/schemas';
import type { WebhookState } from './state.js';

export interface RecordedAt {
  occurredAt: string;
  revision: number;
  checkpoint?: string;
}

export function evolveWebhook(state: WebhookState | null, event: WebhookEvent, at: RecordedAt): WebhookState {
  if (event.type === 'WebhookEndpointCreated') {
    const d = event.data;
    return {
      id: d.endpointId,
      url: d.url,
      eventTypes: d.eventTypes,
      filters: d.filters,
      format: d.format,
      description: d.description,
      secretSalt: d.secretSalt,
      enabled: true,
      disabledCause: null,
      disabledDetail: null,
      deleted: false,
      replay: null,
      disabledRevision: 0,
      createdCheckpoint: at.checkpoint ?? null,
      createdAt: at.occurredAt,
      updatedAt: at.occurredAt,
      revision: at.revision,
    };
  }
  if (state === null) throw new Error(`${event.type} before WebhookEndpointCreated`);
  const next: WebhookState = { ...state, updatedAt: at.occurredAt, revision: at.revision };
  switch (event.type) {
    case 'WebhookEndpointDisabled':
      return { ...next, enabled: false, disabledCause: event.data.cause, disabledDetail: event.data.detail, disabledRevision: at.revision };
    case 'WebhookEndpointEnabled': {
      const replayWhileDisabled = state.replay !== null && state.replay.revision > state.disabledRevision;
      const replay = replayWhileDisabled ? state.replay : { revision: at.revision, from: at.checkpoint ?? null };
      return { ...next, enabled: true, disabledCause: null, disabledDetail: null, replay };
    }
    case 'WebhookEndpointDeleted':
      return { ...next, deleted: true, enabled: false };
    case 'WebhookReplayRequested':
      return { ...next, replay: { revision: at.revision, from: event.data.from } };
  }
}

export function foldWebhook(events: readonly { event: WebhookEvent; at: RecordedAt }[]): WebhookState | null {
  let state: WebhookState | null = null;
  for (const { event, at } of events) state = evolveWebhook(state, event, at);
  return state;
}
