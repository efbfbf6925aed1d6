/**
 * C2SP signed notes (c2sp.org/signed-note): a text ending in a newline, a blank line, then one or
 * more lines `— <key name> base64(4-byte key id || signature)`. The key id is
 * SHA-256(name || 0x0A || signature type || public key)[:4], big-endian; type 0x01 is Ed25519
 * over the text itself (c2sp.org/tlog-cosignature defines 0x04, see cosignature.ts).
 *
 * Verification follows the spec: signatures from unknown (name, key id) pairs are ignored, a known
 * key's signature that fails rejects the whole note, and a note with no verified known signature
 * is rejected.
 *
 * Key strings use the Go sumdb/note encoding that tlog tools share:
 *   verifier key  <name>+<hex key id>+<base64(type || public key)>
 *   signer key    PRIVATE+KEY+<name>+<hex key id>+<base64(type || 32-byte Ed25519 seed)>
 */
import * as crypto from 'node:crypto';
import { concatBytes, decodeBase64Strict, encodeBase64, fromHex, utf8 } from './bytes.js';
import { sha256 } from './hash.js';

export const ED25519_NOTE_TYPE = 0x01;
/** Far above any checkpoint; bounds the work a hostile note can cause. */
export const MAX_NOTE_BYTES = 1 << 20;
export const MAX_NOTE_SIGNATURES = 100;
const EM_DASH_SPACE = '\u2014 ';

export class NoteError extends Error {
  override name = 'NoteError';
}

export interface NoteSigner {
  readonly name: string;
  /** uint32 */
  readonly keyId: number;
  /** The signature bytes that follow the key id, over the note text (UTF-8, final newline included). */
  sign(text: Uint8Array): Uint8Array;
}

export interface NoteVerifier {
  readonly name: string;
  readonly keyId: number;
  verify(text: Uint8Array, signature: Uint8Array): boolean;
}

export interface NoteSignature {
  name: string;
  keyId: number;
  /** Without the 4-byte key id. */
  signature: Uint8Array;
}

export interface ParsedNote {
  /** The signed text, final newline included. */
  text: string;
  signatures: NoteSignature[];
}

export interface OpenedNote extends ParsedNote {
  /** Signatures that known keys verified. */
  verified: NoteSignature[];
  /** Signatures from keys the caller did not name (ignored, as the spec requires). */
  unknown: NoteSignature[];
}

/** Key names are non-empty and hold no Unicode space and no '+'. */
export function isValidKeyName(name: string): boolean {
  return name.length > 0 && !/[\s+]/u.test(name) && !CONTROL.test(name) && !LONE_SURROGATE.test(name);
}

const CONTROL = /[\u0000-\u0009\u000b-\u001f]/;
const LONE_SURROGATE = /\p{Surrogate}/u;

/** SHA-256(name || 0x0A || type || public key)[:4] as a big-endian uint32. */
export function noteKeyId(name: string, type: number, publicKey: Uint8Array): number {
  const digest = sha256(concatBytes(utf8(name), Uint8Array.of(0x0a, type), publicKey));
  return Buffer.from(digest).readUInt32BE(0);
}

export function keyIdHex(keyId: number): string {
  return keyId.toString(16).padStart(8, '0');
}

/** Signs `text` with every signer and appends their lines after `existing` ones (if any). */
export function signNote(text: string, signers: readonly NoteSigner[], existing: readonly NoteSignature[] = []): string {
  assertNoteText(text);
  if (signers.length + existing.length === 0) throw new NoteError('a signed note needs at least one signature');
  const bytes = utf8(text);
  const lines = existing.map(formatSignatureLine);
  for (const signer of signers) {
    if (!isValidKeyName(signer.name)) throw new NoteError(`invalid key name '${signer.name}'`);
    lines.push(formatSignatureLine({ name: signer.name, keyId: signer.keyId, signature: signer.sign(bytes) }));
  }
  const note = `${text}\n${lines.join('')}`;
  if (utf8(note).length > MAX_NOTE_BYTES) throw new NoteError(`signed note exceeds ${MAX_NOTE_BYTES} bytes`);
  return note;
}

export function formatSignatureLine(sig: NoteSignature): string {
  const keyId = new Uint8Array(4);
  Buffer.from(keyId.buffer).writeUInt32BE(sig.keyId >>> 0, 0);
  return `${EM_DASH_SPACE}${sig.name} ${encodeBase64(concatBytes(keyId, sig.signature))}\n`;
}

