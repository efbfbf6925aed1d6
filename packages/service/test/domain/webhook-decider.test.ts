/** The webhook endpoint decider, given/when/then; and the event type / filter matching it relies on. */
import type { WebhookEvent } from '@keyledger/schemas';
import { describe, expect, it } from 'vitest';
import { DomainError } from '../../src/domain/errors.js';
import {
  decideWebhook,
  foldWebhook,
  globMatches,
  ownerMatches,
  typeMatches,
  type WebhookCommand,
} from '../../src/domain/webhooks/index.js';
import { recordedAt } from './given.js';

const endpointId = 'wh_0123456789abcdefAB';
const created: WebhookEvent = {
  type: 'WebhookEndpointCreated',
  data: {
    endpointId,
    url: 'https://hooks.example.com/in',
    eventTypes: ['Key*'],
    filters: { consumerIds: [], planIds: [] },
    format: 'event',
    description: null,
    secretSalt: '0123456789abcdef0123456789abcdef',
  },
};
const create: WebhookCommand = { type: 'CreateEndpoint', ...created.data };
const manualOff: WebhookEvent = { type: 'WebhookEndpointDisabled', data: { endpointId, cause: 'manual', detail: null, failingSince: null } };
const enabled: WebhookEvent = { type: 'WebhookEndpointEnabled', data: { endpointId } };
const deleted: WebhookEvent = { type: 'WebhookEndpointDeleted', data: { endpointId } };

const fold = (history: WebhookEvent[]) =>
  foldWebhook(history.map((event, revision) => ({ event, at: { revision, occurredAt: recordedAt(revision) } })));

function given(history: WebhookEvent[]) {
  return {
    when(command: WebhookCommand) {
      const run = () => decideWebhook(command, fold(history));
      return {
        then: (events: WebhookEvent[]) => expect(run()).toEqual(events),
        thenThrows(code: string) {
          try {
            run();
          } catch (error) {
            expect(error).toBeInstanceOf(DomainError);
            expect((error as DomainError).code).toBe(code);
            return;
          }
          throw new Error('expected the command to be refused');
        },
      };
    },
  };
}

describe('webhook endpoint decider', () => {
  it('given nothing, when created, then WebhookEndpointCreated (patterns and filters deduplicated)', () => {
    given([]).when({ ...create, eventTypes: ['Key*', 'Key*'], filters: { consumerIds: ['a', 'a'], planIds: [] } }).then([
      { ...created, data: { ...created.data, filters: { consumerIds: ['a'], planIds: [] } } },
    ]);
  });

  it('given an endpoint, when created again, then EXISTS', () => {
    given([created]).when(create).thenThrows('EXISTS');
  });

  it('given nothing, when any other command, then NOT_FOUND', () => {
    given([]).when({ type: 'EnableEndpoint' }).thenThrows('NOT_FOUND');
    given([]).when({ type: 'ReplayEndpoint', from: null }).thenThrows('NOT_FOUND');
  });

  it('given a deleted endpoint, when anything, then NOT_FOUND', () => {
    given([created, deleted]).when({ type: 'DisableEndpoint', detail: null }).thenThrows('NOT_FOUND');
    given([created, deleted]).when({ type: 'DeleteEndpoint' }).thenThrows('NOT_FOUND');
  });

  it('given an enabled endpoint, when disabled, then WebhookEndpointDisabled (manual); again: nothing', () => {
    given([created]).when({ type: 'DisableEndpoint', detail: null }).then([manualOff]);
    given([created, manualOff]).when({ type: 'DisableEndpoint', detail: null }).then([]);
  });

  it('given a disabled endpoint, when enabled, then WebhookEndpointEnabled; an enabled one: nothing', () => {
    given([created, manualOff]).when({ type: 'EnableEndpoint' }).then([enabled]);
    given([created]).when({ type: 'EnableEndpoint' }).then([]);
  });

  it('given an enabled endpoint at the revision the worker saw failing, when disabled as failing, then disabled with the cause', () => {
    given([created]).when({ type: 'DisableFailingEndpoint', seenRevision: 0, failingSince: recordedAt(0), detail: 'HTTP 500' }).then([
      { type: 'WebhookEndpointDisabled', data: { endpointId, cause: 'failing', detail: 'HTTP 500', failingSince: recordedAt(0) } },
    ]);
  });

  it('given an operator re-enabled it since, when a stale failing disable arrives, then nothing', () => {
    given([created, manualOff, enabled])
      .when({ type: 'DisableFailingEndpoint', seenRevision: 0, failingSince: recordedAt(0), detail: 'HTTP 500' })
      .then([]);
  });

  it('given a disabled endpoint, when a replay is asked, then it is recorded (delivered once enabled)', () => {
    given([created, manualOff]).when({ type: 'ReplayEndpoint', from: 'cp-1' }).then([
      { type: 'WebhookReplayRequested', data: { endpointId, from: 'cp-1' } },
    ]);
  });

  it('folds the latest replay with its revision', () => {
    const state = fold([created, { type: 'WebhookReplayRequested', data: { endpointId, from: null } }]);
    expect(state?.replay).toEqual({ revision: 1, from: null });
  });

  it('refuses a decided event that breaks its schema (a ftp:// URL)', () => {
    given([]).when({ ...create, url: 'ftp://example.com/' }).thenThrows('INVALID_ARGUMENT');
  });
});

