/**
 * Known answer: the signed-note example published with the Go sumdb/note package and its ports
 * (signer key PeterNeumann, Ed25519 is deterministic so the signature line is fixed). The key id
 * c74f20a3 follows from the spec's formula SHA-256(name || 0x0A || 0x01 || public key)[:4].
 */
import { describe, expect, it } from 'vitest';
import {
  decodeSignerKey,
  decodeVerifierKey,
  generateNoteKeyPair,
  keyIdHex,
  NoteError,
  noteKeyId,
  noteKeyPairFromSeed,
  noteSignerFromKey,
  noteVerifierFromKey,
  openNote,
  parseNote,
  signNote,
} from '../../src/index.js';

const PETER_SKEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const PETER_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const PETER_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_NOTE = `${PETER_TEXT}\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`;

describe('signed notes: the published example', () => {
  it('the key id is SHA-256(name || 0x0A || 0x01 || public key)[:4] and the verifier key follows', () => {
    const { name, key } = decodeSignerKey(PETER_SKEY);
    const { verifierKey } = noteKeyPairFromSeed(name, key);
    expect(verifierKey).toBe(PETER_VKEY);
    const vk = decodeVerifierKey(PETER_VKEY);
    expect(keyIdHex(noteKeyId('PeterNeumann', 0x01, vk.key))).toBe('c74f20a3');
  });

  it('signing gives the published note, and it opens with the published verifier key', () => {
    expect(signNote(PETER_TEXT, [noteSignerFromKey(PETER_SKEY)])).toBe(PETER_NOTE);
    const opened = openNote(PETER_NOTE, [noteVerifierFromKey(PETER_VKEY)]);
    expect(opened.text).toBe(PETER_TEXT);
    expect(opened.verified.map((s) => s.name)).toEqual(['PeterNeumann']);
  });
});

describe('signed notes: round trips and refusals', () => {
  const log = generateNoteKeyPair('log.example/keyledger');
  const other = generateNoteKeyPair('other.example/log');
  const text = 'first line\nsecond line\n';
  const note = signNote(text, [noteSignerFromKey(log.signerKey)]);

  it('opens with the signer\'s verifier key and ignores signatures from unknown keys', () => {
    const twice = signNote(text, [noteSignerFromKey(log.signerKey), noteSignerFromKey(other.signerKey)]);
    const opened = openNote(twice, [noteVerifierFromKey(log.verifierKey)]);
    expect(opened.text).toBe(text);
    expect(opened.verified.map((s) => s.name)).toEqual(['log.example/keyledger']);
    expect(opened.unknown.map((s) => s.name)).toEqual(['other.example/log']);
    expect(openNote(new TextEncoder().encode(note), [noteVerifierFromKey(log.verifierKey)]).text).toBe(text);
  });

  it('refuses a tampered body', () => {
    const tampered = note.replace('second line', 'second lime');
    expect(() => openNote(tampered, [noteVerifierFromKey(log.verifierKey)])).toThrow(/does not verify/);
  });

  it('refuses a tampered signature', () => {
    const line = note.split('\n').at(-2) as string;
    const b64 = line.split(' ').at(-1) as string;
    const bytes = Buffer.from(b64, 'base64');
    bytes[10] = (bytes[10] as number) ^ 1;
    const tampered = note.replace(b64, bytes.toString('base64'));
    expect(() => openNote(tampered, [noteVerifierFromKey(log.verifierKey)])).toThrow(/does not verify/);
  });

  it('refuses a note no known key signed, and a failed known signature even next to a good one', () => {
    expect(() => openNote(note, [noteVerifierFromKey(other.verifierKey)])).toThrow(/no verified signature/);
    // A forged line under the log's name and key id, beside the genuine one: the whole note is refused.
    const genuine = parseNote(note).signatures[0];
    const forgedLine = `\u2014 log.example/keyledger ${Buffer.concat([Buffer.from(keyIdHex(genuine?.keyId ?? 0), 'hex'), Buffer.alloc(64, 1)]).toString('base64')}\n`;
    expect(() => openNote(note + forgedLine, [noteVerifierFromKey(log.verifierKey)])).toThrow(/does not verify/);
  });

  it('a key with the same name but another key id is unknown, not a failure', () => {
    const impostor = generateNoteKeyPair('log.example/keyledger');
    const signedByImpostor = signNote(text, [noteSignerFromKey(impostor.signerKey)]);
    expect(() => openNote(signedByImpostor, [noteVerifierFromKey(log.verifierKey)])).toThrow(/no verified signature/);
  });

  it.each([
    ['no blank line', 'text\n\u2014 a AAAAAAAA\n'],
    ['no final newline', `${note.slice(0, -1)}`],
    ['a control character', note.replace('first', 'fi\u0007rst')],
    ['a line that is not a signature', `${note}not a signature\n`],
    ['a signature that is not base64', `${text}\n\u2014 log.example/keyledger !!!!\n`],
    ['a signature shorter than a key id', `${text}\n\u2014 log.example/keyledger AAAA\n`],
    ['a key name with a plus', `${text}\n\u2014 a+b AAAAAAAA\n`],
    ['a hyphen instead of an em dash', note.replace('\u2014', '-')],
  ])('refuses a note with %s', (_what, bad) => {
    expect(() => openNote(bad, [noteVerifierFromKey(log.verifierKey)])).toThrow(NoteError);
  });

  it('refuses invalid UTF-8 and more than 100 signatures', () => {
    const bytes = Buffer.concat([Buffer.from('a'), Buffer.of(0xff), Buffer.from(note)]);
    expect(() => openNote(bytes, [noteVerifierFromKey(log.verifierKey)])).toThrow(/UTF-8/);
    const line = note.slice(text.length + 1);
    expect(() => openNote(text + '\n' + line.repeat(101), [noteVerifierFromKey(log.verifierKey)])).toThrow(/more than 100/);
  });

  it('will not sign text that could not be read back as the same note', () => {
    const signer = noteSignerFromKey(log.signerKey);
    for (const bad of ['no newline', 'ends in a blank line\n\n', '\n', 'bell \u0007\n']) expect(() => signNote(bad, [signer])).toThrow(NoteError);
  });

  it('refuses key strings whose id does not match, or of the wrong type', () => {
    const [name, , ...material] = log.verifierKey.split('+');
    expect(() => decodeVerifierKey(`${name}+00000000+${material.join('+')}`)).toThrow(/does not match/);
    expect(() => noteVerifierFromKey('just-a-name')).toThrow(/name\+id\+key/);
    expect(() => noteSignerFromKey(log.verifierKey)).toThrow(/PRIVATE\+KEY/);
    const cosigner = generateNoteKeyPair('witness.example/w1', 0x04);
    expect(() => noteVerifierFromKey(cosigner.verifierKey)).toThrow(/not an Ed25519 note key/);
  });
});
