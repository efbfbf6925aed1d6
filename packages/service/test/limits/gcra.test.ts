import { describe, expect, it } from 'vitest';
import { gcraParams, gcraStep } from '../../src/limits/gcra.js';
import { InvalidLimitRequestError } from '../../src/limits/limiter.js';

const SECOND = 1_000_000;
const T0 = 1_700_000_000_000_000; // a realistic epoch in microseconds

/** Given a stored TAT, when `count` calls arrive at `nowUs`, then these are the outcomes. */
function arrive(tat: number | undefined, nowUs: number, params: ReturnType<typeof gcraParams>, count: number) {
  const outcomes = [];
  let current = tat;
  for (let i = 0; i < count; i++) {
    const outcome = gcraStep(current, nowUs, params, true);
    outcomes.push(outcome);
    current = outcome.tatUs;
  }
  return { outcomes, tat: current };
}

describe('gcraParams', () => {
  it('derives the emission interval, rounding up so the sustained rate never exceeds the limit', () => {
    expect(gcraParams({ limit: 10, windowSeconds: 10 })).toEqual({ emissionIntervalUs: SECOND, burst: 10 });
    expect(gcraParams({ limit: 3, windowSeconds: 1 })).toEqual({ emissionIntervalUs: 333_334, burst: 3 });
    // 600/s stays 600/s (a millisecond interval would have become 2 ms = 500/s).
    expect(gcraParams({ limit: 600, windowSeconds: 1, burst: 7 })).toEqual({ emissionIntervalUs: 1667, burst: 7 });
  });

  it.each([
    [{ limit: 0, windowSeconds: 1 }, 'rate.limit'],
    [{ limit: 1.5, windowSeconds: 1 }, 'rate.limit'],
    [{ limit: Number.NaN, windowSeconds: 1 }, 'rate.limit'],
    [{ limit: 5, windowSeconds: 0 }, 'rate.windowSeconds'],
    [{ limit: 5, windowSeconds: 0.5 }, 'rate.windowSeconds'],
    [{ limit: 5, windowSeconds: 60, burst: 0 }, 'rate.burst'],
    [{ limit: 2_000_000, windowSeconds: 1 }, 'rate.limit'],
  ])('rejects %o naming %s', (policy, field) => {
    expect(() => gcraParams(policy)).toThrow(InvalidLimitRequestError);
    try {
      gcraParams(policy);
    } catch (error) {
      expect((error as InvalidLimitRequestError).field).toBe(field);
    }
  });
});

describe('gcraStep', () => {
  const tenPerTenSeconds = gcraParams({ limit: 10, windowSeconds: 10 });

  it('admits the whole burst at once, then limits', () => {
    const { outcomes } = arrive(undefined, T0, tenPerTenSeconds, 12);
    expect(outcomes.map((o) => o.allowed)).toEqual([...Array<boolean>(10).fill(true), false, false]);
    expect(outcomes.slice(0, 10).map((o) => o.remaining)).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    expect(outcomes[10]).toMatchObject({ remaining: 0, tatUs: T0 + 10 * SECOND, retryAfterUs: SECOND });
  });

  it('honours an explicit burst smaller than the limit', () => {
    const params = gcraParams({ limit: 60, windowSeconds: 60, burst: 5 });
    const { outcomes } = arrive(undefined, T0, params, 6);
    expect(outcomes.filter((o) => o.allowed)).toHaveLength(5);
    expect(outcomes[5]).toMatchObject({ allowed: false, retryAfterUs: SECOND });
  });

  it('admits a steady rate of one call per interval forever after the burst is spent', () => {
    let { tat } = arrive(undefined, T0, tenPerTenSeconds, 10);
    for (let i = 1; i <= 100; i++) {
      const now = T0 + i * SECOND;
      const early = gcraStep(tat, now - 1, tenPerTenSeconds, true);
      expect(early.allowed).toBe(false);
      expect(early.retryAfterUs).toBe(1);
      const onTime = gcraStep(tat, now, tenPerTenSeconds, true);
      expect(onTime.allowed).toBe(true);
      expect(onTime.remaining).toBe(0);
      tat = onTime.tatUs;
    }
  });

  it('reports a retry-after after which the call is admitted, and not a microsecond before', () => {
    const params = gcraParams({ limit: 3, windowSeconds: 1 });
    const { tat } = arrive(undefined, T0, params, 3);
    const rejected = gcraStep(tat, T0 + 100_000, params, true);
    expect(rejected.allowed).toBe(false);
    expect(rejected.retryAfterUs).toBe(333_334 - 100_000);
    expect(gcraStep(tat, T0 + 100_000 + rejected.retryAfterUs - 1, params, true).allowed).toBe(false);
    expect(gcraStep(tat, T0 + 100_000 + rejected.retryAfterUs, params, true).allowed).toBe(true);
  });

  it('reports remaining and reset as time passes', () => {
    const { tat } = arrive(undefined, T0, tenPerTenSeconds, 3);
    const peekNow = gcraStep(tat, T0, tenPerTenSeconds, false);
    expect(peekNow).toMatchObject({ allowed: true, remaining: 7, resetUs: 3 * SECOND, tatUs: tat });
    const later = gcraStep(tat, T0 + 1.5 * SECOND, tenPerTenSeconds, false);
    expect(later).toMatchObject({ remaining: 8, resetUs: 1.5 * SECOND });
    const recovered = gcraStep(tat, T0 + 60 * SECOND, tenPerTenSeconds, false);
    expect(recovered).toMatchObject({ remaining: 10, resetUs: 0 });
  });

  it('a peek never moves the TAT', () => {
    const { tat } = arrive(undefined, T0, tenPerTenSeconds, 10);
    const peek = gcraStep(tat, T0, tenPerTenSeconds, false);
    expect(peek).toMatchObject({ allowed: false, tatUs: tat, remaining: 0 });
  });

  it('applies a changed policy to the existing state at once', () => {
    // Given the burst of 10/10s spent at T0...
    const { tat } = arrive(undefined, T0, tenPerTenSeconds, 10);
    // ...when the limit is raised to 20/10s (interval 0.5 s, same 10 s tolerance), the TAT is still
    // 10 s ahead, so the next call needs half a second of recovery.
    const raised = gcraParams({ limit: 20, windowSeconds: 10 });
    expect(gcraStep(tat, T0, raised, true)).toMatchObject({ allowed: false, retryAfterUs: SECOND / 2 });
    expect(gcraStep(tat, T0 + SECOND / 2, raised, true).allowed).toBe(true);

    // Given one call under 10/10s, when the limit drops to 2/10s (interval 5 s), one more call fits.
    const one = arrive(undefined, T0, tenPerTenSeconds, 1).tat;
    const lowered = gcraParams({ limit: 2, windowSeconds: 10 });
    const second = gcraStep(one, T0, lowered, true);
    expect(second).toMatchObject({ allowed: true, remaining: 0 });
    expect(gcraStep(second.tatUs, T0, lowered, true)).toMatchObject({ allowed: false, retryAfterUs: SECOND });
  });

  it('treats a TAT in the past as fully recovered (idle time earns no extra burst)', () => {
    const { outcomes } = arrive(T0 - 3600 * SECOND, T0, tenPerTenSeconds, 11);
    expect(outcomes.filter((o) => o.allowed)).toHaveLength(10);
  });
});
