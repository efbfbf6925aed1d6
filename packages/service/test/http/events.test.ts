/**
 * The ledger feed's checkpoints over HTTP: a well-formed checkpoint beyond the head of the log
 * (another deployment's, a restored backup's, made up) is refused with a problem naming it,
 * on both backends, instead of an empty page that would silently skip everything up to it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCheckpoint } from '../../src/store/postgres/index.js';
import { dropSchema, holdFenceLock, PG_SKIP_REASON, TEST_DATABASE_URL, uniqueSchemaName } from '../store/pg-test-schema.js';
import { startHarness, type Harness, type Reply } from './harness.js';

interface Backend {
  name: string;
  skip: boolean;
  env: () => Record<string, string>;
  /** Well-formed checkpoints of the backend past `head`. */
  beyond: (head: string) => string[];
  cleanup: () => Promise<void>;
}

const pgSchema = uniqueSchemaName('kl_http_events');
let releaseFenceLock: (() => Promise<void>) | undefined;

const backends: Backend[] = [
  {
    name: 'sqlite',
    skip: false,
    env: () => ({}),
    beyond: (head) => [String(Number(head) + 1), String(Number(head) + 2 ** 40)],
    cleanup: async () => undefined,
  },
  {
    name: `postgres${PG_SKIP_REASON}`,
    skip: !TEST_DATABASE_URL,
    env: () => ({ KEYLEDGER_DATABASE_URL: TEST_DATABASE_URL as string, KEYLEDGER_DATABASE_SCHEMA: pgSchema }),
    beyond: (head) => {
      const { transactionId, position } = parseCheckpoint(head);
      return [`${transactionId + 2n ** 40n}.0`, `${transactionId}.${position + 2n ** 40n}`];
    },
    cleanup: () => dropSchema(pgSchema),
  },
];

function expectBeyondHead(reply: Reply, checkpoint: string, path: string): void {
  expect(reply.status, reply.text).toBe(400);
  expect(reply.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(reply.body).toMatchObject({
    type: 'https://keyledger.dev/problems/validation',
    title: 'Checkpoint beyond the head of the ledger',
    status: 400,
    errors: [{ path, message: 'beyond the head of the ledger' }],
  });
  expect(reply.body.detail).toContain(checkpoint);
  expect(reply.body.detail).toContain('beyond the head');
}

describe.each(backends)('checkpoints beyond the head: $name', (backend) => {
  let h: Harness;
  let head: string;

  beforeAll(async () => {
    if (backend.skip) return;
    // Global reads must not overlap the PostgreSQL fence test, which holds a writer open.
    if (backend.name.startsWith('postgres')) releaseFenceLock = await holdFenceLock('shared');
    h = await startHarness(backend.env());
    await h.issue({ consumerId: 'acme' });
    const page = await h.call('GET', '/v1/events?limit=1000');
    expect(page.status, page.text).toBe(200);
    head = page.body.events.at(-1).checkpoint;
  });

  afterAll(async () => {
    await h?.close();
    await backend.cleanup();
    await releaseFenceLock?.();
    releaseFenceLock = undefined;
  });

  it.skipIf(backend.skip)('GET /v1/events?after= beyond the head is a 400 naming the problem', async () => {
    for (const checkpoint of backend.beyond(head)) {
      expectBeyondHead(await h.call('GET', `/v1/events?after=${encodeURIComponent(checkpoint)}`), checkpoint, 'querystring.after');
      expectBeyondHead(
        await h.call('GET', `/v1/events?after=${encodeURIComponent(checkpoint)}&type=KeyRevoked`),
        checkpoint,
        'querystring.after',
      );
    }
    // The head itself, and where a page resumes, are still fine.
    const atHead = await h.call('GET', `/v1/events?after=${encodeURIComponent(head)}`);
    expect(atHead.status, atHead.text).toBe(200);
    expect(atHead.body.events).toEqual([]);
    const resumed = await h.call('GET', `/v1/events?after=${encodeURIComponent(atHead.body.checkpoint)}`);
    expect(resumed.status, resumed.text).toBe(200);
  });

  it.skipIf(backend.skip)('GET /v1/events/stream refuses it too, from ?after= and from Last-Event-ID, before streaming', async () => {
    for (const checkpoint of backend.beyond(head)) {
      expectBeyondHead(await h.call('GET', `/v1/events/stream?after=${encodeURIComponent(checkpoint)}`), checkpoint, 'querystring.after');
      expectBeyondHead(
        await h.call('GET', '/v1/events/stream', { headers: { 'last-event-id': checkpoint } }),
        checkpoint,
        'headers.last-event-id',
      );
    }
  });
});
