import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyWebhookSignature } from '../../shared/alerts/notifier';
import { responseSchemas } from '../../shared/api/openapi';
import { OPERATORS_GROUP } from '../../shared/auth/tokens';
import { type E2eStack, startE2eStack } from '../support/e2e-stack';
import { shopifySignature } from '../support/shopify';
import { subscribedClient, type TestClient } from '../support/ws-client';

/*
 * Alerting on the local stack: every processing attempt fails (CHAOS_FAILURE_RATE=1) and a record
 * dies on its second receive, so one delivery makes Shopify's error rate 100%. The local evaluator
 * (every second here) applies operator alice's error_rate rule to the counters and feeds the
 * recorder, which stores the alert, pushes it to every operator's dashboard (the on-call team's, not
 * only alice's; no plain user's) and POSTs it, signed, to a receiver of ours.
 */

const SHOPIFY_SECRET = 'e2e-alerts-shopify-secret';
const SIGNING_SECRET = 'e2e-alert-webhook-signing-secret';

let e2e: E2eStack;
let stack: LocalStack;
let receiver: Server;
const received: { headers: IncomingHttpHeaders; body: string }[] = [];
const clients: TestClient[] = [];

beforeAll(async () => {
  // The receiver of the `webhook` channel must exist before the stack reads its URL.
  receiver = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/alerts`;
  e2e = await startE2eStack({
    secrets: { shopify: SHOPIFY_SECRET },
    env: {
      CHAOS_FAILURE_RATE: '1',
      RETRY_ATTEMPTS: '1',
      RETRY_BASE_DELAY_MS: '100',
      ALERT_EVAL_INTERVAL_SECONDS: '1',
      ALERT_WEBHOOK_URLS_JSON: JSON.stringify([receiverUrl]),
      ALERT_WEBHOOK_SIGNING_SECRET: SIGNING_SECRET,
      // Every injected failure is logged as an error; the assertions say what went wrong.
      POWERTOOLS_LOG_LEVEL: 'CRITICAL',
    },
  });
  ({ stack } = e2e);
});

afterAll(async () => {
  for (const client of clients) client.close();
  await e2e?.stop();
  await new Promise((resolve) => receiver?.close(resolve));
});

/** Users named `alert-carol` are plain users; everyone else here is an operator. */
const groupsOf = (user: string) => (user === 'alert-carol' ? [] : [OPERATORS_GROUP]);

async function api(user: string, method: string, path: string, body?: unknown) {
  const response = await fetch(`${stack.httpUrl}${path}`, {
    method,
    // Alert rules and alerts are the on-call team's (they watch every tenant's provider metrics).
    headers: {
      Authorization: `Bearer ${await e2e.token(user, groupsOf(user))}`,
      'Content-Type': 'application/json',
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

async function alertDashboard(user: string): Promise<TestClient> {
  const client = await subscribedClient(`${stack.wsUrl}?token=${await e2e.token(user, groupsOf(user))}`, {
    events: ['webhook-alert'],
  });
  clients.push(client);
  return client;
}

describe('an error_rate rule on the local stack', () => {
  let alice: TestClient;
  let bob: TestClient;
  let carol: TestClient;
  let ruleId: string;
  let alertId: string;

  it('is created through the API', async () => {
    alice = await alertDashboard('alert-alice');
    bob = await alertDashboard('alert-bob');
    carol = await alertDashboard('alert-carol');
    const created = await api('alert-alice', 'POST', '/api/webhooks/alert-rules', {
      name: 'Shopify failing',
      provider: 'shopify',
      metric: 'error_rate',
      threshold: 50,
      comparison: 'greater_than',
      time_window_minutes: 5,
      notification_channels: ['webhook', 'slack'],
    });
    expect(created.status).toBe(201);
    ruleId = responseSchemas.alertRule.parse(created.body).rule.id;
  });

  it("raises an alert pushed to every operator, not only the rule's creator, when Shopify events die", async () => {
    const body = '{"id":7770001,"order_number":1,"total_price":"5.00","financial_status":"paid"}';
    const delivered = await fetch(`${stack.httpUrl}/api/webhooks/shopify`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'X-Shopify-Topic': 'orders/create',
        'X-Shopify-Hmac-Sha256': shopifySignature(SHOPIFY_SECRET, body),
        'X-Shopify-Shop-Domain': 'alerts.myshopify.com',
        'X-Shopify-Webhook-Id': 'alerts-delivery-1',
      },
      body,
    });
    expect(delivered.status).toBe(200);

    const pushed = await alice.next((message) => message.type === 'webhook-alert', 30_000);
    const toBob = await bob.next((message) => message.type === 'webhook-alert', 5_000);
    expect(toBob.data).toEqual(pushed.data);
    expect(pushed.data).toMatchObject({
      rule_id: ruleId,
      name: 'Shopify failing',
      provider: 'shopify',
      metric: 'error_rate',
      current_value: 100,
      threshold: 50,
      severity: 'critical',
      acknowledged: false,
    });
    alertId = (pushed.data as { id: string }).id;
  });

  it('is listed once for every operator and for no plain user', async () => {
    // The evaluator runs every second: the breach goes on, the alert is not raised again.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    for (const operator of ['alert-alice', 'alert-bob']) {
      const listed = await api(operator, 'GET', '/api/webhooks/alerts?provider=shopify');
      expect(listed.status).toBe(200);
      const { alerts } = responseSchemas.alerts.parse(listed.body);
      expect(alerts.map((alert) => alert.id)).toEqual([alertId]);
      expect(alerts[0]?.message).toBe('error_rate is 100% (rule: > 50%) over the last 5 min for shopify');
    }

    expect((await api('alert-carol', 'GET', '/api/webhooks/alerts')).body.alerts).toEqual([]);
    expect(carol.messages.filter((message) => message.type === 'webhook-alert')).toEqual([]);
    expect(alice.messages.filter((message) => message.type === 'webhook-alert')).toHaveLength(1);
    expect(bob.messages.filter((message) => message.type === 'webhook-alert')).toHaveLength(1);
  });

  it('reached the webhook channel as a signed POST', () => {
    expect(received).toHaveLength(1);
    const [request] = received;
    const headers = {
      signature: String(request?.headers[SIGNATURE_HEADER.toLowerCase()]),
      timestamp: String(request?.headers[TIMESTAMP_HEADER.toLowerCase()]),
    };
    expect(verifyWebhookSignature(SIGNING_SECRET, headers, request?.body ?? '', Date.now() / 1000)).toBe(
      true,
    );
    expect(JSON.parse(request?.body ?? '{}').alert).toMatchObject({
      id: alertId,
      rule_id: ruleId,
      name: 'Shopify failing',
    });
  });

  it("is acknowledged by another operator than the rule's creator, who is recorded; not by a plain user", async () => {
    expect((await api('alert-carol', 'POST', `/api/webhooks/alerts/${alertId}/acknowledge`)).status).toBe(
      404,
    );
    const acknowledged = await api('alert-bob', 'POST', `/api/webhooks/alerts/${alertId}/acknowledge`);
    expect(acknowledged.status).toBe(200);
    expect(responseSchemas.alert.parse(acknowledged.body).alert).toMatchObject({
      id: alertId,
      acknowledged: true,
      acknowledged_by: 'alert-bob',
    });
    const open = await api('alert-alice', 'GET', '/api/webhooks/alerts?acknowledged=false');
    expect(open.body.alerts).toEqual([]);
    const row = await e2e.db.query(
      'SELECT acknowledged_by, acknowledged_at FROM webhook_alerts WHERE id = $1',
      [alertId],
    );
    expect(row.rows[0]?.acknowledged_by).toBe('alert-bob');
    expect(row.rows[0]?.acknowledged_at).toBeInstanceOf(Date);
  });
});
