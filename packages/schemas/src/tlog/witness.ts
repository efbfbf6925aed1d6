/**
 * The checks of a C2SP tlog-witness `add-checkpoint` call, as a pure decision: the caller keeps
 * the witness's record (latest cosigned size and root per origin), persists the new record with
 * a compare-and-set on the old size (the spec's race), and only then returns the cosignature
 * lines. Request body: `old <size>\n`, up to 63 base64 proof lines, a blank line, the checkpoint.
 */
import { bytesEqual, decodeBase64Strict, encodeBase64, utf8 } from './bytes.js';
import { parseCheckpoint, type Checkpoint } from './checkpoint.js';
import { formatSignatureLine, NoteError, openNote, parseNote, type NoteSigner, type NoteVerifier } from './note.js';
import { verifyConsistency } from './verify.js';

export const MAX_WITNESS_PROOF_LINES = 63;

export interface AddCheckpointRequest {
  oldSize: number;
  proof: Uint8Array[];
  /** The signed checkpoint note. */
  checkpoint: string;
}

/** What the witness last cosigned for one origin. */
export interface WitnessRecord {
  treeSize: number;
  rootHash: Uint8Array;
}

export type AddCheckpointDecision =
  | { status: 200; checkpoint: Checkpoint; text: string; record: WitnessRecord }
  | { status: 400 | 403 | 404 | 422; reason: string }
  | { status: 409; reason: string; latestSize: number };

export function formatAddCheckpointRequest(request: AddCheckpointRequest): string {
  return `old ${request.oldSize}\n${request.proof.map((hash) => `${encodeBase64(hash)}\n`).join('')}\n${request.checkpoint}`;
}

/** Parses an add-checkpoint body; throws NoteError (a 400) when it is malformed. */
export function parseAddCheckpointRequest(body: string): AddCheckpointRequest {
  const blank = body.indexOf('\n\n');
  if (blank < 0) throw new NoteError('add-checkpoint body has no blank line before the checkpoint');
  const [oldLine, ...proofLines] = body.slice(0, blank).split('\n');
  const old = /^old (0|[1-9][0-9]*)$/.exec(oldLine ?? '');
  if (!old) throw new NoteError("add-checkpoint body must start with 'old <size>'");
  const oldSize = Number(old[1]);
  if (!Number.isSafeInteger(oldSize)) throw new NoteError('old size is beyond 2^53');
  if (proofLines.length > MAX_WITNESS_PROOF_LINES) throw new NoteError(`more than ${MAX_WITNESS_PROOF_LINES} consistency proof lines`);
  const proof = proofLines.map((line) => {
    const hash = decodeBase64Strict(line);
    if (!hash || hash.length !== 32) throw new NoteError('a consistency proof line is not base64 of 32 bytes');
    return hash;
  });
  return { oldSize, proof, checkpoint: body.slice(blank + 2) };
}

/**
 * Decides an add-checkpoint call. `logKeys(origin)` gives the log keys the witness trusts for an
 * origin (none: unknown origin); `latest` is the witness's record for that origin, if any.
 */
export function decideAddCheckpoint(
  request: AddCheckpointRequest,
  logKeys: (origin: string) => readonly NoteVerifier[],
  latest: (origin: string) => WitnessRecord | undefined,
): AddCheckpointDecision {
  let text: string;
  let checkpoint: Checkpoint;
  try {
    text = parseNote(request.checkpoint).text;
    checkpoint = parseCheckpoint(text);
  } catch (error) {
    return { status: 400, reason: (error as Error).message };
  }
  const keys = logKeys(checkpoint.origin);
  if (keys.length === 0) return { status: 404, reason: `unknown log origin '${checkpoint.origin}'` };
  try {
    openNote(request.checkpoint, keys);
  } catch (error) {
    return { status: 403, reason: (error as Error).message };
  }
  if (request.oldSize > checkpoint.treeSize) return { status: 400, reason: `old size ${request.oldSize} is larger than the checkpoint size ${checkpoint.treeSize}` };
  const record = latest(checkpoint.origin);
  const latestSize = record?.treeSize ?? 0;
  if (request.oldSize !== latestSize) return { status: 409, reason: `old size ${request.oldSize} is not the latest cosigned size ${latestSize}`, latestSize };
  if (record && record.treeSize === checkpoint.treeSize) {
    if (!bytesEqual(record.rootHash, checkpoint.rootHash)) return { status: 409, reason: 'same tree size as the latest cosigned checkpoint but a different root hash', latestSize };
  }
  const consistent = record
    ? verifyConsistency({ oldSize: record.treeSize, newSize: checkpoint.treeSize, oldRoot: record.rootHash, newRoot: checkpoint.rootHash, proof: request.proof })
    : request.proof.length === 0;
  if (!consistent) return { status: 422, reason: 'the consistency proof does not verify' };
  return { status: 200, checkpoint, text, record: { treeSize: checkpoint.treeSize, rootHash: checkpoint.rootHash } };
}

/** The response body of a successful add-checkpoint: one cosignature line per witness key. */
export function cosignatureLines(text: string, cosigners: readonly NoteSigner[]): string {
  const bytes = utf8(text);
  return cosigners.map((c) => formatSignatureLine({ name: c.name, keyId: c.keyId, signature: c.sign(bytes) })).join('');
}
