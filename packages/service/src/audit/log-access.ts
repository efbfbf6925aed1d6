/**
 * What export, import and migrate need from the transparency log (the integrator keeps it in the
 * store's own database): the salt of each sealed leaf, the signed checkpoints and the key that
 * signed them, and, on the receiving side, a way to adopt the same salts and checkpoints so the
 * moved ledger keeps its tree (same leaves, same root, checkpoints that still verify).
 *
 * Until the log module is wired in, `openAuditLogAccess` answers with NO_AUDIT_LOG: no stored
 * salts (export then seals with fresh random ones and writes them to the file), no checkpoints,
 * and adoption is a no-op. Everything else (roots, counts, verification) works the same.
 */
import type { Config } from '../config/config.js';

export interface AuditLogAccess {
  /** Whether a log exists for this store (false for the stub). */
  readonly present: boolean;
  /** The salts stored for these events' leaves, by event id; events without private fields have none. */
  leafSalts(eventIds: readonly string[]): Promise<Map<string, Uint8Array>>;
  /** Every stored signed checkpoint (C2SP signed notes), oldest first. */
  checkpoints(): Promise<string[]>;
  /** The verifier key (`<name>+<id>+<base64>`) the checkpoints are signed with, if the log has one. */
  verifierKey(): Promise<string | undefined>;
  /** Receiving side: keep these salts for these leaves, so the tree built here equals the source's. */
  adoptLeafSalts(salts: ReadonlyMap<string, Uint8Array>): Promise<void>;
  /** Receiving side: keep the source's signed checkpoints (already verified by the caller). */
  adoptCheckpoints(notes: readonly string[], verifierKey: string | undefined): Promise<void>;
  close(): Promise<void>;
}

export const NO_AUDIT_LOG: AuditLogAccess = {
  present: false,
  leafSalts: async () => new Map(),
  checkpoints: async () => [],
  verifierKey: async () => undefined,
  adoptLeafSalts: async () => undefined,
  adoptCheckpoints: async () => undefined,
  close: async () => undefined,
};

/** The log of the store `database` describes (the stub until the log module provides one). */
export async function openAuditLogAccess(_database: Config['database']): Promise<AuditLogAccess> {
  return NO_AUDIT_LOG;
}
