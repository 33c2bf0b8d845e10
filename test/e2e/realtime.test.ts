import { performance } from 'node:perf_hooks';
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack';
import { DEV_TOKEN_ISSUER, OPERATORS_GROUP } from '../../shared/auth/tokens';
import { Broadcaster } from '../../shared/realtime/broadcaster';
import { serverMessage } from '../../shared/realtime/messages';
import type { MetricsUpdate } from '../../shared/realtime/metrics-push';
import { ConnectionStore } from '../../shared/stores/connections';
import { type E2eStack, startE2eStack } from '../support/e2e-stack';
import { shopifySignature } from '../support/shopify';
import { connect, subscribedClient, type TestClient } from '../support/ws-client';

const SECRET = 'e2e-realtime-shopify-secret';
/** Pushes reuse one query of the operators' connections this long; new subscriptions wait it out. */
const SUBSCRIBER_CACHE_MS = 200;
const DASHBOARDS = 100;
/** The local stack runs the minute metrics push this often (in AWS: every minute). */
const METRICS_PUSH_INTERVAL_SECONDS = 2;

let e2e: E2eStack;
let stack: LocalStack;
const opened: TestClient[] = [];

beforeAll(async () => {
  e2e = await startE2eStack({
    secrets: { shopify: SECRET },
    env: {
      SUBSCRIBER_CACHE_MS: String(SUBSCRIBER_CACHE_MS),
      METRICS_PUSH_INTERVAL_SECONDS: String(METRICS_PUSH_INTERVAL_SECONDS),
    },
  });
  stack = e2e.stack;
});

