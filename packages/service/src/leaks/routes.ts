/**
 * Leak reports: `POST /v1/leaks/github` speaks GitHub's secret scanning partner protocol (public,
 * authenticated by GitHub's signature over the raw body); `POST /v1/leaks` takes reports from any
 * other scanner behind `leaks:write`.
 */
import { createHash } from 'node:crypto';
import { GithubLeakFeedback, GithubLeakReport, LeakReportRequest, LeakReportResult, PROBLEM_TYPES, Problem } from '@keyledger/schemas';
import type { FastifyPluginAsyncZod, ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError } from '../app/errors.js';
import type { GithubKeys } from './github-keys.js';
import type { LeakResponder } from './leak-response.js';

export interface LeakRoutesOptions {
  responder: LeakResponder;
  /** Undefined when no key file is configured: every GitHub report is then refused (401). */
  githubKeys: GithubKeys | undefined;
}

const unauthorized = (detail: string) => new AppError(401, PROBLEM_TYPES.unauthorized, 'Unauthorized', detail);

const GithubHeaders = z.object({
  'github-public-key-identifier': z.string().optional(),
  'github-public-key-signature': z.string().optional(),
});

declare module 'fastify' {
  interface FastifyRequest {
    rawBody?: Buffer;
  }
}

export const leakRoutes: FastifyPluginAsyncZod<LeakRoutesOptions> = async (app, { responder, githubKeys }) => {
  app.post('/leaks', {
    config: { permission: 'leaks:write' },
    schema: {
      tags: ['leaks'], security: [{ bearer: [] }], summary: 'Report a leaked key (any scanner)', operationId: 'reportLeak',
      body: LeakReportRequest, response: { 200: LeakReportResult, 400: Problem, 401: Problem, 403: Problem, 503: Problem },
    },
  }, async (request) => {
    const { token, url, source, reporter } = request.body;
    return responder.report({ token, url: url ?? null, source: source ?? null, reporter: reporter ?? 'api', tokenType: null });
  });

  // The signature covers the bytes as sent: this context keeps them (and parses them only after).
  await app.register(async (context) => {
    const github = context.withTypeProvider<ZodTypeProvider>();
    github.removeContentTypeParser('application/json');
    github.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
      request.rawBody = body as Buffer;
      done(null, {});
    });
    github.post('/leaks/github', {
      config: { public: true },
      preValidation: async (request) => {
        const keyId = request.headers['github-public-key-identifier'];
        const signature = request.headers['github-public-key-signature'];
        if (typeof keyId !== 'string' || typeof signature !== 'string') throw unauthorized('Github-Public-Key-Identifier and Github-Public-Key-Signature are required');
        if (!githubKeys) throw unauthorized('GitHub secret scanning is not configured (KEYLEDGER_GITHUB_SCANNING_KEYS_FILE)');
        const raw = request.rawBody ?? Buffer.alloc(0);
        if (!githubKeys.verify(keyId, signature, raw)) throw unauthorized('the signature does not verify with the named GitHub public key');
        try {
          request.body = JSON.parse(raw.toString('utf8')) as typeof request.body;
        } catch {
          throw new AppError(400, PROBLEM_TYPES.malformedBody, 'Malformed body', 'the signed body is not JSON');
        }
      },
      schema: {
        tags: ['leaks'], summary: 'GitHub secret scanning partner endpoint (signed by GitHub)', operationId: 'reportGithubLeaks',
        headers: GithubHeaders, body: GithubLeakReport, response: { 200: GithubLeakFeedback, 400: Problem, 401: Problem, 503: Problem },
      },
    }, async (request) => {
      const feedback: z.infer<typeof GithubLeakFeedback> = [];
      for (const match of request.body) {
        const outcome = await responder.report({
          token: match.token,
          url: match.url ?? null,
          source: match.source ?? null,
          reporter: 'github',
          tokenType: match.type,
        });
        // The hashed form: the raw token is not sent back over the wire.
        feedback.push({ token_hash: createHash('sha256').update(match.token).digest('hex'), token_type: match.type, label: outcome.label });
      }
      return feedback;
    });
  });
};
