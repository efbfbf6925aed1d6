/**
 * A mixed write and verify load for fault trials, over raw HTTP so that every answer (or the lack
 * of one) is seen exactly as a client sees it.
 *
 * Writers issue, re-scope, suspend, reinstate, rotate and revoke keys, a share of them with an
 * Idempotency-Key. Each writer owns the keys it issued, so its commands on them are sequential and
 * each one is a real change (never a no-op), which lets the ledger check below expect exactly the
 * events of every acknowledged command. Verifiers call POST /v1/verify with known secrets.
 *
 * Every command carries its own X-Request-Id; the service records it (or, with an
 * Idempotency-Key, the key) in the metadata of the events it wrote, so `checkAgainstLedger` finds
 * each command's events: an acknowledged command (2xx received) must have exactly its events,
 * any other command at most them.
 */
import { randomUUID } from 'node:crypto';
import type { LedgerEvent } from '@keyledger/schemas';
import { call } from './http.js';

export type CommandKind = 'issue' | 'scope' | 'suspend' | 'reinstate' | 'rotate' | 'revoke';

export interface Command {
  kind: CommandKind;
  worker: number;
  method: string;
  path: string;
  body: unknown;
  /** Target key; null for issue. */
  keyId: string | null;
  idempotencyKey: string | undefined;
  /** X-Request-Id of the first attempt (what the events record without an Idempotency-Key). */
  requestId: string;
  attempts: number;
  /** The last answer's status, if one came back. */
  status?: number;
  answer?: any;
  /** Why the last attempt got no answer. */
  error?: string;
  acknowledged: boolean;
}

interface OwnedKey {
  id: string;
  secret: string | null;
  suspended: boolean;
  revoked: boolean;
  rotated: boolean;
  /** A command on it ended without a known outcome: re-read before the next one. */
  uncertain: boolean;
}

export interface MixedLoadOptions {
  token: string;
  writers?: number;
  verifiers?: number;
  /** Share of commands sent with an Idempotency-Key (0..1). */
  idempotentShare?: number;
  /** Statuses other than 2xx that count as an expected answer under this fault (e.g. 503). */
  tolerated?: number[];
  /** Per-call timeout. */
  timeoutMs?: number;
}

export interface LedgerCheck {
  acknowledged: number;
  found: number;
  lost: string[];
  duplicated: string[];
  /** Unacknowledged commands found written (allowed: the answer was lost, not the write). */
  unacknowledgedWritten: number;
}

let runCounter = 0;

export class MixedLoad {
  readonly commands: Command[] = [];
  /** Answers that are wrong under any fault: a 500, or a 4xx for a well-formed command. */
  readonly unexpected: string[] = [];
  readonly verifies = { sent: 0, answered: 0 };
  readonly statuses = new Map<number, number>();
  readonly #options: Required<MixedLoadOptions>;
  readonly #owned: OwnedKey[][];
  readonly #run = `l${++runCounter}${randomUUID().slice(0, 8)}`;
  #seq = 0;
  #stopped = true;

  constructor(options: MixedLoadOptions) {
    this.#options = { writers: 4, verifiers: 1, idempotentShare: 0.5, tolerated: [], timeoutMs: 10_000, ...options };
    this.#owned = Array.from({ length: this.#options.writers }, () => []);
  }

