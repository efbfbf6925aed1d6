/** What a caller may ask of a consumer. Field types come from the event schemas. */
import type { EventData } from '@keyledger/schemas';

export type RegisterConsumer = { type: 'RegisterConsumer' } & EventData<'ConsumerRegistered'>;
export type RecordCheck = { type: 'RecordCheck' } & Omit<EventData<'ConsumerCheckRecorded'>, 'consumerId'>;
export interface ApproveConsumer {
  type: 'ApproveConsumer';
  reviewer: string;
  reason: string | null;
  /** Checks that must have passed (latest result) before approval; from the installation's settings. */
  requiredChecks: readonly string[];
}
export interface RejectConsumer {
  type: 'RejectConsumer';
  reviewer: string;
  reason: string | null;
}
export interface SuspendConsumer {
  type: 'SuspendConsumer';
  reason: string | null;
}
export interface ReinstateConsumer {
  type: 'ReinstateConsumer';
  reason: string | null;
}
export interface CloseConsumer {
  type: 'CloseConsumer';
  reason: string | null;
}

export type ConsumerCommand =
  | RegisterConsumer
  | RecordCheck
  | ApproveConsumer
  | RejectConsumer
  | SuspendConsumer
  | ReinstateConsumer
  | CloseConsumer;
