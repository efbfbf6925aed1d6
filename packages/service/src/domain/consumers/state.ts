/** One consumer aggregate folded from its stream (`consumer-<id>`). */
import type { ConsumerStatus, EventData } from '@keyledger/schemas';

export interface VettingCheck {
  check: string;
  passed: boolean;
  performedBy: string | null;
  evidence: EventData<'ConsumerCheckRecorded'>['evidence'];
  recordedAt: string;
}

export type ConsumerState = Omit<EventData<'ConsumerRegistered'>, 'consumerId'> & {
  id: string;
  status: ConsumerStatus;
  /** Every check ever recorded, in order (a later result of the same check supersedes an earlier one). */
  checks: VettingCheck[];
  decidedBy: string | null;
  decisionReason: string | null;
  suspendedReason: string | null;
  closedReason: string | null;
  createdAt: string;
  updatedAt: string;
  revision: number;
};