  /** Runs until stop(); resolves when every worker has settled. */
  async run(baseUrl: string): Promise<void> {
    this.#stopped = false;
    const workers: Promise<void>[] = [];
    for (let w = 0; w < this.#options.writers; w++) workers.push(this.#writer(baseUrl, w));
    for (let v = 0; v < this.#options.verifiers; v++) workers.push(this.#verifier(baseUrl));
    await Promise.all(workers);
  }

  stop(): void {
    this.#stopped = true;
  }

  /** Commands whose last attempt has no 2xx answer and that a client may safely retry. */
  get retryable(): Command[] {
    return this.commands.filter((c) => !c.acknowledged && c.idempotencyKey !== undefined);
  }

  /**
   * What a well-behaved client does after an outage: resend every unacknowledged command that
   * carries an Idempotency-Key, with the same key and body, until it is answered (503 and
   * connection errors are retried). Returns how many became acknowledged.
   */
  async retryUnacknowledged(baseUrl: string, maxAttempts = 20): Promise<number> {
    let done = 0;
    for (const command of this.retryable) {
      for (let attempt = 0; attempt < maxAttempts && !command.acknowledged; attempt++) {
        await this.#send(baseUrl, command);
        if (command.status !== undefined && command.status !== 503) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      if (command.acknowledged) done++;
      else this.unexpected.push(`retry of ${describe(command)} never succeeded: ${command.status ?? command.error}`);
    }
    return done;
  }

  /**
   * Resends up to `count` acknowledged idempotent commands: each must answer 2xx as a replay
   * (Idempotent-Replayed: true) about the same key; the ledger check then proves nothing new was written.
   */
  async replayAcknowledged(baseUrl: string, count: number): Promise<string[]> {
    const problems: string[] = [];
    const candidates = this.commands.filter((c) => c.acknowledged && c.idempotencyKey !== undefined);
    for (const original of candidates.sort(() => Math.random() - 0.5).slice(0, count)) {
      const copy: Command = { ...original, requestId: `${original.requestId}-replay`, attempts: 0, acknowledged: false };
      await this.#send(baseUrl, copy, false);
      const sameKey = (answer: any) => (original.kind === 'rotate' ? answer?.successor?.id : answer?.id);
      if (!copy.acknowledged) problems.push(`replay of ${describe(original)} answered ${copy.status ?? copy.error}`);
      else if (copy.answer?.replayed !== true) problems.push(`replay of ${describe(original)} was not marked Idempotent-Replayed`);
      else if (sameKey(copy.answer.body) !== sameKey(original.answer)) problems.push(`replay of ${describe(original)} answered about another key`);
      else if (original.kind === 'issue' || original.kind === 'rotate') {
        // The secret is re-derived, never stored: a replay must hand back the very same one.
        const secretOf = (answer: any) => (original.kind === 'rotate' ? answer?.successor?.secret : answer?.secret);
        if (secretOf(copy.answer.body) !== secretOf(original.answer)) problems.push(`replay of ${describe(original)} answered another secret`);
      }
    }
    return problems;
  }

  /** The rotations sent for a key, described (which command left a key half-rotated). */
  rotationsOf(keyId: string): string[] {
    return this.commands
      .filter((c) => c.kind === 'rotate' && c.keyId === keyId)
      .map((c) => `${describe(c)}: ${c.acknowledged ? `acknowledged ${c.status}` : c.status !== undefined ? `answered ${c.status}` : `no answer (${c.error})`}`);
  }

  /** After a restart: refresh what each writer believes about its keys from the service. */
  forgetOutcomes(): void {
    for (const keys of this.#owned) for (const key of keys) key.uncertain = true;
  }

  /**
   * Every command's events in the ledger, by the client's request id (kept as clientRequestId;
   * the event's own requestId is the server's). A retry sends `<id>-r<n>`: its events belong to
   * the same command. Idempotency keys are not in public event views, so they cannot be used.
   */
  checkAgainstLedger(events: readonly LedgerEvent[]): LedgerCheck {
    const byTag = new Map<string, LedgerEvent[]>();
    for (const event of events) {
      const meta = event.metadata as { clientRequestId?: string };
      if (meta.clientRequestId === undefined) continue;
      const tag = `req:${meta.clientRequestId.replace(/-r\d+$/, '')}`;
      byTag.set(tag, [...(byTag.get(tag) ?? []), event]);
    }
    const result: LedgerCheck = { acknowledged: 0, found: 0, lost: [], duplicated: [], unacknowledgedWritten: 0 };
    for (const command of this.commands) {
      const written = byTag.get(`req:${command.requestId}`) ?? [];
      const expectedCount = command.kind === 'rotate' ? 2 : 1;
      if (written.length > expectedCount) {
        result.duplicated.push(`${describe(command)}: ${written.length} events (${written.map((e) => `${e.stream}@${e.revision} ${e.type}`).join(', ')}), expected ${expectedCount}`);
      }
      if (!command.acknowledged) {
        if (written.length > 0) result.unacknowledgedWritten++;
        continue;
      }
      result.acknowledged++;
      const expected = expectedEvents(command);
      const missing = expected.filter((want) => !written.some((e) => e.stream === want.stream && e.type === want.type && (want.revision === undefined || e.revision === want.revision)));
      if (missing.length > 0) {
        result.lost.push(`${describe(command)} answered ${command.status}, but the ledger lacks ${missing.map((m) => `${m.type} on ${m.stream}${m.revision === undefined ? '' : `@${m.revision}`}`).join(', ')}`);
      } else result.found++;
    }
    return result;
  }

  async #writer(baseUrl: string, w: number): Promise<void> {
    const owned = this.#owned[w]!;
    while (!this.#stopped) {
      const key = await this.#pickKey(baseUrl, owned);
      if (this.#stopped) return;
      const command = this.#nextCommand(w, key);
      this.commands.push(command);
      await this.#send(baseUrl, command);
      // Like the SDK: an idempotent command without a definite answer is retried as it is, before
      // anything else is sent (a later retry could otherwise meet a key that has moved on).
      while (!this.#stopped && !command.acknowledged && command.idempotencyKey !== undefined && (command.status === undefined || command.status === 503)) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        await this.#send(baseUrl, command);
      }
      if (!command.acknowledged && command.status === undefined) {
        // No answer at all: the service is gone; do not spin on a dead port.
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }

  async #pickKey(baseUrl: string, owned: OwnedKey[]): Promise<OwnedKey | undefined> {
    const live = owned.filter((k) => !k.revoked);
    if (live.length === 0 || Math.random() < 0.25) return undefined;
    const key = live[Math.floor(Math.random() * live.length)]!;
    if (key.uncertain) {
      const current = await call(baseUrl, this.#options.token, 'GET', `/v1/keys/${key.id}`, undefined, { timeoutMs: this.#options.timeoutMs }).catch(() => undefined);
      if (current?.status !== 200) return undefined;
      Object.assign(key, fromView(current.body), { uncertain: false });
      if (key.revoked) return undefined;
    }
    return key;
  }

  #nextCommand(worker: number, key: OwnedKey | undefined): Command {
    const seq = ++this.#seq;
    const base = {
      worker,
      requestId: `${this.#run}-${seq}`,
      idempotencyKey: Math.random() < this.#options.idempotentShare ? `${this.#run}-${seq}-${randomUUID()}` : undefined,
      attempts: 0,
      acknowledged: false,
    };
    if (!key) {
      return { ...base, kind: 'issue', method: 'POST', path: '/v1/keys', keyId: null, body: { consumerId: `fault_w${worker}`, name: `trial ${seq}`, scopes: ['orders:read'] } };
    }
    const on = (kind: CommandKind, method: string, action: string, body: unknown): Command => ({ ...base, kind, method, path: `/v1/keys/${key.id}${action}`, keyId: key.id, body });
    const r = Math.random();
    if (r < 0.3) return on('scope', 'PATCH', '/scopes', { add: { scopes: [`trial:s${seq}`] } });
    if (r < 0.6) return key.suspended ? on('reinstate', 'POST', '/reinstate', { reason: `trial ${seq}` }) : on('suspend', 'POST', '/suspend', { reason: `trial ${seq}` });
    if (r < 0.85 && !key.rotated && !key.suspended) return on('rotate', 'POST', '/rotate', { gracePeriodSeconds: 3600 });
    if (r < 0.92) return on('revoke', 'POST', '/revoke', { reason: `trial ${seq}` });
    return on('scope', 'PATCH', '/scopes', { add: { scopes: [`trial:s${seq}`] } });
  }

  /** One attempt; updates the command and, on a 2xx, the writer's view of its keys. */
  async #send(baseUrl: string, command: Command, track = true): Promise<void> {
    command.attempts++;
    const headers: Record<string, string> = { 'x-request-id': command.attempts === 1 ? command.requestId : `${command.requestId}-r${command.attempts}` };
    if (command.idempotencyKey !== undefined) headers['idempotency-key'] = command.idempotencyKey;
    try {
      const answer = await call(baseUrl, this.#options.token, command.method, command.path, command.body, { headers, timeoutMs: this.#options.timeoutMs });
      command.status = answer.status;
      command.error = undefined;
      this.statuses.set(answer.status, (this.statuses.get(answer.status) ?? 0) + 1);
      if (answer.status >= 200 && answer.status < 300) {
        command.acknowledged = true;
        command.answer = track ? answer.body : { body: answer.body, replayed: answer.headers.get('idempotent-replayed') === 'true' };
        if (track) this.#apply(command);
        return;
      }
      if (!this.#options.tolerated.includes(answer.status)) {
        this.unexpected.push(`${describe(command)} answered ${answer.status}: ${JSON.stringify(answer.body).slice(0, 300)}`);
      } else if (answer.status === 503 && (answer.headers.get('retry-after') === null || !/^application\/problem\+json/.test(answer.headers.get('content-type') ?? ''))) {
        this.unexpected.push(`${describe(command)} answered 503 without Retry-After or problem+json: ${JSON.stringify(answer.body).slice(0, 300)}`);
      }
    } catch (error) {
      command.status = undefined;
      command.error = (error as Error).cause ? String((error as Error).cause) : String(error);
    }
    if (track) this.#markUncertain(command);
  }

  #apply(command: Command): void {
    const owned = this.#owned[command.worker]!;
    const body = command.answer;
    // Every trial runs with a server secret that survives restarts (SQLite's file, or
    // KEYLEDGER_SECRET), so even a replayed issue or rotation must hand back the plaintext.
    const secret = command.kind === 'issue' ? body.secret : command.kind === 'rotate' ? body.successor.secret : 'n/a';
    if (secret === null) this.unexpected.push(`${describe(command)} answered 2xx with secret null`);
    if (command.kind === 'issue') {
      if (!owned.some((k) => k.id === body.id)) owned.push({ ...fromView(body), id: body.id, secret: body.secret, uncertain: false });
      return;
    }
    const key = owned.find((k) => k.id === command.keyId);
    if (command.kind === 'rotate') {
      if (key) Object.assign(key, fromView(body.previous));
      if (!owned.some((k) => k.id === body.successor.id)) owned.push({ ...fromView(body.successor), id: body.successor.id, secret: body.successor.secret, uncertain: false });
      return;
    }
    if (key) Object.assign(key, fromView(body));
  }

  #markUncertain(command: Command): void {
    const key = this.#owned[command.worker]!.find((k) => k.id === command.keyId);
    if (key) key.uncertain = true;
  }

  async #verifier(baseUrl: string): Promise<void> {
    while (!this.#stopped) {
      const secrets = this.#owned.flat().map((k) => k.secret).filter((s): s is string => s !== null);
      if (secrets.length === 0) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        continue;
      }
      const secret = secrets[Math.floor(Math.random() * secrets.length)]!;
      this.verifies.sent++;
      try {
        const answer = await call(baseUrl, this.#options.token, 'POST', '/v1/verify', { key: secret, scopes: ['orders:read'] }, { timeoutMs: this.#options.timeoutMs });
        this.verifies.answered++;
        if (answer.status !== 200 && !this.#options.tolerated.includes(answer.status)) this.unexpected.push(`verify answered ${answer.status}: ${JSON.stringify(answer.body).slice(0, 300)}`);
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }
}

function fromView(view: any): Pick<OwnedKey, 'suspended' | 'revoked' | 'rotated'> {
  return { suspended: view.status === 'suspended', revoked: view.status === 'revoked', rotated: view.rotatedTo !== null };
}

function describe(command: Command): string {
  return `${command.kind} ${command.method} ${command.path} (request ${command.requestId}${command.idempotencyKey ? ', idempotent' : ''})`;
}

/** The events an acknowledged command must have written, from its answer. */
function expectedEvents(command: Command): { stream: string; type: string; revision?: number }[] {
  const body = command.answer;
  switch (command.kind) {
    case 'issue':
      return [{ stream: `key-${body.id}`, type: 'KeyIssued', revision: 0 }];
    case 'rotate':
      return [
        { stream: `key-${command.keyId}`, type: 'KeyRotated', revision: body.previous.revision },
        { stream: `key-${body.successor.id}`, type: 'KeyIssued', revision: 0 },
      ];
    case 'scope':
      return [{ stream: `key-${command.keyId}`, type: 'KeyScoped', revision: body.revision }];
    case 'suspend':
      return [{ stream: `key-${command.keyId}`, type: 'KeySuspended', revision: body.revision }];
    case 'reinstate':
      return [{ stream: `key-${command.keyId}`, type: 'KeyReinstated', revision: body.revision }];
    case 'revoke':
      return [{ stream: `key-${command.keyId}`, type: 'KeyRevoked', revision: body.revision }];
  }
}
