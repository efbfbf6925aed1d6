/**
 * The runner under failure, on a real SQLite ledger: a projection that throws on some events, store
 * reads that fail (before and after the store answered), events of unknown types and newer
 * schema versions. Every projection must see every applicable event exactly once, in log order.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KeyProjection } from '../../src/projections/key-projection.js';
import { type Projection, ProjectionRunner } from '../../src/projections/runner.js';
import type { EventStore, RecordedEvent } from '../../src/store/port.js';
import { openSqliteEventStore } from '../../src/store/sqlite/index.js';
import { eventually } from '../../../../test/support/eventually.js';
import { issueKeys, keyIdOf, keyRevoked, keySuspended, meta } from './ledger.js';

const dir = mkdtempSync(join(tmpdir(), 'keyledger-runner-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Counts how often each event reached it. */
class RecordingProjection implements Projection {
  readonly seen: string[] = [];
  constructor(readonly name: string) {}
  apply(event: RecordedEvent): void {
    this.seen.push(event.id);
  }
}

/** Throws on roughly one event in five (chosen by the event id, so it is the same on every try). */
class FlakyProjection extends RecordingProjection {
  static fails = (id: string) => createHash('sha256').update(id).digest()[0]! % 5 === 0;
  override apply(event: RecordedEvent): void {
    if (FlakyProjection.fails(event.id)) throw new Error(`flaky projection refuses ${event.type}`);
    super.apply(event);
  }
}

/** The real store, with reads that fail on demand: before reaching it, or after it answered (the answer is lost). */
function faultyReads(store: EventStore, plan: { failBefore: Set<number>; failAfter: Set<number> }) {
  let calls = 0;
  const faulty: EventStore = Object.create(store) as EventStore;
  faulty.readAll = async (options) => {
    calls += 1;
    if (plan.failBefore.has(calls)) throw new Error(`injected read failure #${calls} (before the store)`);
    const result = await store.readAll(options);
    if (plan.failAfter.has(calls)) throw new Error(`injected read failure #${calls} (answer lost)`);
    return result;
  };
  faulty.compareCheckpoints = store.compareCheckpoints.bind(store);
  faulty.waitForEvents = store.waitForEvents.bind(store);
  return { store: faulty, calls: () => calls };
}