describe('event matching', () => {
  it('matches types by pattern', () => {
    expect(globMatches('Key*', 'KeyIssued')).toBe(true);
    expect(globMatches('Key*', 'ConsumerApproved')).toBe(false);
    expect(globMatches('*', 'Anything')).toBe(true);
    expect(globMatches('*Threshold*', 'QuotaThresholdCrossed')).toBe(true);
    expect(globMatches('K*y*d', 'KeyIssued')).toBe(true);
    expect(globMatches('K*y*d', 'KeyIssue')).toBe(false);
    expect(globMatches('KeyIssued', 'KeyIssued')).toBe(true);
    expect(globMatches('Key*Key', 'Key')).toBe(false);
    expect(typeMatches(['Consumer*', 'KeyRevoked'], 'KeyRevoked')).toBe(true);
  });

  it('filters by consumer and plan; an empty filter passes everything', () => {
    expect(ownerMatches({ consumerIds: [], planIds: [] }, { consumerId: null, planId: null })).toBe(true);
    expect(ownerMatches({ consumerIds: ['acme'], planIds: [] }, { consumerId: 'acme', planId: null })).toBe(true);
    expect(ownerMatches({ consumerIds: ['acme'], planIds: [] }, { consumerId: 'other', planId: null })).toBe(false);
    expect(ownerMatches({ consumerIds: [], planIds: ['pro'] }, { consumerId: 'acme', planId: null })).toBe(false);
    expect(ownerMatches({ consumerIds: ['acme'], planIds: ['pro'] }, { consumerId: 'acme', planId: 'pro' })).toBe(true);
  });
});

describe('webhook endpoint fold: where deliveries continue', () => {
  const at = (revision: number) => ({ revision, occurredAt: recordedAt(revision), checkpoint: `cp-${revision}` });
  const foldAt = (history: WebhookEvent[]) => foldWebhook(history.map((event, revision) => ({ event, at: at(revision) })));
  const replay = (from: string | null): WebhookEvent => ({ type: 'WebhookReplayRequested', data: { endpointId, from } });

  it('a re-enable continues from its own checkpoint: a disabled endpoint queues nothing', () => {
    expect(foldAt([created, manualOff, enabled])?.replay).toEqual({ revision: 2, from: 'cp-2' });
  });

  it('a replay after the enable wins', () => {
    expect(foldAt([created, manualOff, enabled, replay('cp-0')])?.replay).toEqual({ revision: 3, from: 'cp-0' });
  });

  it('a replay asked while disabled survives the enable', () => {
    expect(foldAt([created, manualOff, replay('cp-0'), enabled])?.replay).toEqual({ revision: 2, from: 'cp-0' });
  });
});
