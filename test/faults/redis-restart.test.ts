/**
 * Redis stopped (SIGKILL) and started again mid-load, several times. A private redis-server on a
 * free port serves two services: one failing closed (the default), one with
 * KEYLEDGER_LIMITER_FAILURE_MODE=open. Verifiers hammer a rate-limited key and an unlimited key.
 *
 * - every verify answers 200 (never 5xx), and the unlimited key stays VALID throughout;
 * - a verify of the limited key sent while Redis is down answers degraded (Keyledger-Limiter
 *   header): RATE_LIMITED (fail closed) or VALID (fail open), never an undegraded answer;
 * - once Redis is back, each service recovers by itself (a counted, undegraded answer) and
 *   counting resumes: a fresh key limited to 3 a minute gets exactly 3 VALID, then RATE_LIMITED.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.js';
import { printFigures, summarise } from '../support/figures.js';
import { call, sleep } from '../support/http.js';
import { type OwnRedis, startOwnRedis } from '../support/redis-server.js';
import { type ServiceProcess, startService } from '../support/service-process.js';

const OUTAGES = 5;

interface Answer {
  sentAt: number;
  service: 'closed' | 'open';
  key: 'limited' | 'unlimited';
  status: number;
  code?: string;
  degraded: string | null;
}

describe('Redis killed and restarted mid-load', () => {
  let redis: OwnRedis;
  const services: Record<'closed' | 'open', ServiceProcess> = {} as never;

  beforeAll(async () => {
    redis = await startOwnRedis();
    const env = (mode: string) => ({ KEYLEDGER_REDIS_URL: redis.url, KEYLEDGER_REDIS_PREFIX: `klfault:${mode}:`, KEYLEDGER_LIMITER_FAILURE_MODE: mode });
    services.closed = await startService({ env: env('closed') });
    services.open = await startService({ env: env('open') });
  });

  afterAll(async () => {
    await services.closed?.stop();
    await services.open?.stop();
    await redis?.kill();
  });

  it('fails limited keys closed (or open when configured) while Redis is down, then recovers and counts again', async () => {
    const issue = async (service: ServiceProcess, body: object) => {
      const issued = await call(service.url, service.rootKey, 'POST', '/v1/keys', { consumerId: 'fault_redis', ...body });
      expect(issued.status, JSON.stringify(issued.body)).toBe(201);
      return issued.body.secret as string;
    };
    const secrets = {
      closed: { limited: await issue(services.closed, { rateLimit: { limit: 1_000_000, windowSeconds: 60 } }), unlimited: await issue(services.closed, {}) },
      open: { limited: await issue(services.open, { rateLimit: { limit: 1_000_000, windowSeconds: 60 } }), unlimited: await issue(services.open, {}) },
    };
    const answers: Answer[] = [];
    const verifyOnce = async (mode: 'closed' | 'open', key: 'limited' | 'unlimited'): Promise<Answer> => {
      const sentAt = performance.now();
      const service = services[mode];
      const reply = await call(service.url, service.rootKey, 'POST', '/v1/verify', { key: secrets[mode][key] });
      const answer = { sentAt, service: mode, key, status: reply.status, code: reply.body?.code, degraded: reply.headers.get('keyledger-limiter') };
      answers.push(answer);
      return answer;
    };
    let stopped = false;
    const worker = async (mode: 'closed' | 'open', key: 'limited' | 'unlimited') => {
      while (!stopped) await verifyOnce(mode, key);
    };
    const load = Promise.all([worker('closed', 'limited'), worker('closed', 'limited'), worker('closed', 'unlimited'), worker('open', 'limited'), worker('open', 'unlimited')]);

    const outages: { downAt: number; upAt: number }[] = [];
    const recoveries: number[] = [];
    try {
      await sleep(200);
      for (let i = 0; i < OUTAGES; i++) {
        await redis.kill();
        const downAt = performance.now();
        await sleep(200 + Math.random() * 200);
        const upAt = performance.now();
        outages.push({ downAt, upAt });
        await redis.start();
        for (const mode of ['closed', 'open'] as const) {
          await eventually(`the ${mode} service to count again`, async () => {
            const answer = await verifyOnce(mode, 'limited');
            return answer.code === 'VALID' && answer.degraded === null;
          }, 15_000);
          recoveries.push(performance.now() - upAt);
        }
        await sleep(100 + Math.random() * 200);
      }
    } finally {
      stopped = true;
      await load;
    }

    // Counting resumed: a fresh key limited to 3 a minute, on each service.
    const counted: Record<string, string[]> = {};
    for (const mode of ['closed', 'open'] as const) {
      const secret = await issue(services[mode], { rateLimit: { limit: 3, windowSeconds: 60 } });
      counted[mode] = [];
      for (let i = 0; i < 4; i++) {
        const reply = await call(services[mode].url, services[mode].rootKey, 'POST', '/v1/verify', { key: secret });
        counted[mode].push(`${reply.body.code}${reply.headers.get('keyledger-limiter') ? ` (${reply.headers.get('keyledger-limiter')})` : ''}`);
      }
    }

    const duringOutage = (a: Answer) => outages.some((o) => a.sentAt >= o.downAt && a.sentAt < o.upAt);
    const limitedDown = answers.filter((a) => a.key === 'limited' && duringOutage(a));
    printFigures('Redis kill and restart', {
      trials: OUTAGES,
      verifies: answers.length,
      'limited verifies while down (closed)': limitedDown.filter((a) => a.service === 'closed').length,
      'failed closed': answers.filter((a) => a.degraded === 'fail_closed').length,
      'failed open': answers.filter((a) => a.degraded === 'fail_open').length,
      'non-200 answers': answers.filter((a) => a.status !== 200).length,
      'time to recover (redis-server spawned to a counted answer)': summarise(recoveries),
    });

    expect(answers.filter((a) => a.status !== 200), 'every verify answers 200').toEqual([]);
    expect(answers.filter((a) => a.key === 'unlimited' && (a.code !== 'VALID' || a.degraded !== null)), 'unlimited keys never touch the limiter').toEqual([]);
    for (const mode of ['closed', 'open'] as const) {
      const down = limitedDown.filter((a) => a.service === mode);
      expect(down.length, `${mode}: limited verifies sent while Redis was down`).toBeGreaterThanOrEqual(OUTAGES);
      const expected = mode === 'closed' ? { code: 'RATE_LIMITED', degraded: 'fail_closed' } : { code: 'VALID', degraded: 'fail_open' };
      expect(down.filter((a) => a.code !== expected.code || a.degraded !== expected.degraded), `${mode}: answers while Redis was down`).toEqual([]);
    }
    // Degraded answers only ever come from an outage (or its edges), and only in the configured direction.
    expect(answers.filter((a) => a.service === 'closed' && a.degraded !== null && (a.degraded !== 'fail_closed' || a.code !== 'RATE_LIMITED'))).toEqual([]);
    expect(answers.filter((a) => a.service === 'open' && a.degraded !== null && (a.degraded !== 'fail_open' || a.code !== 'VALID'))).toEqual([]);
    expect(counted).toEqual({ closed: ['VALID', 'VALID', 'VALID', 'RATE_LIMITED'], open: ['VALID', 'VALID', 'VALID', 'RATE_LIMITED'] });
  }, 60_000);
});
