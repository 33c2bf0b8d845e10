import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack';
import { type E2eStack, startE2eStack } from '../support/e2e-stack';
import { shopifySignature } from '../support/shopify';
import { subscribedClient } from '../support/ws-client';

/** Config lookups are cached per instance; one second keeps this file fast and still exercises the cache. */
const CACHE_TTL_MS = 1000;

let e2e: E2eStack;
let stack: LocalStack;

beforeAll(async () => {
  e2e = await startE2eStack({
    secrets: { shopify: 'e2e-global-shopify-secret' },
    env: { CONFIG_CACHE_TTL_SECONDS: String(CACHE_TTL_MS / 1000) },
  });
  ({ stack } = e2e);
});

afterAll(async () => {
  await e2e?.stop();
});

interface Webhook {
  id: string;
  webhook_url: string;
  secret?: string;
  [key: string]: unknown;
}

async function api(
  user: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> | undefined }> {
  const response = await fetch(`${stack.httpUrl}${path}`, {
    method,
    headers: { Authorization: `Bearer ${await e2e.token(user)}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
}

async function register(user: string, body: Record<string, unknown>): Promise<Webhook> {
  const response = await api(user, 'POST', '/api/webhooks/register', body);
  expect(response.status).toBe(201);
  return response.body?.webhook as Webhook;
}

async function deliver(
  url: string,
  secret: string,
  options: { id: string; topic?: string; webhookId?: string },
): Promise<{ status: number; headers: Headers; body: unknown }> {
  const body = `{"id":${options.id},"order_number":1001,"total_price":"12.50","financial_status":"paid","email":"e2e@example.com"}`;
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      'X-Shopify-Topic': options.topic ?? 'orders/create',
      'X-Shopify-Hmac-Sha256': shopifySignature(secret, body),
      'X-Shopify-Shop-Domain': 'e2e.myshopify.com',
      'X-Shopify-Webhook-Id': options.webhookId ?? `delivery-${options.id}-${Math.random()}`,
    },
    body,
  });
  return { status: response.status, headers: response.headers, body: await response.json() };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('webhook configs on the local stack', () => {
  let webhook: Webhook;
  let secret: string;

  it('registers a Shopify config for the caller and returns its endpoint and a generated secret', async () => {
    webhook = await register('alice', { provider: 'shopify', events: ['orders/create'], rate_limit: 1000 });
    secret = webhook.secret as string;
    expect(webhook).toMatchObject({
      provider: 'shopify',
      events: ['orders/create'],
      webhook_url: `${process.env.WEBHOOK_BASE_URL}/api/webhooks/shopify/${webhook.id}`,
      rate_limit: 1000,
      active: true,
      // No shop credentials given: the response says how to subscribe by hand.
      registration_status: 'manual',
      registration_instructions: expect.stringContaining(webhook.webhook_url),
    });
    expect(Buffer.from(secret, 'base64url').length).toBeGreaterThanOrEqual(32);

    const listed = await api('alice', 'GET', '/api/webhooks/configs');
    expect(listed.status).toBe(200);
    expect(listed.body?.webhooks).toEqual([expect.objectContaining({ id: webhook.id })]);
    expect(JSON.stringify(listed.body)).not.toContain(secret);
  });

  it("takes a delivery signed with the config secret through processing to Postgres and its owner's dashboard", async () => {
    // A config's events reach its owner's dashboards only (a provider-wide dashboard does not see them).
    const alice = await subscribedClient(`${stack.wsUrl}?token=${await e2e.token('alice')}`, {
      events: ['webhook-event'],
    });
    const response = await deliver(webhook.webhook_url, secret, { id: '5550001' });
    expect(response).toMatchObject({ status: 200, body: { success: true, accepted: 1, ignored: 0 } });
    const pushed = await alice.next(
      (m) => m.type === 'webhook-event' && (m.data as { objectId: string }).objectId === '5550001',
    );
    alice.close();
    expect(pushed.data).toMatchObject({
      provider: 'shopify',
      eventType: 'orders/create',
      status: 'processed',
    });
    const { rows } = await e2e.db.query('SELECT id FROM synced_orders WHERE id = $1', ['5550001']);
    expect(rows).toHaveLength(1);
  });

  it('acknowledges an event type the config does not subscribe to without enqueueing it', async () => {
    const response = await deliver(webhook.webhook_url, secret, { id: '5550002', topic: 'orders/updated' });
    expect(response).toMatchObject({ status: 200, body: { success: true, accepted: 0, ignored: 1 } });
  });

  it('answers 404 to another user on every route of the config', async () => {
    const path = `/api/webhooks/configs/${webhook.id}`;
    const attempts = [
      await api('mallory', 'GET', path),
      await api('mallory', 'PATCH', path, { active: false }),
      await api('mallory', 'DELETE', path),
      await api('mallory', 'POST', `${path}/rotate-secret`),
    ];
    expect(attempts.map((a) => a.status)).toEqual([404, 404, 404, 404]);
    expect((await api('mallory', 'GET', '/api/webhooks/configs')).body?.webhooks).toEqual([]);
    expect((await api('alice', 'GET', path)).body?.webhook).toMatchObject({ active: true });
  });

  it('refuses the management API without a valid token', async () => {
    const response = await fetch(`${stack.httpUrl}/api/webhooks/configs`);
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ success: false, error: { code: 'unauthorized' } });
  });

  it('accepts the new secret at once after a rotation and keeps the old one valid', async () => {
    const rotated = await api('alice', 'POST', `/api/webhooks/configs/${webhook.id}/rotate-secret`);
    expect(rotated.status).toBe(200);
    const newSecret = (rotated.body?.webhook as Webhook | undefined)?.secret as string;
    expect(newSecret).not.toBe(secret);

    // The ingest Lambda still has the config cached: the old secret passes, and a failed signature
    // makes it read the config again (at most every 5 s; no signature failed before this), so the
    // new one passes too.
    expect((await deliver(webhook.webhook_url, secret, { id: '5550004' })).status).toBe(200);
    expect((await deliver(webhook.webhook_url, newSecret, { id: '5550005' })).status).toBe(200);
    expect((await deliver(webhook.webhook_url, secret, { id: '5550006' })).status).toBe(200);
  });

  it('refuses a delivery signed with another secret (the global one included) with 401', async () => {
    expect((await deliver(webhook.webhook_url, 'not-the-secret-at-all', { id: '5550003' })).status).toBe(401);
    expect((await deliver(webhook.webhook_url, 'e2e-global-shopify-secret', { id: '5550003' })).status).toBe(
      401,
    );
  });

  it('answers 404 once the config is inactive', async () => {
    const patched = await api('alice', 'PATCH', `/api/webhooks/configs/${webhook.id}`, { active: false });
    expect(patched.status).toBe(200);
    expect(patched.body?.webhook).toMatchObject({ active: false });
    await sleep(CACHE_TTL_MS + 100);
    expect((await deliver(webhook.webhook_url, secret, { id: '5550007' })).status).toBe(404);
  });

  it('refuses the third request in a minute with 429 and Retry-After when rate_limit is 2', async () => {
    const limited = await register('bob', { provider: 'shopify', events: ['orders/create'], rate_limit: 2 });
    // Across a minute boundary the previous minute's weight starts below 1: start in a fresh minute.
    if (new Date().getUTCSeconds() >= 57) await sleep(4000);
    const results = [];
    for (const id of ['5560001', '5560002', '5560003'])
      results.push(await deliver(limited.webhook_url, limited.secret as string, { id }));
    expect(results.map((r) => r.status)).toEqual([200, 200, 429]);
    const retryAfter = Number(results[2]?.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(120);
    expect(results[2]?.body).toMatchObject({ success: false, error: { code: 'rate_limited' } });
  });

  it('answers 403 to a source outside the ip_whitelist and accepts one inside it', async () => {
    const elsewhere = await register('dave', {
      provider: 'shopify',
      events: ['orders/create'],
      ip_whitelist: ['203.0.113.0/24'],
    });
    const response = await deliver(elsewhere.webhook_url, elsewhere.secret as string, { id: '5580001' });
    expect(response).toMatchObject({ status: 403, body: { success: false, error: { code: 'forbidden' } } });

    // The local front connects over loopback, as IPv4 or IPv6.
    const local = await register('dave', {
      provider: 'shopify',
      events: ['orders/create'],
      ip_whitelist: ['127.0.0.0/8', '::1'],
    });
    expect((await deliver(local.webhook_url, local.secret as string, { id: '5580002' })).status).toBe(200);
  });

  it('deletes a config: 204, then 404 on the API and at its endpoint', async () => {
    const doomed = await register('carol', { provider: 'shopify', events: ['orders/create'] });
    expect((await api('carol', 'DELETE', `/api/webhooks/configs/${doomed.id}`)).status).toBe(204);
    expect((await api('carol', 'GET', `/api/webhooks/configs/${doomed.id}`)).status).toBe(404);
    expect((await deliver(doomed.webhook_url, doomed.secret as string, { id: '5570001' })).status).toBe(404);
  });

  it('answers 400 with field errors, 405 with Allow and 404 for unknown routes', async () => {
    const invalid = await api('alice', 'POST', '/api/webhooks/register', {
      provider: 'stripe',
      events: [],
      ip_whitelist: ['10.0.0.0/8', 'not-an-ip'],
    });
    expect(invalid.status).toBe(400);
    expect(invalid.body).toMatchObject({
      success: false,
      error: {
        code: 'validation_failed',
        fields: {
          provider: expect.any(String),
          events: expect.any(String),
          'ip_whitelist.1': expect.any(String),
        },
      },
    });
    const wrongMethod = await api('alice', 'PUT', '/api/webhooks/configs');
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('GET');
    expect((await api('alice', 'GET', '/api/webhooks/nope/extra/segments')).status).toBe(404);
  });
});
