import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack';
import { signDevToken } from '../../shared/auth/tokens';
import { type E2eStack, messagesInMainQueues, startE2eStack } from '../support/e2e-stack';
import { postShopify, shopifySignature } from '../support/shopify';
import { connect, type TestClient } from '../support/ws-client';

const SECRET = 'e2e-shopify-secret';

let e2e: E2eStack;
let stack: LocalStack;
let db: pg.Pool;
let client: TestClient;

beforeAll(async () => {
  e2e = await startE2eStack({ secrets: { shopify: SECRET } });
  ({ stack, db, client } = e2e);
});

afterAll(async () => {
  await e2e?.stop();
});

async function orderRow(id: string) {
  const { rows } = await db.query(
    'SELECT id, order_number, total_price::text, financial_status, customer_email FROM synced_orders WHERE id = $1',
    [id],
  );
  return rows[0];
}

describe('walking skeleton on the local stack', () => {
  it('answers /health once everything is ready', async () => {
    const response = await fetch(`${stack.httpUrl}/health`);
    expect(response.status).toBe(200);
  });

  it('takes a signed orders/create to Postgres and to a subscribed WebSocket client, keeping the id exact', async () => {
    // 820982911946154508 > 2^53: a JS number would round it to ...500.
    const body =
      '{"id":820982911946154508,"order_number":1001,"name":"#1001","email":"jon@example.com","total_price":"403.00",' +
      '"currency":"USD","financial_status":"paid","created_at":"2026-11-29T10:00:00-05:00","updated_at":"2026-11-29T10:00:01-05:00"}';
    const response = await postShopify(stack.httpUrl, body, {
      'X-Shopify-Topic': 'orders/create',
      'X-Shopify-Hmac-Sha256': shopifySignature(SECRET, body),
      'X-Shopify-Shop-Domain': 'jsmith.myshopify.com',
      'X-Shopify-Webhook-Id': 'b54557e4-bdd9-4b37-8a5f-bf7d70bcd043',
      'X-Shopify-API-Version': '2026-10',
    });
    expect(response).toEqual({ status: 200, body: { success: true, accepted: 1 } });

    const pushed = await client.next(
      (m) => m.type === 'webhook-event' && (m.data as { objectId: string }).objectId === '820982911946154508',
    );
    expect(pushed.data).toMatchObject({
      provider: 'shopify',
      eventType: 'orders/create',
      objectType: 'order',
      objectId: '820982911946154508',
      status: 'processed',
    });
    expect(Date.parse(pushed.timestamp)).not.toBeNaN();
    expect(await orderRow('820982911946154508')).toEqual({
      id: '820982911946154508',
      order_number: '1001',
      total_price: '403.00',
      financial_status: 'paid',
      customer_email: 'jon@example.com',
    });
  });

  it("accepts the seed's minimal example with only the Topic and HMAC headers", async () => {
    const body = '{"id":123,"total_price":"99.99"}';
    const response = await postShopify(stack.httpUrl, body, {
      'X-Shopify-Topic': 'orders/create',
      'X-Shopify-Hmac-Sha256': shopifySignature(SECRET, body),
    });
    expect(response.status).toBe(200);
    await client.next(
      (m) => m.type === 'webhook-event' && (m.data as { objectId: string }).objectId === '123',
    );
    expect(await orderRow('123')).toMatchObject({ id: '123', total_price: '99.99' });
  });

  it.each([
    ['a wrong signature', { 'X-Shopify-Hmac-Sha256': shopifySignature('not-the-secret', '{"id":777}') }],
    ['no signature', {}],
  ])('refuses %s with 401 and enqueues nothing', async (_case, signature) => {
    const body = '{"id":777,"total_price":"1.00"}';
    const before = await messagesInMainQueues(stack);
    const response = await postShopify(stack.httpUrl, body, {
      'X-Shopify-Topic': 'orders/create',
      ...signature,
    });
    expect(response.status).toBe(401);
    expect(response.body).toMatchObject({ success: false, error: { code: 'unauthorized' } });
    expect(await messagesInMainQueues(stack)).toBe(before);
    expect(await orderRow('777')).toBeUndefined();
  });

  it('refuses a WebSocket upgrade without a valid token', async () => {
    await expect(connect(stack.wsUrl)).rejects.toThrow('401');
    await expect(connect(`${stack.wsUrl}?userId=dashboard-user`)).rejects.toThrow('401');
    const forged = await signDevToken('some-other-secret', 'dashboard-user');
    await expect(connect(`${stack.wsUrl}?token=${forged}`)).rejects.toThrow('401');
  });
});
