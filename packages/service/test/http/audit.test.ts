/**
 * /v1/audit over a real service: a client pins the public key, then checks everything else
 * offline with the shared verifiers (the ones the SDK exports): the checkpoint's signature, an
 * issued key's event in it (its public view, digest sealed), consistency between two checkpoints,
 * and a witness cosignature that the service stores and serves with the checkpoint.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import {
  cosignatureLines,
  cosignatureVerifierFromKey,
  cosignerFromKey,
  decodeBase64Strict,
  generateCosignerKeyPair,
  leafHashOfPublicView,
  noteVerifierFromKey,
  parseNote,
  verifyCheckpoint,
  verifyConsistency,
  verifyInclusion,
} from '@keyledger/schemas';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectProblem, startHarness, type Harness } from './harness.js';

const b64 = (text: string) => decodeBase64Strict(text) as Uint8Array;

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ KEYLEDGER_AUDIT_CHECKPOINT_INTERVAL_MS: '50' });
});
afterAll(async () => h?.close());

describe('audit routes', () => {
  it('serves the public key without a credential and keeps the signing key 0600 in the data directory', async () => {
    const reply = await h.call('GET', '/v1/audit/public-key', { key: null });
    expect(reply.status).toBe(200);
    expect(reply.body.algorithm).toBe('Ed25519');
    expect(reply.body.verifierKey.startsWith(`${reply.body.origin}+${reply.body.keyId}+`)).toBe(true);
    expect(statSync(join(h.dataDir, 'audit-signing-key')).mode & 0o777).toBe(0o600);
    expect(reply.text).not.toContain('PRIVATE');
  });

  it('proves an issued key event is in a signed checkpoint, and the checkpoints are consistent', async () => {
    const vkey = (await h.call('GET', '/v1/audit/public-key', { key: null })).body.verifierKey as string;
    const log = noteVerifierFromKey(vkey);
    const first = await h.call('POST', '/v1/audit/checkpoint');
    expect(first.status, first.text).toBe(200);
    const issued = await h.issue({ consumerId: 'audited' });
    const events = (await h.call('GET', '/v1/events?limit=1000')).body.events as { id: string; data: Record<string, unknown>; checkpoint: string }[];
    const event = events.find((e) => e.data.keyId === issued.id)!;

    const signed = await h.call('POST', '/v1/audit/checkpoint');
    expect(signed.status).toBe(200);
    const checkpoint = verifyCheckpoint(signed.body.note, { log });
    expect(checkpoint.checkpoint.treeSize).toBe(signed.body.treeSize);

    for (const ref of [event.id, event.checkpoint]) {
      const proof = await h.call('GET', `/v1/audit/proofs/inclusion?event=${encodeURIComponent(ref)}`);
      expect(proof.status, proof.text).toBe(200);
      // The leaf is the event's public view: the digest is sealed, never shown.
      expect(proof.body.leaf.data.digest).toBeUndefined();
      expect(proof.body.leaf.sealed.fields).toContain('data.digest');
      expect(proof.body.leaf.data).toEqual(event.data);
      expect(proof.text).not.toContain('"salt"');
      const leafHash = leafHashOfPublicView(proof.body.leaf);
      expect(verifyCheckpoint(proof.body.checkpoint, { log }).checkpoint.treeSize).toBe(proof.body.treeSize);
      expect(
        verifyInclusion({ leafHash, index: proof.body.leafIndex, treeSize: proof.body.treeSize, proof: proof.body.proof.map(b64), rootHash: checkpoint.checkpoint.rootHash }),
      ).toBe(true);
    }

    const from = first.body.treeSize as number;
    const to = signed.body.treeSize as number;
    const consistency = await h.call('GET', `/v1/audit/proofs/consistency?from=${from}&to=${to}`);
    expect(consistency.status).toBe(200);
    expect(
      verifyConsistency({ oldSize: from, newSize: to, oldRoot: b64(first.body.rootHash), newRoot: checkpoint.checkpoint.rootHash, proof: consistency.body.proof.map(b64) }),
    ).toBe(true);
  });

  it('stores a witness cosignature that verifies and serves it with the checkpoint', async () => {
    const witness = generateCosignerKeyPair('witness.test/one');
    const latest = (await h.call('POST', '/v1/audit/checkpoint')).body;
    const line = cosignatureLines(parseNote(latest.note).text, [cosignerFromKey(witness.signerKey)]);
    const stored = await h.call('POST', '/v1/audit/cosignatures', { body: { treeSize: latest.treeSize, witnessKey: witness.verifierKey, signature: line } });
    expect(stored.status, stored.text).toBe(200);
    expect(stored.body.cosignatures).toHaveLength(1);
    const served = await h.call('GET', `/v1/audit/checkpoint?size=${latest.treeSize}`);
    const vkey = (await h.call('GET', '/v1/audit/public-key', { key: null })).body.verifierKey as string;
    const verified = verifyCheckpoint(served.body.note, { log: noteVerifierFromKey(vkey), witnesses: [cosignatureVerifierFromKey(witness.verifierKey)], witnessQuorum: 1 });
    expect(verified.cosignedBy.map((c) => c.name)).toEqual(['witness.test/one']);

    // A cosignature over another text, or by another key than claimed, is refused.
    const other = generateCosignerKeyPair('witness.test/two');
    const forged = cosignatureLines('not the checkpoint\n', [cosignerFromKey(other.signerKey)]);
    expectProblem(await h.call('POST', '/v1/audit/cosignatures', { body: { treeSize: latest.treeSize, witnessKey: other.verifierKey, signature: forged } }), 422, 'validation');
    expectProblem(await h.call('POST', '/v1/audit/cosignatures', { body: { treeSize: latest.treeSize, witnessKey: other.verifierKey, signature: line } }), 400, 'validation');
    expectProblem(await h.call('POST', '/v1/audit/cosignatures', { body: { treeSize: 10_000_000, witnessKey: witness.verifierKey, signature: line } }), 404, 'not-found');
  });

  it('answers a client mistake with a problem, never a 500', async () => {
    expectProblem(await h.call('GET', '/v1/audit/proofs/inclusion?event=00000000-0000-4000-8000-000000000000'), 404, 'not-found');
    expectProblem(await h.call('GET', '/v1/audit/proofs/inclusion?event=nope'), 404, 'not-found');
    expectProblem(await h.call('GET', '/v1/audit/proofs/consistency?from=5&to=2'), 400, 'validation');
    expectProblem(await h.call('GET', '/v1/audit/proofs/consistency?from=0&to=99999999'), 400, 'validation');
    expectProblem(await h.call('GET', '/v1/audit/checkpoint?size=99999999'), 404, 'not-found');
    expectProblem(await h.call('GET', '/v1/audit/proofs/consistency?from=-1&to=2'), 400, 'validation');
  });
});
