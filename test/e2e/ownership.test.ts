import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runOncall } from '../../bin/oncall';
import type { LocalStack } from '../../local/stack';
import { responseSchemas } from '../../shared/api/openapi';
import { OPERATORS_GROUP } from '../../shared/auth/tokens';
import { type E2eStack, putOnQueue, eventually as settle, startE2eStack } from '../support/e2e-stack';
import { shopifySignature } from '../support/shopify';
import { subscribedClient, type TestClient } from '../support/ws-client';
import { envelope } from '../unit/support/envelopes';

/*
 * One ownership model on the local stack (issue 14): two tenants with their own Shopify configs, two
 * operators on call, and provider-wide traffic (the system owner's). Every delivery, row, counter,
 * alert and push has an owner; tenants see their own, operators see everything, alerts are the
 * team's.
 */

const GLOBAL_SECRET = 'e2e-ownership-shopify-secret';
const SHARED_SHOP = 'shared-shop.myshopify.com';
const TENANTS = ['tenant-a', 'tenant-b'] as const;
const OPERATORS = ['op-1', 'op-2'] as const;
const ALL_PUSHES = ['webhook-event', 'webhook-alert', 'webhook-metrics-update'];

let e2e: E2eStack;
let stack: LocalStack;
const dashboards = new Map<string, TestClient>();

type Webhook = { id: string; webhook_url: string; secret: string; source_account: string | null };
const configs = new Map<string, Webhook>();

const isOperator = (user: string) => (OPERATORS as readonly string[]).includes(user);

beforeAll(async () => {
  e2e = await startE2eStack({
    secrets: { shopify: GLOBAL_SECRET },
    env: {
      STATUS_CACHE_TTL_SECONDS: '0',
      SUBSCRIBER_CACHE_MS: '0',
      METRICS_PUSH_INTERVAL_SECONDS: '1',
      ALERT_EVAL_INTERVAL_SECONDS: '1',
      // The dead-lettered deliveries below are logged as errors; the assertions say what went wrong.
      POWERTOOLS_LOG_LEVEL: 'CRITICAL',
    },
  });
  ({ stack } = e2e);
  for (const user of [...TENANTS, ...OPERATORS]) {
    const token = await e2e.token(user, isOperator(user) ? [OPERATORS_GROUP] : []);
    dashboards.set(user, await subscribedClient(`${stack.wsUrl}?token=${token}`, { events: ALL_PUSHES }));
  }
});

afterAll(async () => {
  for (const client of dashboards.values()) client.close();
  await e2e?.stop();
});

const dashboard = (user: string) => dashboards.get(user) as TestClient;

const api = (user: string, method: string, path: string, body?: unknown) =>
  e2e.api(user, method, path, { body, groups: isOperator(user) ? [OPERATORS_GROUP] : [] });

const eventually = <T>(read: () => Promise<T>, done: (value: T) => boolean, what: string) =>
  settle(read, done, what, 20_000);

