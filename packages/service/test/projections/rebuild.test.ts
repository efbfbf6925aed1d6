/**
 * rebuildProjections (keyledger projections rebuild) on a real SQLite ledger: the rebuilt state's
 * digest equals the live one (snapshot + tail); a snapshot that disagrees with the log is found,
 * kept unless told otherwise, and replaced with --force (save: 'always').
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validateEventData } from '@keyledger/schemas';
import { pino } from 'pino';
import { projectionsDigest } from '../../src/projections/digest.js';
import { appliedProjections, createProjectionSet, snapshotParts } from '../../src/projections/projection-set.js';
import { rebuildProjections } from '../../src/projections/rebuild.js';
import { ProjectionRunner } from '../../src/projections/runner.js';
import { encodeSnapshot, ProjectionSnapshots } from '../../src/projections/snapshots.js';
import { openSqliteEventStore } from '../../src/store/sqlite/index.js';
import { openSqliteSnapshotStore } from '../../src/store/snapshots/sqlite.js';
import { issueKeys, keyIdOf, keyRevoked, usageBatch } from './ledger.js';

const dir = mkdtempSync(join(tmpdir(), 'keyledger-rebuild-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('projections rebuild', () => {
  it('given a snapshot and a tail, the rebuild equals the live state; a wrong snapshot is found and only replaced when forced', async () => {
    const file = join(dir, 'keyledger.db');
    const store = await openSqliteEventStore({ file, validate: validateEventData });
    const compare = store.compareCheckpoints.bind(store);
    const snapshots = openSqliteSnapshotStore({ file, compare });
    await issueKeys(store, 0, 50);
    await store.appendToStream('usage-i1', [usageBatch([0, 2], '2030-06-01T12:00:10.000Z')]);

    // A service saved a snapshot here; more events came after it.
    const service = createProjectionSet();
    const runner = new ProjectionRunner(store, appliedProjections(service), { parked: service.parked });
    await runner.start();
    await runner.stop();
    await new ProjectionSnapshots(snapshots, snapshotParts(service), { logger: pino({ level: 'silent' }), compare, instanceId: 't' }).save(() => runner.checkpoint);
    await issueKeys(store, 50, 60);
    await store.appendToStream(`key-${keyIdOf(7)}`, [keyRevoked(7)]);

    let progress = 0;
    const first = await rebuildProjections({ store, snapshots, instanceId: 't', onProgress: (done) => (progress = done) });
    expect(first).toMatchObject({ live: 'restored', equal: true, saved: true, events: 62, keys: 60 });
    expect(progress).toBe(62);
    expect(first.rebuiltDigest).toBe(first.liveDigest);
    // The saved snapshot is one a starting service restores: the same parts, the rebuilt state.
    const starting = createProjectionSet();
    const restored = await new ProjectionSnapshots(snapshots, snapshotParts(starting), { logger: pino({ level: 'silent' }), compare, instanceId: 't' }).restore();
    expect(restored).toMatchObject({ kind: 'restored', checkpoint: first.checkpoint });
    expect(projectionsDigest(starting)).toBe(first.rebuiltDigest);
    expect(starting.keys.size).toBe(60);

    // A snapshot that disagrees with the log (a key missing) at the head checkpoint.
    const wrong = encodeSnapshot(first.checkpoint as string, snapshotParts(createProjectionSet()));
    await snapshots.save({ name: 'projections', checkpoint: first.checkpoint as string, payload: wrong, writtenBy: 'bad' }, { replace: true });
    const found = await rebuildProjections({ store, snapshots, instanceId: 't' });
    expect(found).toMatchObject({ live: 'restored', equal: false, saved: false });
    expect(found.rebuiltDigest).toBe(first.rebuiltDigest);
    const forced = await rebuildProjections({ store, snapshots, instanceId: 't', save: 'always' });
    expect(forced).toMatchObject({ equal: false, saved: true });
    expect(await rebuildProjections({ store, snapshots, instanceId: 't' })).toMatchObject({ equal: true, liveDigest: first.rebuiltDigest });
    await snapshots.close();
    await store.close();
  });
});
