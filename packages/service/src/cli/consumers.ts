/**
 * `keyledger consumers ...` and `keyledger plans ...`: consumers (register, vet, decide, suspend,
 * close, usage) and usage plans (define, revise, retire, usage) through the SDK against a running
 * service, with the same connection, table and --json plumbing as `keys` (remote.ts, output.ts).
 */
import { readFileSync } from 'node:fs';
import type { Consumer, DefinePlanRequest, Plan, UsageReport } from '@keyledger/sdk';
import type { Command } from 'commander';
import { CliError } from './errors.js';
import { type Column, print, renderRecord, renderTable } from './output.js';
import { remoteCommand, type RemoteOptions, withClient } from './remote.js';

const CONSUMER_COLUMNS: Column<Consumer>[] = [
  { header: 'ID', value: (c) => c.id },
  { header: 'STATUS', value: (c) => c.status },
  { header: 'NAME', value: (c) => c.name },
  { header: 'EMAIL', value: (c) => c.email },
  { header: 'ORGANISATION', value: (c) => c.organisation },
  { header: 'CHECKS', value: (c) => c.checks.map((check) => `${check.check}${check.passed ? '' : ' (failed)'}`) },
  { header: 'CREATED', value: (c) => c.createdAt },
];

const PLAN_COLUMNS: Column<Plan>[] = [
  { header: 'ID', value: (p) => p.id },
  { header: 'VERSION', value: (p) => String(p.version) },
  { header: 'STATUS', value: (p) => p.status },
  { header: 'NAME', value: (p) => p.name },
  { header: 'RATE LIMITS', value: (p) => p.rateLimits.map((r) => `${r.name} ${r.limit}/${r.windowSeconds}s`) },
  { header: 'QUOTA', value: (p) => (p.quota ? `${p.quota.limit}/${p.quota.period}` : null) },
  { header: 'PRICE', value: (p) => (p.price ? `${p.price.currency} ${p.price.flatFee} + ${p.price.unitPricePer1000}/1000 over ${p.price.includedUnits}` : null) },
];

function usageLines(report: UsageReport): string {
  return [
    renderRecord({
      period: report.period,
      final: report.final,
      consumer: report.consumerId,
      plan: report.planId,
      units: report.units,
      'billable units': report.billableUnits,
      currency: report.currency,
      'flat fee': report.flatFee,
      charge: report.charge,
    }),
    renderTable(report.byKey, [
      { header: 'KEY', value: (row) => row.keyId },
      { header: 'PLAN', value: (row) => row.planId },
      { header: 'UNITS', value: (row) => String(row.units) },
      { header: 'VERIFICATIONS', value: (row) => Object.entries(row.verifications).map(([code, n]) => `${code} ${n}`) },
    ]),
  ].join('\n');
}

/** A JSON body from `--file <path>` (or `-` for stdin), for plans whose terms do not fit flags. */
function jsonFile(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path === '-' ? 0 : path, 'utf8'));
  } catch (error) {
    throw new CliError(`cannot read a JSON body from ${path === '-' ? 'stdin' : path}: ${(error as Error).message}`, 2);
  }
}

