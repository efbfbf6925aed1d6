import { createHash, createPublicKey, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  cosignatureLines,
  cosignatureVerifierFromKey,
  cosignerFromKey,
  decideAddCheckpoint,
  decodeVerifierKey,
  formatAddCheckpointRequest,
  formatCheckpoint,
  generateCosignerKeyPair,
  generateNoteKeyPair,
  hashLeaf,
  keyIdHex,
  MemoryMerkleTree,
  noteSignerFromKey,
  noteVerifierFromKey,
  parseAddCheckpointRequest,
  parseCheckpoint,
  parseNote,
  signCheckpoint,
  signNote,
  toHex,
  verifyCheckpoint,
  verifyInclusion,
  type WitnessRecord,
} from '../../src/index.js';

const ORIGIN = 'ledger.example/keyledger';
const log = generateNoteKeyPair(ORIGIN);
const witness = generateCosignerKeyPair('witness.example/w1');
const witness2 = generateCosignerKeyPair('witness.example/w2');
const SPEC_BODY = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';

function treeOf(size: number): MemoryMerkleTree {
  const tree = new MemoryMerkleTree();
  for (let i = 0; i < size; i++) tree.appendLeafHash(hashLeaf(new TextEncoder().encode(`event ${i}`)));
  return tree;
}

describe('checkpoint bodies (tlog-checkpoint)', () => {
  it('parses the spec example and formats it back byte for byte', () => {
    const checkpoint = parseCheckpoint(SPEC_BODY);
    expect(checkpoint.origin).toBe('example.com/behind-the-sofa');
    expect(checkpoint.treeSize).toBe(20852163);
    expect(Buffer.from(checkpoint.rootHash).toString('base64')).toBe('CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=');
    expect(formatCheckpoint(checkpoint)).toBe(SPEC_BODY);
    const withExtension = `${SPEC_BODY}extension line\n`;
    expect(parseCheckpoint(withExtension).extensions).toEqual(['extension line']);
    expect(formatCheckpoint(parseCheckpoint(withExtension))).toBe(withExtension);
  });

  it.each([
    ['a missing root line', 'origin\n5\n'],
    ['an empty origin', '\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n'],
    ['a size with a leading zero', 'origin\n05\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n'],
    ['a negative size', 'origin\n-5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n'],
    ['a size beyond 2^53', 'origin\n9007199254740993\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n'],
    ['a root of 31 bytes', `origin\n5\n${Buffer.alloc(31).toString('base64')}\n`],
    ['a root in unpadded base64', 'origin\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n'],
    ['an empty extension line', `${SPEC_BODY}\n`],
    ['no final newline', SPEC_BODY.slice(0, -1)],
  ])('refuses a checkpoint with %s', (_what, body) => {
    expect(() => parseCheckpoint(body)).toThrow();
  });
});

describe('signed checkpoints', () => {
  const tree = treeOf(10);
  const checkpoint = { origin: ORIGIN, treeSize: 10, rootHash: tree.rootHash() };
  const note = signCheckpoint(checkpoint, noteSignerFromKey(log.signerKey));

  it('verify with the log key, and an inclusion proof checks against the verified root', () => {
    const verified = verifyCheckpoint(note, { log: noteVerifierFromKey(log.verifierKey) });
    expect(verified.checkpoint.treeSize).toBe(10);
    expect(toHex(verified.checkpoint.rootHash)).toBe(toHex(tree.rootHash()));
    const leafHash = hashLeaf(new TextEncoder().encode('event 3'));
    expect(verifyInclusion({ leafHash, index: 3, treeSize: 10, proof: tree.inclusionProof(3, 10), rootHash: verified.checkpoint.rootHash })).toBe(true);
  });

  it('are refused with another log key, another origin, or a changed size or root', () => {
    const other = generateNoteKeyPair(ORIGIN);
    expect(() => verifyCheckpoint(note, { log: noteVerifierFromKey(other.verifierKey) })).toThrow(/no verified signature/);
    expect(() => verifyCheckpoint(note, { log: noteVerifierFromKey(log.verifierKey), origin: 'ledger.example/other' })).toThrow(/origin/);
    const biggerSize = note.replace('\n10\n', '\n11\n');
    expect(() => verifyCheckpoint(biggerSize, { log: noteVerifierFromKey(log.verifierKey) })).toThrow(/does not verify/);
    const root64 = Buffer.from(tree.rootHash()).toString('base64');
    const otherRoot = note.replace(root64, `${root64.startsWith('A') ? 'B' : 'A'}${root64.slice(1)}`);
    expect(() => verifyCheckpoint(otherRoot, { log: noteVerifierFromKey(log.verifierKey) })).toThrow(/does not verify/);
  });

  it('a note signed by the log that is not a checkpoint is refused', () => {
    const notACheckpoint = signNote('hello\n', [noteSignerFromKey(log.signerKey)]);
    expect(() => verifyCheckpoint(notACheckpoint, { log: noteVerifierFromKey(log.verifierKey) })).toThrow(/checkpoint/);
  });
});

