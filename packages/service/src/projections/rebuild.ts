/**
 * `keyledger projections rebuild`: every read model rebuilt from the whole log, compared with the
 * live state (the stored snapshot plus the tail of the log, what a starting service would hold)
 * by projectionsDigest, and saved as the new snapshot. Both sets go through the ProjectionRunner
 * the service uses, so the rebuild applies events exactly as serving does.
 */
import { pino } from 'pino';
import type { EventStore } from '../store/port.js';
import type { SnapshotStore } from '../store/snapshots/port.js';
import { KeyProjection } from './key-projection.js';
import { ParkedEvents } from './parked-events.js';
import { ProjectionRunner } from './runner.js';
import { encodeSnapshot, ProjectionSnapshots, type RestoreOutcome } from './snapshots.js';
import { projectionsDigest } from './digest.js';
import { QuotaUsageProjection } from '../verify/usage-projection.js';

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

function freshProjections() {
  const keys = new KeyProjection();
  const quotaUsage = new QuotaUsageProjection();
  const parked = new ParkedEvents();
  return { keys, quotaUsage, parked };
}

export async function rebuildProjections(options: RebuildOptions): Promise<RebuildSummary> {
  const { store } = options;
  const silent = pino({ level: 'silent' });
  const compare = store.compareCheckpoints.bind(store);

  // The live state: what a service starting now would hold.
  const live = freshProjections();
  const liveRunner = new ProjectionRunner(store, [live.keys, live.quotaUsage], { parked: live.parked });
  const liveSnapshots = new ProjectionSnapshots(options.snapshots, [live.keys, live.quotaUsage, live.parked], { logger: silent, compare, instanceId: options.instanceId });
  const restored = await liveSnapshots.restore();
  await liveRunner.start(restored.kind === 'restored' ? restored.checkpoint : undefined);
  await liveRunner.stop();

  // The rebuild: the same projections from an empty start, page by page.
  const started = performance.now();
  const rebuilt = freshProjections();
  const runner = new ProjectionRunner(store, [rebuilt.keys, rebuilt.quotaUsage], { parked: rebuilt.parked });
  let read = 0;
  runner.onBatch((events) => {
    read += events.length;
    options.onProgress?.(read);
  });
  await runner.start();
  await runner.stop();
  const ms = performance.now() - started;

  // Both stopped at the head they last read; if something was appended in between, bring the live set level.
  if (compare(liveRunner.checkpoint, runner.checkpoint) < 0) {
    const tail = new ProjectionRunner(store, [live.keys, live.quotaUsage], { parked: live.parked });
    await tail.start(liveRunner.checkpoint);
    await tail.stop();
  }

  const rebuiltDigest = projectionsDigest(rebuilt);
  const liveDigest = projectionsDigest(live);
  const equal = rebuiltDigest === liveDigest;
  const policy = options.save ?? 'when-equal';
  let saved = false;
  const checkpoint = runner.checkpoint;
  if (checkpoint !== undefined && (policy === 'always' || (policy === 'when-equal' && (equal || restored.kind !== 'restored')))) {
    const payload = encodeSnapshot(checkpoint, [rebuilt.keys, rebuilt.quotaUsage, rebuilt.parked]);
    saved = await options.snapshots.save({ name: 'projections', checkpoint, payload, writtenBy: options.instanceId }, { replace: true });
  }
  return {
    events: read,
    applied: runner.appliedCount,
    keys: rebuilt.keys.size,
    checkpoint,
    rebuiltDigest,
    liveDigest,
    live: restored.kind,
    equal,
    saved,
    ms,
  };
}
