/**
 * What an SDK user does offline: pin the log's verifier key (and witnesses'), verify a signed
 * checkpoint, then check that an event they were shown (its public view, with its seal) is in
 * the tree, and that a later checkpoint extends the one they kept.
 */
import {
  cosignatureLines,
  cosignerFromKey,
  generateCosignerKeyPair,
  generateNoteKeyPair,
  hashLeaf,
  leafOfEvent,
  MemoryMerkleTree,
  newSealSalt,
  noteSignerFromKey,
  parseNote,
  sealEvent,
  signCheckpoint,
} from '@keyledger/schemas';
import { describe, expect, it } from 'vitest';
import { cosignatureVerifierFromKey, leafHashOfPublicView, noteVerifierFromKey, verifyCheckpoint, verifyConsistency, verifyInclusion } from '../../src/index.js';

const ORIGIN = 'ledger.example/keyledger';

describe('offline verification through the SDK exports', () => {
  it('an event seen through its public view is proved in a witnessed checkpoint, and the log only grew', () => {
    const log = generateNoteKeyPair(ORIGIN);
    const witness = generateCosignerKeyPair('witness.example/w1');
    const tree = new MemoryMerkleTree();
    const salts: Uint8Array[] = [];
    const events = Array.from({ length: 12 }, (_, i) => ({
      id: `event-${i}`,
      stream: `key-key_${String(i).padStart(16, '0')}`,
      revision: 0,
      type: 'KeyIssued',
      data: { keyId: `key_${String(i).padStart(16, '0')}`, digest: String(i).repeat(64).slice(0, 64), hint: 'kl_live_x' },
      metadata: { schemaVersion: 2, occurredAt: '2026-12-01T10:00:00.000Z' },
    }));
    for (const event of events) {
      const salt = newSealSalt();
      salts.push(salt);
      tree.appendLeafHash(hashLeaf(leafOfEvent(event, { salt })));
    }
    const note = signCheckpoint({ origin: ORIGIN, treeSize: 12, rootHash: tree.rootHash() }, noteSignerFromKey(log.signerKey));
    const cosigned = note + cosignatureLines(parseNote(note).text, [cosignerFromKey(witness.signerKey)]);

    const { checkpoint } = verifyCheckpoint(cosigned, {
      log: noteVerifierFromKey(log.verifierKey),
      witnesses: [cosignatureVerifierFromKey(witness.verifierKey)],
      witnessQuorum: 1,
    });
    // The client never sees the digest: only the public view and its seal.
    const view = sealEvent(events[5] as (typeof events)[number], { salt: salts[5] as Uint8Array });
    expect(JSON.stringify(view)).not.toContain(events[5]?.data.digest);
    const proof = tree.inclusionProof(5, 12);
    expect(verifyInclusion({ leafHash: leafHashOfPublicView(view), index: 5, treeSize: checkpoint.treeSize, proof, rootHash: checkpoint.rootHash })).toBe(true);
    // A view with an edited field is not in the tree.
    const edited = { ...view, data: { ...(view.data as object), hint: 'kl_live_y' } };
    expect(verifyInclusion({ leafHash: leafHashOfPublicView(edited), index: 5, treeSize: checkpoint.treeSize, proof, rootHash: checkpoint.rootHash })).toBe(false);
    // An older checkpoint the client kept is a prefix of this one.
    expect(verifyConsistency({ oldSize: 7, newSize: 12, oldRoot: tree.rootHash(7), newRoot: checkpoint.rootHash, proof: tree.consistencyProof(7, 12) })).toBe(true);
  });
});
