/**
 * Delivers the ledger to webhook endpoints: per endpoint, every matching event after its
 * checkpoint, in ledger order, one at a time, at least once.
 *
 * - Several instances run this loop; an endpoint is served by the instance holding its lease
 *   (delivery-store.ts). Progress is written only under the lease, after the receiver answered
 *   2xx, so a kill -9 between the answer and the write means one redelivery (same webhook-id),
 *   never a lost event.
 * - A failed attempt (non-2xx, timeout, refused connection) is retried after an exponential
 *   back-off with jitter; the queue of that endpoint waits (order is kept). An endpoint failing
 *   for longer than `disableAfterMs` is disabled with a WebhookEndpointDisabled event.
 * - A replay request moves the cursor back to its checkpoint once (its revision is remembered).
 * - Bodies are public event views only (toLedgerEvent): no digest, no idempotency material.
 */
import type { Logger } from 'pino';
import { Agent, request } from 'undici';
import { toLedgerEvent } from '../http/routes/events.js';
import type { EventStore, RecordedEvent } from '../store/port.js';
import { type EventOwner, ownerMatches, typeMatches, type WebhookState } from '../domain/webhooks/index.js';
import type { WebhookCommands } from './commands.js';
import type { DeliveryCursor, DeliveryStore } from './delivery-store.js';
import type { WebhookEndpoints } from './endpoints.js';
import { deriveWebhookSecret, signDelivery } from './signing.js';
import { assertPublicTarget, publicOnlyLookup } from './target-policy.js';

export interface DeliverySettings {
  /** How long a lease lasts without renewal; must exceed `timeoutMs`. */
  leaseTtlMs: number;
  /** How often endpoints are looked at when nothing wakes the loop. */
  pollMs: number;
  /** One attempt's timeout (connect, headers and body). */
  timeoutMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Failing continuously this long disables the endpoint. */
  disableAfterMs: number;
  allowPrivate: boolean;
  /** Events read per page while following one endpoint. */
  pageSize: number;
}

export const DEFAULT_DELIVERY_SETTINGS: DeliverySettings = {
  leaseTtlMs: 30_000,
  pollMs: 1000,
  timeoutMs: 10_000,
  backoffBaseMs: 1000,
  backoffMaxMs: 10 * 60_000,
  disableAfterMs: 3 * 24 * 3600_000,
  allowPrivate: false,
  pageSize: 100,
};

export interface DeliveryWorkerOptions {
  store: EventStore;
  deliveries: DeliveryStore;
  endpoints: WebhookEndpoints;
  commands: WebhookCommands;
  /** Consumer and plan of a key, for events that name only the key. */
  ownerOfKey: (keyId: string) => EventOwner | undefined;
  serverSecret: Buffer;
  instanceId: string;
  settings: DeliverySettings;
  logger: Logger;
  random?: () => number;
}

/** Back-off before retry n (1-based): random in [c/2, c] with c = min(max, base * 2^(n-1)). */
export function retryDelayMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** The consumer and plan an event belongs to: its own fields, else its key's. */
export function ownerOf(event: RecordedEvent, ownerOfKey: (keyId: string) => EventOwner | undefined): EventOwner {
  const data = (event.data ?? {}) as { consumerId?: unknown; planId?: unknown; keyId?: unknown };
  const own: EventOwner = {
    consumerId: typeof data.consumerId === 'string' ? data.consumerId : null,
    planId: typeof data.planId === 'string' ? data.planId : null,
  };
  if ((own.consumerId === null || own.planId === null) && typeof data.keyId === 'string') {
    const key = ownerOfKey(data.keyId);
    if (key) return { consumerId: own.consumerId ?? key.consumerId, planId: own.planId ?? key.planId };
  }
  return own;
}

/** The request body for an endpoint's format. */
export function deliveryBody(event: RecordedEvent, format: WebhookState['format']): { body: string; contentType: string } {
  const view = toLedgerEvent(event);
  if (format === 'event') return { body: JSON.stringify(view), contentType: 'application/json' };
  const data = view.data as { keyId?: string; consumerId?: string };
  const cloudEvent = {
    specversion: '1.0',
    // The ledger event id: stable, so a metering system ingesting twice keeps one.
    id: view.id,
    source: 'keyledger',
    type: `keyledger.${view.type}`,
    subject: data.keyId ?? data.consumerId ?? view.stream,
    time: (view.metadata as { occurredAt?: string }).occurredAt ?? view.recordedAt,
    datacontenttype: 'application/json',
    klstream: view.stream,
    klcheckpoint: view.checkpoint,
    data: view.data,
  };
  return { body: JSON.stringify(cloudEvent), contentType: 'application/cloudevents+json' };
}

