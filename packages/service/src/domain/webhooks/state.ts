/** The state of one webhook endpoint, folded from its `webhook-<id>` stream. */
import type { WebhookFilters, WebhookFormat } from '@keyledger/schemas';

export interface WebhookState {
  id: string;
  url: string;
  eventTypes: string[];
  filters: WebhookFilters;
  format: WebhookFormat;
  description: string | null;
  secretSalt: string;
  enabled: boolean;
  disabledCause: 'manual' | 'failing' | null;
  disabledDetail: string | null;
  deleted: boolean;
  /**
   * Where deliveries continue, set by the latest replay request (its checkpoint) or re-enable
   * (the enable event's own checkpoint: a disabled endpoint does not queue, a replay fills the
   * gap); the worker moves its cursor there once, remembering `revision`. A replay asked while
   * disabled survives the enable that follows it.
   */
  replay: { revision: number; from: string | null } | null;
  /** Revision of the last disable; 0 when never disabled. */
  disabledRevision: number;
  /** Checkpoint of the creation event: deliveries start after it. */
  createdCheckpoint: string | null;
  createdAt: string;
  updatedAt: string;
  revision: number;
}
