/** Consumers under /v1/consumers: register, vet (checks), approve or reject, suspend, reinstate, close; their keys, key requests and usage. */
import {
  AggregateHistory,
  AtQuery,
  Consumer,
  ConsumerId,
  ConsumerKeysQuery,
  ConsumerList,
  CreatedKeyRequest,
  CreateKeyRequestBody,
  DecisionRequest,
  KeyList,
  KeyId,
  ListConsumersQuery,
  RecordCheckRequest,
  RegisterConsumerRequest,
  UsagePeriodQuery,
  UsageReport,
} from '@keyledger/schemas';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ConsumerCommands } from '../../app/consumer-commands.js';
import { notFound } from '../../app/errors.js';
import type { KeyRequestCommands } from '../../app/key-request-commands.js';
import type { UsageReports } from '../../app/usage-reports.js';
import { toConsumerView } from '../../domain/consumers/index.js';
import { toKeyView } from '../../domain/keys/index.js';
import { usageReportCsv } from '../../domain/usage/usage-report.js';
import type { ConsumerReadModel } from '../../projections/consumer-plan-projections.js';
import type { KeyProjection } from '../../projections/key-projection.js';
import { answeredAt, commandContext, etag } from '../context.js';
import {
  commandAnswer,
  commandProblems,
  decodeCursor,
  emptyBodyIsEmptyObject,
  encodeCursor,
  historyEntries,
  idempotencyHeaders,
  problems,
  security,
} from './shared.js';

export interface ConsumerRoutesOptions {
  commands: ConsumerCommands;
  keyRequests: KeyRequestCommands;
  consumers: ConsumerReadModel;
  keys: KeyProjection;
  usageReports: UsageReports;
  now: () => Date;
}

const Params = z.object({ id: ConsumerId }).strict();
const tags = ['consumers'];
const write = { permission: 'consumers:write' as const };
const read = { permission: 'consumers:read' as const };

