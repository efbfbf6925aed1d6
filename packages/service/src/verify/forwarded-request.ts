/**
 * What a gateway's auth subrequest says about the original request: its method and target, the
 * client's address and the presented key. nginx (auth_request) sends X-Original-Method /
 * X-Original-URI, Caddy (forward_auth) and Traefik (ForwardAuth) send X-Forwarded-Method /
 * X-Forwarded-Uri, Envoy (ext_authz, HTTP) keeps the method and appends the original path to the
 * auth path. Forwarding headers are believed only from a trusted proxy address; otherwise the
 * subrequest's own method and path suffix stand for the original, so a forged header changes
 * nothing. Pure functions: no I/O, given/when/then tests in test/verify/forwarded-request.test.ts.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { endpointAllows, hasDotSegments } from '@keyledger/schemas';
import type { KeySource } from '../config/config.js';

type Headers = Record<string, string | string[] | undefined>;

export interface OriginalRequest {
  method: string;
  /** Path and query, as the client sent it. */
  target: string;
  /** The client's address: from X-Forwarded-For when a trusted proxy sent it, else the peer. */
  clientAddress: string | null;
}

export type ProxyTrust = (address: string | undefined) => boolean;

/** A matcher for addresses and CIDR ranges; IPv4-mapped IPv6 peers (::ffff:a.b.c.d) count as IPv4. */
export function createProxyTrust(ranges: readonly string[]): ProxyTrust {
  const list = new BlockList();
  for (const range of ranges) {
    const [address = '', bits] = range.split('/');
    const type = isIPv6(address) ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(bits), type);
  }
  return (address) => {
    if (address === undefined) return false;
    const plain = unmapped(address);
    if (isIPv4(plain)) return list.check(plain, 'ipv4');
    return isIPv6(plain) && list.check(plain, 'ipv6');
  };
}

function unmapped(address: string): string {
  return address.toLowerCase().startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
}

const METHOD = /^[A-Za-z]{1,16}$/;
const MAX_TARGET = 2048;

export interface SubrequestFacts {
  /** The direct peer of this connection (the gateway, if anyone). */
  peer: string | undefined;
  /** The subrequest's own method. */
  method: string;
  /** What follows the forward-auth path in the subrequest ('/' when nothing does). */
  suffix: string;
  headers: Headers;
}

export type OriginalRequestResult = { ok: true; request: OriginalRequest } | { ok: false; problem: string };

/** Reads the original request from a subrequest, believing forwarding headers only from `trust`. */
export function originalRequestOf(facts: SubrequestFacts, trust: ProxyTrust): OriginalRequestResult {
  const peer = facts.peer === undefined ? null : unmapped(facts.peer);
  if (!trust(facts.peer)) {
    return { ok: true, request: { method: facts.method.toUpperCase(), target: facts.suffix, clientAddress: peer } };
  }
  const method = first(facts.headers['x-original-method']) ?? first(facts.headers['x-forwarded-method']) ?? facts.method;
  const target = first(facts.headers['x-original-uri']) ?? first(facts.headers['x-forwarded-uri']) ?? facts.suffix;
  if (!METHOD.test(method)) return { ok: false, problem: 'the forwarded method is not an HTTP method token' };
  if (!target.startsWith('/') || target.length > MAX_TARGET) {
    return { ok: false, problem: `the forwarded URI must be a path starting with / of at most ${MAX_TARGET} characters` };
  }
  return { ok: true, request: { method: method.toUpperCase(), target, clientAddress: clientAddressOf(facts.headers, trust) ?? peer } };
}

/**
 * The rightmost X-Forwarded-For entry that is not itself a trusted proxy: entries to its left
 * were written by the client and prove nothing.
 */
export function clientAddressOf(headers: Headers, trust: ProxyTrust): string | null {
  const value = headers['x-forwarded-for'];
  const entries = (Array.isArray(value) ? value.join(',') : value ?? '').split(',').map((entry) => entry.trim()).filter(Boolean);
  for (let i = entries.length - 1; i >= 0; i--) {
    const entry = entries[i]!;
    if (!trust(entry)) return isIPv4(unmapped(entry)) || isIPv6(entry) ? unmapped(entry) : null;
  }
  return null;
}

/** The consumer's key from the first configured source that holds one. */
export function presentedKeyOf(sources: readonly KeySource[], headers: Headers, target: string): string | undefined {
  for (const source of sources) {
    if (source.from === 'bearer') {
      const match = /^Bearer[ ]+(\S+)\s*$/i.exec(first(headers.authorization) ?? '');
      if (match) return match[1];
    } else if (source.from === 'header') {
      const value = first(headers[source.name])?.trim();
      if (value) return value;
    } else {
      const query = target.indexOf('?');
      if (query === -1) continue;
      const value = new URLSearchParams(target.slice(query + 1)).get(source.name)?.trim();
      if (value) return value;
    }
  }
  return undefined;
}

/**
 * The scopes a request needs: every rule of the route-to-scope map that matches it adds its
 * scopes. null when the path holds dot segments, since then no rule can say where it leads.
 */
export function requiredScopesOf(map: readonly { rule: string; scopes: readonly string[] }[], method: string, path: string): string[] | null {
  if (hasDotSegments(path)) return null;
  const needed = new Set<string>();
  for (const { rule, scopes } of map) if (endpointAllows(rule, method, path)) for (const scope of scopes) needed.add(scope);
  return [...needed];
}

export function pathOf(target: string): string {
  const query = target.indexOf('?');
  return query === -1 ? target : target.slice(0, query);
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