describe('cosignatures (tlog-cosignature, cosignature/v1)', () => {
  const tree = treeOf(5);
  const note = signCheckpoint({ origin: ORIGIN, treeSize: 5, rootHash: tree.rootHash() }, noteSignerFromKey(log.signerKey));
  const text = parseNote(note).text;
  const T = 1_764_583_200;

  it('the line is key id (type 0x04) || big-endian u64 time || Ed25519 over "cosignature/v1\\ntime <t>\\n" + body', () => {
    const line = cosignatureLines(text, [cosignerFromKey(witness.signerKey, { now: () => T })]);
    const sig = parseNote(note + line).signatures[1];
    const { key } = decodeVerifierKey(witness.verifierKey);
    const expectedId = createHash('sha256').update('witness.example/w1\n').update(Uint8Array.of(0x04)).update(key).digest().subarray(0, 4).toString('hex');
    expect(keyIdHex(sig?.keyId ?? 0)).toBe(expectedId);
    const bytes = Buffer.from(sig?.signature ?? []);
    expect(bytes).toHaveLength(72);
    expect(bytes.readBigUInt64BE(0)).toBe(BigInt(T));
    const publicKey = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), key]), format: 'der', type: 'spki' });
    expect(verify(null, Buffer.from(`cosignature/v1\ntime ${T}\n${text}`), publicKey, bytes.subarray(8))).toBe(true);
  });

  it('round trip: a checkpoint with a quorum of witness cosignatures verifies and reports their times', () => {
    const cosigned = note + cosignatureLines(text, [cosignerFromKey(witness.signerKey, { now: () => T }), cosignerFromKey(witness2.signerKey, { now: () => T + 1 })]);
    const verified = verifyCheckpoint(cosigned, {
      log: noteVerifierFromKey(log.verifierKey),
      witnesses: [cosignatureVerifierFromKey(witness.verifierKey), cosignatureVerifierFromKey(witness2.verifierKey)],
      witnessQuorum: 2,
    });
    expect(verified.cosignedBy).toEqual([
      { name: 'witness.example/w1', timestamp: T },
      { name: 'witness.example/w2', timestamp: T + 1 },
    ]);
  });

  it('is refused below quorum, when tampered, from the future when asked, and never stands in for the log signature', () => {
    const cosigned = note + cosignatureLines(text, [cosignerFromKey(witness.signerKey, { now: () => T })]);
    const trust = { log: noteVerifierFromKey(log.verifierKey), witnesses: [cosignatureVerifierFromKey(witness.verifierKey), cosignatureVerifierFromKey(witness2.verifierKey)] };
    expect(() => verifyCheckpoint(cosigned, { ...trust, witnessQuorum: 2 })).toThrow(/1 trusted witness cosignatures, 2 required/);
    // Another timestamp in the signature bytes breaks the signature: the time is signed.
    const line = cosigned.split('\n').at(-2) as string;
    const b64 = line.split(' ').at(-1) as string;
    const bytes = Buffer.from(b64, 'base64');
    bytes.writeBigUInt64BE(BigInt(T + 60), 4);
    expect(() => verifyCheckpoint(cosigned.replace(b64, bytes.toString('base64')), trust)).toThrow(/does not verify/);
    const strict = { log: trust.log, witnesses: [cosignatureVerifierFromKey(witness.verifierKey, { maxFutureSeconds: 60, now: () => T - 3600 })] };
    expect(() => verifyCheckpoint(cosigned, strict)).toThrow(/does not verify/);
    // Only the witness signed: no log signature, no checkpoint.
    const witnessOnly = `${text}\n${cosignatureLines(text, [cosignerFromKey(witness.signerKey)])}`;
    expect(() => verifyCheckpoint(witnessOnly, trust)).toThrow(/not signed by the log key/);
    // A cosigner key is not a note key and the other way round.
    expect(() => cosignatureVerifierFromKey(log.verifierKey)).toThrow(/not a cosignature\/v1 key/);
    expect(() => cosignerFromKey(log.signerKey)).toThrow(/not a cosignature\/v1 key/);
  });
});

