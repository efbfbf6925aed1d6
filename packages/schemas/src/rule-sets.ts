/**
 * Compiled, shared scope and endpoint rules. Keys with the same scopes and endpoint rules (plans
 * make that the common case) share one RuleSet: one copy of the arrays, endpoint patterns split
 * once, and a small memo of requested scopes, instead of splitting strings on every check. The
 * answers are exactly those of scopeCovers / endpointAllows (test/rule-sets.test.ts compares them).
 */
import { scopeCovers } from './scopes.js';

interface CompiledEndpoint {
  /** Upper case, or '*'. */
  method: string;
  segments: readonly string[];
}

/** Requested scopes remembered per rule set; gateways ask for a handful, so this rarely fills. */
const MEMO_LIMIT = 256;

export class RuleSet {
  readonly #compiled: readonly CompiledEndpoint[];
  readonly #memo = new Map<string, boolean>();

  constructor(
    readonly scopes: readonly string[],
    readonly endpoints: readonly string[],
  ) {
    this.#compiled = endpoints.map((rule) => {
      const space = rule.indexOf(' ');
      return { method: rule.slice(0, space), segments: rule.slice(space + 1).split('/') };
    });
  }

  /** grantsScopes(this.scopes, requested). */
  grants(requested: readonly string[] | undefined): boolean {
    if (!requested || requested.length === 0) return true;
    for (let i = 0; i < requested.length; i++) {
      const scope = requested[i] as string;
      let covered = this.#memo.get(scope);
      if (covered === undefined) {
        covered = this.scopes.some((pattern) => scopeCovers(pattern, scope));
        if (this.#memo.size >= MEMO_LIMIT) this.#memo.clear();
        this.#memo.set(scope, covered);
      }
      if (!covered) return false;
    }
    return true;
  }

  /** allowsEndpointOf(this.endpoints, endpoint). */
  allows(endpoint: { method: string; path: string } | undefined): boolean {
    const rules = this.#compiled;
    if (rules.length === 0) return true;
    if (!endpoint) return false;
    // Walks the path's segments in place (no split, no allocation): this runs on every cached verify.
    const path = endpoint.path;
    const query = path.indexOf('?');
    const end = query === -1 ? path.length : query;
    let count = 1;
    for (let start = 0; ; ) {
      let slash = path.indexOf('/', start);
      if (slash === -1 || slash > end) slash = end;
      // A path with dot segments could reach an endpoint no rule allows: refuse it rather than
      // guess (hasDotSegments, on the same segments).
      if (isDotSegment(path, start, slash)) return false;
      if (slash === end) break;
      count++;
      start = slash + 1;
    }
    const given = endpoint.method;
    const method = isUpperAscii(given) ? given : given.toUpperCase();
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i] as CompiledEndpoint;
      if ((rule.method === '*' || rule.method === method) && matches(rule.segments, path, end, count)) return true;
    }
    return false;
  }
}

/** endpointAllows' segment rules, over the segments of `path` up to `end` (`count` of them). */
function matches(pattern: readonly string[], path: string, end: number, count: number): boolean {
  let start = 0;
  for (let i = 0; i < pattern.length; i++) {
    const segment = pattern[i] as string;
    if (segment === '**' && i === pattern.length - 1) return count >= pattern.length - 1;
    if (i >= count) return false;
    let slash = path.indexOf('/', start);
    if (slash === -1 || slash > end) slash = end;
    const length = slash - start;
    if (segment === '*') {
      if (length === 0) return false;
    } else if (length !== segment.length || !path.startsWith(segment, start)) return false;
    start = slash + 1;
  }
  return pattern.length === count;
}

/** hasDotSegments' test for the segment path[start, end); most fail the first-character check. */
const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;
function isDotSegment(path: string, start: number, end: number): boolean {
  const first = path.charCodeAt(start);
  return end - start <= 6 && end > start && (first === 0x2e || first === 0x25) && DOT_SEGMENT.test(path.slice(start, end));
}

function isUpperAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x61 && c <= 0x7a) return false;
    if (c > 0x7f) return false;
  }
  return true;
}

/**
 * Interns rule sets by content, and JSON-like values (meta, limits) with them: equal values come
 * back as one shared, frozen object. Unbounded by design: the distinct sets are few (plans,
 * templates), not one per key; a caller that could see arbitrarily many may `clear()`.
 */
export class RuleSets {
  readonly #sets = new Map<string, RuleSet>();
  readonly #values = new Map<string, unknown>();
  #handedOut = new WeakSet<object>();
  #byScopes = new WeakMap<readonly string[], RuleSet>();
  static readonly #EMPTY = new RuleSet(Object.freeze([]), Object.freeze([]));

  of(scopes: readonly string[], endpoints: readonly string[]): RuleSet {
    if (scopes.length === 0 && endpoints.length === 0) return RuleSets.#EMPTY;
    // The arrays of a set this already handed out (a state carried over) give that set back.
    const known = this.#byScopes.get(scopes);
    if (known !== undefined && known.endpoints === endpoints) return known;
    const id = `${scopes.join('\n')}\u0000${endpoints.join('\n')}`;
    let set = this.#sets.get(id);
    if (set === undefined) {
      set = new RuleSet(Object.freeze([...scopes]), Object.freeze([...endpoints]));
      this.#sets.set(id, set);
      this.#byScopes.set(set.scopes, set);
    }
    return set;
  }

  /** One shared, deeply frozen copy of a JSON value (null stays null). */
  value<T>(value: T): T {
    if (value === null || typeof value !== 'object') return value;
    // A value this already handed out (a state carried over from the previous one) is its own
    // shared copy: no need to serialise it again to find that out.
    if (this.#handedOut.has(value)) return value;
    // Empty lists (permissions, networks) are the common value: their id needs no serialising.
    const id = Array.isArray(value) && value.length === 0 ? '[]' : JSON.stringify(value);
    let shared = this.#values.get(id);
    if (shared === undefined) {
      shared = deepFreeze(JSON.parse(id));
      this.#values.set(id, shared);
      this.#handedOut.add(shared as object);
    }
    return shared as T;
  }

  get size(): number {
    return this.#sets.size + this.#values.size;
  }

  clear(): void {
    this.#sets.clear();
    this.#values.clear();
    this.#handedOut = new WeakSet();
    this.#byScopes = new WeakMap();
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}