export const consumerRoutes: FastifyPluginAsyncZod<ConsumerRoutesOptions> = async (app, { commands, keyRequests, consumers, keys, usageReports, now }) => {
  app.post('/consumers', {
    config: write,
    schema: {
      tags, security, summary: 'Register a consumer (pending until approved)', operationId: 'registerConsumer',
      headers: idempotencyHeaders.omit({ 'if-match': true }), body: RegisterConsumerRequest,
      response: { 201: Consumer, 200: Consumer, ...commandProblems },
    },
  }, async (request, reply) => {
    const result = await commands.register(request.body, commandContext(request, { withIfMatch: false }));
    reply.code(result.replayed ? 200 : 201).header('location', `/v1/consumers/${result.view.id}`);
    return commandAnswer(request, reply, result);
  });

  app.get('/consumers', {
    config: read,
    schema: { tags, security, summary: 'List consumers', operationId: 'listConsumers', querystring: ListConsumersQuery, response: { 200: ConsumerList, ...problems } },
  }, async (request) => {
    const { status, planId, createdFrom, createdTo, cursor, limit } = request.query;
    const after = cursor === undefined ? undefined : decodeCursor(cursor, ConsumerId);
    // The consumers holding a key on the plan, found once from the plan's keys (not per consumer).
    const onPlan = planId === undefined ? undefined : new Set(keys.list({ planId, limit: Number.MAX_SAFE_INTEGER }, now()).items.map((key) => key.consumerId));
    const page = consumers.list({ status, createdFrom, createdTo, after, limit, ...(onPlan ? { where: (state) => onPlan.has(state.id) } : {}) });
    return { items: page.items.map(toConsumerView), nextCursor: page.nextAfter === null ? null : encodeCursor(page.nextAfter) };
  });

  app.get('/consumers/:id', {
    config: read,
    schema: {
      tags, security, summary: 'Get a consumer, now or as of an instant (?at=)', operationId: 'getConsumer',
      params: Params, querystring: AtQuery, response: { 200: Consumer, ...problems },
    },
  }, async (request, reply) => {
    const { id } = request.params;
    if (request.query.at !== undefined) return commands.stateAt(id, new Date(request.query.at));
    const state = consumers.get(id);
    if (!state) throw notFound(`consumer ${id} not found`);
    reply.header('etag', etag(state.revision));
    return toConsumerView(state);
  });

  app.post('/consumers/:id/checks', {
    config: write,
    schema: {
      tags, security, summary: 'Record a vetting check (email verified, terms accepted, bot check, identity review...)', operationId: 'recordConsumerCheck',
      headers: idempotencyHeaders, params: Params, body: RecordCheckRequest, response: { 200: Consumer, ...commandProblems },
    },
  }, async (request, reply) => commandAnswer(request, reply, await commands.recordCheck(request.params.id, request.body, commandContext(request))));

  for (const action of ['approve', 'reject', 'suspend', 'reinstate', 'close'] as const) {
    app.post(`/consumers/:id/${action}`, {
      config: write,
      preValidation: emptyBodyIsEmptyObject,
      schema: {
        tags, security, summary: `${action[0]!.toUpperCase()}${action.slice(1)} a consumer`, operationId: `${action}Consumer`,
        headers: idempotencyHeaders, params: Params, body: DecisionRequest, response: { 200: Consumer, ...commandProblems },
      },
    }, async (request, reply) => {
      const reason = request.body.reason ?? null;
      const result = await commands[action](request.params.id, reason, commandContext(request));
      return commandAnswer(request, reply, result);
    });
  }

  app.get('/consumers/:id/history', {
    config: read,
    schema: { tags, security, summary: "The consumer's events: vetting, decisions, suspensions", operationId: 'consumerHistory', params: Params, response: { 200: AggregateHistory, ...problems } },
  }, async (request) => ({ id: request.params.id, entries: historyEntries(await commands.history(request.params.id)) }));

  app.get('/consumers/:id/keys', {
    config: { permission: 'keys:read' as const },
    schema: { tags, security, summary: "The consumer's keys", operationId: 'listConsumerKeys', params: Params, querystring: ConsumerKeysQuery, response: { 200: KeyList, ...problems } },
  }, async (request) => {
    const { id } = request.params;
    if (!consumers.get(id) && keys.list({ consumerId: id, limit: 1 }, now()).items.length === 0) throw notFound(`consumer ${id} not found`);
    const { status, cursor, limit } = request.query;
    const at = now();
    const page = keys.list({ consumerId: id, status, after: cursor === undefined ? undefined : decodeCursor(cursor, KeyId), limit }, at);
    return {
      items: page.items.map((state) => toKeyView(state, at)),
      nextCursor: page.nextAfter === null ? null : encodeCursor(page.nextAfter),
      checkpoint: request.appliedCheckpoint,
    };
  });

  app.post('/consumers/:id/key-requests', {
    config: { permission: 'keys:write' as const },
    schema: {
      tags: ['key-requests'], security, summary: 'Request a key on a plan: issued at once, or pending approval; collect it with the claim token', operationId: 'requestKey',
      headers: idempotencyHeaders.omit({ 'if-match': true }), params: Params, body: CreateKeyRequestBody,
      response: { 201: CreatedKeyRequest, 200: CreatedKeyRequest, ...commandProblems },
    },
  }, async (request, reply) => {
    const result = await keyRequests.create(request.params.id, request.body, commandContext(request, { withIfMatch: false }));
    reply.code(result.replayed ? 200 : 201).header('location', `/v1/key-requests/${result.view.id}`);
    return { ...commandAnswer(request, reply, result), claimToken: result.claimToken };
  });

  app.get('/consumers/:id/usage', {
    config: { permission: 'billing:read' as const },
    schema: {
      tags, security, summary: "A month's usage and charge, replayed from the ledger (format=csv for finance)", operationId: 'consumerUsageReport',
      params: Params, querystring: UsagePeriodQuery, response: { 200: UsageReport, ...problems },
    },
  }, async (request, reply) => {
    const report = await usageReports.forConsumer(request.params.id, request.query.period);
    answeredAt(request, request.appliedCheckpoint);
    if (request.query.format === 'csv') {
      return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="usage-${request.params.id}-${report.period}.csv"`).send(usageReportCsv(report) as never);
    }
    return report;
  });
};
