/**
 * A fastify instance with keyledger's server bounds and error answers, shared by the main app
 * and the separate metrics listener.
 *
 * Bounds: a client has headersTimeoutMs to send its headers and requestTimeoutMs for the whole
 * request (a trickled body is cut with 408), keepAliveTimeoutMs of idle between requests,
 * connectionTimeoutMs of socket inactivity, and the server holds at most maxConnections sockets
 * (further ones are closed by Node at accept).
 *
 * Errors: every non-2xx answer is application/problem+json with a stable type, including those
 * made before any route runs (bad request line, oversized headers, timeouts, a URL that does not
 * decode, a path parameter over the length limit, no such route).
 */
import { type Server, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { PROBLEM_TYPES, type Problem } from '@keyledger/schemas';
import Fastify, { type FastifyError, type FastifyReply, type FastifyRequest, type FastifyServerOptions, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { problemFor, sendProblem } from './problem.js';

export type HttpServerLimits = Config['http'];

/** How often Node looks for requests past their headers/request timeout (its default is 30 s). */
const TIMEOUT_CHECK_INTERVAL_MS = 1_000;

export interface CreateFastifyOptions {
  logger: Logger | false;
  limits?: HttpServerLimits;
  /** Extra fastify options (body limit, request ids, router). */
  fastify?: FastifyServerOptions;
}

export function createFastify(options: CreateFastifyOptions) {
  const limits = options.limits;
  const app = Fastify({
    ...options.fastify,
    ...(options.logger === false ? { logger: false } : { loggerInstance: options.logger }),
    // Per-request log lines would dominate the verify path; errors are logged by the error handler instead.
    logController: new LogController({ disableRequestLogging: true }),
    ...(limits
      ? {
          requestTimeout: limits.requestTimeoutMs,
          keepAliveTimeout: limits.keepAliveTimeoutMs,
          connectionTimeout: limits.connectionTimeoutMs,
          http: {
            headersTimeout: limits.headersTimeoutMs,
            requestTimeout: limits.requestTimeoutMs,
            connectionsCheckingInterval: Math.min(TIMEOUT_CHECK_INTERVAL_MS, limits.headersTimeoutMs),
          },
        }
      : {}),
    clientErrorHandler: answerClientError,
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      const instance = request.url.split('?')[0];
      if (error.code === 'FST_ERR_BAD_URL') {
        return sendProblem(reply, {
          type: PROBLEM_TYPES.malformedRequest,
          title: 'Malformed URL',
          status: 400,
          detail: 'the URL path does not decode (bad percent-encoding)',
        });
      }
      if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
        return sendProblem(reply, {
          type: PROBLEM_TYPES.uriTooLong,
          title: 'URI too long',
          status: 414,
          detail: 'a path segment is longer than any identifier keyledger accepts',
        });
      }
      const { problem } = problemFor(error, request);
      request.log.error({ err: error, requestId: request.id }, 'request failed before routing');
      return sendProblem(reply, { ...problem, instance });
    },
    return503OnClosing: true,
  });
  if (limits) {
    app.server.maxConnections = limits.maxConnections;
    logDroppedConnections(app.server, app.log as unknown as Logger, limits.maxConnections);
  }

  app.setErrorHandler((error, request, reply) => {
    const { problem, internal, headers } = problemFor(error, request);
    if (internal) request.log.error({ err: error, requestId: request.id }, 'request failed');
    else request.log.debug({ status: problem.status, type: problem.type, requestId: request.id }, 'request rejected');
    return sendProblem(reply, problem, headers);
  });

  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, {
      type: PROBLEM_TYPES.notFound,
      title: 'Not found',
      status: 404,
      detail: `no route ${request.method} ${request.url.split('?')[0]}`,
      instance: request.url.split('?')[0],
    }),
  );
  return app;
}

/** Node closes connections past the cap silently; say so in the log, at most every 10 s. */
function logDroppedConnections(server: Server, logger: Logger, maxConnections: number): void {
  let dropped = 0;
  let lastLog = 0;
  server.on('drop', () => {
    dropped++;
    const now = Date.now();
    if (now - lastLog < 10_000) return;
    lastLog = now;
    logger.warn({ dropped, maxConnections }, 'connections refused: KEYLEDGER_MAX_CONNECTIONS reached');
    dropped = 0;
  });
}

/**
 * Node's `clientError`: the request could not be parsed or did not arrive in time, so no route
 * (and no fastify reply) exists. Answered on the raw socket, then the connection is closed.
 */
function answerClientError(this: { log: Logger }, error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const problem = clientErrorProblem(error);
  this.log.debug({ code: error.code, status: problem.status }, 'client error');
  // Node's rule: no answer when a response on this socket has already begun.
  const pending = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (!socket.writable || pending?.headersSent) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(problem);
  socket.end(
    `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}\r\n` +
      'Content-Type: application/problem+json\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}

function clientErrorProblem(error: NodeJS.ErrnoException): Problem {
  switch (error.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return {
        type: PROBLEM_TYPES.requestTimeout,
        title: 'Request timeout',
        status: 408,
        detail: 'the request (headers and body) did not arrive in time',
      };
    case 'HPE_HEADER_OVERFLOW':
      return {
        type: PROBLEM_TYPES.headersTooLarge,
        title: 'Request header fields too large',
        status: 431,
        detail: 'the request line and headers exceed the size the server accepts',
      };
    case 'HPE_URI_TOO_LONG':
      return { type: PROBLEM_TYPES.uriTooLong, title: 'URI too long', status: 414, detail: 'the request URI is too long' };
    default:
      return {
        type: PROBLEM_TYPES.malformedRequest,
        title: 'Malformed request',
        status: 400,
        detail: `the request is not valid HTTP/1.1${error.code ? ` (${error.code})` : ''}`,
      };
  }
}
