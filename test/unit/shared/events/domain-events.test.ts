import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { signedSample } from '../../../../bin/samples';
import { type Envelope, envelopeSchema, type ProviderName } from '../../../../shared/envelope';
import { TransientError } from '../../../../shared/errors';
import { MAX_DETAIL_BYTES, toDomainEvent } from '../../../../shared/events/domain-events';
import { EventBridgePublisher } from '../../../../shared/events/publisher';
import { providers } from '../../../../shared/providers/registry';
import { envelope } from '../../support/envelopes';

const PROCESSED_AT = new Date('2026-03-01T10:00:02.000Z');
const RECEIVED_AT = new Date('2026-03-01T10:00:01.000Z');

/** The envelope ingest would enqueue for a sample delivery (parsed by the real provider module). */
async function sampleEnvelope(provider: ProviderName, eventType: string): Promise<Envelope> {
  const url = `https://hooks.example.com/api/webhooks/${provider}`;
  const sample = await signedSample(provider, eventType, { url, secret: 'secret' });
  const headers = Object.fromEntries(Object.entries(sample.headers).map(([k, v]) => [k.toLowerCase(), v]));
  const [event] = providers[provider].parse(
    { method: 'POST', url, headers, body: Buffer.from(sample.body), sourceIp: '203.0.113.7' },
    RECEIVED_AT,
  );
  return envelopeSchema.parse({
    version: 1,
    provider,
    priority: 'medium',
    receivedAt: RECEIVED_AT.toISOString(),
    ...event,
  });
}

describe('toDomainEvent names every sample delivery', () => {
  it.each([
    ['shopify', 'orders/create', 'order.created'],
    ['shopify', 'orders/updated', 'order.updated'],
    ['shopify', 'orders/paid', 'order.paid'],
    ['shopify', 'orders/cancelled', 'order.cancelled'],
    ['shopify', 'orders/fulfilled', 'order.fulfilled'],
    ['shopify', 'customers/create', 'customer.created'],
    ['shopify', 'customers/update', 'customer.updated'],
    ['shopify', 'products/create', 'product.created'],
    ['shopify', 'products/update', 'product.updated'],
    ['shopify', 'inventory_levels/update', 'inventory_level.updated'],
    ['hubspot', 'contact.creation', 'contact.created'],
    ['hubspot', 'contact.propertyChange', 'contact.updated'],
    ['hubspot', 'contact.deletion', 'contact.deleted'],
    ['hubspot', 'contact.merge', 'contact.merged'],
    ['hubspot', 'contact.associationChange', 'contact.updated'],
    ['hubspot', 'company.creation', 'company.created'],
    ['hubspot', 'company.propertyChange', 'company.updated'],
    ['hubspot', 'deal.creation', 'deal.created'],
    ['hubspot', 'deal.stageChange', 'deal.stage_changed'],
    ['hubspot', 'deal.deletion', 'deal.deleted'],
    ['hubspot', 'object.creation', 'contact.created'],
    ['salesforce', 'OpportunityChangeEvent', 'opportunity.updated'],
    ['salesforce', 'LeadChangeEvent', 'lead.updated'],
    ['salesforce', 'AccountChangeEvent', 'account.updated'],
    ['salesforce', 'TaskChangeEvent', 'task.updated'],
    ['salesforce', 'CaseChangeEvent', 'case.updated'],
    ['salesforce', 'OpportunityOutboundMessage', 'opportunity.updated'],
  ] as const)('%s %s -> %s', async (provider, eventType, detailType) => {
    const delivery = await sampleEnvelope(provider, eventType);

    const event = toDomainEvent(delivery, PROCESSED_AT);

    expect(event.source).toBe(`webhooks.${provider}`);
    expect(event.detailType).toBe(detailType);
    expect(event.detail).toEqual({
      eventId: delivery.dedupKey,
      ownerId: 'system',
      provider,
      eventType: delivery.eventType,
      objectType: delivery.objectType,
      objectId: delivery.objectId,
      occurredAt: delivery.occurredAt,
      receivedAt: RECEIVED_AT.toISOString(),
      processedAt: PROCESSED_AT.toISOString(),
      changeType: detailType.slice(detailType.indexOf('.') + 1),
      data: delivery.payload,
    });
  });

  it.each([
    ['CREATE', 'opportunity.created'],
    ['UPDATE', 'opportunity.updated'],
    ['DELETE', 'opportunity.deleted'],
    ['UNDELETE', 'opportunity.undeleted'],
    ['GAP_UPDATE', 'opportunity.updated'],
    ['GAP_OVERFLOW', 'opportunity.overflow'],
  ])('Salesforce change type %s -> %s', (changeType, detailType) => {
    const delivery = envelope({
      provider: 'salesforce',
      eventType: 'OpportunityChangeEvent',
      objectType: 'opportunity',
      meta: { changeType },
    });

    expect(toDomainEvent(delivery, PROCESSED_AT).detailType).toBe(detailType);
  });

  it("names the delivery's owner and webhook config, so a consumer can act for that tenant", () => {
    const delivery = envelope({
      ownerId: 'tenant-a',
      configId: '3f2b8c1e-8a2b-4c1d-9e0f-1a2b3c4d5e6f',
      dedupKey: 'tenant-a:shopify:b54557e4',
    });

    const { detail } = toDomainEvent(delivery, PROCESSED_AT);

    expect(detail).toMatchObject({
      eventId: 'tenant-a:shopify:b54557e4',
      ownerId: 'tenant-a',
      configId: '3f2b8c1e-8a2b-4c1d-9e0f-1a2b3c4d5e6f',
    });
  });

  it('passes an unknown verb through in snake_case', () => {
    const delivery = envelope({ eventType: 'orders/risk_assessmentChanged' });

    expect(toDomainEvent(delivery, PROCESSED_AT).detailType).toBe('order.risk_assessment_changed');
  });

  it('names the webhook config a delivery came through, so a workflow knows whose it is', () => {
    const configId = '5a3c0f7e-0000-4000-8000-000000000001';
    expect(toDomainEvent(envelope({ configId }), PROCESSED_AT).detail.configId).toBe(configId);
    expect(toDomainEvent(envelope(), PROCESSED_AT).detail).not.toHaveProperty('configId');
  });
});

