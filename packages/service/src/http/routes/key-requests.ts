/** Key requests under /v1/key-requests: list, read, approve, reject, claim (the secret, once). */
import {
  AggregateHistory,
  ClaimedKeyRequest,
  ClaimKeyRequestBody,
  DecisionRequest,
  KeyRequest,
  KeyRequestId,
  KeyRequestList,
  ListKeyRequestsQuery,
} from '@keyledger/schemas';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { notFound } from '../../app/errors.js';
import type { KeyRequestCommands } from '../../app/key-request-commands.js';
import { toKeyRequestView } from '../../domain/key-requests/decide.js';
import type { KeyRequestReadModel } from '../../projections/consumer-plan-projections.js';
import { answeredAt, commandContext, etag } from '../context.js';
import { commandAnswer, commandProblems, decodeCursor, emptyBodyIsEmptyObject, encodeCursor, historyEntries, idempotencyHeaders, problems, security } from './shared.js';

export interface KeyRequestRoutesOptions {
  commands: KeyRequestCommands;
  keyRequests: KeyRequestReadModel;
}

const Params = z.object({ id: KeyRequestId }).strict();
const tags = ['key-requests'];
// A key request ends in a key: deciding one is key management.
const write = { permission: 'keys:write' as const };
const read = { permission: 'keys:read' as const };

export const keyRequestRoutes: FastifyPluginAsyncZod<KeyRequestRoutesOptions> = async (app, { commands, keyRequests }) => {
  app.get('/key-requests', {
    config: read,
    schema: { tags, security, summary: 'List key requests (e.g. ?status=pending)', operationId: 'listKeyRequests', querystring: ListKeyRequestsQuery, response: { 200: KeyRequestList, ...problems } },
  }, async (request) => {
    const { status, consumerId, createdFrom, createdTo, cursor, limit } = request.query;
    const page = keyRequests.list({
      status, createdFrom, createdTo, limit,
      after: cursor === undefined ? undefined : decodeCursor(cursor, KeyRequestId),
      ...(consumerId === undefined ? {} : { where: (state) => state.consumerId === consumerId }),
    });
    return { items: page.items.map(toKeyRequestView), nextCursor: page.nextAfter === null ? null : encodeCursor(page.nextAfter) };
  });

  app.get('/key-requests/:id', {
    config: read,
    schema: { tags, security, summary: 'Get a key request', operationId: 'getKeyRequest', params: Params, response: { 200: KeyRequest, ...problems } },
  }, async (request, reply) => {
    const state = keyRequests.get(request.params.id);
    if (!state) throw notFound(`key request ${request.params.id} not found`);
    reply.header('etag', etag(state.revision));
    return toKeyRequestView(state);
  });

  for (const action of ['approve', 'reject'] as const) {
    app.post(`/key-requests/:id/${action}`, {
      config: write,
      preValidation: emptyBodyIsEmptyObject,
      schema: {
        tags, security, summary: `${action === 'approve' ? 'Approve' : 'Reject'} a pending key request`, operationId: `${action}KeyRequest`,
        headers: idempotencyHeaders, params: Params, body: DecisionRequest, response: { 200: KeyRequest, ...commandProblems },
      },
    }, async (request, reply) => {
      const result = await commands[action](request.params.id, request.body.reason ?? null, commandContext(request));
      return commandAnswer(request, reply, result);
    });
  }

  app.post('/key-requests/:id/claim', {
    config: write,
    schema: {
      tags, security, summary: "Collect an approved request's key with its claim token: the secret is shown once (a second claim is 410)", operationId: 'claimKeyRequest',
      headers: idempotencyHeaders.omit({ 'if-match': true }), params: Params, body: ClaimKeyRequestBody,
      response: { 200: ClaimedKeyRequest, ...commandProblems, 410: commandProblems[404] },
    },
  }, async (request, reply) => {
    const result = await commands.claim(request.params.id, request.body.claimToken, commandContext(request, { withIfMatch: false }));
    answeredAt(request, result.appliedCheckpoint);
    if (result.replayed) reply.header('idempotent-replayed', 'true');
    reply.header('cache-control', 'no-store');
    return { request: result.view, key: result.key, secret: result.secret };
  });

  app.get('/key-requests/:id/history', {
    config: read,
    schema: { tags, security, summary: "The key request's events", operationId: 'keyRequestHistory', params: Params, response: { 200: AggregateHistory, ...problems } },
  }, async (request) => ({ id: request.params.id, entries: historyEntries(await commands.history(request.params.id)) }));
};
