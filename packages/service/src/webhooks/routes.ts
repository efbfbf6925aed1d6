/** Webhook endpoint routes under /v1/webhooks: create (secret shown once), list, read, enable, disable, delete, replay, delivery log. */
import {
  CreatedWebhookEndpoint,
  CreateWebhookRequest,
  Problem,
  ReplayWebhookRequest,
  WebhookDeliveriesQuery,
  WebhookDeliveryList,
  WebhookEndpoint,
  WebhookEndpointId,
  WebhookEndpointList,
} from '@keyledger/schemas';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { badRequest, notFound } from '../app/errors.js';
import { answeredAt, commandContext, etag } from '../http/context.js';
import { commandProblems, idempotencyHeaders as sharedIdempotencyHeaders, problems, security } from '../http/routes/shared.js';
import type { EventStore } from '../store/port.js';
import type { EndpointResult, WebhookCommands } from './commands.js';
import type { DeliveryStore } from './delivery-store.js';
import { toEndpointView, type WebhookEndpoints } from './endpoints.js';
import { assertPublicTarget, PrivateTargetError } from './target-policy.js';

export interface WebhookRoutesOptions {
  commands: WebhookCommands;
  endpoints: WebhookEndpoints;
  deliveries: DeliveryStore;
  store: EventStore;
  allowPrivate: boolean;
}

const Params = z.object({ id: WebhookEndpointId }).strict();
const tags = ['webhooks'];
const write = { permission: 'webhooks:write' as const };
const read = { permission: 'webhooks:read' as const };
// Webhook commands take an Idempotency-Key but no If-Match.
const idempotencyHeaders = sharedIdempotencyHeaders.omit({ 'if-match': true });

export const webhookRoutes: FastifyPluginAsyncZod<WebhookRoutesOptions> = async (app, { commands, endpoints, deliveries, store, allowPrivate }) => {
  const answer = (request: FastifyRequest, reply: FastifyReply, result: EndpointResult) => {
    answeredAt(request, result.appliedCheckpoint);
    reply.header('etag', etag(result.endpoint.revision));
    if (result.replayed) reply.header('idempotent-replayed', 'true');
    return result.endpoint;
  };

  app.post('/webhooks', {
    config: write,
    schema: {
      tags, security, summary: 'Create a webhook endpoint (its signing secret is shown once)', operationId: 'createWebhook',
      headers: idempotencyHeaders, body: CreateWebhookRequest,
      response: { 201: CreatedWebhookEndpoint, 200: CreatedWebhookEndpoint, ...commandProblems },
    },
  }, async (request, reply) => {
    try {
      await assertPublicTarget(request.body.url, allowPrivate);
    } catch (error) {
      if (!(error instanceof PrivateTargetError)) throw error;
      throw badRequest(`webhook URL refused: ${error.message} (set KEYLEDGER_WEBHOOK_ALLOW_PRIVATE=true to allow private targets)`, [
        { path: 'body.url', message: 'private or unresolvable target' },
      ]);
    }
    const result = await commands.create(request.body, commandContext(request, { withIfMatch: false }));
    reply.code(result.replayed ? 200 : 201).header('location', `/v1/webhooks/${result.endpoint.id}`);
    return { ...answer(request, reply, result), secret: result.secret };
  });

  app.get('/webhooks', {
    config: read,
    schema: { tags, security, summary: 'List webhook endpoints', operationId: 'listWebhooks', response: { 200: WebhookEndpointList, ...problems } },
  }, async () => {
    await endpoints.catchUp();
    return { items: endpoints.list().map(toEndpointView) };
  });

  app.get('/webhooks/:id', {
    config: read,
    schema: { tags, security, summary: 'Get a webhook endpoint', operationId: 'getWebhook', params: Params, response: { 200: WebhookEndpoint, ...problems } },
  }, async (request, reply) => {
    const state = await commands.state(request.params.id);
    if (!state || state.deleted) throw notFound(`webhook endpoint ${request.params.id} not found`);
    reply.header('etag', etag(state.revision));
    return toEndpointView(state);
  });

  app.delete('/webhooks/:id', {
    config: write,
    schema: {
      tags, security, summary: 'Delete a webhook endpoint (deliveries stop)', operationId: 'deleteWebhook',
      headers: idempotencyHeaders, params: Params, response: { 200: WebhookEndpoint, ...commandProblems },
    },
  }, async (request, reply) => answer(request, reply, await commands.delete(request.params.id, commandContext(request))));

  for (const action of ['enable', 'disable'] as const) {
    app.post(`/webhooks/:id/${action}`, {
      config: write,
      schema: {
        tags, security,
        summary: action === 'enable'
          ? 'Enable a webhook endpoint: deliveries continue from now (replay to fill a gap)'
          : 'Disable a webhook endpoint: deliveries stop',
        operationId: `${action}Webhook`,
        headers: idempotencyHeaders, params: Params, response: { 200: WebhookEndpoint, ...commandProblems },
      },
    }, async (request, reply) => {
      const ctx = commandContext(request);
      const result = action === 'enable' ? await commands.enable(request.params.id, ctx) : await commands.disable(request.params.id, ctx);
      return answer(request, reply, result);
    });
  }

  app.post('/webhooks/:id/replay', {
    config: write,
    schema: {
      tags, security, summary: 'Deliver again every matching event after a checkpoint', operationId: 'replayWebhook',
      headers: idempotencyHeaders, params: Params, body: ReplayWebhookRequest, response: { 200: WebhookEndpoint, ...commandProblems },
    },
  }, async (request, reply) => {
    const from = request.body.from === '' ? null : request.body.from;
    // A checkpoint this ledger did not issue (or past its head) is the caller's mistake: 400 now, not a stuck worker later.
    if (from !== null) await store.readAll({ after: from, maxCount: 1 });
    return answer(request, reply, await commands.replay(request.params.id, from, commandContext(request)));
  });

  app.get('/webhooks/:id/deliveries', {
    config: read,
    schema: {
      tags, security, summary: 'Delivery attempts to a webhook endpoint, newest first', operationId: 'listWebhookDeliveries',
      params: Params, querystring: WebhookDeliveriesQuery, response: { 200: WebhookDeliveryList, ...problems },
    },
  }, async (request) => {
    const state = await commands.state(request.params.id);
    if (!state || state.deleted) throw notFound(`webhook endpoint ${request.params.id} not found`);
    const [attempts, cursor] = await Promise.all([
      deliveries.listAttempts(request.params.id, request.query.limit),
      deliveries.cursor(request.params.id),
    ]);
    return {
      items: attempts.map(({ atMs, endpointId: _endpointId, ...attempt }) => ({ ...attempt, at: new Date(atMs).toISOString() })),
      deliveredThrough: cursor?.deliveredThrough ?? null,
    };
  });
};
