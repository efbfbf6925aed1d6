/**
 * Who may do what to which kind of key. These rules are the management plane's security
 * invariants; they live here, in the decider, so that no route, CLI command or future caller can
 * skip them:
 * - a consumer key never carries a management permission; a management key carries at least one
 *   and nothing a gateway would check (scopes, endpoint rules, limits, plan);
 * - minting a management key, and any command on an existing one, needs `admin`;
 * - no command hands out a secret whose permissions exceed the caller's;
 * - the last active admin key cannot be revoked or suspended (that would lock every operator out;
 *   `keyledger root-key reset` on the host is the only way back).
 */
import { hasPermission, type Permission } from '@keyledger/schemas';
import { KeyDomainError } from './errors.js';
import type { KeyState } from './state.js';

/** The caller of a command, as far as authorisation is concerned. */
export interface Authority {
  /** `key`: a management key over HTTP; `system`: keyledger itself; `host-operator`: the CLI on the host. */
  kind: 'key' | 'system' | 'host-operator';
  permissions: readonly Permission[];
}

/** keyledger itself (bootstrap) and the operator on the host (break-glass) act with admin authority. */
export const SYSTEM_AUTHORITY: Authority = { kind: 'system', permissions: ['admin'] };
export const HOST_OPERATOR_AUTHORITY: Authority = { kind: 'host-operator', permissions: ['admin'] };

export const isAdmin = (authority: Authority) => authority.permissions.includes('admin');

/** The permissions a secret carrying `permissions` would give; refused when the caller has less. */
export function assertMayHoldSecretWith(permissions: readonly Permission[], authority: Authority): void {
  const beyond = permissions.filter((permission) => !hasPermission(authority.permissions, permission));
  if (beyond.length > 0) {
    throw new KeyDomainError(
      'FORBIDDEN',
      `this would hand out a key with permissions the caller does not hold (${beyond.join(', ')})`,
    );
  }
}

/** The shape every key of a kind must have; checked on issue (and so on every rotation). */
export function assertKindInvariants(key: {
  kind: KeyState['kind'];
  permissions: readonly Permission[];
  scopes: readonly string[];
  endpoints: readonly string[];
  rateLimit: unknown;
  quota: unknown;
  planId: string | null;
}): void {
  if (key.kind === 'consumer') {
    if (key.permissions.length > 0) {
      throw new KeyDomainError(
        'INVALID_ARGUMENT',
        `a consumer key cannot carry management permissions (${key.permissions.join(', ')}); issue a key of kind 'management' instead`,
      );
    }
    return;
  }
  if (key.permissions.length === 0) {
    throw new KeyDomainError('INVALID_ARGUMENT', 'a management key needs at least one permission');
  }
  const consumerOnly = [
    key.scopes.length > 0 && 'scopes',
    key.endpoints.length > 0 && 'endpoints',
    key.rateLimit !== null && 'rateLimit',
    key.quota !== null && 'quota',
    key.planId !== null && 'planId',
  ].filter((field): field is string => typeof field === 'string');
  if (consumerOnly.length > 0) {
    throw new KeyDomainError(
      'INVALID_ARGUMENT',
      `a management key is never verified by gateways, so it cannot have ${consumerOnly.join(', ')}`,
    );
  }
}

/** Minting a management key, and every command on one, needs admin. */
export function assertMayActOn(kind: KeyState['kind'], authority: Authority, action: string): void {
  if (kind === 'management' && !isAdmin(authority)) {
    throw new KeyDomainError('FORBIDDEN', `only an admin credential may ${action} a management key`);
  }
}

/** A key that currently lets its holder act as admin. */
export function isActiveAdminKey(state: KeyState, nowMs: number): boolean {
  if (state.kind !== 'management' || state.revoked || state.suspended || !state.permissions.includes('admin')) return false;
  if (state.expiresAt !== null && Date.parse(state.expiresAt) <= nowMs) return false;
  if (state.validUntil !== null && Date.parse(state.validUntil) <= nowMs) return false;
  return true;
}

/** Refuses to take away the last active admin key (revoke, suspend). */
export function assertNotLastAdmin(state: KeyState, otherActiveAdminKeys: number, nowMs: number, action: string): void {
  if (isActiveAdminKey(state, nowMs) && otherActiveAdminKeys < 1) {
    throw new KeyDomainError(
      'LAST_ADMIN_KEY',
      `key ${state.id} is the last active admin key; ${action} it and nobody could manage keyledger. Issue another admin key first (or use 'keyledger root-key reset' on the host)`,
    );
  }
}

/**
 * Only consumer keys are ever VALID for a gateway: a management key presented to verify is
 * answered as if it did not exist, so verify cannot be used to probe management credentials.
 */
export const isVerifiableByGateways = (state: Pick<KeyState, 'kind'>) => state.kind === 'consumer';
