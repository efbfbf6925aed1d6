/**
 * The generic command handler and its idempotency wrapper, with a tiny counter aggregate on a
 * real SQLite store (nothing mocked; the "applied" wait is a real ProjectionRunner).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CommandHandler, type CommandSpec, type Decider, type LoadedStream } from '../../src/app/command-handler.js';
import { AppError } from '../../src/app/errors.js';
import { handleIdempotently, type IdempotencyContext } from '../../src/app/idempotency.js';
import { ProjectionRunner } from '../../src/projections/runner.js';
import type { EventStore, RecordedEvent } from '../../src/store/port.js';
import { openSqliteEventStore } from '../../src/store/sqlite/index.js';

const dir = mkdtempSync(join(tmpdir(), 'keyledger-handler-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Counter = { value: number };
const counter: Decider<Counter> = {
  initialState: () => ({ value: 0 }),
  evolve: (state, event) => ({ value: state.value + (event.data as { by: number }).by }),
};

let store: EventStore;
let runner: ProjectionRunner;
let applied: RecordedEvent[];
let n = 0;

beforeEach(async () => {
  store = await openSqliteEventStore({ file: join(dir, `${++n}.db`), synchronous: 'NORMAL' });
  applied = [];
  // The counter is this test's own aggregate: the runner must know its event type, or it skips it.
  runner = new ProjectionRunner(store, [{ name: 'seen', apply: (event) => void applied.push(event) }], {
    schemas: { currentVersion: () => 1, upcast: (_type, _version, data) => data },
  });
  await runner.start();
});
afterEach(async () => {
  await runner.stop();
  await store.close();
});

function handler(extra: Partial<ConstructorParameters<typeof CommandHandler>[0]> = {}) {
  return new CommandHandler({ store, waitForApplied: (checkpoint, timeoutMs) => runner.waitFor(checkpoint, timeoutMs), ...extra });
}

/** Adds `by` to every named stream (one event each); refuses to go above `max`. */
function add(streams: string[], by: number, max = Number.POSITIVE_INFINITY): CommandSpec<Counter, { values: number[]; replayed: boolean; checkpoint: string | null }> {
  return {
    streams,
    decider: counter,
    resource: `/counters/${streams[0]}`,
    decide: (loaded: LoadedStream<Counter>[]) => {
      if (loaded.some((s) => s.state.value + by > max)) throw new AppError(409, 'https://keyledger.dev/problems/conflict', 'Too much', 'over max');
      return loaded.map((s) => ({ stream: s.stream, events: [{ type: 'Added', data: { by } }] }));
    },
    metadata: (_event, place) => ({ actor: { kind: 'key', id: 'key_actor' }, place: `${place.write}.${place.index}` }),
    result: (loaded, outcome) => ({ values: loaded.map((s) => s.state.value), replayed: outcome.replayed, checkpoint: outcome.checkpoint }),
  };
}