describe('projection runner under failures', () => {
  it('parks what a projection throws on, survives failed reads and unknown events, and applies every event exactly once per projection', async () => {
    const store = await openSqliteEventStore({ file: join(dir, `${randomUUID()}.db`), synchronous: 'NORMAL' });
    try {
      await issueKeys(store, 0, 20);
      // A newer keyledger wrote a type and a schema version this one does not know.
      await store.appendToStream(`key-${keyIdOf(3)}`, [{ type: 'KeyFrozen', data: { keyId: keyIdOf(3) }, metadata: meta() }]);
      await store.appendToStream(`key-${keyIdOf(4)}`, [{ type: 'KeyRevoked', data: { keyId: keyIdOf(4), reason: 'v2', cause: 'x' }, metadata: meta(undefined, 2) }]);
      // A second issue of key 5 is a broken stream: the key projection must park it, not stop.
      await store.appendToStream('key-broken', [{ type: 'KeyIssued', data: { keyId: keyIdOf(5) }, metadata: meta() }]);

      const plan = { failBefore: new Set<number>(), failAfter: new Set<number>() };
      const faulty = faultyReads(store, plan);
      const recorder = new RecordingProjection('recorder');
      const flaky = new FlakyProjection('flaky');
      const keys = new KeyProjection();
      const skipped: string[] = [];
      const errors: unknown[] = [];
      const runner = new ProjectionRunner(faulty.store, [recorder, flaky, keys], {
        batchSize: 4,
        idleWaitMs: 20,
        onSkip: (event, reason) => skipped.push(`${event.type}:${reason}`),
        onError: (error) => errors.push(error),
      });
      // The first catch-up reads without faults; the faults hit while following the log.
      await runner.start();
      plan.failBefore = new Set([faulty.calls() + 1, faulty.calls() + 4]);
      plan.failAfter = new Set([faulty.calls() + 2, faulty.calls() + 6, faulty.calls() + 7]);

      await issueKeys(store, 20, 40);
      await store.appendToStream(`key-${keyIdOf(7)}`, [keyRevoked(7)]);
      await store.appendToStream(`key-${keyIdOf(8)}`, [keySuspended(8)]);
      await store.appendToStream(`key-${keyIdOf(3)}`, [keyRevoked(3)]);
      const head = (await store.appendToStream('noise-1', [{ type: 'SomethingElse', data: {} }])).checkpoint;

      expect(await runner.waitFor(head, 10_000)).toBe(true);
      await runner.stop();

      const all = (await store.readAll({ maxCount: 10_000 })).events;
      const applicable = all.filter((e) => e.type !== 'KeyFrozen' && e.type !== 'SomethingElse' && !(e.type === 'KeyRevoked' && (e.metadata as { schemaVersion: number }).schemaVersion === 2));
      console.log(
        `runner faults: ${all.length} events, ${errors.length} failed reads retried, ${skipped.length} skipped, ${runner.parked.total} parked (${runner.parked.list().items.map((p) => p.projection).join(',')})`,
      );
      expect(errors.length).toBe(5);
      // Every applicable event exactly once, in log order, by the projection that never fails.
      expect(recorder.seen).toEqual(applicable.map((e) => e.id));
      // The flaky projection saw the same events minus the ones it threw on, each of which is parked once.
      const flakyFailures = applicable.filter((e) => FlakyProjection.fails(e.id)).map((e) => e.id);
      expect(flakyFailures.length).toBeGreaterThan(0);
      expect(flaky.seen).toEqual(applicable.filter((e) => !FlakyProjection.fails(e.id)).map((e) => e.id));
      const parked = runner.parked.list().items;
      expect(parked.filter((p) => p.projection === 'flaky').map((p) => p.eventId)).toEqual(flakyFailures);
      expect(parked.filter((p) => p.projection === 'keys')).toEqual([
        expect.objectContaining({ stream: 'key-broken', type: 'KeyIssued', error: expect.stringMatching(/already issued/) }),
      ]);
      expect(runner.parked.total).toBe(parked.length);
      expect(skipped).toEqual(['KeyFrozen:unknown_type', 'KeyRevoked:newer_version', 'SomethingElse:unknown_type']);
      // The key model kept going past the unknown events: later revocations and suspensions applied.
      expect(keys.size).toBe(40);
      expect(keys.getById(keyIdOf(3))?.revoked).toBe(true);
      expect(keys.getById(keyIdOf(4))?.revoked).toBe(false);
      expect(keys.getById(keyIdOf(7))?.revoked).toBe(true);
      expect(keys.getById(keyIdOf(8))?.suspended).toBe(true);
      expect(keys.getById(keyIdOf(5))?.revision).toBe(0);

      // The same log replayed without any fault gives the same key model.
      const clean = new KeyProjection();
      const rebuild = new ProjectionRunner(store, [clean], { batchSize: 7 });
      await rebuild.start();
      await rebuild.stop();
      expect(clean.snapshot()).toEqual(keys.snapshot());
    } finally {
      await store.close();
    }
  });

  it('old schema versions reach the projections upcast; an event the upcaster throws on is parked once and the log moves on', async () => {
    const store = await openSqliteEventStore({ file: join(dir, `${randomUUID()}.db`), synchronous: 'NORMAL' });
    try {
      await store.appendToStream('thing-1', [
        { type: 'ThingNamed', data: { label: 'first' }, metadata: { schemaVersion: 1 } },
        { type: 'ThingNamed', data: { broken: true }, metadata: { schemaVersion: 1 } },
        { type: 'ThingNamed', data: { name: 'third' }, metadata: { schemaVersion: 2 } },
      ]);
      const names: string[] = [];
      const runner = new ProjectionRunner(store, [{ name: 'names', apply: (event) => void names.push((event.data as { name: string }).name) }], {
        schemas: {
          currentVersion: (type) => (type === 'ThingNamed' ? 2 : undefined),
          upcast: (_type, _version, data) => {
            const { label } = data as { label?: string };
            if (label === undefined) throw new Error('v1 ThingNamed without a label');
            return { name: label };
          },
        },
      });
      await runner.start();
      await runner.stop();
      expect(names).toEqual(['first', 'third']);
      expect(runner.parked.list().items).toEqual([expect.objectContaining({ projection: 'upcast', revision: 1, error: 'Error: v1 ThingNamed without a label' })]);
    } finally {
      await store.close();
    }
  });

  it('lag is the age of the oldest unapplied event: 0 when caught up, growing while reads fail', async () => {
    const store = await openSqliteEventStore({ file: join(dir, `${randomUUID()}.db`), synchronous: 'NORMAL' });
    let now = Date.now();
    let gate: (() => void) | undefined;
    const plan = { fail: false, holdRead: 2 };
    let reads = 0;
    const faulty: EventStore = Object.create(store) as EventStore;
    faulty.readAll = async (options) => {
      if (plan.fail) throw new Error('store unreachable');
      reads += 1;
      const result = await store.readAll(options);
      if (reads === plan.holdRead) await new Promise<void>((resolve) => (gate = resolve));
      return result;
    };
    faulty.compareCheckpoints = store.compareCheckpoints.bind(store);
    faulty.waitForEvents = store.waitForEvents.bind(store);
    try {
      await issueKeys(store, 0, 6);
      const recordedAt = (await store.readAll()).events[0]!.recordedAt.getTime();
      let failedReads = 0;
      const runner = new ProjectionRunner(faulty, [new KeyProjection()], { batchSize: 2, idleWaitMs: 10, now: () => now, onError: () => (failedReads += 1) });
      // Hold the second page: one full page applied, more unread.
      now = recordedAt + 60_000;
      const started = runner.start();
      await eventually('first page held', () => gate !== undefined);
      const pending = runner.lagSeconds;
      gate?.();
      await started;
      const caughtUp = runner.lagSeconds;

      plan.fail = true;
      await store.appendToStream('noise-1', [{ type: 'SomethingElse', data: {} }]);
      await eventually('a failed read', () => failedReads > 0);
      const failingSince = now;
      now += 30_000;
      const failing = runner.lagSeconds;
      plan.fail = false;
      await eventually('caught up again', () => runner.lagSeconds === 0 || undefined);
      await runner.stop();
      console.log(`lag: ${pending}s with a full page unread, ${caughtUp}s caught up, ${failing}s while reads fail for 30 s`);
      expect(pending).toBeGreaterThanOrEqual(59);
      expect(caughtUp).toBe(0);
      expect(failing).toBeGreaterThanOrEqual((now - failingSince) / 1000);
    } finally {
      await store.close();
    }
  });
});
