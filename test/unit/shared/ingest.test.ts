import { describe, expect, it } from 'vitest';
import { type Envelope, envelopeSchema } from '../../../shared/envelope';
import {
  MethodNotAllowedError,
  PayloadTooLargeError,
  UnauthorizedError,
  UnsupportedMediaTypeError,
} from '../../../shared/errors';
import { type IngestDeps, ingest } from '../../../shared/ingest';
import { shopify } from '../../../shared/providers/shopify';
import type { EnvelopePublisher } from '../../../shared/queue/publisher';
import { PREVIOUS_SECRET, SECRET, shopifyFixture, shopifyRequest } from '../support/shopify';

const NOW = new Date('2022-01-01T00:00:07.123Z');

/** Keeps what was published in memory instead of sending it to SQS. */
class FakePublisher implements EnvelopePublisher {
  readonly published: Envelope[] = [];
  async publish(envelopes: readonly Envelope[]): Promise<void> {
    this.published.push(...envelopes);
  }
}

function setup(overrides: Partial<IngestDeps> = {}) {
  const publisher = new FakePublisher();
  const deps: IngestDeps = {
    provider: shopify,
    secrets: async () => [SECRET, PREVIOUS_SECRET],
    publisher,
    maxBodyBytes: 200 * 1024,
    now: () => NOW,
    ...overrides,
  };
  return { deps, publisher };
}

const order = () => shopifyFixture('orders-create.json');

describe('ingest', () => {
  it('publishes one valid envelope for a signed Shopify order and reports it accepted', async () => {
    const { deps, publisher } = setup();

    const result = await ingest(deps, shopifyRequest(order(), { webhookId: 'delivery-1' }));

    expect(result).toEqual({ accepted: 1, deliveryIds: ['delivery-1'] });
    expect(publisher.published).toHaveLength(1);
    const [envelope] = publisher.published;
    expect(envelopeSchema.safeParse(envelope).success).toBe(true);
    expect(envelope).toMatchObject({
      version: 1,
      provider: 'shopify',
      eventType: 'orders/create',
      objectId: '820982911946154508',
      // A provider-wide endpoint's delivery belongs to the deployment: the system owner.
      ownerId: 'system',
      dedupKey: 'system:shopify:delivery-1',
      orderingKey: 'system:shopify:jsmith.myshopify.com:order:820982911946154508',
    });
  });

  it("records where the delivery came from: source IP, User-Agent and the signature header's value", async () => {
    const { deps, publisher } = setup();
    const request = shopifyRequest(order(), { headers: { 'user-agent': 'Shopify-Captain-Hook' } });

    await ingest(deps, request);

    expect(publisher.published[0]?.source).toEqual({
      ip: '34.123.45.67',
      userAgent: 'Shopify-Captain-Hook',
      signature: request.headers['x-shopify-hmac-sha256'],
    });
  });

  it('stamps receivedAt with the injected clock', async () => {
    const { deps, publisher } = setup();

    await ingest(deps, shopifyRequest(order()));

    expect(publisher.published[0]?.receivedAt).toBe('2022-01-01T00:00:07.123Z');
  });

  it.each([
    { topic: 'orders/create', fixture: 'orders-create.json', priority: 'high' },
    { topic: 'orders/updated', fixture: 'orders-create.json', priority: 'medium' },
    { topic: 'inventory_levels/update', fixture: 'inventory-levels-update.json', priority: 'low' },
  ])('gives $topic envelopes priority $priority', async ({ topic, fixture, priority }) => {
    const { deps, publisher } = setup();

    await ingest(deps, shopifyRequest(shopifyFixture(fixture), { topic }));

    expect(publisher.published[0]?.priority).toBe(priority);
  });

  it('lets configured priorities override the defaults', async () => {
    const { deps, publisher } = setup({ priorities: { 'shopify:orders/create': 'low' } });

    await ingest(deps, shopifyRequest(order()));

    expect(publisher.published[0]?.priority).toBe('low');
  });

  it('refuses GET with 405 and an Allow header', async () => {
    const { deps, publisher } = setup();
    const request = { ...shopifyRequest(order()), method: 'GET' };

    const error = await ingest(deps, request).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(MethodNotAllowedError);
    expect(error).toMatchObject({ statusCode: 405, headers: { Allow: 'POST' } });
    expect(publisher.published).toEqual([]);
  });

  it('refuses a body one byte over maxBodyBytes with 413', async () => {
    const body = order();
    const { deps, publisher } = setup({ maxBodyBytes: body.length - 1 });

    const error = await ingest(deps, shopifyRequest(body)).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PayloadTooLargeError);
    expect(error).toMatchObject({ statusCode: 413 });
    expect(publisher.published).toEqual([]);
  });

  it('accepts a body of exactly maxBodyBytes', async () => {
    const body = order();
    const { deps } = setup({ maxBodyBytes: body.length });

    await expect(ingest(deps, shopifyRequest(body))).resolves.toMatchObject({ accepted: 1 });
  });

  it('refuses text/plain with 415', async () => {
    const { deps, publisher } = setup();
    const request = shopifyRequest(order(), { headers: { 'content-type': 'text/plain' } });

    const error = await ingest(deps, request).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(UnsupportedMediaTypeError);
    expect(error).toMatchObject({ statusCode: 415 });
    expect(publisher.published).toEqual([]);
  });

  it('accepts application/json with a charset parameter', async () => {
    const { deps } = setup();
    const request = shopifyRequest(order(), {
      headers: { 'content-type': 'Application/JSON; charset=utf-8' },
    });

    await expect(ingest(deps, request)).resolves.toMatchObject({ accepted: 1 });
  });

  it('tolerates a request without a Content-Type header', async () => {
    const { deps, publisher } = setup();
    const { 'content-type': _omitted, ...headers } = shopifyRequest(order()).headers;

    await ingest(deps, { ...shopifyRequest(order()), headers });

    expect(publisher.published).toHaveLength(1);
  });

  it('rejects a bad signature with 401 and publishes nothing', async () => {
    const { deps, publisher } = setup();

    const error = await ingest(deps, shopifyRequest(order(), { secret: 'not-our-secret' })).catch(
      (e: unknown) => e,
    );

    expect(error).toBeInstanceOf(UnauthorizedError);
    expect(publisher.published).toEqual([]);
  });

  it('fails instead of accepting when no signing secret is configured', async () => {
    const { deps, publisher } = setup({ secrets: async () => [] });

    const error = await ingest(deps, shopifyRequest(order())).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(UnauthorizedError);
    expect(publisher.published).toEqual([]);
  });

  it('propagates a publisher failure instead of reporting success', async () => {
    const failing: EnvelopePublisher = {
      publish: async () => {
        throw new Error('queue down');
      },
    };
    const { deps } = setup({ publisher: failing });

    await expect(ingest(deps, shopifyRequest(order()))).rejects.toThrow('queue down');
  });
});
