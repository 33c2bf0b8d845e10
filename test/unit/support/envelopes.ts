import { type Envelope, envelopeSchema } from '../../../shared/envelope';
import { priorityOf } from '../../../shared/priority';
import { shopify } from '../../../shared/providers/shopify';
import { shopifyFixture, shopifyRequest } from './shopify';

export const RECEIVED_AT = new Date('2022-01-01T00:00:07.000Z');

/** The envelope ingest would enqueue for a Shopify fixture delivery. */
export function shopifyEnvelope(
  fixture: string,
  options: { topic?: string; webhookId?: string } = {},
): Envelope {
  const [event] = shopify.parse(shopifyRequest(shopifyFixture(fixture), options), RECEIVED_AT);
  if (!event) throw new Error(`fixture ${fixture} produced no event`);
  return envelopeSchema.parse({
    version: 1,
    provider: 'shopify',
    priority: priorityOf('shopify', event.eventType),
    receivedAt: RECEIVED_AT.toISOString(),
    ...event,
  });
}

/** A minimal valid envelope; tests override what they are about. */
export function envelope(overrides: Partial<Envelope> = {}): Envelope {
  return envelopeSchema.parse({
    version: 1,
    provider: 'shopify',
    eventType: 'orders/create',
    objectType: 'order',
    objectId: '820982911946154508',
    occurredAt: '2022-01-01T00:00:00.000Z',
    deliveryId: 'b54557e4-bdd9-4b37-8a5f-bf7d70bcd043',
    dedupKey: 'shopify:b54557e4-bdd9-4b37-8a5f-bf7d70bcd043',
    orderingKey: 'shopify:jsmith.myshopify.com:order:820982911946154508',
    priority: 'high',
    receivedAt: RECEIVED_AT.toISOString(),
    meta: { topic: 'orders/create', shopDomain: 'jsmith.myshopify.com' },
    payload: { id: '820982911946154508', total_price: '403.00' },
    ...overrides,
  });
}
