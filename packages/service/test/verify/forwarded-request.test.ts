/** Reading the original request from a gateway's auth subrequest (pure; given / when / then). */
import { describe, expect, it } from 'vitest';
import {
  clientAddressOf,
  createProxyTrust,
  originalRequestOf,
  presentedKeyOf,
  requiredScopesOf,
} from '../../src/verify/forwarded-request.js';

const trust = createProxyTrust(['127.0.0.1', '10.0.0.0/8', 'fd00::/8']);
const FORWARDED = {
  'x-original-method': 'post',
  'x-original-uri': '/orders?api_key=k1',
  'x-forwarded-method': 'DELETE',
  'x-forwarded-uri': '/ignored-when-x-original-is-there',
  'x-forwarded-for': '203.0.113.9, 10.1.2.3',
};

describe('createProxyTrust', () => {
  it('matches addresses, CIDR ranges and IPv4-mapped IPv6 peers; nothing else', () => {
    expect(trust('127.0.0.1')).toBe(true);
    expect(trust('::ffff:127.0.0.1')).toBe(true);
    expect(trust('10.200.0.1')).toBe(true);
    expect(trust('fd00::1')).toBe(true);
    expect(trust('127.0.0.2')).toBe(false);
    expect(trust('11.0.0.1')).toBe(false);
    expect(trust('::1')).toBe(false);
    expect(trust('not-an-address')).toBe(false);
    expect(trust(undefined)).toBe(false);
    expect(createProxyTrust([])('127.0.0.1')).toBe(false);
  });
});

describe('originalRequestOf', () => {
  it('given a trusted peer, when it sends X-Original-*, then those name the original request and X-Forwarded-For the client', () => {
    const result = originalRequestOf({ peer: '::ffff:127.0.0.1', method: 'GET', suffix: '/', headers: FORWARDED }, trust);
    expect(result).toEqual({ ok: true, request: { method: 'POST', target: '/orders?api_key=k1', clientAddress: '203.0.113.9' } });
  });

  it('given a trusted peer sending only X-Forwarded-* (Caddy, Traefik), then those are used', () => {
    const result = originalRequestOf({ peer: '10.0.0.5', method: 'GET', suffix: '/', headers: { 'x-forwarded-method': 'PATCH', 'x-forwarded-uri': '/a/b' } }, trust);
    expect(result).toEqual({ ok: true, request: { method: 'PATCH', target: '/a/b', clientAddress: '10.0.0.5' } });
  });

  it('given an untrusted peer, when it sends forwarding headers, then they are ignored: its own method and path suffix stand', () => {
    const result = originalRequestOf({ peer: '192.0.2.1', method: 'get', suffix: '/orders/1', headers: FORWARDED }, trust);
    expect(result).toEqual({ ok: true, request: { method: 'GET', target: '/orders/1', clientAddress: '192.0.2.1' } });
  });

  it('given a trusted peer without forwarding headers (Envoy ext_authz), then the subrequest itself stands', () => {
    const result = originalRequestOf({ peer: '127.0.0.1', method: 'DELETE', suffix: '/orders/9', headers: {} }, trust);
    expect(result).toEqual({ ok: true, request: { method: 'DELETE', target: '/orders/9', clientAddress: '127.0.0.1' } });
  });

  it('refuses a forwarded method that is no token and a URI that is no path', () => {
    expect(originalRequestOf({ peer: '127.0.0.1', method: 'GET', suffix: '/', headers: { 'x-original-method': 'GET /x' } }, trust)).toMatchObject({ ok: false });
    expect(originalRequestOf({ peer: '127.0.0.1', method: 'GET', suffix: '/', headers: { 'x-original-uri': 'http://evil/x' } }, trust)).toMatchObject({ ok: false });
    expect(originalRequestOf({ peer: '127.0.0.1', method: 'GET', suffix: '/', headers: { 'x-original-uri': `/${'a'.repeat(2048)}` } }, trust)).toMatchObject({ ok: false });
  });
});

describe('clientAddressOf', () => {
  it('takes the rightmost entry that is not a trusted proxy; entries left of it are the client\'s word', () => {
    expect(clientAddressOf({ 'x-forwarded-for': '1.1.1.1, 203.0.113.9, 10.0.0.1, 127.0.0.1' }, trust)).toBe('203.0.113.9');
    expect(clientAddressOf({ 'x-forwarded-for': ['1.1.1.1', '198.51.100.4'] }, trust)).toBe('198.51.100.4');
    expect(clientAddressOf({ 'x-forwarded-for': 'garbage' }, trust)).toBeNull();
    expect(clientAddressOf({}, trust)).toBeNull();
  });
});

describe('presentedKeyOf', () => {
  const all = [{ from: 'bearer' as const }, { from: 'header' as const, name: 'x-api-key' }, { from: 'query' as const, name: 'api_key' }];
  it('reads the first configured source that holds a key', () => {
    expect(presentedKeyOf(all, { authorization: 'Bearer k1', 'x-api-key': 'k2' }, '/?api_key=k3')).toBe('k1');
    expect(presentedKeyOf(all, { authorization: 'Basic abc', 'x-api-key': ' k2 ' }, '/?api_key=k3')).toBe('k2');
    expect(presentedKeyOf(all, {}, '/orders?x=1&api_key=k%333')).toBe('k33');
    expect(presentedKeyOf(all, {}, '/orders')).toBeUndefined();
  });
  it('reads only the configured sources', () => {
    expect(presentedKeyOf([{ from: 'query', name: 'api_key' }], { authorization: 'Bearer k1' }, '/')).toBeUndefined();
  });
});

describe('requiredScopesOf', () => {
  const map = [
    { rule: 'GET /orders/**', scopes: ['orders:read'] },
    { rule: '* /orders/*/refunds', scopes: ['refunds:write', 'orders:read'] },
  ];
  it('every matching rule adds its scopes; an unmatched request needs none', () => {
    expect(requiredScopesOf(map, 'GET', '/orders/1')).toEqual(['orders:read']);
    expect(requiredScopesOf(map, 'POST', '/orders/1/refunds')).toEqual(['refunds:write', 'orders:read']);
    expect(requiredScopesOf(map, 'GET', '/orders/1/refunds')).toEqual(['orders:read', 'refunds:write']);
    expect(requiredScopesOf(map, 'GET', '/health')).toEqual([]);
  });
  it('a path with dot segments needs what no key can show (null)', () => {
    expect(requiredScopesOf(map, 'GET', '/public/../orders/1')).toBeNull();
    expect(requiredScopesOf([], 'GET', '/a/%2E/b')).toBeNull();
  });
});