export class WebhookDeliveryWorker {
  readonly #busy = new Set<string>();
  readonly #abort = new AbortController();
  readonly #agent: Agent;
  #loop: Promise<void> | undefined;
  #stopped = false;
  readonly #held = new Set<string>();

  constructor(private readonly options: DeliveryWorkerOptions) {
    this.#agent = new Agent({ connect: { lookup: publicOnlyLookup(options.settings.allowPrivate) }, keepAliveTimeout: 4000 });
  }

  start(): void {
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort.abort();
    this.wake();
    await this.#loop?.catch(() => undefined);
    while (this.#busy.size > 0) await sleep(20);
    for (const id of this.#held) await this.options.deliveries.release(id, this.options.instanceId).catch(() => undefined);
    await this.#agent.close().catch(() => undefined);
  }

  /** Something was appended (the projection runner saw a batch): look at the endpoints now. */
  wake(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #wake: (() => void) | undefined;

  async #run(): Promise<void> {
    while (!this.#stopped) {
      try {
        await this.options.endpoints.catchUp();
        for (const endpoint of this.options.endpoints.list()) {
          if (!endpoint.enabled || this.#busy.has(endpoint.id)) continue;
          this.#busy.add(endpoint.id);
          void this.#serve(endpoint.id)
            .catch((error: unknown) => this.options.logger.warn({ err: error, endpointId: endpoint.id }, 'webhook delivery step failed; retrying'))
            .finally(() => this.#busy.delete(endpoint.id));
        }
      } catch (error) {
        if (this.#stopped) return;
        this.options.logger.warn({ err: error }, 'webhook delivery loop failed; retrying');
      }
      // Woken by new events (every instance's, through the projection runner), else after pollMs:
      // retries fall due and leases of dead instances expire without any append.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.options.settings.pollMs);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** One endpoint: take its lease, apply a pending replay, deliver pages until caught up or failing. */
  async #serve(endpointId: string): Promise<void> {
    const { deliveries, settings, instanceId } = this.options;
    const endpoint = this.options.endpoints.get(endpointId);
    if (!endpoint || !endpoint.enabled) return;
    const now = Date.now();
    let cursor = await deliveries.acquire(endpointId, instanceId, now, settings.leaseTtlMs, {
      deliveredThrough: endpoint.createdCheckpoint,
      replayRevision: -1,
      failingSinceMs: null,
      attempt: 0,
      nextAttemptMs: 0,
    });
    if (!cursor) {
      this.#held.delete(endpointId);
      return;
    }
    this.#held.add(endpointId);
    if (endpoint.replay && endpoint.replay.revision > cursor.replayRevision) {
      const update = { deliveredThrough: endpoint.replay.from, replayRevision: endpoint.replay.revision, attempt: 0, failingSinceMs: null, nextAttemptMs: 0 };
      if (!(await deliveries.advance(endpointId, instanceId, Date.now(), settings.leaseTtlMs, update))) return;
      cursor = { ...cursor, ...update };
      this.options.logger.info({ endpointId, from: endpoint.replay.from }, 'webhook replay applied');
    }
    if (cursor.nextAttemptMs > Date.now()) return;
    for (let pages = 0; pages < 10 && !this.#stopped; pages++) {
      const page = await this.options.store.readAll({ ...(cursor.deliveredThrough ? { after: cursor.deliveredThrough } : {}), maxCount: settings.pageSize });
      if (page.events.length === 0) return;
      for (const event of page.events) {
        if (!this.#wants(endpoint, event)) {
          cursor = { ...cursor, deliveredThrough: event.checkpoint };
          continue;
        }
        // Skipped events before this one are settled: write them so a takeover does not rescan.
        const delivered = await this.#attempt(endpoint, cursor, event);
        if (delivered === 'lost') return;
        if (delivered === 'failed') return;
        cursor = { ...cursor, deliveredThrough: event.checkpoint, attempt: 0, failingSinceMs: null, nextAttemptMs: 0 };
      }
      if (!(await deliveries.advance(endpointId, instanceId, Date.now(), settings.leaseTtlMs, { deliveredThrough: cursor.deliveredThrough }))) return;
    }
  }

  #wants(endpoint: WebhookState, event: RecordedEvent): boolean {
    if (!typeMatches(endpoint.eventTypes, event.type)) return false;
    return ownerMatches(endpoint.filters, ownerOf(event, this.options.ownerOfKey));
  }

  async #attempt(endpoint: WebhookState, cursor: DeliveryCursor, event: RecordedEvent): Promise<'delivered' | 'failed' | 'lost'> {
    const { deliveries, settings, instanceId, logger } = this.options;
    const attempt = cursor.attempt + 1;
    const { body, contentType } = deliveryBody(event, endpoint.format);
    const secret = deriveWebhookSecret(this.options.serverSecret, endpoint.id, endpoint.secretSalt);
    const started = performance.now();
    let httpStatus: number | null = null;
    let error: string | null = null;
    try {
      await assertPublicTarget(endpoint.url, settings.allowPrivate);
      const headers = { 'content-type': contentType, 'user-agent': 'keyledger-webhooks', ...signDelivery(secret, event.id, new Date(), body) };
      const response = await request(endpoint.url, {
        method: 'POST',
        headers,
        body,
        dispatcher: this.#agent,
        headersTimeout: settings.timeoutMs,
        bodyTimeout: settings.timeoutMs,
        // Shutdown cuts an attempt short: unconfirmed, the event stays at the head of the queue.
        signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(settings.timeoutMs)]),
      });
      httpStatus = response.statusCode;
      await response.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
      if (httpStatus < 200 || httpStatus > 299) error = `HTTP ${httpStatus}`;
    } catch (caught) {
      error = caught instanceof Error ? `${caught.name}: ${caught.message}`.slice(0, 500) : 'request failed';
    }
    const latencyMs = Math.max(0, Math.round(performance.now() - started));
    const now = Date.now();
    const record = {
      endpointId: endpoint.id,
      eventId: event.id,
      eventType: event.type,
      checkpoint: event.checkpoint,
      attempt,
      httpStatus,
      latencyMs,
      error,
      atMs: now,
      instanceId,
    };
    if (error === null) {
      const kept = await deliveries.advance(endpoint.id, instanceId, now, settings.leaseTtlMs, {
        deliveredThrough: event.checkpoint,
        attempt: 0,
        failingSinceMs: null,
        nextAttemptMs: 0,
      });
      await deliveries.recordAttempt({ ...record, outcome: 'delivered' });
      return kept ? 'delivered' : 'lost';
    }
    await deliveries.recordAttempt({ ...record, outcome: 'failed' });
    const failingSinceMs = cursor.failingSinceMs ?? now;
    const nextAttemptMs = now + retryDelayMs(attempt, settings.backoffBaseMs, settings.backoffMaxMs, this.options.random);
    // Skipped events before this one are settled; the failing one stays at the head of the queue.
    const kept = await deliveries.advance(endpoint.id, instanceId, now, settings.leaseTtlMs, {
      deliveredThrough: cursor.deliveredThrough,
      attempt,
      failingSinceMs,
      nextAttemptMs,
    });
    logger.warn({ endpointId: endpoint.id, eventId: event.id, attempt, httpStatus, error }, 'webhook delivery failed; will retry');
    if (now - failingSinceMs >= settings.disableAfterMs) {
      await this.options.commands.disableFailing(endpoint.id, endpoint.revision, new Date(failingSinceMs), `failing since ${new Date(failingSinceMs).toISOString()}: ${error}`);
      // A fresh start once re-enabled: the enable moves the cursor, the streak begins again.
      await deliveries.advance(endpoint.id, instanceId, Date.now(), settings.leaseTtlMs, { attempt: 0, failingSinceMs: null, nextAttemptMs: 0 });
      logger.warn({ endpointId: endpoint.id, failingSince: new Date(failingSinceMs).toISOString() }, 'webhook endpoint disabled: failing for too long');
    }
    return kept ? 'failed' : 'lost';
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
