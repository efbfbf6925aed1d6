/**
 * The transparency log over HTTP (/v1/audit). The public key is public: it is what an auditor
 * pins before trusting anything else, it reveals nothing about the ledger, and a client that
 * could only fetch it with a credential would have to trust the service that issued the
 * credential. Everything else is behind `audit:read`: checkpoints and proofs reveal the ledger's
 * size and growth, and an inclusion proof shows an event's public view. A witness pushes its
 * cosignature with the same permission: a cosignature is self-certifying (it is stored only if
 * it verifies over the log's own checkpoint), so submitting one changes no ledger state and can
 * make nothing trusted that a client does not already trust. Signing a checkpoint on demand is
 * an operator's act (`admin`).
 */
import {
  AuditCheckpoint,
  AuditCheckpointQuery,
  AuditPublicKey,
  ConsistencyProof,
  ConsistencyProofQuery,
  CosignatureSubmission,
  InclusionProof,
  InclusionProofQuery,
  Problem,
} from '@keyledger/schemas';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { AuditLog } from '../../audit/audit-log.js';

export interface AuditRoutesOptions {
  audit: AuditLog;
}

const TAGS = ['audit'];
const SECURED = [{ bearer: [] }];

export const auditRoutes: FastifyPluginAsyncZod<AuditRoutesOptions> = async (app, { audit }) => {
  app.get('/audit/public-key', {
    config: { public: true },
    schema: {
      tags: TAGS,
      operationId: 'getAuditPublicKey',
      summary: "The log's checkpoint verifier key (Ed25519, C2SP signed-note encoding): pin it",
      response: { 200: AuditPublicKey },
    },
  }, async () => audit.publicKey());

  app.get('/audit/checkpoint', {
    config: { permission: 'audit:read' },
    schema: {
      tags: TAGS,
      security: SECURED,
      operationId: 'getAuditCheckpoint',
      summary: 'The latest signed checkpoint (or the one of a given size), with witness cosignatures',
      querystring: AuditCheckpointQuery,
      response: { 200: AuditCheckpoint, 400: Problem, 401: Problem, 403: Problem, 404: Problem, 503: Problem },
    },
  }, async (request) => audit.checkpoint(request.query.size));

  app.post('/audit/checkpoint', {
    config: { permission: 'admin' },
    schema: {
      tags: TAGS,
      security: SECURED,
      operationId: 'signAuditCheckpoint',
      summary: 'Integrate what the ledger holds now and sign a checkpoint of it',
      response: { 200: AuditCheckpoint, 401: Problem, 403: Problem, 503: Problem },
    },
  }, async () => {
    await audit.integrator?.signNow();
    return audit.checkpoint();
  });

  app.get('/audit/proofs/inclusion', {
    config: { permission: 'audit:read' },
    schema: {
      tags: TAGS,
      security: SECURED,
      operationId: 'getInclusionProof',
      summary: "An event's leaf and its RFC 9162 inclusion proof in the tree of a size (default: the latest signed)",
      querystring: InclusionProofQuery,
      response: { 200: InclusionProof, 400: Problem, 401: Problem, 403: Problem, 404: Problem, 409: Problem, 503: Problem },
    },
  }, async (request) => audit.inclusion(request.query.event, request.query.size));

  app.get('/audit/proofs/consistency', {
    config: { permission: 'audit:read' },
    schema: {
      tags: TAGS,
      security: SECURED,
      operationId: 'getConsistencyProof',
      summary: 'An RFC 9162 consistency proof between two tree sizes',
      querystring: ConsistencyProofQuery,
      response: { 200: ConsistencyProof, 400: Problem, 401: Problem, 403: Problem },
    },
  }, async (request) => audit.consistency(request.query.from, request.query.to));

  app.post('/audit/cosignatures', {
    config: { permission: 'audit:read' },
    schema: {
      tags: TAGS,
      security: SECURED,
      operationId: 'submitCosignature',
      summary: "A witness's C2SP cosignature/v1 over a stored checkpoint; answers the checkpoint with its cosignatures",
      body: CosignatureSubmission,
      response: { 200: AuditCheckpoint, 400: Problem, 401: Problem, 403: Problem, 404: Problem, 409: Problem, 422: Problem },
    },
  }, async (request) => audit.addCosignature(request.body));
};
