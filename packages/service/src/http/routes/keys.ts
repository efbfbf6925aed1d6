/** Key management routes under /v1/keys: issue, read, list, scope, limit, suspend, rotate, revoke, history. */
import {
  AddCreditsRequest,
  GetKeyQuery,
  IssuedKey,
  IssueKeyRequest,
  Key,
  KeyHistory,
  KeyId,
  KeyList,
  ListKeysQuery,
  PatchScopesRequest,
  ReasonRequest,
  ReplaceScopesRequest,
  RotatedKey,
  RotateKeyRequest,
  SetLimitsRequest,
} from '@keyledger/schemas';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { notFound } from '../../app/errors.js';
import type { CommandResult, KeyCommands } from '../../app/key-commands.js';
import { toKeyView } from '../../domain/keys/index.js';
import type { KeyProjection } from '../../projections/key-projection.js';
import { answeredAt, commandContext, etag } from '../context.js';
import { commandProblems, decodeCursor, emptyBodyIsEmptyObject, encodeCursor, historyEntries, idempotencyHeaders, problems, security } from './shared.js';

export interface KeyRoutesOptions {
  commands: KeyCommands;
  keys: KeyProjection;
  now: () => Date;
}

const Params = z.object({ id: KeyId }).strict();
const tags = ['keys'];
const write = { permission: 'keys:write' as const };
const read = { permission: 'keys:read' as const };

