/** The API view of a consumer: its state as the API shows it. */
import type { Consumer } from '@keyledger/schemas';
import type { ConsumerState } from './state.js';

export function toConsumerView(state: ConsumerState): Consumer {
  return {
    id: state.id,
    name: state.name,
    email: state.email,
    organisation: state.organisation,
    intendedUse: state.intendedUse,
    externalId: state.externalId,
    allowedNetworks: state.allowedNetworks,
    status: state.status,
    checks: state.checks,
    decidedBy: state.decidedBy,
    decisionReason: state.decisionReason,
    suspendedReason: state.suspendedReason,
    closedReason: state.closedReason,
    createdAt: state.createdAt,
    updatedAt: state.updatedAt,
    revision: state.revision,
  };
}
