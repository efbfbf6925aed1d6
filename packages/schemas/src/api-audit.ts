/**
 * Bodies of the transparency log API (/v1/audit/*). Hashes and proof nodes travel as standard
 * base64 (the encoding of every C2SP format); checkpoints travel as whole C2SP signed notes, so
 * a client verifies them with verifyCheckpoint without trusting any other field.
 */
import { z } from 'zod';
import { Instant, JsonValue } from './common.js';

const Base64Hash = z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'base64 of 32 bytes');
const TreeSize = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const AuditPublicKey = z
  .object({
    /** The log's origin: the first line of every checkpoint and the name of its key. */
    origin: z.string(),
    /** `<origin>+<hex key id>+<base64(0x01 || Ed25519 public key)>`: pin this. */
    verifierKey: z.string(),
    keyId: z.string().regex(/^[0-9a-f]{8}$/),
    algorithm: z.literal('Ed25519'),
  })
  .meta({ id: 'AuditPublicKey' });

export const AuditCosignature = z
  .object({
    witness: z.string(),
    keyId: z.string().regex(/^[0-9a-f]{8}$/),
    /** When the witness says it cosigned (POSIX seconds, from the cosignature). */
    timestamp: z.int(),
  })
  .meta({ id: 'AuditCosignature' });

export const AuditCheckpoint = z
  .object({
    origin: z.string(),
    treeSize: z.int().min(0),
    rootHash: Base64Hash,
    /** The C2SP signed note: the log's signature line, then every stored witness cosignature line. */
    note: z.string(),
    signedAt: Instant,
    cosignatures: z.array(AuditCosignature),
  })
  .meta({ id: 'AuditCheckpoint' });

export const AuditCheckpointQuery = z
  .object({
    /** A stored checkpoint's tree size; default the latest. */
    size: TreeSize.optional(),
  })
  .strict();

export const AuditLeaf = z
  .object({
    id: z.string(),
    stream: z.string(),
    revision: z.int().min(0),
    type: z.string(),
    data: JsonValue,
    metadata: JsonValue,
    sealed: z.object({ fields: z.array(z.string()), hash: z.string() }).optional(),
  })
  .meta({ id: 'AuditLeaf', description: 'The public view of an event as its leaf commits to it (leafHashOfPublicView).' });

export const InclusionProofQuery = z
  .object({
    /** An event id or an event's ledger checkpoint. */
    event: z.string().min(1).max(100),
    /** The tree size to prove against; default the latest signed checkpoint. */
    size: TreeSize.optional(),
  })
  .strict();

export const InclusionProof = z
  .object({
    leafIndex: z.int().min(0),
    treeSize: z.int().min(1),
    leafHash: Base64Hash,
    rootHash: Base64Hash,
    /** The audit path, leaf level first. */
    proof: z.array(Base64Hash),
    leaf: AuditLeaf,
    /** The signed checkpoint of `treeSize`, when one was signed at that size. */
    checkpoint: z.string().nullable(),
  })
  .meta({ id: 'InclusionProof' });

export const ConsistencyProofQuery = z
  .object({
    from: TreeSize,
    to: TreeSize,
  })
  .strict();

export const ConsistencyProof = z
  .object({
    from: z.int().min(0),
    to: z.int().min(0),
    fromRoot: Base64Hash,
    toRoot: Base64Hash,
    proof: z.array(Base64Hash),
  })
  .meta({ id: 'ConsistencyProof' });

export const CosignatureSubmission = z
  .object({
    treeSize: z.int().min(0).max(Number.MAX_SAFE_INTEGER),
    /** The witness's cosignature/v1 verifier key (`<name>+<hex id>+<base64(0x04 || key)>`). */
    witnessKey: z.string().min(1).max(500),
    /** The signature line the witness made over the checkpoint, `— <name> <base64>` (final newline optional). */
    signature: z.string().min(1).max(1000),
  })
  .strict()
  .meta({ id: 'CosignatureSubmission' });

export type AuditPublicKey = z.infer<typeof AuditPublicKey>;
export type AuditCosignature = z.infer<typeof AuditCosignature>;
export type AuditCheckpoint = z.infer<typeof AuditCheckpoint>;
export type AuditLeaf = z.infer<typeof AuditLeaf>;
export type InclusionProof = z.infer<typeof InclusionProof>;
export type ConsistencyProof = z.infer<typeof ConsistencyProof>;
export type CosignatureSubmission = z.infer<typeof CosignatureSubmission>;
