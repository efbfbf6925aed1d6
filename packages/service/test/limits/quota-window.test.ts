import { describe, expect, it } from 'vitest';
import { InvalidLimitRequestError } from '../../src/limits/limiter.js';
import { assertQuotaPeriod, quotaWindow, quotaWindowSeconds } from '../../src/limits/quota-window.js';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();
const windowOf = (period: Parameters<typeof quotaWindow>[0], instant: string) => {
  const w = quotaWindow(period, at(instant));
  return [iso(w.startMs), iso(w.endMs)];
};

describe('quotaWindow', () => {
  it('minute, hour and day windows are aligned to UTC', () => {
    expect(windowOf('minute', '2026-03-14T15:09:26.535Z')).toEqual(['2026-03-14T15:09:00.000Z', '2026-03-14T15:10:00.000Z']);
    expect(windowOf('hour', '2026-03-14T15:09:26.535Z')).toEqual(['2026-03-14T15:00:00.000Z', '2026-03-14T16:00:00.000Z']);
    expect(windowOf('day', '2026-03-14T15:09:26.535Z')).toEqual(['2026-03-14T00:00:00.000Z', '2026-03-15T00:00:00.000Z']);
  });

  it('an instant on a boundary belongs to the window it starts; the last millisecond to the one before', () => {
    expect(windowOf('minute', '2026-03-14T15:10:00.000Z')[0]).toBe('2026-03-14T15:10:00.000Z');
    expect(windowOf('minute', '2026-03-14T15:09:59.999Z')[0]).toBe('2026-03-14T15:09:00.000Z');
    expect(windowOf('day', '2026-12-31T23:59:59.999Z')).toEqual(['2026-12-31T00:00:00.000Z', '2027-01-01T00:00:00.000Z']);
  });

  it('month windows run from the 1st to the 1st, rolling December into January', () => {
    expect(windowOf('month', '2026-12-31T23:59:59.999Z')).toEqual(['2026-12-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z']);
    expect(windowOf('month', '2027-01-01T00:00:00.000Z')).toEqual(['2027-01-01T00:00:00.000Z', '2027-02-01T00:00:00.000Z']);
    expect(windowOf('month', '2026-06-15T12:00:00.000Z')).toEqual(['2026-06-01T00:00:00.000Z', '2026-07-01T00:00:00.000Z']);
  });

  it('February has 29 days in leap years (2024, 2000) and 28 otherwise (2026, 2100)', () => {
    expect(windowOf('month', '2024-02-29T23:00:00.000Z')).toEqual(['2024-02-01T00:00:00.000Z', '2024-03-01T00:00:00.000Z']);
    expect(quotaWindowSeconds('month', at('2024-02-10T00:00:00Z'))).toBe(29 * 86_400);
    expect(quotaWindowSeconds('month', at('2000-02-10T00:00:00Z'))).toBe(29 * 86_400);
    expect(quotaWindowSeconds('month', at('2026-02-10T00:00:00Z'))).toBe(28 * 86_400);
    expect(quotaWindowSeconds('month', at('2100-02-10T00:00:00Z'))).toBe(28 * 86_400);
    expect(quotaWindowSeconds('month', at('2026-04-10T00:00:00Z'))).toBe(30 * 86_400);
    expect(quotaWindowSeconds('month', at('2026-01-10T00:00:00Z'))).toBe(31 * 86_400);
  });

  it('window lengths of the fixed periods', () => {
    expect(quotaWindowSeconds('minute', 0)).toBe(60);
    expect(quotaWindowSeconds('hour', 0)).toBe(3600);
    expect(quotaWindowSeconds('day', 0)).toBe(86_400);
  });

  it('rejects an unknown period with a typed error', () => {
    expect(() => assertQuotaPeriod('week')).toThrow(InvalidLimitRequestError);
    expect(() => assertQuotaPeriod('week')).toThrow(/quota\.period/);
  });
});
