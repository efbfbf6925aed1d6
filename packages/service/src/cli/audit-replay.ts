/**
 * `keyledger audit history <id>` and `keyledger audit at <id> <instant>`: a key's, consumer's or
 * plan's timeline and its state at an instant (audit/timeline.ts), read either directly from a
 * store (--data-dir / --database-url) or through a running service's API (--url / --token).
 * Without either, the serve settings' store is read, like every store command.
 */
import type { KeyledgerClient } from '@keyledger/sdk';
import type { Command } from 'commander';
import { type AggregateKind, buildTimeline, candidateKinds, STREAM_PREFIX, stateAt, type TimelineEntry } from '../audit/timeline.js';
import { diffStates, formatFieldChange } from '../domain/state-change.js';
import { auditCommand } from './audit.js';
import { CliError } from './errors.js';
import { print, renderRecord, renderTable } from './output.js';
import { type RemoteOptions, withClient } from './remote.js';
import { hasStoreOptions, openStore, type StoreOptions, storeCommand } from './store-options.js';

interface ReplayOptions extends StoreOptions, RemoteOptions {
  kind?: AggregateKind;
}

function replayCommand(command: Command): Command {
  return storeCommand(command)
    .option('--kind <kind>', 'key, consumer or plan (default: key for key_ ids, else consumer, then plan)')
    .option('--url <url>', 'read through a running service instead of a store (default: KEYLEDGER_URL when no store option is given)')
    .option('--token <key>', 'API key for --url (default: KEYLEDGER_TOKEN)')
    .option('--timeout <ms>', 'per request with --url, in milliseconds', '10000')
    .option('--json', 'print JSON for scripts instead of a table', false);
}

function useHttp(options: ReplayOptions): boolean {
  if (options.url !== undefined) return true;
  if (hasStoreOptions(options)) return false;
  return process.env.KEYLEDGER_URL !== undefined && process.env.KEYLEDGER_DATA_DIR === undefined && process.env.KEYLEDGER_DATABASE_URL === undefined;
}

function checkKind(kind: string | undefined): AggregateKind | undefined {
  if (kind === undefined) return undefined;
  if (kind === 'key' || kind === 'consumer' || kind === 'plan') return kind;
  throw new CliError(`--kind '${kind}' is not key, consumer or plan`, 2);
}

function parseInstant(text: string): Date {
  const at = new Date(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(at.getTime())) throw new CliError(`'${text}' is not an instant (e.g. 2026-01-31T12:00:00Z)`, 2);
  return at;
}

/** Reads the aggregate's stream from the store: the first kind whose stream exists. */
async function readFromStore(id: string, options: ReplayOptions) {
  const opened = await openStore(options, { mustExist: true });
  try {
    for (const kind of candidateKinds(id, checkKind(options.kind))) {
      const events = await opened.store.readStream(`${STREAM_PREFIX[kind]}${id}`);
      if (events.length > 0) return { kind, events };
    }
  } finally {
    await opened.close();
  }
  throw new CliError(`no key, consumer or plan '${id}' in the ledger`, 3);
}

function actorText(entry: TimelineEntry): string {
  return entry.actor ? `${entry.actor.kind}:${entry.actor.id}` : '-';
}

function changesText(entry: TimelineEntry): string {
  if (entry.changes.length === 0) return Object.keys(entry.carried).length > 0 ? `(no state change) ${JSON.stringify(entry.carried)}` : '(no state change)';
  // A creation lists what the aggregate started with; empty settings say nothing.
  const created = entry.changes.every((change) => change.before === undefined);
  const shown = created ? entry.changes.filter((change) => !isEmpty(change.after)) : entry.changes;
  return `${created ? '(created) ' : ''}${shown.map(formatFieldChange).join('; ')}`;
}

function isEmpty(value: unknown): boolean {
  if (value === null || value === undefined || value === false) return true;
  if (Array.isArray(value)) return value.length === 0;
  return typeof value === 'object' && Object.keys(value as object).length === 0;
}

function printTimeline(options: ReplayOptions, result: { id: string; kind: AggregateKind; source: string; entries: TimelineEntry[] }): void {
  print(options, result, () =>
    `${result.kind} ${result.id}: ${result.entries.length} events (read from ${result.source})\n` +
    renderTable(result.entries, [
      { header: 'REV', value: (e) => e.revision },
      { header: 'WHEN', value: (e) => e.occurredAt },
      { header: 'ACTOR', value: actorText },
      { header: 'FROM', value: (e) => e.sourceAddress },
      { header: 'EVENT', value: (e) => e.type },
      { header: 'CHANGE', value: changesText },
    ]),
  );
}

