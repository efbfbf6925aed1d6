export * from './limiter.js';
export { gcraParams, gcraStep, usToSecondsCeil, type GcraOutcome, type GcraParams } from './gcra.js';
export { QUOTA_PERIODS, isQuotaPeriod, quotaWindow, quotaWindowSeconds, type QuotaWindow } from './quota-window.js';
export { rateLimitHeaders, type RateLimitHeaderFields } from './rate-limit-headers.js';
export { createMemoryLimiter, type MemoryLimiter, type MemoryLimiterOptions } from './memory-limiter.js';
export { createRedisLimiter, type RedisLimiter, type RedisLimiterOptions } from './redis-limiter.js';
export { withFailurePolicy, type FailurePolicyOptions } from './failure-policy.js';
export {
  MAX_CREDIT_BALANCE,
  creditBalanceAt,
  nextRefillMs,
  openingCreditBalance,
  periodIndex,
  survivesRefill,
  type CreditBalance,
} from './credits.js';
