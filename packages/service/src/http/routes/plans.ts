/** Usage plans under /v1/plans: define, revise (a new version), retire; history and usage. */
import {
  AggregateHistory,
  AtQuery,
  DefinePlanRequest,
  DecisionRequest,
  ListPlansQuery,
  Plan,
  PlanId,
  PlanList,
  RevisePlanRequest,
  UsagePeriodQuery,
  UsageReport,
} from '@keyledger/schemas';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { notFound } from '../../app/errors.js';
import type { PlanCommands } from '../../app/plan-commands.js';
import type { UsageReports } from '../../app/usage-reports.js';
import { toPlanView } from '../../domain/plans/index.js';
import { usageReportCsv } from '../../domain/usage/usage-report.js';
import type { PlanReadModel } from '../../projections/consumer-plan-projections.js';
import { commandContext, etag } from '../context.js';
import { commandAnswer, commandProblems, decodeCursor, emptyBodyIsEmptyObject, encodeCursor, historyEntries, idempotencyHeaders, problems, security } from './shared.js';

export interface PlanRoutesOptions {
  commands: PlanCommands;
  plans: PlanReadModel;
  usageReports: UsageReports;
}

const Params = z.object({ id: PlanId }).strict();
const tags = ['plans'];
const write = { permission: 'plans:write' as const };
const read = { permission: 'plans:read' as const };

export const planRoutes: FastifyPluginAsyncZod<PlanRoutesOptions> = async (app, { commands, plans, usageReports }) => {
  app.post('/plans', {
    config: write,
    schema: {
      tags, security, summary: 'Define a usage plan (version 1)', operationId: 'definePlan',
      headers: idempotencyHeaders.omit({ 'if-match': true }), body: DefinePlanRequest,
      response: { 201: Plan, 200: Plan, ...commandProblems },
    },
  }, async (request, reply) => {
    const result = await commands.define(request.body, commandContext(request, { withIfMatch: false }));
    reply.code(result.replayed ? 200 : 201).header('location', `/v1/plans/${result.view.id}`);
    return commandAnswer(request, reply, result);
  });

  app.get('/plans', {
    config: read,
    schema: { tags, security, summary: 'List plans', operationId: 'listPlans', querystring: ListPlansQuery, response: { 200: PlanList, ...problems } },
  }, async (request) => {
    const { status, createdFrom, createdTo, cursor, limit } = request.query;
    const page = plans.list({ status, createdFrom, createdTo, after: cursor === undefined ? undefined : decodeCursor(cursor, PlanId), limit });
    return { items: page.items.map((state) => toPlanView(state)), nextCursor: page.nextAfter === null ? null : encodeCursor(page.nextAfter) };
  });

  app.get('/plans/:id', {
    config: read,
    schema: {
      tags, security, summary: 'Get a plan, now or as of an instant (?at=: the version in force then)', operationId: 'getPlan',
      params: Params, querystring: AtQuery, response: { 200: Plan, ...problems },
    },
  }, async (request, reply) => {
    const { id } = request.params;
    if (request.query.at !== undefined) return commands.stateAt(id, new Date(request.query.at));
    const state = plans.get(id);
    if (!state) throw notFound(`plan ${id} not found`);
    reply.header('etag', etag(state.revision));
    return toPlanView(state);
  });

  app.post('/plans/:id/revise', {
    config: write,
    schema: {
      tags, security, summary: "Revise a plan: a new numbered version, in force at once for every key on it", operationId: 'revisePlan',
      headers: idempotencyHeaders, params: Params, body: RevisePlanRequest, response: { 200: Plan, ...commandProblems },
    },
  }, async (request, reply) => commandAnswer(request, reply, await commands.revise(request.params.id, request.body, commandContext(request))));

  app.post('/plans/:id/retire', {
    config: write,
    preValidation: emptyBodyIsEmptyObject,
    schema: {
      tags, security, summary: 'Retire a plan: no new keys; existing keys keep working', operationId: 'retirePlan',
      headers: idempotencyHeaders, params: Params, body: DecisionRequest, response: { 200: Plan, ...commandProblems },
    },
  }, async (request, reply) => commandAnswer(request, reply, await commands.retire(request.params.id, request.body.reason ?? null, commandContext(request))));

  app.get('/plans/:id/history', {
    config: read,
    schema: { tags, security, summary: "The plan's events: every version and who made it", operationId: 'planHistory', params: Params, response: { 200: AggregateHistory, ...problems } },
  }, async (request) => ({ id: request.params.id, entries: historyEntries(await commands.history(request.params.id)) }));

  app.get('/plans/:id/usage', {
    config: { permission: 'billing:read' as const },
    schema: {
      tags, security, summary: "A month's usage and charge of every consumer on the plan (format=csv for finance)", operationId: 'planUsageReport',
      params: Params, querystring: UsagePeriodQuery, response: { 200: UsageReport, ...problems },
    },
  }, async (request, reply) => {
    const report = await usageReports.forPlan(request.params.id, request.query.period);
    if (request.query.format === 'csv') {
      return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="usage-${request.params.id}-${report.period}.csv"`).send(usageReportCsv(report) as never);
    }
    return report;
  });
};