/**
 * Over HTTP a key's history comes with who/when/where and what each event carried; the states
 * before and after come from `GET /v1/keys/{id}?at=` at each event's instant. Events sharing an
 * instant cannot be told apart that way: those show what they carried instead.
 */
async function keyTimelineOverHttp(client: KeyledgerClient, id: string): Promise<TimelineEntry[]> {
  const history = await client.keys.history(id);
  const instants = [...new Set(history.entries.map((entry) => entry.occurredAt))];
  const states = new Map<string, object>();
  for (const instant of instants) states.set(instant, await client.keys.at(id, instant));
  const shared = new Set(instants.filter((instant) => history.entries.filter((entry) => entry.occurredAt === instant).length > 1));
  let previous: object | null = null;
  return history.entries.map((entry) => {
    const state = states.get(entry.occurredAt) ?? null;
    const unique = !shared.has(entry.occurredAt);
    const result: TimelineEntry = {
      revision: entry.revision,
      type: entry.type,
      occurredAt: entry.occurredAt,
      actor: entry.actor,
      sourceAddress: entry.sourceAddress,
      requestId: entry.requestId,
      changes: unique ? diffStates(previous, state, ['revision', 'updatedAt']) : [],
      carried: entry.changes as Record<string, unknown>,
    };
    previous = state;
    return result;
  });
}

export function registerAuditReplayCommands(program: Command): void {
  const audit = auditCommand(program);

  replayCommand(
    audit
      .command('history')
      .description("a key's, consumer's or plan's timeline: who, when, from which address, what changed")
      .argument('<id>', 'key id (key_...), consumer id or plan id'),
  ).action(async (id: string, options: ReplayOptions) => {
    const kind = checkKind(options.kind);
    if (useHttp(options)) {
      if (kind !== undefined && kind !== 'key') throw new CliError(`over --url only keys have a history route; read a ${kind}'s timeline with --data-dir or --database-url`, 2);
      if (!candidateKinds(id).includes('key')) throw new CliError(`'${id}' is not a key id; over --url only keys have a history route (use --data-dir or --database-url for consumers and plans)`, 2);
      const entries = await withClient(options, (client) => keyTimelineOverHttp(client, id));
      printTimeline(options, { id, kind: 'key', source: options.url ?? process.env.KEYLEDGER_URL ?? 'the service', entries });
      return;
    }
    const read = await readFromStore(id, options);
    printTimeline(options, { id, kind: read.kind, source: 'the store', entries: buildTimeline(read.kind, read.events) });
  });

  replayCommand(
    audit
      .command('at')
      .description("a key's, consumer's or plan's state at an instant, rebuilt from the ledger")
      .argument('<id>', 'key id (key_...), consumer id or plan id')
      .argument('<instant>', 'RFC 3339 instant, e.g. 2026-01-31T12:00:00Z'),
  ).action(async (id: string, instant: string, options: ReplayOptions) => {
    const at = parseInstant(instant);
    const kind = checkKind(options.kind);
    let result: { id: string; kind: AggregateKind; at: string; revision: number | null; state: object | null };
    if (useHttp(options)) {
      if ((kind !== undefined && kind !== 'key') || !candidateKinds(id).includes('key')) throw new CliError('over --url only keys can be read at an instant; use --data-dir or --database-url for consumers and plans', 2);
      const state = await withClient(options, (client) => client.keys.at(id, at));
      result = { id, kind: 'key', at: at.toISOString(), revision: (state as { revision?: number }).revision ?? null, state };
    } else {
      const read = await readFromStore(id, options);
      const found = stateAt(read.kind, read.events, at);
      result = { id, kind: read.kind, at: at.toISOString(), ...found };
    }
    if (result.state === null) {
      if (options.json) return print(options, result, () => '');
      throw new CliError(`${result.kind} ${id} did not exist yet at ${result.at}`, 3);
    }
    print(options, result, () => `${result.kind} ${id} at ${result.at} (revision ${result.revision ?? '-'})\n${renderRecord(result.state as Record<string, unknown>)}`);
  });
}