/** A signed Shopify order, to a tenant's config or (no config) the provider-wide endpoint. */
async function deliverOrder(
  order: { id: string; total: string; updatedAt?: string },
  options: { config?: Webhook; shop?: string; webhookId: string },
) {
  // The id as Shopify sends it: an integer beyond 2^53, written out digit for digit.
  const updated = order.updatedAt ? `,"updated_at":"${order.updatedAt}"` : '';
  const body = `{"id":${order.id},"total_price":"${order.total}","financial_status":"paid"${updated}}`;
  const response = await fetch(options.config?.webhook_url ?? `${stack.httpUrl}/api/webhooks/shopify`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      'X-Shopify-Topic': 'orders/create',
      'X-Shopify-Hmac-Sha256': shopifySignature(options.config?.secret ?? GLOBAL_SECRET, body),
      'X-Shopify-Shop-Domain': options.shop ?? SHARED_SHOP,
      'X-Shopify-Webhook-Id': options.webhookId,
    },
    body,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const processedEvent = (objectId: string, ownerId: string) => (m: { type: string; data: unknown }) => {
  const data = m.data as { objectId?: string; ownerId?: string; status?: string };
  return (
    m.type === 'webhook-event' &&
    data.objectId === objectId &&
    data.ownerId === ownerId &&
    data.status === 'processed'
  );
};

describe('two tenants, two operators and provider-wide traffic', () => {
  const ORDER = '9000000000000000017';

  it('registers one Shopify config per tenant, bound to its shop given or learned', async () => {
    const a = await api('tenant-a', 'POST', '/api/webhooks/register', {
      provider: 'shopify',
      events: ['orders/create'],
    });
    const b = await api('tenant-b', 'POST', '/api/webhooks/register', {
      provider: 'shopify',
      events: ['orders/create'],
      source_account: SHARED_SHOP,
    });
    expect([a.status, b.status]).toEqual([201, 201]);
    configs.set('tenant-a', a.body.webhook);
    configs.set('tenant-b', b.body.webhook);
    expect(a.body.webhook.source_account).toBeNull();
    expect(b.body.webhook.source_account).toBe(SHARED_SHOP);
  });

  it('turns the same Shopify delivery to both tenants into two deliveries, two rows and two events', async () => {
    // The same shop, order and webhook id: one provider event that both tenants subscribed to.
    const toA = await deliverOrder(
      { id: ORDER, total: '10.00' },
      { config: configs.get('tenant-a'), webhookId: 'same-delivery' },
    );
    const toB = await deliverOrder(
      { id: ORDER, total: '10.00' },
      { config: configs.get('tenant-b'), webhookId: 'same-delivery' },
    );
    expect([toA, toB]).toEqual([
      { status: 200, body: { success: true, accepted: 1, ignored: 0 } },
      { status: 200, body: { success: true, accepted: 1, ignored: 0 } },
    ]);

    await dashboard('tenant-a').next(processedEvent(ORDER, 'tenant-a'), 15_000);
    await dashboard('tenant-b').next(processedEvent(ORDER, 'tenant-b'), 15_000);
    const rows = await e2e.db.query(
      'SELECT owner_id, total_price FROM synced_orders WHERE id = $1 ORDER BY owner_id',
      [ORDER],
    );
    expect(rows.rows).toEqual([
      { owner_id: 'tenant-a', total_price: '10.00' },
      { owner_id: 'tenant-b', total_price: '10.00' },
    ]);
    const eventsOf = async (user: string) =>
      (await api(user, 'GET', '/api/webhooks/events?provider=shopify')).body.events.map(
        (event: { id: string; status: string; owner_id: string }) => [event.id, event.status, event.owner_id],
      );
    expect(await eventsOf('tenant-a')).toEqual([['tenant-a:shopify:same-delivery', 'processed', 'tenant-a']]);
    expect(await eventsOf('tenant-b')).toEqual([['tenant-b:shopify:same-delivery', 'processed', 'tenant-b']]);
    // The learned binding is visible to its owner.
    const config = await api('tenant-a', 'GET', `/api/webhooks/configs/${configs.get('tenant-a')?.id}`);
    expect(config.body.webhook.source_account).toBe(SHARED_SHOP);
  });

  it('refuses a verified delivery from another shop to a bound config with 403, saying why', async () => {
    const response = await deliverOrder(
      { id: '9000000000000000099', total: '1.00' },
      { config: configs.get('tenant-a'), shop: 'other-shop.myshopify.com', webhookId: 'foreign' },
    );
    expect(response.status).toBe(403);
    expect(response.body).toMatchObject({
      success: false,
      error: {
        code: 'forbidden',
        message: `Delivery from shop other-shop.myshopify.com; this webhook takes deliveries from shop ${SHARED_SHOP} only`,
      },
    });
  });

  it('does not let a forged future updated_at freeze a row against the next real update', async () => {
    const forged = '9000000000000000023';
    await deliverOrder(
      { id: forged, total: '9999999.00', updatedAt: '9999-12-31T00:00:00Z' },
      { config: configs.get('tenant-a'), webhookId: 'forged-1' },
    );
    await dashboard('tenant-a').next(processedEvent(forged, 'tenant-a'), 15_000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await deliverOrder(
      { id: forged, total: '42.00', updatedAt: new Date().toISOString() },
      { config: configs.get('tenant-a'), webhookId: 'real-1' },
    );

    const row = await eventually(
      () =>
        e2e.db.query('SELECT total_price FROM synced_orders WHERE owner_id = $1 AND id = $2', [
          'tenant-a',
          forged,
        ]),
      (result) => result.rows[0]?.total_price === '42.00',
      'the real update to win',
    );
    expect(row.rows).toEqual([{ total_price: '42.00' }]);
  });

  it("pushes the provider-wide endpoint's (the system owner's) events to operators only", async () => {
    const wide = '9000000000000000031';
    expect((await deliverOrder({ id: wide, total: '5.00' }, { webhookId: 'wide-1' })).status).toBe(200);

    for (const operator of OPERATORS) await dashboard(operator).next(processedEvent(wide, 'system'), 15_000);
    // Both operators also got each tenant's events.
    for (const operator of OPERATORS)
      for (const tenant of TENANTS) await dashboard(operator).next(processedEvent(ORDER, tenant), 5_000);
    const rows = await e2e.db.query('SELECT owner_id FROM synced_orders WHERE id = $1', [wide]);
    expect(rows.rows).toEqual([{ owner_id: 'system' }]);
  });

  it("counts provider-wide traffic in an operator's status, and each tenant's in theirs only", async () => {
    const operator = responseSchemas.status.parse(
      (await api('op-1', 'GET', '/api/webhooks/status?time_range=1h')).body,
    );
    const byId = new Map(operator.webhooks.map((webhook) => [webhook.id, webhook]));
    expect(byId.get('shopify')).toMatchObject({ owner_id: 'system', statistics: { successful_events: 1 } });
    expect(byId.get(configs.get('tenant-a')?.id ?? '')).toMatchObject({ owner_id: 'tenant-a' });
    expect(byId.get(configs.get('tenant-b')?.id ?? '')).toMatchObject({ owner_id: 'tenant-b' });
    const system = await api('op-1', 'GET', '/api/webhooks/status?owner=system&provider=shopify');
    expect(system.body.webhooks.map((webhook: { id: string }) => webhook.id)).toEqual(['shopify']);

    const tenant = await api('tenant-b', 'GET', '/api/webhooks/status?time_range=1h');
    expect(tenant.body.webhooks.map((webhook: { id: string }) => webhook.id)).toEqual([
      configs.get('tenant-b')?.id,
    ]);
    expect((await api('tenant-b', 'GET', '/api/webhooks/status?owner=system')).status).toBe(403);
  });

  it("lists every owner's deliveries to an operator, provider-wide ones included; a tenant's own only", async () => {
    const all = await api('op-2', 'GET', '/api/webhooks/events?limit=200');
    const owners = new Set(all.body.events.map((event: { owner_id: string }) => event.owner_id));
    expect(owners).toEqual(new Set(['system', 'tenant-a', 'tenant-b']));
    const tenant = await api('tenant-b', 'GET', '/api/webhooks/events?limit=200');
    expect(new Set(tenant.body.events.map((event: { owner_id: string }) => event.owner_id))).toEqual(
      new Set(['tenant-b']),
    );
    const id = encodeURIComponent('system:shopify:wide-1');
    expect((await api('op-2', 'GET', `/api/webhooks/events/${id}`)).status).toBe(200);
    expect((await api('tenant-a', 'GET', `/api/webhooks/events/${id}`)).status).toBe(404);
  });

  it('lists every dead delivery to on-call, provider-wide ones included, and lets an operator replay them', async () => {
    // Two deliveries whose claim-check object is gone: dead at once, one of tenant A, one provider-wide.
    const dead = [
      envelope({
        ownerId: 'tenant-a',
        configId: configs.get('tenant-a')?.id,
        dedupKey: 'tenant-a:shopify:dead-1',
        orderingKey: 'tenant-a:shopify:dead-1',
        receivedAt: new Date().toISOString(),
        payload: undefined,
        payloadRef: { bucket: 'webhook-payloads', key: 'missing/dead-1.json' },
      }),
      envelope({
        dedupKey: 'system:shopify:dead-2',
        orderingKey: 'system:shopify:dead-2',
        receivedAt: new Date().toISOString(),
        payload: undefined,
        payloadRef: { bucket: 'webhook-payloads', key: 'missing/dead-2.json' },
      }),
    ];
    for (const message of dead) await putOnQueue(stack, stack.queues.low.url, message);
    const dlq = await eventually(
      () => api('op-1', 'GET', '/api/webhooks/dlq'),
      (response) =>
        response.body.queues.find((queue: { priority: string }) => queue.priority === 'low')?.dlq_depth === 2,
      'both in the low DLQ',
    );
    expect(dlq.status).toBe(200);

    const lines: string[] = [];
    const oncall = (...argv: string[]) =>
      runOncall([...argv, '--url', stack.httpUrl, '--user', 'op-2'], {
        fetch,
        out: (line) => lines.push(line),
        env: {},
        devToken: (user) => e2e.token(user, [OPERATORS_GROUP]),
      });
    await eventually(
      async () => {
        lines.length = 0;
        await oncall('dead');
        return [...lines];
      },
      (listed) => listed.length === 2,
      'on-call to list both dead deliveries',
    );
    expect(lines.map((line) => line.match(/owner (\S+)/)?.[1]).sort()).toEqual(['system', 'tenant-a']);
    const tenant = await api('tenant-a', 'GET', '/api/webhooks/events?status=dead');
    expect(tenant.body.events.map((event: { id: string }) => event.id)).toEqual(['tenant-a:shopify:dead-1']);

    lines.length = 0;
    expect(await oncall('replay', 'system:shopify:dead-2')).toBe(0);
    expect(lines[0]).toMatch(/^Queued replay .+ of system:shopify:dead-2$/);
    expect(
      (
        await api(
          'tenant-a',
          'POST',
          `/api/webhooks/events/${encodeURIComponent('system:shopify:dead-2')}/replay`,
        )
      ).status,
    ).toBe(404);
  });

  it("raises an operator's rule's alert for the whole team: another operator sees, receives and acknowledges it", async () => {
    const created = await api('op-1', 'POST', '/api/webhooks/alert-rules', {
      name: 'Shopify traffic seen',
      provider: 'shopify',
      metric: 'event_volume',
      threshold: 0,
      comparison: 'greater_than',
      time_window_minutes: 5,
    });
    expect(created.status).toBe(201);
    const ruleId = created.body.rule.id;

    const pushed = await dashboard('op-2').next(
      (m) => m.type === 'webhook-alert' && (m.data as { rule_id?: string }).rule_id === ruleId,
      20_000,
    );
    const alertId = (pushed.data as { id: string }).id;
    const listed = await api('op-2', 'GET', '/api/webhooks/alerts?acknowledged=false');
    expect(listed.body.alerts.map((alert: { id: string }) => alert.id)).toContain(alertId);

    const acknowledged = await api('op-2', 'POST', `/api/webhooks/alerts/${alertId}/acknowledge`);
    expect(acknowledged.body.alert).toMatchObject({ acknowledged: true, acknowledged_by: 'op-2' });
    // The rule's creator sees the acknowledgement too.
    const seen = await api('op-1', 'GET', '/api/webhooks/alerts?acknowledged=true');
    expect(seen.body.alerts.map((alert: { id: string }) => alert.id)).toContain(alertId);
    // Tenants neither list nor receive the team's alerts.
    for (const tenant of TENANTS)
      expect((await api(tenant, 'GET', '/api/webhooks/alerts')).body.alerts).toEqual([]);
  });

  it("gives operators every owner's minute metrics together, and each tenant their own only", async () => {
    const all = await dashboard('op-1').next(
      (m) =>
        m.type === 'webhook-metrics-update' &&
        (m.data as { scope?: string; provider?: string; window?: { total_events: number } }).scope ===
          'all' &&
        (m.data as { window: { total_events: number } }).window.total_events >= 4,
      20_000,
    );
    expect(all.data).toMatchObject({ provider: 'shopify' });
    await dashboard('op-1').next(
      (m) =>
        m.type === 'webhook-metrics-update' &&
        (m.data as { ownerId?: string; window: { total_events: number } }).ownerId === 'system' &&
        (m.data as { window: { total_events: number } }).window.total_events >= 1,
      20_000,
    );
    await dashboard('tenant-a').next(
      (m) => m.type === 'webhook-metrics-update' && (m.data as { ownerId?: string }).ownerId === 'tenant-a',
      20_000,
    );
  });

  it("never pushed a tenant another owner's event, alert or metrics", () => {
    for (const tenant of TENANTS) {
      const pushes = dashboard(tenant).messages.filter((m) => ALL_PUSHES.includes(m.type));
      expect(pushes.length).toBeGreaterThan(0);
      const foreign = pushes.filter((m) => (m.data as { ownerId?: string }).ownerId !== tenant);
      expect(foreign, tenant).toEqual([]);
    }
  });
});