afterAll(async () => {
  for (const client of opened) client.close();
  await e2e?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A dashboard of `userId`, subscribed as asked. An operator's gets every owner's pushes (the
 * provider-wide endpoints' among them) after the cache time; a user's only their own.
 */
async function dashboard(
  userId: string,
  data: { events: string[]; providers?: string[]; configIds?: string[]; batch?: boolean } = {
    events: ['webhook-event'],
  },
  operator = false,
): Promise<TestClient> {
  const token = await e2e.token(userId, operator ? [OPERATORS_GROUP] : []);
  const client = await subscribedClient(`${stack.wsUrl}?token=${token}`, data);
  opened.push(client);
  return client;
}

let orders = 0;
/** A unique order id (as a string: Shopify ids are exact integers beyond 2^53). */
const nextOrderId = () => `${Date.now()}${String(++orders).padStart(3, '0')}`;

/** POSTs a signed Shopify orders/create, to the provider-wide endpoint unless a config's URL is given. */
async function postOrder(
  orderId: string,
  target: { url: string; secret: string } = { url: `${stack.httpUrl}/api/webhooks/shopify`, secret: SECRET },
): Promise<number> {
  const body = `{"id":${orderId},"order_number":1001,"total_price":"10.00","financial_status":"paid","email":"rt@example.com"}`;
  const response = await fetch(target.url, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      'X-Shopify-Topic': 'orders/create',
      'X-Shopify-Hmac-Sha256': shopifySignature(target.secret, body),
      'X-Shopify-Shop-Domain': 'realtime.myshopify.com',
      'X-Shopify-Webhook-Id': `realtime-${orderId}`,
    },
    body,
  });
  await response.body?.cancel();
  return response.status;
}

const eventFor = (orderId: string) => (m: { type: string; data: unknown }) =>
  m.type === 'webhook-event' && (m.data as { objectId?: string }).objectId === orderId;

const received = (client: TestClient, orderId: string) => client.messages.some(eventFor(orderId));

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

describe('realtime dashboards on the local stack', () => {
  let fleet: TestClient[] = [];

  it(`delivers one event to ${DASHBOARDS} subscribed operator dashboards, measuring POST-to-delivery latency`, async () => {
    for (let i = 0; i < DASHBOARDS; i += 20) {
      const batch = Array.from({ length: Math.min(20, DASHBOARDS - i) }, (_, j) =>
        dashboard(`fleet-${i + j}`, { events: ['webhook-event', 'webhook-alert'] }, true),
      );
      fleet.push(...(await Promise.all(batch)));
    }
    await sleep(SUBSCRIBER_CACHE_MS + 50);

    const latencies: number[] = [];
    const rounds = 5;
    for (let round = 0; round < rounds; round++) {
      const orderId = nextOrderId();
      const started = performance.now();
      const deliveries = fleet.map((client) =>
        client.next(eventFor(orderId), 15_000).then(() => performance.now() - started),
      );
      expect(await postOrder(orderId)).toBe(200);
      latencies.push(...(await Promise.all(deliveries)));
    }

    expect(latencies).toHaveLength(rounds * DASHBOARDS);
    const sorted = [...latencies].sort((a, b) => a - b);
    console.log(
      `POST-to-delivery latency, ${DASHBOARDS} dashboards x ${rounds} events: ` +
        `p50 ${percentile(sorted, 50).toFixed(1)} ms, p90 ${percentile(sorted, 90).toFixed(1)} ms, ` +
        `p99 ${percentile(sorted, 99).toFixed(1)} ms, max ${percentile(sorted, 100).toFixed(1)} ms`,
    );
  });

  it(`measures the fan-out of one push to ${DASHBOARDS} local connections by concurrency`, async () => {
    const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}));
    const connections = new ConnectionStore(ddb, process.env.CONNECTIONS_TABLE as string);
    const api = new ApiGatewayManagementApiClient({ endpoint: process.env.WEBSOCKET_ENDPOINT as string });
    const scanStarted = performance.now();
    const subscribers = await connections.subscribedTo('webhook-alert');
    const scanMs = performance.now() - scanStarted;
    expect(subscribers).toHaveLength(DASHBOARDS);
    const lines = [`subscriber scan: ${scanMs.toFixed(1)} ms`];
    for (const concurrency of [1, 10, 25, 50]) {
      // Cached subscribers: the timed pushes measure posting alone.
      const broadcaster = new Broadcaster(connections, api, { concurrency, subscriberCacheMs: 60_000 });
      const timings: number[] = [];
      for (let run = 0; run < 4; run++) {
        const alert = serverMessage('webhook-alert', { provider: 'shopify', run, concurrency });
        const started = performance.now();
        const summary = await broadcaster.broadcast(alert);
        if (run > 0) timings.push(performance.now() - started);
        expect(summary).toEqual({ delivered: DASHBOARDS, gone: 0, failed: 0 });
      }
      const median = [...timings].sort((a, b) => a - b)[1] as number;
      lines.push(`concurrency ${concurrency}: ${median.toFixed(1)} ms to post to all (median of 3)`);
    }
    console.log(`Fan-out of one push to ${DASHBOARDS} local connections:\n  ${lines.join('\n  ')}`);
    await Promise.all(fleet.map((client) => client.next((m) => m.type === 'webhook-alert')));
  });

  it('closes the fleet', async () => {
    for (const client of fleet) client.close();
    fleet = [];
    // $disconnect deletes the connections; later pushes no longer look at them.
    await sleep(300);
  });

  it("keeps a user's per-config events from other users, and the provider-wide events for operators", async () => {
    const alice = await dashboard('rt-alice');
    const bob = await dashboard('rt-bob');
    const response = await fetch(`${stack.httpUrl}/api/webhooks/register`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${await e2e.token('rt-alice')}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ provider: 'shopify', events: ['orders/create'], rate_limit: 1000 }),
    });
    expect(response.status).toBe(201);
    const { webhook } = (await response.json()) as { webhook: { webhook_url: string; secret: string } };
    await sleep(SUBSCRIBER_CACHE_MS + 50);

    const alicesOrder = nextOrderId();
    expect(await postOrder(alicesOrder, { url: webhook.webhook_url, secret: webhook.secret })).toBe(200);
    const pushed = await alice.next(eventFor(alicesOrder), 15_000);
    const systemsOrder = nextOrderId();
    expect(await postOrder(systemsOrder)).toBe(200);
    // The stack's own dashboard is an operator's: it sees both owners' events.
    await Promise.all([
      e2e.client.next(eventFor(alicesOrder), 15_000),
      e2e.client.next(eventFor(systemsOrder), 15_000),
    ]);
    await sleep(300);

    expect(pushed.data).toMatchObject({
      provider: 'shopify',
      objectId: alicesOrder,
      status: 'processed',
      ownerId: 'rt-alice',
    });
    expect(received(bob, alicesOrder)).toBe(false);
    // The provider-wide endpoint's delivery is the system owner's: no user's dashboard gets it.
    expect(received(alice, systemsOrder)).toBe(false);
    expect(received(bob, systemsOrder)).toBe(false);
  });

  it('gives each dashboard only the types and providers it subscribed to', async () => {
    const events = await dashboard('rt-carol', { events: ['webhook-event'] }, true);
    const shopifyEvents = await dashboard(
      'rt-carol',
      { events: ['webhook-event'], providers: ['shopify'] },
      true,
    );
    const alertsOnly = await dashboard('rt-carol', { events: ['webhook-alert'] }, true);
    const hubspotOnly = await dashboard(
      'rt-carol',
      { events: ['webhook-event'], providers: ['hubspot'] },
      true,
    );
    const unsubscribed = await dashboard('rt-carol', { events: ['webhook-event', 'webhook-alert'] }, true);
    unsubscribed.send({ type: 'unsubscribe', data: { events: ['webhook-event'] } });
    const left = await unsubscribed.next((m) => m.type === 'unsubscribed');
    expect(left.data).toEqual({ events: ['webhook-alert'], filters: {} });
    await sleep(SUBSCRIBER_CACHE_MS + 50);

    const orderId = nextOrderId();
    expect(await postOrder(orderId)).toBe(200);
    await Promise.all([
      events.next(eventFor(orderId), 15_000),
      shopifyEvents.next(eventFor(orderId), 15_000),
    ]);
    await sleep(300);

    expect([alertsOnly, hubspotOnly, unsubscribed].map((client) => received(client, orderId))).toEqual([
      false,
      false,
      false,
    ]);
  });

  it('gives a dashboard subscribed with batch: true every push once, in batch messages or alone, as a seed client gets them one by one', async () => {
    const batched = await dashboard('rt-dave', { events: ['webhook-event'], batch: true }, true);
    const seedClient = await dashboard('rt-dave', { events: ['webhook-event'] }, true);
    expect(batched.messages.find((m) => m.type === 'subscribed')?.data).toEqual({
      events: ['webhook-event'],
      filters: {},
      batched: true,
    });
    await sleep(SUBSCRIBER_CACHE_MS + 50);

    const orderIds = Array.from({ length: 20 }, nextOrderId);
    expect(await Promise.all(orderIds.map((orderId) => postOrder(orderId)))).toEqual(orderIds.map(() => 200));
    const pushesOf = (client: TestClient) =>
      client.messages.flatMap((m) =>
        m.type === 'batch' ? (m.data as TestClient['messages']) : m.type === 'webhook-event' ? [m] : [],
      );
    const objectIds = (client: TestClient) =>
      pushesOf(client)
        .map((push) => (push.data as { objectId?: string }).objectId)
        .filter((id) => id !== undefined && orderIds.includes(id));
    const deadline = Date.now() + 20_000;
    while (objectIds(batched).length < orderIds.length && Date.now() < deadline) await sleep(100);
    await Promise.all(orderIds.map((orderId) => seedClient.next(eventFor(orderId), 20_000)));

    expect(objectIds(batched).sort()).toEqual([...orderIds].sort());
    expect(seedClient.messages.some((m) => m.type === 'batch')).toBe(false);
  });

  it('pushes each user the minute metrics of their own configs only, per provider', async () => {
    const register = async (userId: string, provider: string, events: string[]) => {
      const response = await fetch(`${stack.httpUrl}/api/webhooks/register`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${await e2e.token(userId)}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ provider, events, rate_limit: 1000 }),
      });
      expect(response.status).toBe(201);
      return ((await response.json()) as { webhook: { id: string; webhook_url: string; secret: string } })
        .webhook;
    };
    const erinsShop = await register('rt-erin', 'shopify', ['orders/create']);
    const erinsHub = await register('rt-erin', 'hubspot', ['deal.creation']);
    const franksShop = await register('rt-frank', 'shopify', ['orders/create']);
    const erin = await dashboard('rt-erin', { events: ['webhook-metrics-update'] });
    const erinsHubspotOnly = await dashboard('rt-erin', {
      events: ['webhook-metrics-update'],
      providers: ['hubspot'],
    });
    const frank = await dashboard('rt-frank', { events: ['webhook-metrics-update', 'webhook-event'] });
    const metricsOf = (client: TestClient) =>
      client.messages.filter((m) => m.type === 'webhook-metrics-update').map((m) => m.data as MetricsUpdate);

    const orderId = nextOrderId();
    expect(await postOrder(orderId, { url: erinsShop.webhook_url, secret: erinsShop.secret })).toBe(200);
    const counted = await erin.next(
      (m) =>
        m.type === 'webhook-metrics-update' &&
        (m.data as MetricsUpdate).provider === 'shopify' &&
        (m.data as MetricsUpdate).window.total_events === 1,
      15_000,
    );
    // Two more runs: every dashboard has had its pushes of the run that counted erin's order.
    await sleep(2 * METRICS_PUSH_INTERVAL_SECONDS * 1000 + 500);

    expect(counted.data).toMatchObject({
      scope: 'owner',
      ownerId: 'rt-erin',
      provider: 'shopify',
      configIds: [erinsShop.id],
      windowMinutes: 15,
      window: { total_events: 1, successful_events: 1, failed_events: 0, success_rate: 100, error_rate: 0 },
    });
    expect(new Set(metricsOf(erin).map((m) => `${m.ownerId}:${m.provider}:${m.configIds}`))).toEqual(
      new Set([`rt-erin:shopify:${erinsShop.id}`, `rt-erin:hubspot:${erinsHub.id}`]),
    );
    expect(new Set(metricsOf(erinsHubspotOnly).map((m) => `${m.ownerId}:${m.provider}`))).toEqual(
      new Set(['rt-erin:hubspot']),
    );
    // Frank gets his own config's figures (none of erin's order), and neither erin's pushes nor her event.
    const franks = metricsOf(frank);
    expect(franks.length).toBeGreaterThan(0);
    expect(new Set(franks.map((m) => `${m.ownerId}:${m.provider}:${m.configIds}`))).toEqual(
      new Set([`rt-frank:shopify:${franksShop.id}`]),
    );
    expect(franks.every((m) => m.window.total_events === 0)).toBe(true);
    expect(received(frank, orderId)).toBe(false);
    // A dashboard that did not subscribe to the type gets no metrics.
    expect(e2e.client.messages.some((m) => m.type === 'webhook-metrics-update')).toBe(false);
  });

  it('answers ping with pong and a malformed message with an error, keeping the connection open', async () => {
    const client = await dashboard('rt-dave');

    client.send({ type: 'ping' });
    await client.next((m) => m.type === 'pong');
    client.send({ type: 'subscribe', data: { events: ['everything'] } });
    const error = await client.next((m) => m.type === 'error');
    client.send({ type: 'teleport' });
    await client.next(
      (m) => m.type === 'error' && (m.data as { message: string }).message.includes('teleport'),
    );
    client.send({ type: 'ping' });
    await client.next(() => client.messages.filter((m) => m.type === 'pong').length === 2);

    expect(error.data).toMatchObject({ message: 'Invalid subscribe message' });
  });

  it('refuses the upgrade without a valid token: none, a bare ?userId=, forged or expired', async () => {
    const now = Math.floor(Date.now() / 1000);
    const sign = (secret: string, exp: number) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('rt-alice')
        .setIssuer(DEV_TOKEN_ISSUER)
        .setIssuedAt(now - 7200)
        .setExpirationTime(exp)
        .sign(new TextEncoder().encode(secret));
    const forged = await sign('not-the-dev-token-secret', now + 3600);
    const expired = await sign(process.env.DEV_TOKEN_SECRET as string, now - 120);

    await expect(connect(stack.wsUrl)).rejects.toThrow('refused with 401');
    await expect(connect(`${stack.wsUrl}?userId=rt-alice`)).rejects.toThrow('refused with 401');
    await expect(connect(`${stack.wsUrl}?token=${forged}`)).rejects.toThrow('refused with 401');
    await expect(connect(`${stack.wsUrl}?token=${expired}`)).rejects.toThrow('refused with 401');
  });
});
