/**
 * `keyledger keys ...`: key management through the SDK against a running service (cli/remote.ts
 * for the connection, cli/output.ts for tables and --json).
 */
import type { IssueKeyRequest, Key } from '@keyledger/sdk';
import type { Command } from 'commander';
import { CliError } from './errors.js';
import { type Column, print, renderRecord, renderTable } from './output.js';
import { remoteCommand, type RemoteOptions, withClient } from './remote.js';

const KEY_COLUMNS: Column<Key>[] = [
  { header: 'ID', value: (key) => key.id },
  { header: 'STATUS', value: (key) => key.status },
  { header: 'KIND', value: (key) => key.kind },
  { header: 'CONSUMER', value: (key) => key.consumerId },
  { header: 'NAME', value: (key) => key.name },
  { header: 'HINT', value: (key) => key.hint },
  { header: 'SCOPES', value: (key) => key.scopes },
  { header: 'EXPIRES', value: (key) => key.expiresAt },
];

function keyRecord(key: Key): Record<string, unknown> {
  return {
    id: key.id,
    status: key.status,
    kind: key.kind,
    consumer: key.consumerId,
    plan: key.planId,
    name: key.name,
    environment: key.environment,
    hint: key.hint,
    scopes: key.scopes,
    endpoints: key.endpoints,
    permissions: key.permissions,
    'rate limit': key.rateLimit,
    quota: key.quota,
    expires: key.expiresAt,
    'rotated to': key.rotatedTo,
    'valid until': key.validUntil,
    'suspended for': key.suspendedReason,
    revoked: key.revokedAt,
    'revoked for': key.revokedReason,
    created: key.createdAt,
    updated: key.updatedAt,
    revision: key.revision,
  };
}

const list = (value: string, previous: string[] = []) => [...previous, ...value.split(',').map((item) => item.trim()).filter(Boolean)];

function positiveInt(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new CliError(`${name} '${value}' is not a whole number >= 0`, 2);
  return n;
}

export function registerKeyCommands(program: Command): void {
  const keys = program.command('keys').description('manage API keys of a running service (through the SDK; --url/--token or KEYLEDGER_URL/KEYLEDGER_TOKEN)');

  remoteCommand(keys.command('list').description('list keys, in issue order'))
    .option('--consumer <id>', 'only keys of this consumer')
    .option('--status <status>', 'only keys in this status: active, suspended, revoked or expired')
    .option('--limit <n>', 'at most this many keys (default: all)')
    .action(async (options: RemoteOptions & { consumer?: string; status?: string; limit?: string }) => {
      const limit = options.limit === undefined ? Number.POSITIVE_INFINITY : positiveInt('--limit', options.limit);
      const items = await withClient(options, async (client) => {
        const found: Key[] = [];
        const query = { ...(options.consumer ? { consumerId: options.consumer } : {}), ...(options.status ? { status: options.status as Key['status'] } : {}), limit: 500 };
        for await (const key of client.keys.listAll(query)) {
          if (found.length >= limit) break;
          found.push(key);
        }
        return found;
      });
      print(options, { items }, () => renderTable(items, KEY_COLUMNS));
    });

  remoteCommand(keys.command('get').description('show one key').argument('<id>', 'key id'))
    .action(async (id: string, options: RemoteOptions) => {
      const key = await withClient(options, (client) => client.keys.get(id));
      print(options, key, () => renderRecord(keyRecord(key)));
    });

  remoteCommand(keys.command('issue').description('issue a key; its secret is printed once'))
    .requiredOption('--consumer <id>', 'the consumer the key belongs to')
    .option('--name <name>', 'a name people recognise')
    .option('--plan <id>', 'the usage plan')
    .option('--environment <env>', 'live or test', 'live')
    .option('--scope <scopes>', 'scopes, comma-separated or repeated', list)
    .option('--endpoint <rules>', 'endpoint rules such as "GET /orders/*", repeated', (value: string, previous: string[] = []) => [...previous, value])
    .option('--permission <permissions>', 'management permissions (makes a management key), comma-separated or repeated', list)
    .option('--expires-at <instant>', 'RFC 3339 instant the key stops working')
    .option('--idempotency-key <key>', 'makes a retried issue return the same key')
    .action(async (options: RemoteOptions & { consumer: string; name?: string; plan?: string; environment: string; scope?: string[]; endpoint?: string[]; permission?: string[]; expiresAt?: string; idempotencyKey?: string }) => {
      const body: IssueKeyRequest = {
        consumerId: options.consumer,
        environment: options.environment as IssueKeyRequest['environment'],
        ...(options.name ? { name: options.name } : {}),
        ...(options.plan ? { planId: options.plan } : {}),
        ...(options.scope ? { scopes: options.scope } : {}),
        ...(options.endpoint ? { endpoints: options.endpoint } : {}),
        ...(options.permission ? { permissions: options.permission } : {}),
        ...(options.expiresAt ? { expiresAt: options.expiresAt } : {}),
      } as IssueKeyRequest;
      const issued = await withClient(options, (client) => client.keys.issue(body, options.idempotencyKey ? { idempotencyKey: options.idempotencyKey } : undefined));
      print(options, issued, () =>
        [
          '',
          issued.secret ? `  secret (shown once, store it safely):\n\n    ${issued.secret}\n` : `  secret withheld: ${issued.secretWithheld?.detail ?? ''}\n`,
          renderRecord(keyRecord(issued)),
        ].join('\n'),
      );
    });

  for (const [action, description] of [
    ['revoke', 'revoke a key for good'],
    ['suspend', 'suspend a key until it is reinstated'],
    ['reinstate', 'reinstate a suspended key'],
  ] as const) {
    remoteCommand(keys.command(action).description(description).argument('<id>', 'key id'))
      .option('--reason <text>', 'why (kept in the ledger)')
      .action(async (id: string, options: RemoteOptions & { reason?: string }) => {
        const key = await withClient(options, (client) => client.keys[action](id, options.reason ? { reason: options.reason } : {}));
        print(options, key, () => renderTable([key], KEY_COLUMNS));
      });
  }

  remoteCommand(keys.command('rotate').description('rotate a key: a successor with a new secret (printed once); the old key works for the grace period').argument('<id>', 'key id'))
    .option('--grace <seconds>', 'how long the old key keeps working', '0')
    .action(async (id: string, options: RemoteOptions & { grace: string }) => {
      const gracePeriodSeconds = positiveInt('--grace', options.grace);
      const rotated = await withClient(options, (client) => client.keys.rotate(id, { gracePeriodSeconds }));
      print(options, rotated, () =>
        [
          '',
          rotated.successor.secret ? `  new secret (shown once, store it safely):\n\n    ${rotated.successor.secret}\n` : `  secret withheld: ${rotated.successor.secretWithheld?.detail ?? ''}\n`,
          renderTable([rotated.previous, rotated.successor], KEY_COLUMNS),
        ].join('\n'),
      );
    });
}