describe('toDomainEvent keeps the detail under the EventBridge size limit', () => {
  it('drops a payload that would make it too large and points at its claim-check object', () => {
    const payloadRef = { bucket: 'webhook-payloads', key: 'shopify/2026-03-01/abc.json' };
    const delivery = envelope({ payload: { note: 'x'.repeat(MAX_DETAIL_BYTES) }, payloadRef });

    const { detail } = toDomainEvent(delivery, PROCESSED_AT);

    expect(detail).not.toHaveProperty('data');
    expect(detail.dataRef).toEqual(payloadRef);
    expect(Buffer.byteLength(JSON.stringify(detail))).toBeLessThan(2048);
  });

  it('keeps a payload that fits', () => {
    const delivery = envelope({ payload: { note: 'x'.repeat(200 * 1024) } });

    expect(toDomainEvent(delivery, PROCESSED_AT).detail.data).toEqual(delivery.payload);
  });
});

describe('EventBridgePublisher', () => {
  const eventBridgeMock = mockClient(EventBridgeClient);
  const publisher = new EventBridgePublisher(new EventBridgeClient({ region: 'eu-west-1' }), 'domain-events');

  afterEach(() => {
    eventBridgeMock.reset();
  });

  it('puts at most 10 entries per call on the named bus', async () => {
    eventBridgeMock.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [] });
    const events = Array.from({ length: 12 }, (_, i) =>
      toDomainEvent(envelope({ dedupKey: `shopify:${i}` }), PROCESSED_AT),
    );

    await publisher.publish(events);

    const calls = eventBridgeMock.commandCalls(PutEventsCommand).map((call) => call.args[0].input.Entries);
    expect(calls.map((entries) => entries?.length)).toEqual([10, 2]);
    expect(calls[0]?.[0]).toEqual({
      EventBusName: 'domain-events',
      Source: 'webhooks.shopify',
      DetailType: 'order.created',
      Detail: JSON.stringify(events[0]?.detail),
    });
  });

  it('keeps each call under 256 KiB of entries, however few', async () => {
    eventBridgeMock.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [] });
    // Ten events of about 60 KiB each: 600 KiB, which one call would carry over the limit.
    const events = Array.from({ length: 10 }, (_, i) =>
      toDomainEvent(
        envelope({ dedupKey: `shopify:${i}`, payload: { note: 'x'.repeat(60 * 1024) } }),
        PROCESSED_AT,
      ),
    );

    await publisher.publish(events);

    const calls = eventBridgeMock
      .commandCalls(PutEventsCommand)
      .map((call) => call.args[0].input.Entries ?? []);
    expect(calls.map((entries) => entries.length)).toEqual([4, 4, 2]);
    for (const entries of calls)
      expect(entries.reduce((sum, entry) => sum + Buffer.byteLength(entry.Detail ?? ''), 0)).toBeLessThan(
        256 * 1024,
      );
    expect(calls.flat().map((entry) => JSON.parse(entry.Detail ?? '{}').eventId)).toEqual(
      events.map((event) => event.detail.eventId),
    );
  });

  it('rejects with a TransientError when any entry fails', async () => {
    eventBridgeMock.on(PutEventsCommand).resolves({
      FailedEntryCount: 1,
      Entries: [{ EventId: 'e-1' }, { ErrorCode: 'InternalFailure', ErrorMessage: 'Internal' }],
    });
    const events = [1, 2].map((i) => toDomainEvent(envelope({ dedupKey: `shopify:${i}` }), PROCESSED_AT));

    const publishing = publisher.publish(events);

    await expect(publishing).rejects.toBeInstanceOf(TransientError);
    await expect(publishing).rejects.toThrow(
      'PutEvents failed for 1 of 2 events (InternalFailure: Internal)',
    );
  });
});
