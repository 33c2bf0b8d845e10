import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BadRequestError, UnauthorizedError } from '../../../../shared/errors';
import { shopify } from '../../../../shared/providers/shopify';
import type { WebhookRequest } from '../../../../shared/providers/types';
import {
  PREVIOUS_SECRET,
  SECRET,
  SHOP_DOMAIN,
  shopifyFixture,
  shopifyRequest,
  shopifySignature,
} from '../../support/shopify';

const NOW = new Date('2022-01-01T00:00:07.000Z');

function request(body: Buffer | string, headers: Record<string, string>): WebhookRequest {
  return {
    method: 'POST',
    url: 'https://hooks.example.com/api/webhooks/shopify',
    headers,
    body: Buffer.isBuffer(body) ? body : Buffer.from(body),
    sourceIp: '34.123.45.67',
  };
}

/** The seed's minimal example: only Topic and HMAC headers. */
function minimalRequest(body: string): WebhookRequest {
  return request(body, {
    'x-shopify-topic': 'orders/create',
    'x-shopify-hmac-sha256': shopifySignature(body, SECRET),
  });
}

function parseOne(req: WebhookRequest) {
  const events = shopify.parse(req, NOW);
  expect(events).toHaveLength(1);
  return events[0] as NonNullable<(typeof events)[0]>;
}

describe('shopify.verify', () => {
  it('accepts the published SDK test vector', () => {
    const req = request('{"foo": "bar"}', {
      'x-shopify-hmac-sha256': 'B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g=',
    });

    expect(() => shopify.verify(req, { secrets: ['test_secret_key'] }, NOW)).not.toThrow();
  });

  it('rejects a Shopify signature made with another secret', () => {
    const req = request('{"foo": "bar"}', {
      'x-shopify-hmac-sha256': 'B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g=',
    });

    expect(() => shopify.verify(req, { secrets: ['another_secret_key'] }, NOW)).toThrow(UnauthorizedError);
  });

  it('rejects a delivery without the X-Shopify-Hmac-Sha256 header', () => {
    const req = request('{"foo": "bar"}', { 'x-shopify-topic': 'orders/create' });

    expect(() => shopify.verify(req, { secrets: ['test_secret_key'] }, NOW)).toThrow(UnauthorizedError);
  });

  it('rejects a body tampered with after signing', () => {
    const req = request('{"foo": "baz"}', {
      'x-shopify-hmac-sha256': 'B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g=',
    });

    expect(() => shopify.verify(req, { secrets: ['test_secret_key'] }, NOW)).toThrow(UnauthorizedError);
  });

  it('rejects a signature that is a truncated prefix of the valid one', () => {
    const body = shopifyFixture('orders-create.json');
    const truncated = Buffer.from(shopifySignature(body, SECRET), 'base64')
      .subarray(0, 16)
      .toString('base64');
    const req = shopifyRequest(body, { headers: { 'x-shopify-hmac-sha256': truncated } });

    expect(() => shopify.verify(req, { secrets: [SECRET] }, NOW)).toThrow(UnauthorizedError);
  });

  it.each([
    ['the current secret', SECRET],
    ['the previous secret', PREVIOUS_SECRET],
  ])('accepts a delivery signed with %s during a rotation', (_label, signingSecret) => {
    const req = shopifyRequest(shopifyFixture('orders-create.json'), { secret: signingSecret });

    expect(() => shopify.verify(req, { secrets: [SECRET, PREVIOUS_SECRET] }, NOW)).not.toThrow();
  });

  it('rejects a delivery signed with a secret retired by the rotation', () => {
    const req = shopifyRequest(shopifyFixture('orders-create.json'), { secret: 'shpss_retired_secret' });

    expect(() => shopify.verify(req, { secrets: [SECRET, PREVIOUS_SECRET] }, NOW)).toThrow(UnauthorizedError);
  });

  it('verifies every correctly signed body', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), fc.string({ minLength: 1 }), (bytes, secret) => {
        const body = Buffer.from(bytes);
        const req = request(body, { 'x-shopify-hmac-sha256': shopifySignature(body, secret) });

        expect(() => shopify.verify(req, { secrets: [secret] }, NOW)).not.toThrow();
      }),
    );
  });

  it('rejects a signed body in which any one byte was changed', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 512 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (bytes, position, flip) => {
          const body = Buffer.from(bytes);
          const signature = shopifySignature(body, SECRET);
          const tampered = Buffer.from(body);
          const index = position % tampered.length;
          tampered[index] = (tampered[index] as number) ^ flip;

          expect(() =>
            shopify.verify(
              request(tampered, { 'x-shopify-hmac-sha256': signature }),
              { secrets: [SECRET] },
              NOW,
            ),
          ).toThrow(UnauthorizedError);
        },
      ),
    );
  });
});