export function registerConsumerCommands(program: Command): void {
  const consumers = program.command('consumers').description('register, vet and manage consumers of a running service (through the SDK)');

  remoteCommand(consumers.command('list').description('list consumers, in registration order'))
    .option('--status <status>', 'pending, approved, rejected, suspended or closed')
    .option('--plan <id>', 'only consumers with a key on this plan')
    .action(async (options: RemoteOptions & { status?: Consumer['status']; plan?: string }) => {
      const items = await withClient(options, async (client) => {
        const found: Consumer[] = [];
        let cursor: string | undefined;
        do {
          const page = await client.consumers.list({ ...(options.status ? { status: options.status } : {}), ...(options.plan ? { planId: options.plan } : {}), limit: 500, ...(cursor ? { cursor } : {}) });
          found.push(...page.items);
          cursor = page.nextCursor ?? undefined;
        } while (cursor !== undefined);
        return found;
      });
      print(options, { items }, () => renderTable(items, CONSUMER_COLUMNS));
    });

  remoteCommand(consumers.command('get').description('show one consumer').argument('<id>', 'consumer id'))
    .action(async (id: string, options: RemoteOptions) => {
      const consumer = await withClient(options, (client) => client.consumers.get(id));
      print(options, consumer, () => renderRecord({ ...consumer, checks: consumer.checks.map((c) => `${c.check} ${c.passed ? 'passed' : 'failed'} ${JSON.stringify(c.evidence)}`) }));
    });

  remoteCommand(consumers.command('register').description('register a consumer (pending until approved)'))
    .requiredOption('--name <name>', 'who they are')
    .requiredOption('--email <address>', 'contact email')
    .option('--id <id>', 'choose the id (e.g. to adopt keys issued before consumers existed)')
    .option('--organisation <name>', 'their organisation')
    .option('--intended-use <text>', 'what they will use the API for')
    .option('--external-id <id>', 'their id in your systems')
    .option('--network <cidr>', 'an allowed client network, repeated', (value: string, previous: string[] = []) => [...previous, value])
    .action(async (options: RemoteOptions & { name: string; email: string; id?: string; organisation?: string; intendedUse?: string; externalId?: string; network?: string[] }) => {
      const consumer = await withClient(options, (client) =>
        client.consumers.register({
          name: options.name,
          email: options.email,
          ...(options.id ? { id: options.id } : {}),
          ...(options.organisation ? { organisation: options.organisation } : {}),
          ...(options.intendedUse ? { intendedUse: options.intendedUse } : {}),
          ...(options.externalId ? { externalId: options.externalId } : {}),
          ...(options.network ? { allowedNetworks: options.network } : {}),
        }),
      );
      print(options, consumer, () => renderTable([consumer], CONSUMER_COLUMNS));
    });

  remoteCommand(consumers.command('check').description('record a vetting check with its evidence').argument('<id>', 'consumer id').argument('<check>', 'e.g. email_verified, terms_accepted'))
    .option('--failed', 'the check failed', false)
    .option('--evidence <json>', 'what the check saw, as a JSON object', '{}')
    .action(async (id: string, check: string, options: RemoteOptions & { failed: boolean; evidence: string }) => {
      let evidence: Record<string, unknown>;
      try {
        evidence = JSON.parse(options.evidence) as Record<string, unknown>;
      } catch {
        throw new CliError(`--evidence is not JSON: ${options.evidence}`, 2);
      }
      const consumer = await withClient(options, (client) => client.consumers.recordCheck(id, { check, passed: !options.failed, evidence: evidence as never }));
      print(options, consumer, () => renderTable([consumer], CONSUMER_COLUMNS));
    });

  for (const [action, description] of [
    ['approve', 'approve a pending consumer'],
    ['reject', 'reject a pending consumer'],
    ['suspend', 'suspend a consumer: every key of it verifies SUSPENDED'],
    ['reinstate', 'reinstate a suspended consumer'],
    ['close', 'close a consumer for good: every key of it is revoked'],
  ] as const) {
    remoteCommand(consumers.command(action).description(description).argument('<id>', 'consumer id'))
      .option('--reason <text>', 'why (kept in the ledger)')
      .action(async (id: string, options: RemoteOptions & { reason?: string }) => {
        const consumer = await withClient(options, (client) => client.consumers[action](id, options.reason ? { reason: options.reason } : {}));
        print(options, consumer, () => renderTable([consumer], CONSUMER_COLUMNS));
      });
  }

  remoteCommand(consumers.command('usage').description("a month's usage and charge").argument('<id>', 'consumer id').argument('<period>', 'YYYY-MM'))
    .option('--csv', 'print the CSV for finance', false)
    .action(async (id: string, period: string, options: RemoteOptions & { csv: boolean }) => {
      if (options.csv) {
        process.stdout.write(await withClient(options, (client) => client.consumers.usageCsv(id, period)));
        return;
      }
      const report = await withClient(options, (client) => client.consumers.usage(id, period));
      print(options, report, () => usageLines(report));
    });

  const plans = program.command('plans').description('define and revise usage plans of a running service (through the SDK)');

  remoteCommand(plans.command('list').description('list plans'))
    .option('--status <status>', 'active or retired')
    .action(async (options: RemoteOptions & { status?: Plan['status'] }) => {
      const page = await withClient(options, (client) => client.plans.list({ ...(options.status ? { status: options.status } : {}), limit: 500 }));
      print(options, page, () => renderTable(page.items, PLAN_COLUMNS));
    });

  remoteCommand(plans.command('get').description('show a plan (its current version)').argument('<id>', 'plan id'))
    .action(async (id: string, options: RemoteOptions) => {
      const plan = await withClient(options, (client) => client.plans.get(id));
      print(options, plan, () => renderRecord(plan as unknown as Record<string, unknown>));
    });

  remoteCommand(plans.command('define').description('define a plan from a JSON body (the POST /v1/plans body)'))
    .requiredOption('--file <path>', 'the body, a JSON file (or - for stdin)')
    .action(async (options: RemoteOptions & { file: string }) => {
      const plan = await withClient(options, (client) => client.plans.define(jsonFile(options.file) as DefinePlanRequest));
      print(options, plan, () => renderTable([plan], PLAN_COLUMNS));
    });

  remoteCommand(plans.command('revise').description('revise a plan: a new version in force at once').argument('<id>', 'plan id'))
    .requiredOption('--file <path>', 'the new terms, a JSON file (or - for stdin)')
    .action(async (id: string, options: RemoteOptions & { file: string }) => {
      const plan = await withClient(options, (client) => client.plans.revise(id, jsonFile(options.file) as DefinePlanRequest));
      print(options, plan, () => renderTable([plan], PLAN_COLUMNS));
    });

  remoteCommand(plans.command('retire').description('retire a plan: no new keys, existing keys keep working').argument('<id>', 'plan id'))
    .option('--reason <text>', 'why')
    .action(async (id: string, options: RemoteOptions & { reason?: string }) => {
      const plan = await withClient(options, (client) => client.plans.retire(id, options.reason ? { reason: options.reason } : {}));
      print(options, plan, () => renderTable([plan], PLAN_COLUMNS));
    });

  remoteCommand(plans.command('usage').description("a month's usage and charge of every consumer on the plan").argument('<id>', 'plan id').argument('<period>', 'YYYY-MM'))
    .option('--csv', 'print the CSV for finance', false)
    .action(async (id: string, period: string, options: RemoteOptions & { csv: boolean }) => {
      if (options.csv) {
        process.stdout.write(await withClient(options, (client) => client.plans.usageCsv(id, period)));
        return;
      }
      const report = await withClient(options, (client) => client.plans.usage(id, period));
      print(options, report, () => usageLines(report));
    });
}
