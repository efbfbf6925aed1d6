/**
 * keyledger's transparency log core: RFC 9162 Merkle trees, C2SP signed notes, checkpoints,
 * cosignatures and witness checks. Pure and shared: the service builds and serves the tree, the
 * SDK verifies offline with the same code.
 *
 * DESIGN
 *
 * What a leaf is. Leaf i of the tree is the event at position i of the global log (0-based, in
 * global order), encoded as RFC 8785 canonical JSON of
 * `{ leaf: "keyledger/event/v1", id, stream, revision, type, data, metadata, sealed? }` where
 * data and metadata are the event's public view and `sealed` commits to its private fields
 * (KeyIssued's digest, idempotency keys, request hashes) with a salted SHA-256 that the log keeps
 * beside the leaf (leaf.ts says why). The leaf hash is SHA-256(0x00 || leaf); interior nodes are
 * SHA-256(0x01 || left || right); the root of n leaves splits at the largest power of two below n
 * (RFC 9162 §2.1.1). The store's opaque checkpoint and the leaf index are not in the leaf: the index
 * is the tree position, and the checkpoint would tie the tree to one backend.
 *
 * How checkpoints are signed. A checkpoint is the C2SP tlog-checkpoint body `<origin>\n<size>\n
 * <base64 root>\n`, signed as a C2SP signed note with the log's Ed25519 key (signature type 0x01,
 * key id = SHA-256(name || 0x0A || 0x01 || public key)[:4]; key name = origin). The signer key
 * (`PRIVATE+KEY+...`) lives outside the database, so whoever can write the database still cannot
 * sign a different history; clients pin the verifier key (`<name>+<id>+<base64>`). The log must
 * never sign two checkpoints that no consistency proof connects.
 *
 * What a witness checks. Given `old <size>`, a consistency proof and a signed checkpoint
 * (tlog-witness add-checkpoint), a witness: knows the origin (else 404); verifies the log's
 * signature with the key it trusts for that origin (else 403); requires old size <= new size
 * (else 400) and old size = the size it last cosigned (else 409, answering its size); for equal
 * sizes requires the same root (else 409); verifies the RFC 9162 consistency proof from its
 * recorded root to the new root (else 422); then records the new size and root atomically and
 * returns a tlog-cosignature/v1 line: Ed25519 (type 0x04) over `cosignature/v1\ntime <t>\n` +
 * checkpoint body, with the 8-byte timestamp before the signature. A client that requires a
 * quorum of such cosignatures (verifyCheckpoint's witnessQuorum) knows the log showed the same
 * history to independent parties before it trusts an inclusion proof against that root.
 */
export { EMPTY_TREE_HASH, HASH_SIZE, hashChildren, hashLeaf, sha256 } from './hash.js';
export { bytesEqual, decodeBase64Strict, encodeBase64, fromHex, toHex } from './bytes.js';
export { isPowerOfTwo, splitPoint } from './sizes.js';
export {
  consistencyProofRanges,
  extendTree,
  inclusionProofRanges,
  MemoryMerkleTree,
  proveConsistency,
  proveInclusion,
  treeRootHash,
} from './tree.js';
export type { MerkleNode, MerkleNodeRef, MerkleNodeStore } from './tree.js';
export { rootFromInclusionProof, verifyConsistency, verifyInclusion } from './verify.js';
export type { ConsistencyClaim, InclusionClaim } from './verify.js';
export {
  canonicalJson,
  EVENT_LEAF_FORMAT,
  leafHashOfEvent,
  leafHashOfPublicView,
  leafOfEvent,
  leafOfPublicView,
  newSealSalt,
  SEAL_SALT_BYTES,
  sealEvent,
} from './leaf.js';
export type { LoggableEvent, PublicLeafView, SealedFields, SealOptions } from './leaf.js';
export {
  decodeSignerKey,
  decodeVerifierKey,
  ED25519_NOTE_TYPE,
  formatSignatureLine,
  generateNoteKeyPair,
  isValidKeyName,
  keyIdHex,
  MAX_NOTE_BYTES,
  MAX_NOTE_SIGNATURES,
  NoteError,
  noteKeyId,
  noteKeyPairFromSeed,
  noteSignerFromKey,
  noteVerifierFromKey,
  openNote,
  parseNote,
  parseSignatureLine,
  signNote,
} from './note.js';
export type { DecodedNoteKey, NoteKeyPair, NoteSignature, NoteSigner, NoteVerifier, OpenedNote, ParsedNote } from './note.js';
export { CheckpointError, formatCheckpoint, parseCheckpoint, signCheckpoint, verifyCheckpoint } from './checkpoint.js';
export type { Checkpoint, CheckpointTrust, VerifiedCheckpoint } from './checkpoint.js';
export {
  COSIGNATURE_TYPE,
  cosignatureVerifierFromKey,
  cosignedMessage,
  cosignerFromKey,
  generateCosignerKeyPair,
} from './cosignature.js';
export type { CosignatureVerifier, CosignerOptions } from './cosignature.js';
export {
  cosignatureLines,
  decideAddCheckpoint,
  formatAddCheckpointRequest,
  MAX_WITNESS_PROOF_LINES,
  parseAddCheckpointRequest,
} from './witness.js';
export type { AddCheckpointDecision, AddCheckpointRequest, WitnessRecord } from './witness.js';
