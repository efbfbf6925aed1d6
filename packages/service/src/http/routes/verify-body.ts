/**
 * A hand-compiled validator for the POST /v1/verify body: the zod `VerifyRequest` schema stays
 * the source of truth (the OpenAPI document and every error message come from it), this only
 * answers the common case faster. A body it can prove valid is returned as zod would return it
 * (same keys, `cost` defaulted to 1); anything else, however slightly unusual, goes to zod, so a
 * refused body gets zod's exact 400. The equivalence is tested in test/http/verify-body.test.ts.
 */
import type { VerifyRequest } from '@keyledger/schemas';
import type { FastifySchemaCompiler } from 'fastify';
import { validatorCompiler } from 'fastify-type-provider-zod';

/** The `Scope` pattern of packages/schemas/src/scopes.ts (same regex, same 128 limit). */
const SCOPE = /^(\*|[a-z0-9][a-z0-9_.-]*)(:(\*|[a-z0-9][a-z0-9_.-]*))*$/;
const MAX_KEY = 16_384;
const MAX_SCOPES = 50;
const MAX_SCOPE = 128;
const MAX_COST = 1_000_000;

/** The parsed body when it is certainly valid, else undefined (zod decides). */
export function fastVerifyBody(data: unknown): VerifyRequest | undefined {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return undefined;
  const body = data as Record<string, unknown>;
  let known = 0;
  const key = body.key;
  if (typeof key !== 'string' || key.length > MAX_KEY) return undefined;
  known++;
  const scopes = body.scopes;
  if (scopes !== undefined) {
    if (!Array.isArray(scopes) || scopes.length > MAX_SCOPES) return undefined;
    for (let i = 0; i < scopes.length; i++) {
      const scope = scopes[i];
      if (typeof scope !== 'string' || scope.length > MAX_SCOPE || !SCOPE.test(scope)) return undefined;
    }
    known++;
  } else if ('scopes' in body) return undefined;
  const endpoint = body.endpoint;
  if (endpoint !== undefined) {
    if (typeof endpoint !== 'object' || endpoint === null || Array.isArray(endpoint)) return undefined;
    const { method, path } = endpoint as Record<string, unknown>;
    if (typeof method !== 'string' || method.length < 1 || method.length > 16) return undefined;
    if (typeof path !== 'string' || path.length < 1 || path.length > 2048) return undefined;
    if (Object.keys(endpoint).length !== 2) return undefined;
    known++;
  } else if ('endpoint' in body) return undefined;
  let cost = body.cost;
  if (cost !== undefined) {
    if (typeof cost !== 'number' || !Number.isSafeInteger(cost) || cost < 0 || cost > MAX_COST) return undefined;
    known++;
  } else if ('cost' in body) return undefined;
  else cost = 1;
  // strict(): any other property is zod's to refuse.
  if (Object.keys(body).length !== known) return undefined;
  const value: VerifyRequest = { key, cost: cost as number };
  if (scopes !== undefined) value.scopes = scopes as string[];
  if (endpoint !== undefined) {
    const e = endpoint as { method: string; path: string };
    value.endpoint = { method: e.method, path: e.path };
  }
  return value;
}

/** The route's validator compiler: the fast path for the body, zod for everything else. */
export const verifyValidatorCompiler: FastifySchemaCompiler<unknown> = (route) => {
  const zod = validatorCompiler(route as Parameters<typeof validatorCompiler>[0]);
  if (route.httpPart !== 'body') return zod;
  return (data: unknown) => {
    const value = fastVerifyBody(data);
    return value === undefined ? zod(data) : { value };
  };
};
