/**
 * The successor of a rotation is a new key with the same grants: whoever held the old key must be
 * able to swap it for the new one without anything else changing.
 */
import type { Authority } from './authority.js';
import type { IssueKey } from './commands.js';
import type { KeyState } from './state.js';

export function successorIssue(
  previous: KeyState,
  successor: { keyId: string; digest: string; hint: string },
  authority: Authority,
): IssueKey {
  return {
    type: 'IssueKey',
    authority,
    keyId: successor.keyId,
    kind: previous.kind,
    consumerId: previous.consumerId,
    planId: previous.planId,
    name: previous.name,
    environment: previous.environment,
    digest: successor.digest,
    hint: successor.hint,
    scopes: [...previous.scopes],
    endpoints: [...previous.endpoints],
    permissions: [...previous.permissions],
    expiresAt: previous.expiresAt,
    meta: structuredClone(previous.meta),
    rateLimit: previous.rateLimit === null ? null : { ...previous.rateLimit },
    quota: previous.quota === null ? null : { ...previous.quota },
    rotatedFrom: previous.id,
    networks: [...previous.networks],
  };
}
