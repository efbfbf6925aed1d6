/**
 * Errors made before any route runs (by Node's HTTP parser or fastify's router) are
 * application/problem+json with a stable type like every other error, over a real socket.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from './harness.js';
import { listenOnLoopback, rawExchange, type RawResponse } from './real-socket.js';

let h: Harness;
let port: number;

beforeAll(async () => {
  h = await startHarness();
  port = await listenOnLoopback(h);
});
afterAll(async () => h.close());

function expectRawProblem(response: RawResponse, status: number, type: string): Record<string, unknown> {
  expect(response.status, response.raw.slice(0, 300)).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = JSON.parse(response.body) as Record<string, unknown>;
  expect(body.type).toBe(`https://keyledger.dev/problems/${type}`);
  expect(body.status).toBe(status);
  expect(typeof body.title).toBe('string');
  expect(typeof body.detail).toBe('string');
  return body;
}

const get = (path: string, headers = '') => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${headers}\r\n`;

describe('node-level and router errors are problem+json', () => {
  it('431: headers larger than the server accepts', async () => {
    const response = await rawExchange(port, get('/v1/keys', `X-Filler: ${'a'.repeat(20_000)}\r\n`));
    expectRawProblem(response, 431, 'headers-too-large');
  });

  it('414: a path parameter longer than any id', async () => {
    const response = await rawExchange(port, get(`/v1/keys/${'k'.repeat(300)}`, `Authorization: Bearer ${h.rootKey}\r\n`));
    expectRawProblem(response, 414, 'uri-too-long');
  });

  it('400: a URL whose percent-encoding does not decode', async () => {
    const response = await rawExchange(port, get('/v1/keys/%E0%A4%A', `Authorization: Bearer ${h.rootKey}\r\n`));
    expectRawProblem(response, 400, 'malformed-request');
  });

  it('400: a request line that is not HTTP', async () => {
    const response = await rawExchange(port, 'THIS IS NOT HTTP\r\n\r\n');
    expectRawProblem(response, 400, 'malformed-request');
  });

  it('400: a header with an invalid character', async () => {
    const response = await rawExchange(port, get('/healthz', 'X-Bad: a\u0001b\r\n'));
    expectRawProblem(response, 400, 'malformed-request');
  });

  it('404: no such route', async () => {
    const response = await rawExchange(port, get('/nowhere'));
    expectRawProblem(response, 404, 'not-found');
  });
});
