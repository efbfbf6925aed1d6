/**
 * Checkpoints on every answer, commands under a lagging projection (503, never a silent 200),
 * Idempotency-Key reuse across resources and commands (422), and the bounded window in which a
 * replay of issue / rotate still shows the plaintext (an injected clock).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countEvents, expectProblem, type Harness, startHarness } from './harness.js';

const PROBLEM = 'https://keyledger.dev/problems/';

describe('checkpoints and commands under lag', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ KEYLEDGER_COMMAND_APPLY_TIMEOUT_MS: '150' });
  });
  afterAll(async () => h?.close());
  const compare = (a: unknown, b: unknown) => h.service.store.compareCheckpoints(a as string, b as string);

  it('every /v1 answer carries keyledger-checkpoint, lists carry it as a field, errors too', async () => {
    const key = await h.issue({ consumerId: 'cp' });
    const list = await h.call('GET', '/v1/keys?consumerId=cp');
    expect(list.body.checkpoint).toBe(list.headers['keyledger-checkpoint']);
    const [issued] = await h.service.store.readStream(`key-${key.id}`);
    expect(compare(list.body.checkpoint, issued?.checkpoint)).toBeGreaterThanOrEqual(0);
    for (const [method, url, key_] of [
      ['GET', `/v1/keys/${key.id}`, undefined],
      ['GET', '/v1/keys/key_00000000000000000000', undefined],
      ['GET', '/v1/events?limit=1', undefined],
      ['GET', '/v1/keys', null],
    ] as const) {
      const reply = await h.call(method, url, key_ === null ? { key: null } : {});
      expect(reply.headers['keyledger-checkpoint'], `${method} ${url} (${reply.status})`).toBe(h.service.runner.checkpoint);
    }
  });

  it('a command this instance cannot apply in time is a 503 saying it IS written; reads say what they reflect', async () => {
    const key = await h.issue({ consumerId: 'lag' });
    await h.service.runner.pause();
    try {
      const started = performance.now();
      const reply = await h.call('POST', `/v1/keys/${key.id}/revoke`, { body: { reason: 'leaked' }, headers: { 'idempotency-key': 'rev-lag' } });
      const waitedMs = Math.round(performance.now() - started);
      const problem = expectProblem(reply, 503, 'written-not-yet-applied');
      console.log(`revoke under a paused projection: ${reply.status} after ${waitedMs} ms (timeout 150 ms)`);
      expect(reply.headers['retry-after']).toBe('1');
      expect(problem).toMatchObject({ written: true, resource: `/v1/keys/${key.id}` });
      const stored = await h.service.store.readStream(`key-${key.id}`);
      expect(stored.map((e) => e.type)).toEqual(['KeyIssued', 'KeyRevoked']);
      expect(problem.checkpoint).toBe(stored[1]?.checkpoint);
      // The answering instance says it has not applied the revoke; so do its reads.
      expect(compare(reply.headers['keyledger-checkpoint'], problem.checkpoint)).toBeLessThan(0);
      const read = await h.call('GET', `/v1/keys/${key.id}`);
      expect(read.body.status).toBe('active');
      expect(compare(read.headers['keyledger-checkpoint'], problem.checkpoint)).toBeLessThan(0);
      const verify = await h.call('POST', '/v1/verify', { body: { key: key.secret } });
      expect(verify.body.code).toBe('VALID');
      expect(compare(verify.body.checkpoint, problem.checkpoint)).toBeLessThan(0);
    } finally {
      h.service.runner.resume();
    }
    // The retry with the same Idempotency-Key answers with the outcome, writing nothing more.
    const retry = await h.call('POST', `/v1/keys/${key.id}/revoke`, { body: { reason: 'leaked' }, headers: { 'idempotency-key': 'rev-lag' } });
    expect(retry.status, retry.text).toBe(200);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.body.status).toBe('revoked');
    expect((await h.service.store.readStream(`key-${key.id}`)).length).toBe(2);
    const verify = await h.call('POST', '/v1/verify', { body: { key: key.secret } });
    expect(verify.body.code).toBe('REVOKED');
  });
});

describe('Idempotency-Key reuse', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => h?.close());

  it('reused on a different key (resource) is a 422 and writes nothing', async () => {
    const a = await h.issue({ consumerId: 'reuse' });
    const b = await h.issue({ consumerId: 'reuse' });
    expect((await h.call('POST', `/v1/keys/${a.id}/revoke`, { body: {}, headers: { 'idempotency-key': 'one-use' } })).status).toBe(200);
    const before = await countEvents(h);
    const problem = expectProblem(
      await h.call('POST', `/v1/keys/${b.id}/revoke`, { body: {}, headers: { 'idempotency-key': 'one-use' } }),
      422,
      'idempotency-key-reused',
    );
    expect(problem.detail).toContain('one-use');
    expectProblem(await h.call('POST', '/v1/keys', { body: { consumerId: 'reuse' }, headers: { 'idempotency-key': 'one-use' } }), 422, 'idempotency-key-reused');
    expect(await countEvents(h)).toBe(before);
    expect((await h.call('GET', `/v1/keys/${b.id}`)).body.status).toBe('active');
  });

  it('reused for a different command on the same key is a 422 and writes nothing', async () => {
    const key = await h.issue({ consumerId: 'reuse' });
    expect((await h.call('POST', `/v1/keys/${key.id}/suspend`, { body: {}, headers: { 'idempotency-key': 'cmd-use' } })).status).toBe(200);
    const before = await countEvents(h);
    expectProblem(await h.call('POST', `/v1/keys/${key.id}/revoke`, { body: {}, headers: { 'idempotency-key': 'cmd-use' } }), 422, 'idempotency-key-reused');
    expectProblem(
      await h.call('POST', `/v1/keys/${key.id}/rotate`, { body: { gracePeriodSeconds: 0 }, headers: { 'idempotency-key': 'cmd-use' } }),
      422,
      'idempotency-key-reused',
    );
    expect(await countEvents(h)).toBe(before);
    expect((await h.call('GET', `/v1/keys/${key.id}`)).body.status).toBe('suspended');
  });

  it('rotation writes the old key and its successor together; the successor is caused by the rotation', async () => {
    const key = await h.issue({ consumerId: 'rot' });
    const rotated = await h.call('POST', `/v1/keys/${key.id}/rotate`, { body: { gracePeriodSeconds: 60 } });
    expect(rotated.status, rotated.text).toBe(201);
    const [, rotation] = await h.service.store.readStream(`key-${key.id}`);
    const [successor] = await h.service.store.readStream(`key-${rotated.body.successor.id}`);
    expect(rotation?.type).toBe('KeyRotated');
    expect(successor?.type).toBe('KeyIssued');
    expect((successor?.metadata as { causationId?: string }).causationId).toBe(rotation?.id);
    // One commit: nothing sits between the two in the global log, and both carry one instant.
    const between = await h.service.store.readAll({ after: rotation?.checkpoint, maxCount: 1 });
    expect(between.events[0]?.id).toBe(successor?.id);
    expect(successor?.recordedAt).toEqual(rotation?.recordedAt);
  });
});

describe('the plaintext on an idempotent replay is shown only within the window', () => {
  let h: Harness;
  let clock = Date.now();
  beforeAll(async () => {
    h = await startHarness({ KEYLEDGER_IDEMPOTENT_SECRET_WINDOW_SECONDS: '3600' }, { now: () => new Date(clock) });
  });
  afterAll(async () => h?.close());

  it('issue: the same secret within the window; after it secret null and secretWithheld says why', async () => {
    const request = { body: { consumerId: 'window' }, headers: { 'idempotency-key': 'issue-window' } };
    const first = await h.call('POST', '/v1/keys', request);
    expect(first.status, first.text).toBe(201);
    expect(first.body.secretWithheld).toBeNull();
    clock += 3_599_000;
    const inside = await h.call('POST', '/v1/keys', request);
    expect(inside.status).toBe(200);
    expect(inside.body.secret).toBe(first.body.secret);
    expect(inside.body.secretWithheld).toBeNull();
    clock += 2_000;
    const outside = await h.call('POST', '/v1/keys', request);
    expect(outside.status, outside.text).toBe(200);
    expect(outside.body.id).toBe(first.body.id);
    expect(outside.body.secret).toBeNull();
    expect(outside.body.secretWithheld).toMatchObject({ type: `${PROBLEM}secret-withheld`, title: expect.any(String) });
    expect(outside.body.secretWithheld.detail).toMatch(/3600 s/);
    expect(outside.text).not.toContain(first.body.secret);
  });

  it('rotate: the successor secret within the window, withheld after it', async () => {
    const key = await h.issue({ consumerId: 'window' });
    const request = { body: { gracePeriodSeconds: 60 }, headers: { 'idempotency-key': 'rotate-window' } };
    const first = await h.call('POST', `/v1/keys/${key.id}/rotate`, request);
    expect(first.status, first.text).toBe(201);
    clock += 1_000;
    const inside = await h.call('POST', `/v1/keys/${key.id}/rotate`, request);
    expect(inside.body.successor.secret).toBe(first.body.successor.secret);
    clock += 3_600_000;
    const outside = await h.call('POST', `/v1/keys/${key.id}/rotate`, request);
    expect(outside.status, outside.text).toBe(200);
    expect(outside.body.successor.id).toBe(first.body.successor.id);
    expect(outside.body.successor.secret).toBeNull();
    expect(outside.body.successor.secretWithheld.type).toBe(`${PROBLEM}secret-withheld`);
  });
});
