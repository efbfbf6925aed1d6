/**
 * The state of one key aggregate, folded from its stream. It is the API `Key` view without the
 * time-dependent `status` (derived at read time, see status.ts) plus what the view hides: the
 * digest verify looks keys up by, and the suspended / revoked flags.
 */
import type { EventData, Key } from '@keyledger/schemas';

export type KeyState = Omit<Key, 'status'> & {
  digest: EventData<'KeyIssued'>['digest'];
  suspended: boolean;
  revoked: boolean;
};
