import { z } from 'zod';

/** RFC 9457 problem details; every non-2xx response of keyledger has this shape. */
export const Problem = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.int(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    /** For validation errors: each failing field path and why. */
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    /** For conflicts: the revision the caller expected and the actual one. */
    expectedRevision: z.union([z.int(), z.string()]).optional(),
    actualRevision: z.int().optional(),
    /** For refusals by a domain rule: the rule's stable name (e.g. consumer-not-approved). */
    rule: z.string().optional(),
    /** For a command written but not yet applied by the answering instance (503): it IS in the ledger. */
    written: z.boolean().optional(),
    /** The ledger checkpoint the problem is about (e.g. of the written command). */
    checkpoint: z.string().optional(),
    /** Where the affected resource can be read. */
    resource: z.string().optional(),
  })
  .meta({ id: 'Problem' });
export type Problem = z.infer<typeof Problem>;

/** Stable problem type URIs; clients switch on these, never on titles. */
export const PROBLEM_TYPES = {
  validation: 'https://keyledger.dev/problems/validation',
  malformedBody: 'https://keyledger.dev/problems/malformed-body',
  bodyTooLarge: 'https://keyledger.dev/problems/body-too-large',
  unsupportedMediaType: 'https://keyledger.dev/problems/unsupported-media-type',
  unauthorized: 'https://keyledger.dev/problems/unauthorized',
  forbidden: 'https://keyledger.dev/problems/forbidden',
  notFound: 'https://keyledger.dev/problems/not-found',
  methodNotAllowed: 'https://keyledger.dev/problems/method-not-allowed',
  keyRevoked: 'https://keyledger.dev/problems/key-revoked',
  invalidTransition: 'https://keyledger.dev/problems/invalid-transition',
  lastAdminKey: 'https://keyledger.dev/problems/last-admin-key',
  ruleViolated: 'https://keyledger.dev/problems/rule-violated',
  gone: 'https://keyledger.dev/problems/gone',
  conflict: 'https://keyledger.dev/problems/conflict',
  preconditionFailed: 'https://keyledger.dev/problems/precondition-failed',
  idempotencyMismatch: 'https://keyledger.dev/problems/idempotency-key-reused',
  idempotencyInFlight: 'https://keyledger.dev/problems/idempotency-key-in-flight',
  rateLimited: 'https://keyledger.dev/problems/rate-limited',
  quotaExceeded: 'https://keyledger.dev/problems/quota-exceeded',
  creditsExhausted: 'https://keyledger.dev/problems/credits-exhausted',
  invalidKey: 'https://keyledger.dev/problems/invalid-key',
  unavailable: 'https://keyledger.dev/problems/unavailable',
  notYetApplied: 'https://keyledger.dev/problems/written-not-yet-applied',
  secretWithheld: 'https://keyledger.dev/problems/secret-withheld',
  /** Node-level refusals, before any route runs: a request line or header the server cannot take. */
  malformedRequest: 'https://keyledger.dev/problems/malformed-request',
  uriTooLong: 'https://keyledger.dev/problems/uri-too-long',
  headersTooLarge: 'https://keyledger.dev/problems/headers-too-large',
  requestTimeout: 'https://keyledger.dev/problems/request-timeout',
  internal: 'https://keyledger.dev/problems/internal',
} as const;
export type ProblemType = (typeof PROBLEM_TYPES)[keyof typeof PROBLEM_TYPES];
