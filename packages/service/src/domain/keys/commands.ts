/**
 * What a caller may ask of a key. Field types come from the event schemas so a command and the
 * event it produces cannot drift apart. Only `IssueKey` names its key: every other command is
 * decided against the state of the stream it was sent to.
 */
import type { EventData, Quota, RateLimit } from '@keyledger/schemas';
import type { Authority } from './authority.js';

type ScopeLists = EventData<'KeyScoped'>['added'];

/** Every command says who asks: the decider checks it against the key's kind (authority.ts). */
interface ByCaller {
  authority: Authority;
}

export type IssueKey = { type: 'IssueKey' } & EventData<'KeyIssued'> & ByCaller;

/** Replaces the scope list; `endpoints` undefined keeps the current endpoint rules. */
export interface ReplaceScopes extends ByCaller {
  type: 'ReplaceScopes';
  scopes: ScopeLists['scopes'];
  endpoints?: ScopeLists['endpoints'] | undefined;
}

/** Adds and/or removes scopes and endpoint rules, keeping the rest. */
export interface PatchScopes extends ByCaller {
  type: 'PatchScopes';
  add?: ScopeLists | undefined;
  remove?: ScopeLists | undefined;
}

/** Per-key limits: undefined keeps the current value, null removes it. */
export interface SetLimits extends ByCaller {
  type: 'SetLimits';
  rateLimit?: RateLimit | null | undefined;
  quota?: Quota | null | undefined;
}

export interface SuspendKey extends ByCaller {
  type: 'SuspendKey';
  reason: EventData<'KeySuspended'>['reason'];
  /** Active admin keys other than this one (from the key projection), for the last-admin rule. */
  otherActiveAdminKeys: number;
}

export interface ReinstateKey extends ByCaller {
  type: 'ReinstateKey';
  reason: EventData<'KeyReinstated'>['reason'];
}

export type RotateKey = { type: 'RotateKey' } & ByCaller & Pick<
  EventData<'KeyRotated'>,
  'successorId' | 'successorHint' | 'gracePeriodSeconds'
> & {
    /** The operator's ceiling for grace periods (configuration, not request input). */
    maxGracePeriodSeconds: number;
  };

export interface RevokeKey extends ByCaller {
  type: 'RevokeKey';
  reason: EventData<'KeyRevoked'>['reason'];
  /** Active admin keys other than this one (from the key projection), for the last-admin rule. */
  otherActiveAdminKeys: number;
}

/** A top-up of prepaid credits (whether the key's plan has credits is the command layer's check, with the plan loaded). */
export interface AddCredits extends ByCaller {
  type: 'AddCredits';
  amount: EventData<'KeyCreditsAdded'>['amount'];
  reason: EventData<'KeyCreditsAdded'>['reason'];
}

export type KeyCommand =
  | AddCredits
  | IssueKey
  | ReplaceScopes
  | PatchScopes
  | SetLimits
  | SuspendKey
  | ReinstateKey
  | RotateKey
  | RevokeKey;
