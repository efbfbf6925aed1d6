import { z } from 'zod';

export const RateLimit = z
  .object({
    limit: z.int().min(1).max(1_000_000_000),
    windowSeconds: z.int().min(1).max(86_400 * 366),
    burst: z.int().min(1).max(1_000_000_000).optional(),
  })
  .strict()
  .meta({ id: 'RateLimit', description: '`limit` requests per `windowSeconds` (GCRA); `burst` may arrive at once (default: limit)' });

export const QuotaPeriod = z.enum(['minute', 'hour', 'day', 'month']).meta({ id: 'QuotaPeriod' });

export const Quota = z
  .object({ limit: z.int().min(0).max(1_000_000_000_000), period: QuotaPeriod })
  .strict()
  .meta({ id: 'Quota', description: 'At most `limit` units per calendar `period` (UTC); each verify consumes its `cost`' });

export type RateLimit = z.infer<typeof RateLimit>;
export type Quota = z.infer<typeof Quota>;
export type QuotaPeriod = z.infer<typeof QuotaPeriod>;