describe('witness add-checkpoint checks (tlog-witness)', () => {
  const tree = treeOf(20);
  const signer = noteSignerFromKey(log.signerKey);
  const signedAt = (size: number, rootHash = tree.rootHash(size)) => signCheckpoint({ origin: ORIGIN, treeSize: size, rootHash }, signer);
  const keys = (origin: string) => (origin === ORIGIN ? [noteVerifierFromKey(log.verifierKey)] : []);
  const state = new Map<string, WitnessRecord>();
  const latest = (origin: string) => state.get(origin);

  function submit(oldSize: number, size: number, proof = tree.consistencyProof(oldSize, size), note = signedAt(size)) {
    const body = formatAddCheckpointRequest({ oldSize, proof, checkpoint: note });
    return decideAddCheckpoint(parseAddCheckpointRequest(body), keys, latest);
  }

  it('cosigns a first checkpoint from size 0, then each consistent extension, and refuses the rest with the spec\'s codes', () => {
    const first = submit(0, 7);
    expect(first.status).toBe(200);
    if (first.status !== 200) return;
    state.set(ORIGIN, first.record);
    const lines = cosignatureLines(first.text, [cosignerFromKey(witness.signerKey)]);
    expect(verifyCheckpoint(signedAt(7) + lines, { log: noteVerifierFromKey(log.verifierKey), witnesses: [cosignatureVerifierFromKey(witness.verifierKey)], witnessQuorum: 1 }).cosignedBy).toHaveLength(1);

    const stale = submit(0, 9);
    expect(stale).toMatchObject({ status: 409, latestSize: 7 });
    expect(submit(7, 12, tree.consistencyProof(6, 12))).toMatchObject({ status: 422 });
    expect(submit(9, 7, [])).toMatchObject({ status: 400 });
    const fork = treeOf(21);
    expect(submit(7, 7, [], signedAt(7, fork.rootHash(8)))).toMatchObject({ status: 409 });
    const unknownOrigin = signCheckpoint({ origin: 'someone.else/log', treeSize: 9, rootHash: tree.rootHash(9) }, noteSignerFromKey(generateNoteKeyPair('someone.else/log').signerKey));
    expect(submit(7, 9, tree.consistencyProof(7, 9), unknownOrigin)).toMatchObject({ status: 404 });
    const forged = signCheckpoint({ origin: ORIGIN, treeSize: 9, rootHash: tree.rootHash(9) }, noteSignerFromKey(generateNoteKeyPair(ORIGIN).signerKey));
    expect(submit(7, 9, tree.consistencyProof(7, 9), forged)).toMatchObject({ status: 403 });

    const next = submit(7, 12);
    expect(next.status).toBe(200);
    if (next.status === 200) state.set(ORIGIN, next.record);
    expect(submit(12, 12, [])).toMatchObject({ status: 200 });
  });

  it('parses and formats request bodies as the spec shows, and refuses malformed ones', () => {
    const body = formatAddCheckpointRequest({ oldSize: 3, proof: tree.consistencyProof(3, 9), checkpoint: signedAt(9) });
    expect(body.startsWith('old 3\n')).toBe(true);
    const parsed = parseAddCheckpointRequest(body);
    expect(parsed.oldSize).toBe(3);
    expect(parsed.proof.map(toHex)).toEqual(tree.consistencyProof(3, 9).map(toHex));
    expect(parsed.checkpoint).toBe(signedAt(9));
    expect(() => parseAddCheckpointRequest('old 03\n\ncheckpoint')).toThrow(/old <size>/);
    expect(() => parseAddCheckpointRequest('old 3\nnot-base64\n\ncheckpoint')).toThrow(/base64/);
    expect(() => parseAddCheckpointRequest(`old 3\n${'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n'.repeat(64)}\ncheckpoint`)).toThrow(/63/);
  });
});
