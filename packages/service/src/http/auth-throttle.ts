/**
 * Slows down guessing: failed authentications are counted per source address with a token bucket
 * (a burst of `burst` failures, refilled at `perMinute`). Once an address has spent its bucket,
 * every authentication attempt from it is answered 429 until a token is back, before the
 * credential is even looked at, so a valid guess is indistinguishable from an invalid one while
 * throttled. Successful authentications cost nothing, so a gateway with a good key is never slowed.
 *
 * Memory is bounded: at most `maxAddresses` buckets; when full, the oldest are dropped (a full
 * bucket is the default state, so dropping one only forgives an address).
 */
export interface AuthThrottleOptions {
  burst: number;
  perMinute: number;
  maxAddresses?: number;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

export class AuthFailureThrottle {
  readonly #buckets = new Map<string, Bucket>();
  readonly #max: number;

  constructor(private readonly options: AuthThrottleOptions) {
    this.#max = options.maxAddresses ?? 10_000;
  }

  /** Seconds until `address` may try again; 0 when it may now. */
  retryAfterSeconds(address: string, nowMs: number): number {
    const bucket = this.#buckets.get(address);
    if (bucket === undefined) return 0;
    const tokens = this.#refill(bucket, nowMs);
    if (tokens >= 1) return 0;
    return Math.max(1, Math.ceil(((1 - tokens) * 60) / this.options.perMinute));
  }

  /** Spends one token; `throttledNow` is true for the failure that emptied the bucket. */
  recordFailure(address: string, nowMs: number): { throttledNow: boolean } {
    let bucket = this.#buckets.get(address);
    if (bucket === undefined) {
      if (this.#buckets.size >= this.#max) this.#buckets.delete(this.#buckets.keys().next().value as string);
      bucket = { tokens: this.options.burst, updatedAt: nowMs };
      this.#buckets.set(address, bucket);
    }
    bucket.tokens = this.#refill(bucket, nowMs) - 1;
    bucket.updatedAt = nowMs;
    return { throttledNow: bucket.tokens < 1 && bucket.tokens >= 0 };
  }

  #refill(bucket: Bucket, nowMs: number): number {
    const elapsedMinutes = Math.max(0, nowMs - bucket.updatedAt) / 60_000;
    return Math.min(this.options.burst, bucket.tokens + elapsedMinutes * this.options.perMinute);
  }
}
