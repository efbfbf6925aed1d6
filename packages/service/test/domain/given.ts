/**
 * A tiny given/when/then harness for the key decider:
 *
 *   given([issued()]).when({ type: 'SuspendKey', reason: 'fraud' }).then([suspended('fraud')]);
 *   given([issued(), revoked()]).when(suspendCmd).thenThrows('KEY_REVOKED', /revoked/);
 *
 * The history is folded with the real `evolve`, so each test also exercises the fold.
 */
import type { KeyEvent } from '@keyledger/schemas';
import { expect } from 'vitest';
import { WRITER } from './fixtures.js';
import {
  type Authority,
  decide,
  foldKey,
  KeyDomainError,
  type KeyCommand,
  type KeyDomainErrorCode,
  type KeyState,
} from '../../src/domain/keys/index.js';

/** The decision instant of every scenario unless a test says otherwise. */
export const NOW = new Date('2030-06-01T12:00:00.000Z');
/** History events are recorded one minute apart, starting a day before NOW. */
export const HISTORY_START = new Date(NOW.getTime() - 86_400_000);

export function recordedAt(index: number): string {
  return new Date(HISTORY_START.getTime() + index * 60_000).toISOString();
}

export function foldHistory(events: readonly KeyEvent[]): KeyState | null {
  return foldKey(events.map((event, revision) => ({ event, revision, occurredAt: recordedAt(revision) })));
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/**
 * A command as a scenario writes it: who asks defaults to a plain writer (fixtures WRITER), and
 * the last-admin count to "another admin exists", so only the scenarios about them say so.
 */
export type ScenarioCommand = DistributiveOmit<KeyCommand, 'authority' | 'otherActiveAdminKeys'> & {
  authority?: Authority;
  otherActiveAdminKeys?: number;
};

export function complete(command: ScenarioCommand): KeyCommand {
  const filled = { authority: WRITER, ...command } as KeyCommand;
  if ((filled.type === 'RevokeKey' || filled.type === 'SuspendKey') && filled.otherActiveAdminKeys === undefined) {
    return { ...filled, otherActiveAdminKeys: 1 };
  }
  return filled;
}

export interface Outcome {
  then(expected: KeyEvent[]): void;
  thenThrows(code: KeyDomainErrorCode, message?: RegExp): KeyDomainError;
}

export function given(history: readonly KeyEvent[]) {
  return {
    when(command: ScenarioCommand, now: Date = NOW): Outcome {
      const run = () => decide(complete(command), foldHistory(history), now);
      return {
        then(expected) {
          expect(run()).toEqual(expected);
        },
        thenThrows(code, message) {
          let caught: unknown;
          try {
            run();
          } catch (error) {
            caught = error;
          }
          expect(caught, `expected ${code}, but the command was accepted`).toBeInstanceOf(KeyDomainError);
          const error = caught as KeyDomainError;
          expect(error.code).toBe(code);
          if (message) expect(error.message).toMatch(message);
          return error;
        },
      };
    },
  };
}
