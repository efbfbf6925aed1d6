/**
 * What a caller may ask of a key. Field types come from the event schemas so a command and the
 * event it produces cannot drift apart. Only `IssueKey` names its key: every other command is
 * decided against the state of the stream it was sent to.
 */
import type { EventData, Quota, RateLimit } from '@keyledger/schemas';

type ScopeLists = EventData<'KeyScoped'>['added'];

export type IssueKey = { type: 'IssueKey' } & EventData<'KeyIssued'>;

/** Replaces the scope list; `endpoints` undefined keeps the current endpoint rules. */
export interface ReplaceScopes {
  type: 'ReplaceScopes';
  scopes: ScopeLists['scopes'];
  endpoints?: ScopeLists['endpoints'] | undefined;
}

/** Adds and/or removes scopes and endpoint rules, keeping the rest. */
export interface PatchScopes {
  type: 'PatchScopes';
  add?: ScopeLists | undefined;
  remove?: ScopeLists | undefined;
}

/** Per-key limits: undefined keeps the current value, null removes it. */
export interface SetLimits {
  type: 'SetLimits';
  rateLimit?: RateLimit | null | undefined;
  quota?: Quota | null | undefined;
}

export interface SuspendKey {
  type: 'SuspendKey';
  reason: EventData<'KeySuspended'>['reason'];
}

export interface ReinstateKey {
  type: 'ReinstateKey';
  reason: EventData<'KeyReinstated'>['reason'];
}

export type RotateKey = { type: 'RotateKey' } & Pick<
  EventData<'KeyRotated'>,
  'successorId' | 'successorHint' | 'gracePeriodSeconds'
> & {
    /** The operator's ceiling for grace periods (configuration, not request input). */
    maxGracePeriodSeconds: number;
  };

export interface RevokeKey {
  type: 'RevokeKey';
  reason: EventData<'KeyRevoked'>['reason'];
}

export type KeyCommand =
  | IssueKey
  | ReplaceScopes
  | PatchScopes
  | SetLimits
  | SuspendKey
  | ReinstateKey
  | RotateKey
  | RevokeKey;
