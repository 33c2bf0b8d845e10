import { createHash, createHmac } from 'node:crypto';
import { SignJWT } from 'jose';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_EVENT_TYPES, signedSample } from '../../bin/samples';
import type { LocalStack } from '../../local/stack';
import { PROVIDER_NAMES, type ProviderName } from '../../shared/envelope';
import { type E2eStack, eventually, messagesInMainQueues, startE2eStack } from '../support/e2e-stack';
import { scanEventLog } from '../support/event-log';
import type { TestClient } from '../support/ws-client';

const SECRETS: Record<ProviderName, string> = {
  hubspot: 'e2e-hubspot-secret',
  shopify: 'e2e-shopify-secret',
  salesforce: 'e2e-salesforce-secret',
};
const ORG_ID = '00D5g000004XyZ1EAK';

let e2e: E2eStack;
let stack: LocalStack;
let client: TestClient;
let db: pg.Pool;

beforeAll(async () => {
  e2e = await startE2eStack({ secrets: SECRETS, env: { SALESFORCE_ORG_ID: ORG_ID } });
  ({ stack, db, client } = e2e);
});

afterAll(async () => {
  await e2e?.stop();
});

function post(provider: string, body: string | Buffer, headers: Record<string, string>) {
  return fetch(`${stack.httpUrl}/api/webhooks/${provider}`, { method: 'POST', headers, body });
}

function processed(provider: string, objectId: string) {
  return client.next((m) => {
    const data = m.data as { provider?: string; objectId?: string };
    return m.type === 'webhook-event' && data.provider === provider && data.objectId === objectId;
  });
}

const cases = PROVIDER_NAMES.flatMap((provider) =>
  SAMPLE_EVENT_TYPES[provider].map((type) => [provider, type] as const),
);

describe('every documented delivery is accepted and processed on the local stack', () => {
  it.each(cases)('%s %s', async (provider, eventType) => {
    const objectId =
      provider === 'shopify' ? '820982911946154999' : provider === 'hubspot' ? '4242' : '006AAAAAAAAAAAAAAA';
    const url = `${stack.httpUrl}/api/webhooks/${provider}`;
    const sample = await signedSample(provider, eventType, {
      url,
      secret: SECRETS[provider],
      objectId,
      orgId: ORG_ID,
    });

    // The sample's own URL: an Outbound Message's carries the endpoint token.
    const response = await fetch(sample.url, { method: 'POST', headers: sample.headers, body: sample.body });

    expect(response.status, await response.clone().text()).toBe(200);
    const expectedId = eventType === 'inventory_levels/update' ? `${objectId}:24826418` : objectId;
    const pushed = await processed(provider, expectedId);
    expect(pushed.data).toMatchObject({ provider, objectId: expectedId, status: 'processed' });
  });
});

describe("the seed's examples", () => {
  it('accepts the HubSpot curl example signed the way the seed computes it (sha256 of secret + body)', async () => {
    const body = '[{"eventId":"test","objectId":"123","eventType":"contact.propertyChange"}]';
    const signature = createHash('sha256')
      .update(SECRETS.hubspot + body)
      .digest('hex');

    const response = await post('hubspot', body, {
      'Content-Type': 'application/json',
      'X-HubSpot-Signature': `sha256=${signature}`,
    });

    expect(response.status).toBe(200);
    expect((await processed('hubspot', '123')).data).toMatchObject({ eventType: 'contact.propertyChange' });
  });

  it('accepts the Shopify curl example', async () => {
    const body = '{"id":123,"total_price":"99.99"}';
    const response = await post('shopify', body, {
      'Content-Type': 'application/json',
      'X-Shopify-Topic': 'orders/create',
      'X-Shopify-Hmac-Sha256': createHmac('sha256', SECRETS.shopify).update(body).digest('base64'),
    });

    expect(response.status).toBe(200);
    await processed('shopify', '123');
  });

  it('accepts the simplified Salesforce opportunity change with the event type in a header', async () => {
    const body =
      '{"header":{"recordId":"opp123","changeType":"UPDATE"},"data":{"StageName":"Closed Won","Amount":50000}}';
    const response = await post('salesforce', body, await opportunityChangeHeaders());

    expect(response.status).toBe(200);
    expect((await processed('salesforce', 'opp123')).data).toMatchObject({
      eventType: 'OpportunityChangeEvent',
    });
  });

  it('takes a replayed bearer token (same token and body, inside its lifetime) as the same delivery: one event, processed once (issue 16)', async () => {
    const body =
      '{"header":{"recordId":"oppreplay16","changeType":"UPDATE"},"data":{"StageName":"Closed Won","Amount":9999999}}';
    const headers = await opportunityChangeHeaders();

    expect((await post('salesforce', body, headers)).status).toBe(200);
    await processed('salesforce', 'oppreplay16');
    // The replay is answered as a retry is (the sender learns nothing), and dedup drops it.
    expect((await post('salesforce', body, headers)).status).toBe(200);
    await eventually(
      () => messagesInMainQueues(stack),
      (n) => n === 0,
      'the queues to drain',
    );

    const logged = (await scanEventLog()).filter((item) => item.objectId === 'oppreplay16');
    expect(logged.map((item) => item.status)).toEqual(['processed']);
  });
});

/** A short-lived HS256 bearer token of the org (`iat` and `exp`, as Salesforce issues them) and the headers. */
async function opportunityChangeHeaders(): Promise<Record<string, string>> {
  const token = await new SignJWT({ organization_id: ORG_ID })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(SECRETS.salesforce));
  return {
    'Content-Type': 'application/json',
    Authorization: `Bearer ${token}`,
    'X-Salesforce-Event-Type': 'OpportunityChangeEvent',
  };
}

describe('large payloads', () => {
  it('carries an order too large for one SQS message through the S3 claim check, digits intact', async () => {
    const note = 'x'.repeat(400 * 1024);
    const body = `{"id":820982911946100001,"total_price":"12.50","note":"${note}","updated_at":"2026-11-29T10:00:00Z"}`;
    const response = await post('shopify', body, {
      'Content-Type': 'application/json',
      'X-Shopify-Topic': 'orders/create',
      'X-Shopify-Hmac-Sha256': createHmac('sha256', SECRETS.shopify).update(body).digest('base64'),
    });

    expect(response.status).toBe(200);
    await processed('shopify', '820982911946100001');
    const { rows } = await db.query(
      "SELECT total_price::text, length(payload->>'note') AS note_length FROM synced_orders WHERE id = $1",
      ['820982911946100001'],
    );
    expect(rows[0]).toEqual({ total_price: '12.50', note_length: note.length });
  });
});
