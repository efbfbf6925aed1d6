/**
 * A witness of a keyledger log, run as its own process (`keyledger audit witness`): it fetches
 * each new checkpoint, checks it with the C2SP tlog-witness rules (decideAddCheckpoint: the log's
 * signature with the pinned key, and an RFC 9162 consistency proof from the last checkpoint it
 * cosigned), records the new size and root, and only then cosigns (tlog-cosignature/v1) and hands
 * the cosignature to the log. A checkpoint that does not extend what it cosigned before (a
 * rewritten history, a rollback, a different key) is refused and reported, never cosigned.
 *
 * State: a JSON file (the origin, the pinned log key, the last cosigned size and root), written
 * atomically; the witness's own Ed25519 key sits beside it in `witness-key`, created 0600.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import {
  cosignatureLines,
  cosignerFromKey,
  decideAddCheckpoint,
  decodeBase64Strict,
  decodeSignerKey,
  encodeBase64,
  generateCosignerKeyPair,
  noteKeyPairFromSeed,
  noteVerifierFromKey,
  parseCheckpoint,
  parseNote,
  type NoteSigner,
} from '@keyledger/schemas';
import { writeSecretFile } from '../app/secret-file.js';

export interface WitnessState {
  origin: string;
  /** The log's verifier key, pinned on first contact (or given with --log-key). */
  logKey: string;
  treeSize: number;
  /** base64 */
  rootHash: string;
  cosignedAt: string | null;
}

/** What the witness needs from the log: the SDK client's audit methods. */
export interface WitnessLogApi {
  publicKey(): Promise<{ verifierKey: string; origin: string }>;
  checkpoint(): Promise<{ note: string; treeSize: number }>;
  consistencyProof(query: { from: number; to: number }): Promise<{ proof: string[] }>;
  submitCosignature(body: { treeSize: number; witnessKey: string; signature: string }): Promise<unknown>;
}

export type WitnessOutcome =
  | { kind: 'cosigned'; treeSize: number; previousSize: number }
  | { kind: 'unchanged'; treeSize: number }
  | { kind: 'refused'; treeSize: number; status: number; reason: string };

export class WitnessRefusal extends Error {
  override name = 'WitnessRefusal';
}

export const WITNESS_KEY_FILE = 'witness-key';

export interface WitnessIdentity {
  signer: NoteSigner;
  verifierKey: string;
}

/** The witness's key beside the state file, created (0600, atomically) on first run. */
export function witnessIdentity(stateFile: string, name?: string): WitnessIdentity {
  const file = join(dirname(stateFile), WITNESS_KEY_FILE);
  let skey: string;
  try {
    skey = readFileSync(file, 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    const pair = generateCosignerKeyPair(name ?? `witness/${hostname().replace(/[^A-Za-z0-9.-]/g, '') || 'host'}`);
    try {
      writeSecretFile(file, `${pair.signerKey}\n`, { exclusive: true });
    } catch (writeError) {
      if ((writeError as NodeJS.ErrnoException).code !== 'EEXIST') throw writeError;
    }
    skey = readFileSync(file, 'utf8').trim();
  }
  const decoded = decodeSignerKey(skey);
  return { signer: cosignerFromKey(skey), verifierKey: noteKeyPairFromSeed(decoded.name, decoded.key, decoded.type).verifierKey };
}

export function readWitnessState(file: string): WitnessState | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const state = JSON.parse(text) as WitnessState;
  if (typeof state.origin !== 'string' || typeof state.logKey !== 'string' || !Number.isSafeInteger(state.treeSize) || typeof state.rootHash !== 'string') {
    throw new Error(`witness state ${file} is not a witness state file`);
  }
  return state;
}

export function writeWitnessState(file: string, state: WitnessState): void {
  writeSecretFile(file, `${JSON.stringify(state, null, 2)}\n`);
}

/**
 * One round: fetch the latest checkpoint, decide, record, cosign, submit. Returns what happened;
 * a refusal leaves the state untouched.
 */
