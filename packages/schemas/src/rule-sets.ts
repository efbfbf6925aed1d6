/**
 * Compiled, shared scope and endpoint rules. Keys with the same scopes and endpoint rules (plans
 * make that the common case) share one RuleSet: one copy of the arrays, endpoint patterns split
 * once, and a small memo of requested scopes, instead of splitting strings on every check. The
 * answers are exactly those of scopeCovers / endpointAllows (test/rule-sets.test.ts compares them).
 */
import { hasDotSegments, scopeCovers } from './scopes.js';

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
    const path = endpoint.path;
    // A path with dot segments could reach an endpoint no rule allows: refuse it rather than guess.
    if (hasDotSegments(path)) return false;
    const query = path.indexOf('?');
    const actual = (query === -1 ? path : path.slice(0, query)).split('/');
    const method = endpoint.method.toUpperCase();
    for (const rule of rules) if ((rule.method === '*' || rule.method === method) && matches(rule.segments, actual)) return true;
    return false;
  }
}

function matches(pattern: readonly string[], actual: readonly string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const segment = pattern[i];
    if (segment === '**' && i === pattern.length - 1) return actual.length >= pattern.length - 1;
    if (i >= actual.length) return false;
    if (segment !== '*' && segment !== actual[i]) return false;
    if (segment === '*' && actual[i] === '') return false;
  }
  return pattern.length === actual.length;
}

/**
 * Interns rule sets by content, and JSON-like values (meta, limits) with them: equal values come
 * back as one shared, frozen object. Unbounded by design: the distinct sets are few (plans,
 * templates), not one per key; a caller that could see arbitrarily many may `clear()`.
 */
export class RuleSets {
  readonly #sets = new Map<string, RuleSet>();
  readonly #values = new Map<string, unknown>();
  static readonly #EMPTY = new RuleSet(Object.freeze([]), Object.freeze([]));

  of(scopes: readonly string[], endpoints: readonly string[]): RuleSet {
    if (scopes.length === 0 && endpoints.length === 0) return RuleSets.#EMPTY;
    const id = `${scopes.join('\n')}\u0000${endpoints.join('\n')}`;
    let set = this.#sets.get(id);
    if (set === undefined) {
      set = new RuleSet(Object.freeze([...scopes]), Object.freeze([...endpoints]));
      this.#sets.set(id, set);
    }
    return set;
  }

  /** One shared, deeply frozen copy of a JSON value (null stays null). */
  value<T>(value: T): T {
    if (value === null || typeof value !== 'object') return value;
    const id = JSON.stringify(value);
    let shared = this.#values.get(id);
    if (shared === undefined) {
      shared = deepFreeze(JSON.parse(id));
      this.#values.set(id, shared);
    }
    return shared as T;
  }

  get size(): number {
    return this.#sets.size + this.#values.size;
  }

  clear(): void {
    this.#sets.clear();
    this.#values.clear();
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}
