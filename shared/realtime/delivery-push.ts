import type { Envelope } from '../envelope';
import type { EventStatus } from '../stores/event-log';
import { type ServerMessage, serverMessage } from './messages';

/** What a `webhook-event` push says about a delivery, whatever became of it. */
export interface DeliveryFields {
  /** The event log id (what the events API and replay take). */
  id: string;
  provider?: string;
  eventType?: string;
  objectType?: string;
  objectId?: string;
  deliveryId?: string;
  occurredAt?: string;
  receivedAt?: string;
  /** Routes the push: the owner's dashboards and operators' (shared/realtime/subscriptions.ts). */
  ownerId: string;
  configId?: string;
}

/** The fields of an envelope that every push of it carries. */
export function deliveryFields(envelope: Envelope): DeliveryFields {
  return {
    id: envelope.dedupKey,
    provider: envelope.provider,
    eventType: envelope.eventType,
    objectType: envelope.objectType,
    objectId: envelope.objectId,
    deliveryId: envelope.deliveryId,
    occurredAt: envelope.occurredAt,
    receivedAt: envelope.receivedAt,
    ownerId: envelope.ownerId,
    ...(envelope.configId !== undefined && { configId: envelope.configId }),
  };
}

/**
 * A `webhook-event` push: the delivery and its status (`processed` with its outcome and timing;
 * `failed`, `dead` or `quarantined` with the error), to its owner's dashboards and operators'.
 */
export function deliveryPush(
  delivery: Envelope | DeliveryFields,
  outcome: { status: EventStatus } & Record<string, unknown>,
  now: Date,
): ServerMessage<'webhook-event'> {
  const fields = 'dedupKey' in delivery ? deliveryFields(delivery) : delivery;
  const { ownerId, configId, occurredAt, receivedAt, ...what } = fields;
  const { status, outcome: applied, ...details } = outcome;
  // The order dashboards and the README show: what, how it ended, when, whose.
  return serverMessage(
    'webhook-event',
    {
      ...what,
      status,
      ...(applied !== undefined && { outcome: applied }),
      occurredAt,
      receivedAt,
      ...details,
      ownerId,
      ...(configId !== undefined && { configId }),
    },
    now,
  );
}