describe('command handler', () => {
  it('loads, decides, appends and returns the folded state once this instance has applied it', async () => {
    const result = await handler().handle(add(['counter-a'], 2));
    expect(result).toMatchObject({ values: [2], replayed: false });
    // Applied here before the answer: the projection has seen the event.
    expect(applied.map((e) => e.stream)).toContain('counter-a');
    expect(store.compareCheckpoints(runner.checkpoint, result.checkpoint ?? undefined)).toBeGreaterThanOrEqual(0);
    expect((await handler().handle(add(['counter-a'], 3))).values).toEqual([5]);
  });

  it('a decision over several streams is one atomic append; a refusal writes nothing', async () => {
    const result = await handler().handle(add(['counter-x', 'counter-y'], 1));
    expect(result.values).toEqual([1, 1]);
    const [x] = await store.readStream('counter-x');
    const [y] = await store.readStream('counter-y');
    expect(y?.checkpoint).toBe(result.checkpoint);
    expect(store.compareCheckpoints(x?.checkpoint, y?.checkpoint)).toBeLessThan(0);
    await expect(handler().handle(add(['counter-x', 'counter-z'], 5, 4))).rejects.toMatchObject({ status: 409 });
    expect(await store.readStream('counter-z')).toEqual([]);
  });

  it('retries a concurrent write with jittered, growing back-off, then gives up with a 409', async () => {
    const sleeps: number[] = [];
    let interfere = 3;
    const spec = add(['counter-busy'], 1);
    const racing: typeof spec = {
      ...spec,
      decide: (loaded, now) => {
        // Another writer lands between our read and our append, `interfere` times.
        if (interfere-- > 0) void store.appendToStream('counter-busy', [{ type: 'Added', data: { by: 10 } }]);
        return spec.decide(loaded, now);
      },
    };
    const h = handler({ sleep: async (ms) => void sleeps.push(ms), random: () => 0.5, backoff: { baseMs: 8, maxMs: 20 } });
    const result = await h.handle(racing);
    expect(result.values).toEqual([31]);
    // Half fixed, half random (random() = 0.5): 3/4 of min(max, base * 2^(n-1)).
    expect(sleeps).toEqual([6, 12, 15]);
    console.log(`conflict retries: ${sleeps.length}, back-off ms: ${sleeps.join(', ')}`);

    interfere = 100;
    const stubborn = handler({ sleep: async () => undefined, maxAttempts: 3 });
    const error = await stubborn.handle(racing).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 409 });
    expect((error as Error).message).toMatch(/gave up after 3 attempts/);
  });

  it('answers 503 (written, not yet applied) when this instance does not apply the events in time', async () => {
    await runner.pause();
    const error = await handler({ applyTimeoutMs: 50 }).handle(add(['counter-lag'], 1)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    const problem = error as AppError;
    expect(problem.status).toBe(503);
    expect(problem.headers['retry-after']).toBe('1');
    const [written] = await store.readStream('counter-lag');
    expect(problem.extra).toEqual({ written: true, checkpoint: written?.checkpoint, resource: '/counters/counter-lag' });
    expect(applied.map((e) => e.stream)).not.toContain('counter-lag');
    runner.resume();
    await runner.waitFor(written?.checkpoint as string);
    expect(applied.map((e) => e.stream)).toContain('counter-lag');
  });
});

describe('idempotency wrapper', () => {
  const idem = (key: string, requestHash = 'h1'): IdempotencyContext => ({ key, actorId: 'key_actor', requestHash });

  it('the same request again answers with the first outcome and writes nothing, even after later changes', async () => {
    const h = handler();
    const first = await handleIdempotently(h, add(['counter-i'], 2), idem('k1'));
    await h.handle(add(['counter-i'], 5));
    const again = await handleIdempotently(h, add(['counter-i'], 2), idem('k1'));
    expect(again).toEqual({ values: [2], replayed: true, checkpoint: first.checkpoint });
    expect((await store.readStream('counter-i')).length).toBe(2);
  });

  it('the key reused for another request on the same stream is a 422', async () => {
    const h = handler();
    await handleIdempotently(h, add(['counter-j'], 2), idem('k2', 'h1'));
    await expect(handleIdempotently(h, add(['counter-j'], 3), idem('k2', 'h2'))).rejects.toMatchObject({ status: 422 });
    expect((await store.readStream('counter-j')).length).toBe(1);
  });

  it('the key reused on another stream (resource) is a 422 and writes nothing there', async () => {
    const h = handler();
    await handleIdempotently(h, add(['counter-k'], 2), idem('k3', 'h1'));
    await expect(handleIdempotently(h, add(['counter-l'], 2), idem('k3', 'h9'))).rejects.toMatchObject({ status: 422 });
    expect(await store.readStream('counter-l')).toEqual([]);
    // Another caller may use the same key for anything (its events record that caller).
    const other = add(['counter-l'], 2);
    const otherSpec = { ...other, metadata: () => ({ actor: { kind: 'key', id: 'key_other' } }) };
    expect((await handleIdempotently(h, otherSpec, { ...idem('k3', 'h9'), actorId: 'key_other' })).values).toEqual([2]);
  });

  it('two identical requests at once are written once; both get the outcome', async () => {
    const h = handler();
    const both = await Promise.all([
      handleIdempotently(h, add(['counter-m', 'counter-n'], 1), idem('k4')),
      handleIdempotently(h, add(['counter-m', 'counter-n'], 1), idem('k4')),
    ]);
    expect(both.map((r) => r.values)).toEqual([[1, 1], [1, 1]]);
    expect((await store.readStream('counter-m')).length).toBe(1);
    expect((await store.readStream('counter-n')).length).toBe(1);
  });
});
