import { describe, expect, it } from 'vitest';
import { endpointAllows } from '../src/index.js';

type Case = [rule: string, method: string, path: string, allowed: boolean];

const check = (cases: Case[]) =>
  it.each(cases)('%s allows %s %s: %s', (rule, method, path, allowed) => {
    expect(endpointAllows(rule, method, path)).toBe(allowed);
  });

describe('endpointAllows: one-segment wildcard', () => {
  check([
    ['GET /orders/*', 'GET', '/orders/1', true],
    ['GET /orders/*', 'GET', '/orders/abc-123', true],
    ['GET /orders/*', 'GET', '/orders/1/items', false],
    ['GET /orders/*', 'GET', '/orders/', false],
    ['GET /orders/*', 'GET', '/orders', false],
    ['GET /orders/*', 'GET', '/orders/1/', false],
    ['GET /orders/*', 'GET', '/ordersX/1', false],
    ['GET /orders/*', 'GET', '/orders//1', false],
    ['GET /orders/*', 'GET', 'orders/1', false],
    ['GET /orders/*/items', 'GET', '/orders/1/items', true],
    ['GET /orders/*/items', 'GET', '/orders//items', false],
    ['GET /orders/*/items', 'GET', '/orders/1/items/2', false],
  ]);
});

describe('endpointAllows: exact paths', () => {
  check([
    ['POST /orders', 'POST', '/orders', true],
    ['POST /orders', 'POST', '/orders/', false],
    ['POST /orders', 'POST', '/Orders', false],
    ['GET /', 'GET', '/', true],
    ['GET /', 'GET', '/x', false],
    ['GET /', 'GET', '', false],
  ]);
});

describe('endpointAllows: query strings are ignored', () => {
  check([
    ['GET /orders/*', 'GET', '/orders/1?expand=items', true],
    ['GET /orders/*', 'GET', '/orders/1?next=/orders/1/items', true],
    ['GET /orders/*', 'GET', '/orders/?id=1', false],
    ['POST /orders', 'POST', '/orders?', true],
    ['GET /orders/*', 'GET', '/orders/1/items?x=1', false],
  ]);
});

describe('endpointAllows: trailing ** and any method', () => {
  check([
    ['* /public/**', 'GET', '/public/a', true],
    ['* /public/**', 'DELETE', '/public/a/b/c', true],
    ['* /public/**', 'POST', '/public/', true],
    // `/public/**` also covers `/public` itself, as in most router glob syntaxes.
    ['* /public/**', 'GET', '/public', true],
    ['* /public/**', 'GET', '/publicity', false],
    ['* /public/**', 'GET', '/publi', false],
    ['* /public/**', 'GET', '/', false],
    ['* /public/**', 'GET', '/private/public/a', false],
    ['* /**', 'PUT', '/anything/at/all', true],
    ['GET /v1/**', 'POST', '/v1/x', false],
  ]);
});

describe('endpointAllows: method case', () => {
  check([
    ['GET /orders/*', 'get', '/orders/1', true],
    ['GET /orders/*', 'Get', '/orders/1', true],
    ['GET /orders/*', 'POST', '/orders/1', false],
    ['GET /orders/*', 'GETX', '/orders/1', false],
    ['HEAD /orders/*', 'GET', '/orders/1', false],
    ['* /orders/*', 'purge', '/orders/1', true],
  ]);
});

describe('endpointAllows: dot segments never match (they may resolve elsewhere upstream)', () => {
  check([
    ['* /public/**', 'GET', '/public/../admin', false],
    ['* /public/**', 'GET', '/public/%2e%2e/admin', false],
    ['* /public/**', 'GET', '/public/%2E./admin', false],
    ['* /public/**', 'GET', '/public/./a', false],
    ['GET /orders/*', 'GET', '/orders/..', false],
    ['GET /orders/*', 'GET', '/orders/.', false],
    // Dots inside a segment are ordinary characters.
    ['GET /files/*', 'GET', '/files/report.v2.pdf', true],
    ['* /public/**', 'GET', '/public/...', true],
  ]);
});
