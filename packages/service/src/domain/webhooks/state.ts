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
  /** The latest replay request: deliveries restart after `from` once the worker has seen `revision`. */
  replay: { revision: number; from: string | null } | null;
  /** Checkpoint of the creation event: deliveries start after it. */
  createdCheckpoint: string | null;
  createdAt: string;
  updatedAt: string;
  revision: number;
}
