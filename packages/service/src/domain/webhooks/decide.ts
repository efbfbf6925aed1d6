/**
 * The webhook endpoint decider. Rules:
 * - an endpoint id is created once; every other command needs an endpoint that exists and is
 *   not deleted (a deleted endpoint reads as not found);
 * - enable / disable are idempotent: asking for the state it is in decides nothing;
 * - the delivery worker's "failing" disable only applies to an enabled endpoint, and only to the
 *   revision it saw failing: an operator's enable in between wins over a stale failure;
 * - a replay is recorded on enabled and disabled endpoints alike (it is delivered once enabled).
 */
import type { WebhookEvent, WebhookFilters, WebhookFormat } from '@keyledger/schemas';
import { DomainError } from '../errors.js';
import { unique, validated } from '../validate-event.js';
import type { WebhookState } from './state.js';

export type WebhookCommand =
  | {
      type: 'CreateEndpoint';
      endpointId: string;
      url: string;
      eventTypes: string[];
      filters: WebhookFilters;
      format: WebhookFormat;
      description: string | null;
      secretSalt: string;
    }
  | { type: 'DisableEndpoint'; detail: string | null }
  | { type: 'DisableFailingEndpoint'; seenRevision: number; failingSince: string; detail: string }
  | { type: 'EnableEndpoint' }
  | { type: 'DeleteEndpoint' }
  | { type: 'ReplayEndpoint'; from: string | null };

export function decideWebhook(command: WebhookCommand, state: WebhookState | null): WebhookEvent[] {
  return validated(decideUnchecked(command, state));
}

function decideUnchecked(command: WebhookCommand, state: WebhookState | null): WebhookEvent[] {
  if (command.type === 'CreateEndpoint') {
    if (state !== null) throw new DomainError('EXISTS', `webhook endpoint ${state.id} already exists`, 'webhook-exists');
    const { type: _type, ...data } = command;
    return [
      {
        type: 'WebhookEndpointCreated',
        data: {
          ...data,
          eventTypes: unique(data.eventTypes),
          filters: { consumerIds: unique(data.filters.consumerIds), planIds: unique(data.filters.planIds) },
        },
      },
    ];
  }
  if (state === null || state.deleted) throw new DomainError('NOT_FOUND', 'webhook endpoint not found');
  const endpointId = state.id;
  switch (command.type) {
    case 'DisableEndpoint':
      if (!state.enabled && state.disabledCause === 'manual') return [];
      return [{ type: 'WebhookEndpointDisabled', data: { endpointId, cause: 'manual', detail: command.detail, failingSince: null } }];
    case 'DisableFailingEndpoint':
      if (!state.enabled || state.revision !== command.seenRevision) return [];
      return [
        {
          type: 'WebhookEndpointDisabled',
          data: { endpointId, cause: 'failing', detail: command.detail.slice(0, 500), failingSince: command.failingSince },
        },
      ];
    case 'EnableEndpoint':
      return state.enabled ? [] : [{ type: 'WebhookEndpointEnabled', data: { endpointId } }];
    case 'DeleteEndpoint':
      return [{ type: 'WebhookEndpointDeleted', data: { endpointId } }];
    case 'ReplayEndpoint':
      return [{ type: 'WebhookReplayRequested', data: { endpointId, from: command.from } }];
  }
}