/** Splits a note into text and signature lines without verifying anything. Throws NoteError. */
export function parseNote(note: string | Uint8Array): ParsedNote {
  const text = typeof note === 'string' ? note : decodeUtf8(note);
  if (utf8(text).length > MAX_NOTE_BYTES) throw new NoteError(`note exceeds ${MAX_NOTE_BYTES} bytes`);
  if (LONE_SURROGATE.test(text)) throw new NoteError('note is not valid UTF-8');
  if (CONTROL.test(text)) throw new NoteError('note contains a control character other than newline');
  const split = text.lastIndexOf('\n\n');
  if (split < 0) throw new NoteError('note has no blank line before its signatures');
  const body = text.slice(0, split + 1);
  const block = text.slice(split + 2);
  if (!block.endsWith('\n')) throw new NoteError('note does not end with a newline');
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_NOTE_SIGNATURES) throw new NoteError(`note has more than ${MAX_NOTE_SIGNATURES} signatures`);
  return { text: body, signatures: lines.map(parseSignatureLine) };
}

/** Parses one signature line (without its newline). Throws NoteError. */
export function parseSignatureLine(line: string): NoteSignature {
  if (!line.startsWith(EM_DASH_SPACE)) throw new NoteError('signature line does not start with an em dash and a space');
  const rest = line.slice(EM_DASH_SPACE.length);
  const space = rest.lastIndexOf(' ');
  const name = rest.slice(0, Math.max(space, 0));
  if (space < 0 || !isValidKeyName(name)) throw new NoteError('signature line has no valid key name');
  const bytes = decodeBase64Strict(rest.slice(space + 1));
  if (!bytes || bytes.length < 5) throw new NoteError(`signature of '${name}' is not base64 of a key id and a signature`);
  return { name, keyId: Buffer.from(bytes.buffer, bytes.byteOffset, 4).readUInt32BE(0), signature: bytes.slice(4) };
}

/**
 * Verifies a note against the keys the caller trusts and returns its text. Throws NoteError when
 * a known key's signature fails or when no known key signed it.
 */
export function openNote(note: string | Uint8Array, verifiers: readonly NoteVerifier[]): OpenedNote {
  const parsed = parseNote(note);
  const text = utf8(parsed.text);
  const verified: NoteSignature[] = [];
  const unknown: NoteSignature[] = [];
  for (const sig of parsed.signatures) {
    const verifier = verifiers.find((v) => v.name === sig.name && v.keyId === sig.keyId);
    if (!verifier) {
      unknown.push(sig);
      continue;
    }
    if (!verifier.verify(text, sig.signature)) throw new NoteError(`signature of '${sig.name}' (key ${keyIdHex(sig.keyId)}) does not verify`);
    verified.push(sig);
  }
  if (verified.length === 0) throw new NoteError('note has no verified signature from a known key');
  return { ...parsed, verified, unknown };
}

function assertNoteText(text: string): void {
  if (!text.endsWith('\n') || text.endsWith('\n\n') || text === '\n') throw new NoteError('note text must end in one newline after a non-empty line');
  if (LONE_SURROGATE.test(text)) throw new NoteError('note text is not valid UTF-8');
  if (CONTROL.test(text)) throw new NoteError('note text contains a control character other than newline');
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
function decodeUtf8(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new NoteError('note is not valid UTF-8');
  }
}

// Ed25519 keys ---------------------------------------------------------------------------------

// DER prefixes that wrap a raw 32-byte Ed25519 key (RFC 8410) so node:crypto can import it.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export function ed25519PrivateKey(seed: Uint8Array): crypto.KeyObject {
  if (seed.length !== 32) throw new NoteError('an Ed25519 private key is a 32-byte seed');
  return crypto.createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

export function ed25519PublicKey(publicKey: Uint8Array): crypto.KeyObject {
  if (publicKey.length !== 32) throw new NoteError('an Ed25519 public key is 32 bytes');
  return crypto.createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, publicKey]), format: 'der', type: 'spki' });
}

export function ed25519PublicKeyOf(seed: Uint8Array): Uint8Array {
  const der = crypto.createPublicKey(ed25519PrivateKey(seed)).export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(SPKI_ED25519_PREFIX.length));
}

export interface NoteKeyPair {
  /** PRIVATE+KEY+... : a secret, kept outside the database. */
  signerKey: string;
  /** <name>+<hex id>+<base64>: public, configured in clients and witnesses. */
  verifierKey: string;
}

