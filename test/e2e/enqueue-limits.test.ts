/**
 * Deliveries at the edges of what SQS takes (issue 15), on the local stack, whose SQS stand-in
 * refuses what SQS refuses: characters outside SQS's set, a fan-out over SendMessageBatch's 1 MiB,
 * events that carry no id of their own. Each is accepted, and stored exactly as the provider sent it.
 * (The bad-input corpus sends the same inputs and counts what is processed; this checks the values.)
 */
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack';
import { type E2eStack, eventually, startE2eStack } from '../support/e2e-stack';
import { scanEventLog } from '../support/event-log';
import { epochSeconds, handMadeJwt, hubspotV3, shopifyHmac } from '../support/signing';

const SECRETS = {
  shopify: 'e2e-limits-shopify-secret',
  hubspot: 'e2e-limits-hubspot-secret',
  salesforce: 'e2e-limits-salesforce-secret',
};
const ORG_ID = '00D5g000004XyZ1EAK';

let e2e: E2eStack;
let stack: LocalStack;
let db: pg.Pool;

beforeAll(async () => {
  e2e = await startE2eStack({ secrets: SECRETS, env: { SALESFORCE_ORG_ID: ORG_ID } });
  ({ stack, db } = e2e);
});

afterAll(async () => {
  await e2e?.stop();
});

async function post(provider: string, headers: Record<string, string>, body: string) {
  const response = await fetch(`${stack.httpUrl}/api/webhooks/${provider}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: Buffer.from(body),
  });
  return { status: response.status, body: await response.json() };
}

const postHubSpot = (events: unknown[]) => {
  const body = JSON.stringify(events);
  const timestamp = String(Date.now());
  const uri = `${stack.httpUrl}/api/webhooks/hubspot`;
  return post(
    'hubspot',
    {
      'X-HubSpot-Signature-v3': hubspotV3(SECRETS.hubspot, 'POST', uri, body, timestamp),
      'X-HubSpot-Request-Timestamp': timestamp,
    },
    body,
  );
};

async function rows(sql: string, params: unknown[]): Promise<Record<string, unknown>[]> {
  return (await db.query(sql, params)).rows;
}

describe('deliveries at the edges of what SQS takes', () => {
  it('stores an order note holding U+FFFE, U+FFFF and an emoji exactly', async () => {
    const note = 'gift \uFFFE wrap \uFFFF 🎁 for Zoë';
    const body = JSON.stringify({ id: 5_550_001, total_price: '10.00', note });

    const answer = await post(
      'shopify',
      {
        'X-Shopify-Topic': 'orders/create',
        'X-Shopify-Hmac-Sha256': shopifyHmac(SECRETS.shopify, body),
        'X-Shopify-Shop-Domain': 'limits.myshopify.com',
        'X-Shopify-Webhook-Id': 'limits-note-1',
      },
      body,
    );

    expect(answer).toEqual({ status: 200, body: { success: true, accepted: 1 } });
    const [row] = await eventually(
      () => rows("SELECT payload->>'note' AS note FROM synced_orders WHERE id = $1", ['5550001']),
      (found) => found.length === 1,
      'the order row',
    );
    expect(row?.note).toBe(note);
  });

  it('stores all 30 events of a HubSpot batch in which one value holds U+FFFF', async () => {
    const value = (i: number) => (i === 14 ? 'Zo\uFFFFë' : `name ${i}`);
    const events = Array.from({ length: 30 }, (_, i) => ({
      eventId: 1000 + i,
      subscriptionId: 2001,
      portalId: 62515,
      occurredAt: Date.now(),
      subscriptionType: 'contact.propertyChange',
      objectId: 5_560_000 + i,
      propertyName: 'firstname',
      propertyValue: value(i),
    }));

    const answer = await postHubSpot(events);

    expect(answer).toEqual({ status: 200, body: { success: true, accepted: 30 } });
    const stored = await eventually(
      () =>
        rows(
          "SELECT id, properties->>'firstname' AS firstname FROM synced_contacts WHERE id >= '5560000' AND id < '5560030' ORDER BY id",
          [],
        ),
      (found) => found.length === 30,
      'the 30 contact rows',
    );
    expect(stored.map((row) => row.firstname)).toEqual(events.map((_, i) => value(i)));
  });

  it('stores the payload a change event shares with its ten records once, and every record gets it', async () => {
    const s3 = new S3Client({ endpoint: process.env.AWS_ENDPOINT_URL_S3, region: process.env.AWS_REGION });
    const stored = async () =>
      (await s3.send(new ListObjectsV2Command({ Bucket: process.env.PAYLOAD_BUCKET, Prefix: 'salesforce/' })))
        .KeyCount ?? 0;
    const before = await stored();
    const recordIds = Array.from({ length: 10 }, (_, i) => `0065g00000Lim${i}AAB`);
    const description = `${'x'.repeat(120_000)} \uFFFF`;
    const body = JSON.stringify({
      ChangeEventHeader: {
        entityName: 'Opportunity',
        recordIds,
        changeType: 'UPDATE',
        commitTimestamp: Date.now(),
        transactionKey: 'limits-fan-out',
        sequenceNumber: 1,
      },
      StageName: 'Closed Won',
      Description: description,
    });
    const token = handMadeJwt(
      { alg: 'HS256', typ: 'JWT' },
      { organization_id: ORG_ID, iat: epochSeconds(), exp: epochSeconds(300) },
      SECRETS.salesforce,
    );

    const answer = await post('salesforce', { Authorization: `Bearer ${token}` }, body);

    expect(answer).toEqual({ status: 200, body: { success: true, accepted: 10 } });
    expect(await stored()).toBe(before + 1);
    const opportunities = await eventually(
      () =>
        rows(
          "SELECT id, payload->>'Description' AS description FROM synced_opportunities WHERE id = ANY($1)",
          [recordIds],
        ),
      (found) => found.length === 10,
      'the 10 opportunity rows',
    );
    for (const row of opportunities) expect(row.description).toBe(description);
    s3.destroy();
  });

  it('tells HubSpot events without eventId or occurredAt apart, and still drops a retry of them', async () => {
    const event = (email: string, attemptNumber: number) => ({
      subscriptionId: 2001,
      portalId: 62515,
      subscriptionType: 'contact.propertyChange',
      objectId: 5_570_000,
      propertyName: 'email',
      propertyValue: email,
      attemptNumber,
    });
    const emails = ['a@example.com', 'b@example.com', 'c@example.com'];
    const delivered = async () =>
      (await scanEventLog()).filter((item) => item.objectId === '5570000' && item.status === 'processed');

    const first = await postHubSpot(emails.map((email) => event(email, 0)));
    await eventually(delivered, (items) => items.length === 3, 'three processed deliveries');
    const retried = await postHubSpot(emails.map((email) => event(email, 1)));

    expect([first, retried]).toEqual([
      { status: 200, body: { success: true, accepted: 3 } },
      { status: 200, body: { success: true, accepted: 3 } },
    ]);
    // The retry is deduplicated by SQS (same deduplication ids), so nothing new is ever processed.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await delivered()).toHaveLength(3);
  });
});
