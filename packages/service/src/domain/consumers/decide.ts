/**
 * The consumer decider. A consumer is registered (pending), vetted by recorded checks, then
 * approved or rejected by a reviewer; an approved consumer may be suspended and reinstated; any
 * consumer may be closed, which is final. Pure: no I/O, no clock of its own.
 */
import type { ConsumerEvent } from '@keyledger/schemas';
import { DomainError } from '../errors.js';
import { validated } from '../validate-event.js';
import type { ConsumerCommand } from './commands.js';
import { latestChecks } from './evolve.js';
import type { ConsumerState } from './state.js';

export function decideConsumer(command: ConsumerCommand, state: ConsumerState | null): ConsumerEvent[] {
  return validated(decideUnchecked(command, state));
}

function decideUnchecked(command: ConsumerCommand, state: ConsumerState | null): ConsumerEvent[] {
  if (command.type === 'RegisterConsumer') {
    if (state !== null) throw new DomainError('EXISTS', `consumer ${state.id} is already registered`, 'consumer-exists');
    const { type: _type, ...data } = command;
    return [{ type: 'ConsumerRegistered', data: { ...data, allowedNetworks: [...new Set(data.allowedNetworks)] } }];
  }
  if (state === null) throw new DomainError('NOT_FOUND', 'consumer not found');
  const consumerId = state.id;
  if (state.status === 'closed') {
    throw new DomainError('INVALID_TRANSITION', `consumer ${consumerId} is closed; a closed consumer cannot change`, 'consumer-closed');
  }
  switch (command.type) {
    case 'RecordCheck': {
      const { type: _type, ...check } = command;
      return [{ type: 'ConsumerCheckRecorded', data: { consumerId, ...check } }];
    }
    case 'ApproveConsumer': {
      if (state.status !== 'pending') {
        throw new DomainError('INVALID_TRANSITION', `consumer ${consumerId} is ${state.status}, not pending; only a pending consumer can be approved`, 'consumer-not-pending');
      }
      const latest = latestChecks(state);
      const missing = command.requiredChecks.filter((name) => latest.get(name)?.passed !== true);
      if (missing.length > 0) {
        throw new DomainError('RULE_VIOLATED', `consumer ${consumerId} cannot be approved before these checks pass: ${missing.join(', ')}`, 'checks-required');
      }
      return [{ type: 'ConsumerApproved', data: { consumerId, reviewer: command.reviewer, reason: command.reason } }];
    }
    case 'RejectConsumer':
      if (state.status !== 'pending') {
        throw new DomainError('INVALID_TRANSITION', `consumer ${consumerId} is ${state.status}, not pending; only a pending consumer can be rejected`, 'consumer-not-pending');
      }
      return [{ type: 'ConsumerRejected', data: { consumerId, reviewer: command.reviewer, reason: command.reason } }];
    case 'SuspendConsumer':
      if (state.status !== 'approved') {
        throw new DomainError('INVALID_TRANSITION', `consumer ${consumerId} is ${state.status}; only an approved consumer can be suspended`, 'consumer-not-approved');
      }
      return [{ type: 'ConsumerSuspended', data: { consumerId, reason: command.reason } }];
    case 'ReinstateConsumer':
      if (state.status !== 'suspended') {
        throw new DomainError('INVALID_TRANSITION', `consumer ${consumerId} is ${state.status}, not suspended`, 'consumer-not-suspended');
      }
      return [{ type: 'ConsumerReinstated', data: { consumerId, reason: command.reason } }];
    case 'CloseConsumer':
      return [{ type: 'ConsumerClosed', data: { consumerId, reason: command.reason } }];
    default:
      throw new DomainError('INVALID_ARGUMENT', `unknown consumer command '${(command as { type: string }).type}'`);
  }
}

/**
 * Whether keys may be issued to this consumer now. A consumer id with no consumer stream is a key
 * from before consumers existed (`null`): see issue rules in domain/policy.
 */
export function assertMayReceiveKeys(consumer: ConsumerState): void {
  if (consumer.status !== 'approved') {
    throw new DomainError(
      'RULE_VIOLATED',
      `consumer ${consumer.id} is ${consumer.status}; keys are issued only to approved consumers`,
      'consumer-not-approved',
    );
  }
}
