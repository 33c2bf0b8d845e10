import type { Envelope, ProviderName } from '../envelope';
import type { PayloadRef } from '../stores/payload-store';

/**
 * The normalized event put on the EventBridge bus after a change was applied (docs/domain-events.md).
 * Delivery is at least once: consumers deduplicate on `eventId`.
 */
export interface DomainEventDetail {
  /** The delivery's dedup key: the same for every publication of one provider delivery. */
  eventId: string;
  /** Whose data changed: a user's id, or `system` for a provider-wide endpoint's delivery. */
  ownerId: string;
  /** The webhook config whose endpoint received the delivery, when it came through one. */
  configId?: string;
  provider: ProviderName;
  /** The provider's own event type (`orders/paid`, `deal.propertyChange`, `OpportunityChangeEvent`). */
  eventType: string;
  objectType: string;
  objectId: string;
  occurredAt: string;
  receivedAt: string;
  processedAt: string;
  /** The verb of the detail-type: created, updated, deleted, paid, stage_changed, ... */
  changeType: string;
  /** The provider's payload; absent when the event would exceed EventBridge's size limit. */
  data?: unknown;
  /** Where the payload is when `data` is absent and the payload was claim-checked to S3. */
  dataRef?: PayloadRef;
}

export interface DomainEvent {
  /** `webhooks.<provider>` */
  source: string;
  /** `<objectType>.<changeType>`, e.g. `order.paid`, `deal.stage_changed`. */
  detailType: string;
  detail: DomainEventDetail;
}

/**
 * EventBridge takes at most 256 KB per PutEvents request (source, detail-type and detail counted);
 * a detail above this leaves its `data` out.
 */
export const MAX_DETAIL_BYTES = 240 * 1024;

/** Provider verbs (Shopify topic actions, HubSpot subscription actions, Salesforce change types). */
const VERBS: Record<string, string> = {
  create: 'created',
  creation: 'created',
  update: 'updated',
  updated: 'updated',
  edited: 'updated',
  propertychange: 'updated',
  associationchange: 'updated',
  delete: 'deleted',
  deletion: 'deleted',
  privacydeletion: 'deleted',
  merge: 'merged',
  restore: 'restored',
  undelete: 'undeleted',
  stagechange: 'stage_changed',
  paid: 'paid',
  cancelled: 'cancelled',
  fulfilled: 'fulfilled',
  partially_fulfilled: 'partially_fulfilled',
  connect: 'connected',
  disconnect: 'disconnected',
};

/**
 * The normalized change of an event: Shopify `orders/paid` -> `paid`, HubSpot `contact.creation`
 * -> `created` (`deal.stageChange` -> `stage_changed`), Salesforce by its header's changeType
 * (`CREATE` -> `created`, `GAP_UPDATE` -> `updated`). Unknown verbs pass through in snake_case.
 */
export function changeTypeOf(envelope: Pick<Envelope, 'provider' | 'eventType' | 'meta'>): string {
  let action: string;
  if (envelope.provider === 'salesforce') {
    action = (envelope.meta.changeType ?? 'UPDATE').replace(/^GAP_/, '');
  } else {
    const separator = envelope.provider === 'shopify' ? '/' : '.';
    const at = envelope.eventType.indexOf(separator);
    action = at >= 0 ? envelope.eventType.slice(at + 1) : envelope.eventType;
  }
  return VERBS[action.toLowerCase()] ?? snakeCase(action);
}

function snakeCase(text: string): string {
  return (
    text
      .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
      .replace(/[^A-Za-z0-9]+/g, '_')
      .replace(/^_+|_+$/g, '')
      .toLowerCase() || 'changed'
  );
}

/** The domain event for an applied envelope (its payload already resolved from the claim check). */
export function toDomainEvent(envelope: Envelope, processedAt: Date): DomainEvent {
  const changeType = changeTypeOf(envelope);
  const detailType = `${envelope.objectType}.${changeType}`;
  const source = `webhooks.${envelope.provider}`;
  const detail: DomainEventDetail = {
    eventId: envelope.dedupKey,
    ownerId: envelope.ownerId,
    ...(envelope.configId !== undefined && { configId: envelope.configId }),
    provider: envelope.provider,
    eventType: envelope.eventType,
    objectType: envelope.objectType,
    objectId: envelope.objectId,
    occurredAt: envelope.occurredAt,
    receivedAt: envelope.receivedAt,
    processedAt: processedAt.toISOString(),
    changeType,
    data: envelope.payload,
  };
  const bytes = Buffer.byteLength(JSON.stringify(detail)) + Buffer.byteLength(source + detailType);
  if (bytes > MAX_DETAIL_BYTES) {
    delete detail.data;
    if (envelope.payloadRef) detail.dataRef = envelope.payloadRef;
  }
  return { source, detailType, detail };
}