export const keyRoutes: FastifyPluginAsyncZod<KeyRoutesOptions> = async (app, { commands, keys, now }) => {
  const reply200 = (request: FastifyRequest, reply: FastifyReply, result: CommandResult) => {
    answeredAt(request, result.appliedCheckpoint);
    reply.header('etag', etag(result.key.revision));
    if (result.replayed) reply.header('idempotent-replayed', 'true');
    return result.key;
  };

  app.post('/keys', {
    config: write,
    schema: {
      tags, security, summary: 'Issue a key', operationId: 'issueKey',
      headers: idempotencyHeaders.omit({ 'if-match': true }),
      body: IssueKeyRequest,
      response: { 201: IssuedKey, 200: IssuedKey, ...commandProblems },
    },
  }, async (request, reply) => {
    // Who may mint which kind of key is the decider's rule (domain/keys/authority.ts), not the route's.
    const result = await commands.issue(request.body, commandContext(request, { withIfMatch: false }));
    reply.code(result.replayed ? 200 : 201).header('location', `/v1/keys/${result.key.id}`);
    return { ...reply200(request, reply, result), secret: result.secret, secretWithheld: result.secretWithheld };
  });

  app.get('/keys', {
    config: read,
    schema: { tags, security, summary: 'List keys', operationId: 'listKeys', querystring: ListKeysQuery, response: { 200: KeyList, ...problems } },
  }, async (request) => {
    const { consumerId, planId, status, cursor, limit } = request.query;
    const at = now();
    const page = keys.list({ consumerId, planId, status, after: cursor === undefined ? undefined : decodeCursor(cursor, KeyId), limit }, at);
    return {
      items: page.items.map((state) => toKeyView(state, at)),
      nextCursor: page.nextAfter === null ? null : encodeCursor(page.nextAfter),
      checkpoint: request.appliedCheckpoint,
    };
  });

  app.get('/keys/:id', {
    config: read,
    schema: {
      tags, security, summary: 'Get a key, now or as of an instant (?at=)', operationId: 'getKey',
      params: Params, querystring: GetKeyQuery, response: { 200: Key, ...problems },
    },
  }, async (request, reply) => {
    const { id } = request.params;
    if (request.query.at !== undefined) {
      return commands.stateAt(id, new Date(request.query.at));
    }
    const state = keys.getById(id);
    if (!state) throw notFound(`key ${id} not found`);
    reply.header('etag', etag(state.revision));
    return toKeyView(state, now());
  });

  app.put('/keys/:id/scopes', {
    config: write,
    schema: {
      tags, security, summary: 'Replace scopes (and endpoint rules)', operationId: 'replaceScopes',
      headers: idempotencyHeaders, params: Params, body: ReplaceScopesRequest, response: { 200: Key, ...commandProblems },
    },
  }, async (request, reply) =>
    reply200(request, reply, await commands.replaceScopes(request.params.id, request.body.scopes, request.body.endpoints, commandContext(request))));

  app.patch('/keys/:id/scopes', {
    config: write,
    schema: {
      tags, security, summary: 'Add or remove scopes (and endpoint rules)', operationId: 'patchScopes',
      headers: idempotencyHeaders, params: Params, body: PatchScopesRequest, response: { 200: Key, ...commandProblems },
    },
  }, async (request, reply) =>
    reply200(request, reply, await commands.patchScopes(request.params.id, request.body.add, request.body.remove, commandContext(request))));

  app.put('/keys/:id/limits', {
    config: write,
    schema: {
      tags, security, summary: 'Override rate limit and quota', operationId: 'setLimits',
      headers: idempotencyHeaders, params: Params, body: SetLimitsRequest, response: { 200: Key, ...commandProblems },
    },
  }, async (request, reply) =>
    reply200(request, reply, await commands.setLimits(request.params.id, request.body, commandContext(request))));

  for (const action of ['suspend', 'reinstate', 'revoke'] as const) {
    app.post(`/keys/:id/${action}`, {
      config: write,
      // The reason is optional, so a bare `curl -X POST` (no body at all) is a valid call.
      preValidation: emptyBodyIsEmptyObject,
      schema: {
        tags, security, summary: `${action[0]!.toUpperCase()}${action.slice(1)} a key`, operationId: `${action}Key`,
        headers: idempotencyHeaders, params: Params, body: ReasonRequest, response: { 200: Key, ...commandProblems },
      },
    }, async (request, reply) => {
      const reason = request.body.reason ?? null;
      const ctx = commandContext(request);
      const id = request.params.id;
      const result = action === 'suspend'
        ? await commands.suspend(id, reason, ctx)
        : action === 'reinstate'
          ? await commands.reinstate(id, reason, ctx)
          : await commands.revoke(id, reason, ctx);
      return reply200(request, reply, result);
    });
  }

  app.post('/keys/:id/rotate', {
    config: write,
    schema: {
      tags, security, summary: 'Rotate: issue a successor; the old key works until the grace period ends', operationId: 'rotateKey',
      headers: idempotencyHeaders, params: Params, body: RotateKeyRequest, response: { 201: RotatedKey, 200: RotatedKey, ...commandProblems },
    },
  }, async (request, reply) => {
    const result = await commands.rotate(request.params.id, request.body.gracePeriodSeconds, commandContext(request));
    answeredAt(request, result.successor.appliedCheckpoint);
    reply.code(result.previous.replayed ? 200 : 201).header('etag', etag(result.previous.key.revision));
    if (result.previous.replayed) reply.header('idempotent-replayed', 'true');
    const { secret, secretWithheld } = result.successor;
    return { previous: result.previous.key, successor: { ...result.successor.key, secret, secretWithheld } };
  });

  app.post('/keys/:id/credits', {
    config: write,
    schema: {
      tags, security, operationId: 'addCredits',
      summary: "Add prepaid credits to a key on a plan with credits (a top-up): added once, on every instance",
      headers: idempotencyHeaders.omit({ 'if-match': true }),
      params: Params, body: AddCreditsRequest,
      response: { 200: Key, ...commandProblems },
    },
  }, async (request, reply) => {
    const result = await commands.addCredits(request.params.id, request.body.amount, request.body.reason ?? null, commandContext(request, { withIfMatch: false }));
    return reply200(request, reply, result);
  });

  app.get('/keys/:id/history', {
    config: read,
    schema: { tags, security, summary: "The key's events: who changed what, when", operationId: 'keyHistory', params: Params, response: { 200: KeyHistory, ...problems } },
  }, async (request) => {
    const events = await commands.history(request.params.id);
    return { keyId: request.params.id, entries: historyEntries(events) };
  });
};