describe('shopify.parse', () => {
  it('keeps an order id above 2^53 as the exact decimal string', () => {
    const req = shopifyRequest(shopifyFixture('orders-create.json'));

    const event = parseOne(req);

    expect(event.objectId).toBe('820982911946154508');
    expect(event.payload).toMatchObject({
      id: '820982911946154508',
      customer: { id: '706405506930370084' },
      line_items: [{ id: '866550311766439020' }, { id: '141249953214522974' }],
    });
  });

  it('maps an orders/create delivery with all headers to an order event', () => {
    const req = shopifyRequest(shopifyFixture('orders-create.json'), {
      webhookId: 'b54557e4-bdd9-4b37-8a5f-bf7d70bcd043',
    });

    const event = parseOne(req);

    expect(event).toMatchObject({
      eventType: 'orders/create',
      objectType: 'order',
      deliveryId: 'b54557e4-bdd9-4b37-8a5f-bf7d70bcd043',
      dedupKey: 'shopify:b54557e4-bdd9-4b37-8a5f-bf7d70bcd043',
      meta: {
        topic: 'orders/create',
        shopDomain: SHOP_DOMAIN,
        apiVersion: '2025-07',
        eventId: '98880550-7158-44d4-b7cd-2c97c8a091b5',
        triggeredAt: '2022-01-01T00:00:05.000Z',
      },
    });
  });

  it('gives two deliveries of the same change (same Event-Id) different dedup keys', () => {
    const body = shopifyFixture('orders-create.json');

    const first = parseOne(shopifyRequest(body, { webhookId: 'delivery-1' }));
    const second = parseOne(shopifyRequest(body, { webhookId: 'delivery-2' }));

    expect(first.dedupKey).toBe('shopify:delivery-1');
    expect(second.dedupKey).toBe('shopify:delivery-2');
  });

  it('puts the shop domain, object type and id in the ordering key', () => {
    const event = parseOne(shopifyRequest(shopifyFixture('orders-create.json')));

    expect(event.orderingKey).toBe(`shopify:${SHOP_DOMAIN}:order:820982911946154508`);
  });

  it('keys an inventory_levels/update by inventory_item_id:location_id', () => {
    const req = shopifyRequest(shopifyFixture('inventory-levels-update.json'), {
      topic: 'inventory_levels/update',
    });

    const event = parseOne(req);

    expect(event.objectType).toBe('inventory_level');
    expect(event.objectId).toBe('271878346596884015:24826418');
    expect(event.orderingKey).toBe(`shopify:${SHOP_DOMAIN}:inventory_level:271878346596884015:24826418`);
  });

  it('rejects an inventory_levels/update without a location_id', () => {
    const req = shopifyRequest(Buffer.from('{"inventory_item_id":271878346596884015,"available":6}'), {
      topic: 'inventory_levels/update',
    });

    expect(() => shopify.parse(req, NOW)).toThrow(BadRequestError);
  });

  it('maps customers/create to a customer keyed by the customer id', () => {
    const req = shopifyRequest(shopifyFixture('customers-create.json'), { topic: 'customers/create' });

    const event = parseOne(req);

    expect(event.objectType).toBe('customer');
    expect(event.objectId).toBe('706405506930370084');
  });

  describe("the seed's minimal delivery (Topic and HMAC headers only)", () => {
    it('is accepted, keyed by a hash of the body', () => {
      const event = parseOne(minimalRequest('{"id":123,"total_price":"99.99"}'));

      expect(event.objectId).toBe('123');
      expect(event.deliveryId).toMatch(/^sha256-[0-9a-f]{64}$/);
      expect(event.dedupKey).toBe(`shopify:${event.deliveryId}`);
      expect(event.orderingKey).toBe('shopify::order:123');
      expect(event.occurredAt).toBe(NOW.toISOString());
    });

    it('gets the same dedup key when the same body is delivered again', () => {
      const first = parseOne(minimalRequest('{"id":123,"total_price":"99.99"}'));
      const again = parseOne(minimalRequest('{"id":123,"total_price":"99.99"}'));

      expect(again.dedupKey).toBe(first.dedupKey);
    });

    it('gets a different dedup key for a different body', () => {
      const first = parseOne(minimalRequest('{"id":123,"total_price":"99.99"}'));
      const other = parseOne(minimalRequest('{"id":123,"total_price":"100.00"}'));

      expect(other.dedupKey).not.toBe(first.dedupKey);
    });

    it('gets a different dedup key for the same body under another topic or from another shop', () => {
      const body = '{"id":123,"total_price":"99.99"}';
      const minimal = minimalRequest(body);
      const withHeaders = (headers: Record<string, string>) =>
        parseOne({ ...minimal, headers: { ...minimal.headers, ...headers } });

      const keys = [
        parseOne(minimal).dedupKey,
        withHeaders({ 'x-shopify-topic': 'orders/paid' }).dedupKey,
        withHeaders({ 'x-shopify-shop-domain': 'other.myshopify.com' }).dedupKey,
      ];

      expect(new Set(keys).size).toBe(3);
    });
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['without a slash', 'orders'],
    ['with an upper-case resource', 'Orders/create'],
    ['with a trailing segment', 'orders/create/extra'],
  ])('rejects a topic header that is %s', (_label, topic) => {
    const body = Buffer.from('{"id":123}');
    const headers: Record<string, string> = { 'x-shopify-hmac-sha256': shopifySignature(body, SECRET) };
    if (topic !== undefined) headers['x-shopify-topic'] = topic;

    expect(() => shopify.parse(request(body, headers), NOW)).toThrow(BadRequestError);
  });

  it.each([
    ['a JSON array', '[{"id":123}]'],
    ['a JSON string', '"820982911946154508"'],
    ['JSON null', 'null'],
    ['a JSON number', '123'],
    ['invalid JSON', '{"id":123,'],
    ['empty', ''],
  ])('rejects a body that is %s', (_label, body) => {
    expect(() => shopify.parse(minimalRequest(body), NOW)).toThrow(BadRequestError);
  });

  it('rejects a body that is not valid UTF-8', () => {
    const body = Buffer.concat([
      Buffer.from('{"id":123,"note":"'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('"}'),
    ]);

    expect(() => shopify.parse(request(body, { 'x-shopify-topic': 'orders/create' }), NOW)).toThrow(
      BadRequestError,
    );
  });

  it.each([
    ['a fractional number', '{"id":12.5}'],
    ['an object', '{"id":{"value":123}}'],
    ['a string with spaces', '{"id":"12 3"}'],
    ['missing', '{"total_price":"99.99"}'],
  ])('rejects an order whose id is %s', (_label, body) => {
    expect(() => shopify.parse(minimalRequest(body), NOW)).toThrow(BadRequestError);
  });

  describe('occurredAt', () => {
    const triggeredAt = '2022-01-01T00:00:05.000Z';
    const headers = { 'x-shopify-topic': 'orders/updated', 'x-shopify-triggered-at': triggeredAt };

    it('comes from updated_at when present', () => {
      const body =
        '{"id":1,"created_at":"2021-12-31T19:00:00-05:00","updated_at":"2022-01-01T10:30:00-05:00"}';

      const event = parseOne(request(body, headers));

      expect(event.occurredAt).toBe('2022-01-01T15:30:00.000Z');
    });

    it('falls back to created_at', () => {
      const body = '{"id":1,"created_at":"2021-12-31T19:00:00-05:00"}';

      const event = parseOne(request(body, headers));

      expect(event.occurredAt).toBe('2022-01-01T00:00:00.000Z');
    });

    it('falls back to X-Shopify-Triggered-At when the payload has no usable time', () => {
      const body = '{"id":1,"updated_at":"not a date","created_at":null}';

      const event = parseOne(request(body, headers));

      expect(event.occurredAt).toBe(triggeredAt);
    });

    it('skips a date that parses but has no ISO 8601 form (year 20000)', () => {
      const body = '{"id":1,"updated_at":"Jan 1 20000"}';

      const event = parseOne(request(body, headers));

      expect(event.occurredAt).toBe(triggeredAt);
    });

    it('falls back to the time the delivery was received', () => {
      const body = '{"id":1}';

      const event = parseOne(request(body, { 'x-shopify-topic': 'orders/updated' }));

      expect(event.occurredAt).toBe(NOW.toISOString());
    });
  });
});

describe('shopify signature encoding', () => {
  it('refuses a valid signature followed by anything, and one not in canonical base64', () => {
    const body = Buffer.from('{"id":1}');
    const valid = createHmac('sha256', 'test_secret_key').update(body).digest('base64');
    const request = (signature: string) => ({
      method: 'POST',
      url: 'https://example.com/api/webhooks/shopify',
      headers: { 'x-shopify-hmac-sha256': signature, 'x-shopify-topic': 'orders/create' },
      body,
      sourceIp: '203.0.113.1',
    });
    expect(() => shopify.verify(request(valid), { secrets: ['test_secret_key'] }, NOW)).not.toThrow();
    for (const signature of [
      `${valid}, forged`,
      `${valid}AAAA`,
      valid.replace(/=+$/, ''),
      `${valid}\n${valid}`,
    ])
      expect(
        () => shopify.verify(request(signature), { secrets: ['test_secret_key'] }, NOW),
        signature,
      ).toThrow(UnauthorizedError);
  });
});