export async function witnessRound(options: { api: WitnessLogApi; stateFile: string; identity: WitnessIdentity; logKey?: string }): Promise<WitnessOutcome> {
  const { api, stateFile, identity } = options;
  let state = readWitnessState(stateFile);
  const latest = await api.checkpoint();
  if (!state) {
    // First contact: pin the key given, else the one the log serves (trust on first use).
    const logKey = options.logKey ?? (await api.publicKey()).verifierKey;
    const verifier = noteVerifierFromKey(logKey);
    state = { origin: verifier.name, logKey, treeSize: 0, rootHash: '', cosignedAt: null };
  } else if (options.logKey && options.logKey !== state.logKey) {
    throw new WitnessRefusal(`--log-key differs from the key pinned in ${stateFile} (${state.logKey})`);
  }
  const pinned = state;
  const verifier = noteVerifierFromKey(pinned.logKey);
  const record = pinned.rootHash === '' ? undefined : { treeSize: pinned.treeSize, rootHash: decodeBase64Strict(pinned.rootHash) as Uint8Array };
  const oldSize = record?.treeSize ?? 0;
  let newSize: number;
  try {
    newSize = parseCheckpoint(parseNote(latest.note).text).treeSize;
  } catch (error) {
    return { kind: 'refused', treeSize: latest.treeSize, status: 400, reason: `the log served a malformed checkpoint: ${(error as Error).message}` };
  }
  const proof =
    record && newSize > oldSize
      ? (await api.consistencyProof({ from: oldSize, to: newSize })).proof.map((line) => decodeBase64Strict(line) ?? new Uint8Array(0))
      : [];
  const decision = decideAddCheckpoint(
    { oldSize, proof, checkpoint: latest.note },
    (origin) => (origin === pinned.origin ? [verifier] : []),
    () => record,
  );
  // Same size as cosigned before: decideAddCheckpoint still requires the signature and the same root.
  if (decision.status !== 200) return { kind: 'refused', treeSize: newSize, status: decision.status, reason: decision.reason };
  const grew = !record || decision.record.treeSize > record.treeSize;
  // Record first, cosign after: a crash in between never leaves a cosignature the state does not know.
  if (grew) writeWitnessState(stateFile, { ...pinned, treeSize: decision.record.treeSize, rootHash: encodeBase64(decision.record.rootHash), cosignedAt: new Date().toISOString() });
  // The log already serves our cosignature of this checkpoint: nothing to hand in again.
  const served = parseNote(latest.note).signatures.some((sig) => sig.name === identity.signer.name && sig.keyId === identity.signer.keyId);
  if (!grew && served) return { kind: 'unchanged', treeSize: newSize };
  const line = cosignatureLines(decision.text, [identity.signer]);
  await api.submitCosignature({ treeSize: decision.record.treeSize, witnessKey: identity.verifierKey, signature: line });
  return grew ? { kind: 'cosigned', treeSize: decision.record.treeSize, previousSize: oldSize } : { kind: 'unchanged', treeSize: newSize };
}

/** The log's audit API over HTTP (fetch), with the witness's audit:read credential. */
export function httpWitnessApi(baseUrl: string, token: string | undefined, timeoutMs = 10_000): WitnessLogApi {
  const base = baseUrl.replace(/\/+$/, '');
  async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    if (!response.ok) {
      let detail = text.slice(0, 300);
      try {
        detail = (JSON.parse(text) as { detail?: string }).detail ?? detail;
      } catch {
        // not JSON: keep the text
      }
      throw new WitnessHttpError(`${method} ${path} answered ${response.status}: ${detail}`, response.status);
    }
    return JSON.parse(text) as T;
  }
  return {
    publicKey: () => call('GET', '/v1/audit/public-key'),
    checkpoint: () => call('GET', '/v1/audit/checkpoint'),
    consistencyProof: ({ from, to }) => call('GET', `/v1/audit/proofs/consistency?from=${from}&to=${to}`),
    submitCosignature: (body) => call('POST', '/v1/audit/cosignatures', body),
  };
}

export class WitnessHttpError extends Error {
  override name = 'WitnessHttpError';
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}