/** A fresh Ed25519 key pair as note key strings, for the given signature type (0x01 notes, 0x04 cosignatures). */
export function generateNoteKeyPair(name: string, type: number = ED25519_NOTE_TYPE): NoteKeyPair {
  if (!isValidKeyName(name)) throw new NoteError(`invalid key name '${name}'`);
  const seed = new Uint8Array(crypto.randomBytes(32));
  return noteKeyPairFromSeed(name, seed, type);
}

export function noteKeyPairFromSeed(name: string, seed: Uint8Array, type: number = ED25519_NOTE_TYPE): NoteKeyPair {
  const publicKey = ed25519PublicKeyOf(seed);
  const id = keyIdHex(noteKeyId(name, type, publicKey));
  return {
    signerKey: `PRIVATE+KEY+${name}+${id}+${encodeBase64(concatBytes(Uint8Array.of(type), seed))}`,
    verifierKey: `${name}+${id}+${encodeBase64(concatBytes(Uint8Array.of(type), publicKey))}`,
  };
}

export interface DecodedNoteKey {
  name: string;
  keyId: number;
  type: number;
  /** The 32-byte public key (verifier keys) or seed (signer keys). */
  key: Uint8Array;
}

/** Decodes `<name>+<hex id>+<base64(type || public key)>` and checks that the id matches. */
export function decodeVerifierKey(vkey: string): DecodedNoteKey {
  const decoded = decodeKeyParts(vkey, 'verifier key');
  if (decoded.keyId !== noteKeyId(decoded.name, decoded.type, decoded.key)) throw new NoteError('verifier key id does not match its name and public key');
  return decoded;
}

/** Decodes `PRIVATE+KEY+<name>+<hex id>+<base64(type || seed)>` and checks that the id matches. */
export function decodeSignerKey(skey: string): DecodedNoteKey {
  if (!skey.startsWith('PRIVATE+KEY+')) throw new NoteError('signer key does not start with PRIVATE+KEY+');
  const decoded = decodeKeyParts(skey.slice('PRIVATE+KEY+'.length), 'signer key');
  if (decoded.keyId !== noteKeyId(decoded.name, decoded.type, ed25519PublicKeyOf(decoded.key))) throw new NoteError('signer key id does not match its name and key');
  return decoded;
}

/** `<name>+<hex id>+<base64>`: names hold no '+', base64 may, so only the first two split. */
function decodeKeyParts(text: string, what: string): DecodedNoteKey {
  const first = text.indexOf('+');
  const second = first < 0 ? -1 : text.indexOf('+', first + 1);
  if (second < 0) throw new NoteError(`${what} must have the form name+id+key`);
  const name = text.slice(0, first);
  const idHex = text.slice(first + 1, second);
  const material = text.slice(second + 1);
  if (!isValidKeyName(name)) throw new NoteError(`${what} has an invalid name`);
  const id = idHex.length === 8 ? fromHex(idHex) : undefined;
  if (!id) throw new NoteError(`${what} id must be 8 lower-case hex digits`);
  const bytes = decodeBase64Strict(material);
  if (!bytes || bytes.length !== 33) throw new NoteError(`${what} must carry a type byte and a 32-byte Ed25519 key`);
  return { name, keyId: Buffer.from(id).readUInt32BE(0), type: bytes[0] as number, key: bytes.slice(1) };
}

/** An Ed25519 note signer (type 0x01) from a PRIVATE+KEY+... string. */
export function noteSignerFromKey(skey: string): NoteSigner {
  const { name, keyId, type, key } = decodeSignerKey(skey);
  if (type !== ED25519_NOTE_TYPE) throw new NoteError(`signer key type 0x${type.toString(16).padStart(2, '0')} is not an Ed25519 note key (0x01)`);
  const privateKey = ed25519PrivateKey(key);
  return { name, keyId, sign: (text) => new Uint8Array(crypto.sign(null, text, privateKey)) };
}

/** An Ed25519 note verifier (type 0x01) from a verifier key string. */
export function noteVerifierFromKey(vkey: string): NoteVerifier {
  const { name, keyId, type, key } = decodeVerifierKey(vkey);
  if (type !== ED25519_NOTE_TYPE) throw new NoteError(`verifier key type 0x${type.toString(16).padStart(2, '0')} is not an Ed25519 note key (0x01)`);
  const publicKey = ed25519PublicKey(key);
  return { name, keyId, verify: (text, signature) => signature.length === 64 && crypto.verify(null, text, publicKey, signature) };
}
