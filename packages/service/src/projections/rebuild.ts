/**
 * `keyledger projections rebuild`: every read model rebuilt from the whole log, compared with the
 * live state (the stored snapshot plus the tail of the log, what a starting service would hold)
 * by projectionsDigest, and saved as the new snapshot. Both sets are the service's own
 * (createProjectionSet) and go through the ProjectionRunner it uses, so the rebuild applies events
 * exactly as serving does and its snapshot is one a starting service restores.
 */
import { pino } from 'pino';
import type { EventStore } from '../store/port.js';
import type { SnapshotStore } from '../store/snapshots/port.js';
import { appliedProjections, createProjectionSet, snapshotParts } from './projection-set.js';
import { ProjectionRunner } from './runner.js';
import { encodeSnapshot, ProjectionSnapshots, type RestoreOutcome } from './snapshots.js';
import { projectionsDigest } from './digest.js';

export interface RebuildOptions {
  store: EventStore;
  snapshots: SnapshotStore;
  instanceId: string;
  /** Called after every applied page of the rebuild with the number of events read so far. */
  onProgress?: (done: number) => void;
  /** Save the rebuilt snapshot even when the digests differ (default: only when they agree, or when there was no live one). */
  save?: 'always' | 'when-equal' | 'never';
}

export interface RebuildSummary {
  events: number;
  /** Events applied (not skipped) by the rebuild. */
  applied: number;
  keys: number;
  checkpoint: string | undefined;
  rebuiltDigest: string;
  liveDigest: string;
  /** How the live state was obtained. */
  live: RestoreOutcome['kind'];
  equal: boolean;
  saved: boolean;
  ms: number;
}


export async function rebuildProjections(options: RebuildOptions): Promise<RebuildSummary> {
  const { store } = options;
  const silent = pino({ level: 'silent' });
  const compare = store.compareCheckpoints.bind(store);

  /** The live state: what a service starting now would hold (snapshot + tail); only its digest is kept, to hold one set in memory at a time. */
  const liveState = async () => {
    const live = createProjectionSet();
    const runner = new ProjectionRunner(store, appliedProjections(live), { parked: live.parked });
    const restored = await new ProjectionSnapshots(options.snapshots, snapshotParts(live), { logger: silent, compare, instanceId: options.instanceId }).restore();
    await runner.start(restored.kind === 'restored' ? restored.checkpoint : undefined);
    await runner.stop();
    return { restored, checkpoint: runner.checkpoint, digest: projectionsDigest(live) };
  };
  let live = await liveState();

  // The rebuild: the same projections from an empty start, page by page.
  const started = performance.now();
  const rebuilt = createProjectionSet();
  const runner = new ProjectionRunner(store, appliedProjections(rebuilt), { parked: rebuilt.parked });
  let read = 0;
  runner.onBatch((events) => {
    read += events.length;
    options.onProgress?.(read);
  });
  await runner.start();
  await runner.stop();
  const ms = performance.now() - started;
  let checkpoint = runner.checkpoint;
  let applied = runner.appliedCount;

  // Events appended during the rebuild: take the live state again and bring the rebuilt one to the same checkpoint.
  if (compare(live.checkpoint, checkpoint) !== 0) {
    live = await liveState();
    if (compare(checkpoint, live.checkpoint) < 0) {
      const tail = new ProjectionRunner(store, appliedProjections(rebuilt), { parked: rebuilt.parked });
      await tail.start(checkpoint);
      await tail.stop();
      read += tail.appliedCount;
      applied += tail.appliedCount;
      checkpoint = tail.checkpoint;
    }
  }

  const rebuiltDigest = projectionsDigest(rebuilt);
  const equal = rebuiltDigest === live.digest && compare(checkpoint, live.checkpoint) === 0;
  const policy = options.save ?? 'when-equal';
  let saved = false;
  if (checkpoint !== undefined && (policy === 'always' || (policy === 'when-equal' && (equal || live.restored.kind !== 'restored')))) {
    const payload = encodeSnapshot(checkpoint, snapshotParts(rebuilt));
    saved = await options.snapshots.save({ name: 'projections', checkpoint, payload, writtenBy: options.instanceId }, { replace: true });
  }
  return {
    events: read,
    applied,
    keys: rebuilt.keys.size,
    checkpoint,
    rebuiltDigest,
    liveDigest: live.digest,
    live: live.restored.kind,
    equal,
    saved,
    ms,
  };
}
