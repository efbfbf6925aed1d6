import { z } from 'zod';

/**
 * A scope is colon-separated segments such as `orders:read`; a granted scope may use `*` for a
 * whole segment (`orders:*`), and a trailing `*` segment also matches deeper scopes.
 */
export const Scope = z
  .string()
  .max(128)
  .regex(/^(\*|[a-z0-9][a-z0-9_.-]*)(:(\*|[a-z0-9][a-z0-9_.-]*))*$/, 'must be colon-separated lowercase segments, e.g. orders:read or orders:*')
  .meta({ id: 'Scope', description: 'e.g. orders:read, orders:*' });

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', '*'] as const;

/**
 * An endpoint rule restricts which endpoints a key may call: `<METHOD> <path pattern>` where a
 * `*` path segment matches one segment and a final `**` matches any rest, e.g. `GET /orders/*`.
 */
export const EndpointRule = z
  .string()
  .max(256)
  .regex(
    /^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|\*) \/([A-Za-z0-9._~!$&'()+,;=:@%-]+|\*|\*\*)?(\/([A-Za-z0-9._~!$&'()+,;=:@%-]+|\*|\*\*))*$/,
    'must be "<METHOD> <path>", e.g. "GET /orders/*" (METHOD may be *, path segments may be * or a final **)',
  )
  .refine((rule) => !/\*\*./.test(rule.slice(rule.indexOf(' ') + 1)), '** may only be the last path segment')
  .meta({ id: 'EndpointRule', description: 'e.g. "GET /orders/*" or "* /public/**"' });

export type Scope = z.infer<typeof Scope>;
export type EndpointRule = z.infer<typeof EndpointRule>;

/** True when a granted scope pattern covers a requested concrete scope. */
export function scopeCovers(granted: string, requested: string): boolean {
  if (granted === requested || granted === '*') return true;
  const g = granted.split(':');
  const r = requested.split(':');
  for (let i = 0; i < g.length; i++) {
    const segment = g[i];
    if (segment === '*' && i === g.length - 1) return r.length >= g.length;
    if (i >= r.length) return false;
    if (segment !== '*' && segment !== r[i]) return false;
  }
  return g.length === r.length;
}

/** `.` and `..` path segments, also percent-encoded (`%2e`, `.%2E`, ...). */
const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;

/**
 * True when a path holds `.` or `..` segments (also percent-encoded). The upstream may resolve
 * them (`/public/../admin` is `/admin`), so no rule can tell where such a path really goes.
 */
export function hasDotSegments(path: string): boolean {
  const query = path.indexOf('?');
  return (query === -1 ? path : path.slice(0, query)).split('/').some((segment) => DOT_SEGMENT.test(segment));
}

/** True when an endpoint rule allows a request with this method and path. */
export function endpointAllows(rule: string, method: string, path: string): boolean {
  const space = rule.indexOf(' ');
  const ruleMethod = rule.slice(0, space);
  if (ruleMethod !== '*' && ruleMethod !== method.toUpperCase()) return false;
  const pattern = rule.slice(space + 1).split('/');
  // A path with dot segments could reach an endpoint no rule allows: refuse it rather than guess.
  if (hasDotSegments(path)) return false;
  const query = path.indexOf('?');
  const actual = (query === -1 ? path : path.slice(0, query)).split('/');
  for (let i = 0; i < pattern.length; i++) {
    const segment = pattern[i];
    if (segment === '**' && i === pattern.length - 1) return actual.length >= pattern.length - 1;
    if (i >= actual.length) return false;
    if (segment !== '*' && segment !== actual[i]) return false;
    if (segment === '*' && actual[i] === '') return false;
  }
  return pattern.length === actual.length;
}
