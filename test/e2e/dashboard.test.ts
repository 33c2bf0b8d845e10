import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../lib/paths';
import type { LocalStack } from '../../local/stack';
import { OPERATORS_GROUP, signDevToken } from '../../shared/auth/tokens';
import { ConnectionStore } from '../../shared/stores/connections';
import { type E2eStack, putOnQueue, startE2eStack } from '../support/e2e-stack';
import { shopifySignature } from '../support/shopify';
import { envelope } from '../unit/support/envelopes';

/*
 * The dashboard page in headless Chromium (Debian's `chromium`, which .ci/run installs) against the
 * local stack: live events without a reload, charts from the minute metrics, acknowledging an alert,
 * keyboard and phone widths, and no console errors. A screenshot goes to artifacts/ (not committed).
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TOKEN_SECRET = 'e2e-dev-token-secret';

let e2e: E2eStack;
let stack: LocalStack;
let browser: Browser;
let page: Page;
let token: string;
/** The user's webhook config, registered by the first test that sends. */
let webhook: { webhook_url: string; secret: string };
const problems: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `No Chromium at ${CHROMIUM}: apt-get install chromium (as .ci/run does), or set CHROMIUM_PATH`,
    );
  e2e = await startE2eStack({
    secrets: { shopify: 'e2e-dashboard-shopify-secret' },
    env: { METRICS_PUSH_INTERVAL_SECONDS: '1' },
  });
  ({ stack } = e2e);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // Flags for a closed network and a root user (see the machine notes): no background calls home.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning')
      problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()}`));
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await e2e?.stop();
});

/** An orders/create delivery to the user's webhook, signed as Shopify signs it. */
function sendOrder(body: string): Promise<Response> {
  return fetch(webhook.webhook_url, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      'X-Shopify-Topic': 'orders/create',
      'X-Shopify-Hmac-Sha256': shopifySignature(webhook.secret, body),
      'X-Shopify-Shop-Domain': 'dashboard.myshopify.com',
    },
    body,
  });
}

describe('the dashboard page', () => {
  it('signs in with the token in the fragment, then drops it from the address bar', async () => {
    token = await signDevToken(TOKEN_SECRET, 'dashboard-user', 3600, [OPERATORS_GROUP]);
    await page.goto(`${stack.httpUrl}/#token=${token}`);
    await page.waitForSelector('#connection[data-state="open"]');
    expect(page.url()).toBe(`${stack.httpUrl}/`);
    expect(await page.isVisible('#feed-empty')).toBe(true);
  });

  it("shows the user's webhook as it is processed, without a reload, and filters by provider", async () => {
    // The user's own config: its events reach this user's dashboard, and its minute metrics too.
    const response = await fetch(`${stack.httpUrl}/api/webhooks/register`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ provider: 'shopify', events: ['orders/create'] }),
    });
    ({ webhook } = (await response.json()) as { webhook: { webhook_url: string; secret: string } });
    const sent = await sendOrder('{"id":4242424242,"order_number":1,"total_price":"5.00"}');
    expect(sent.status).toBe(200);
    const row = page.locator('#feed tbody tr', { hasText: '4242424242' });
    await row.waitFor({ timeout: 15_000 });
    expect(await row.textContent()).toMatch(/shopify.*orders\/create.*order 4242424242.*processed.*\d+ ms/);

    await page.selectOption('#feed-provider', 'hubspot');
    expect(await page.locator('#feed tbody tr').count()).toBe(0);
    await page.selectOption('#feed-provider', '');
    expect(await page.locator('#feed tbody tr').count()).toBe(1);
  });

  it('lists a quarantined and a dead delivery as they happen, in the feed and in their lists', async () => {
    const asked: string[] = [];
    const listen = (request: { url(): string }) => asked.push(new URL(request.url()).search);
    page.on('request', listen);
    // A verified body that is not an order: kept, answered 202, pushed as quarantined.
    const sent = await sendOrder('{"note":"no id here"}');
    expect(sent.status).toBe(202);
    await page.locator('#feed tbody tr', { hasText: 'quarantined' }).waitFor({ timeout: 15_000 });
    // The push refreshes the list at once (the periodic refresh comes every 15 s).
    await page.locator('#quarantined li', { hasText: 'Payload needs an id' }).waitFor({ timeout: 3000 });

    // A delivery whose claim-check object is gone: dead at once, and pushed dead.
    const dead = envelope({
      ownerId: 'dashboard-user',
      dedupKey: 'dashboard-user:shopify:dead-1',
      orderingKey: 'dashboard-user:shopify:dead-1',
      objectId: '5151515151',
      receivedAt: new Date().toISOString(),
      payload: undefined,
      payloadRef: { bucket: 'webhook-payloads', key: 'missing/dashboard-dead.json' },
    });
    await putOnQueue(stack, stack.queues.high.url, dead);
    await page
      .locator('#feed tbody tr', { hasText: '5151515151' })
      .filter({ hasText: 'dead' })
      .waitFor({ timeout: 15_000 });
    await page.locator('#dead li', { hasText: '5151515151' }).waitFor({ timeout: 3000 });
    page.off('request', listen);
    expect(asked).toEqual(expect.arrayContaining(['?status=quarantined&limit=20', '?status=dead&limit=20']));
  });

  it('draws the per-provider charts from the minute metrics', async () => {
    await page.waitForSelector('#metrics-empty', { state: 'hidden', timeout: 15_000 });
    expect(await page.locator('.chart canvas').count()).toBe(3);
  });

  it('lists an open alert and acknowledges it with the keyboard', async () => {
    const { rows } = await e2e.db.query(
      `INSERT INTO webhook_alerts (user_id, provider, metric, current_value, threshold, severity, message)
       VALUES ('dashboard-user', 'shopify', 'error_rate', 42, 5, 'critical', 'Shopify error rate 42% > 5%')
       RETURNING id`,
    );
    await page.reload();
    // After a reload the feed starts from the user's latest deliveries in the event log.
    await page.locator('#feed tbody tr', { hasText: '4242424242' }).waitFor({ timeout: 10_000 });
    const alert = page.locator('#alerts li', { hasText: 'Shopify error rate 42%' });
    await alert.waitFor({ timeout: 20_000 });
    await alert.getByRole('button', { name: /Acknowledge alert/ }).focus();
    await page.keyboard.press('Enter');
    await page.waitForSelector('#alerts-empty', { state: 'visible' });
    const stored = await e2e.db.query(
      'SELECT acknowledged, acknowledged_by FROM webhook_alerts WHERE id = $1',
      [rows[0].id],
    );
    expect(stored.rows[0]).toEqual({ acknowledged: true, acknowledged_by: 'dashboard-user' });
  });

  it('shows the queues to an operator', async () => {
    await page.waitForSelector('#queues tbody tr');
    expect(await page.locator('#queues tbody tr').allTextContents()).toEqual([
      expect.stringMatching(/^high/),
      expect.stringMatching(/^medium/),
      expect.stringMatching(/^low/),
    ]);
  });

  it('fits a phone screen without horizontal scrolling', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    // A string, evaluated in the page: the test's tsconfig has no DOM types.
    // The charts follow their container through a ResizeObserver: give them a moment to shrink.
    // (A string, evaluated over CDP: the test's tsconfig has no DOM types, and the page's CSP
    // forbids the eval that waitForFunction would use.)
    let overflow = Number.POSITIVE_INFINITY;
    for (let tries = 0; tries < 30 && overflow > 0; tries++) {
      overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
      if (overflow > 0) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(overflow, 'pixels the page scrolls sideways at 390 px').toBeLessThanOrEqual(0);
    const directory = path.join(REPO_ROOT, 'artifacts');
    mkdirSync(directory, { recursive: true });
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.screenshot({ path: path.join(directory, 'dashboard.png'), fullPage: true });
  });

  it('counts refused deliveries per cause (issue 16: a rejection the user can diagnose)', async () => {
    const body = '{"id":5151515151}';
    const headers = { 'Content-Type': 'application/json', 'X-Shopify-Topic': 'orders/create' };
    // One unsigned, one signed with the wrong secret: two causes on the provider-wide endpoint.
    for (const signature of [undefined, shopifySignature('not-the-secret', body)]) {
      const response = await fetch(`${stack.httpUrl}/api/webhooks/shopify`, {
        method: 'POST',
        headers: signature ? { ...headers, 'X-Shopify-Hmac-Sha256': signature } : headers,
        body,
      });
      expect(response.status).toBe(401);
    }
    await page.reload();
    await page.waitForSelector('#connection[data-state="open"]');
    const counts = page.locator('#rejections tbody tr');
    await counts.filter({ hasText: 'signature_missing' }).waitFor();
    expect(await counts.filter({ hasText: 'signature_mismatch' }).textContent()).toMatch(
      /^signature_mismatch\s*1$/,
    );
    expect(await page.locator('#rejections-latest li').count()).toBe(2);
  });

  it('reconnects with backoff after the server drops the connection, and stays live', async () => {
    // Drop the page's connection as API Gateway would (DELETE @connections/{id}).
    const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}));
    const connections = new ConnectionStore(ddb, process.env.CONNECTIONS_TABLE as string);
    const [page1] = await connections.subscribedOfUser('dashboard-user', 'webhook-event');
    expect(page1).toBeDefined();
    // The page takes the pushes of a processor batch as one message.
    expect(page1?.batched).toBe(true);
    const api = new ApiGatewayManagementApiClient({ endpoint: process.env.WEBSOCKET_ENDPOINT as string });
    await api.send(new DeleteConnectionCommand({ ConnectionId: page1?.connectionId }));
    await page.waitForSelector('#connection[data-state="retrying"]');
    await page.waitForSelector('#connection[data-state="open"]', { timeout: 15_000 });
    const [page2] = await connections.subscribedOfUser('dashboard-user', 'webhook-event');
    expect(page2?.connectionId).not.toBe(page1?.connectionId);
  });

  it("asks only for what a plain user may see: no operators' panels, no refused request", async () => {
    const userPage = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const asked: string[] = [];
    const refused: string[] = [];
    userPage.on('request', (request) => asked.push(new URL(request.url()).pathname));
    userPage.on('response', (response) => {
      if (response.status() >= 400) refused.push(`${response.status()} ${response.url()}`);
    });
    userPage.on('console', (message) => {
      if (message.type() === 'error') refused.push(`console: ${message.text()}`);
    });
    const userToken = await signDevToken(TOKEN_SECRET, 'plain-user', 3600);

    await userPage.goto(`${stack.httpUrl}/#token=${userToken}`);
    await userPage.waitForSelector('#connection[data-state="open"]');
    await userPage.waitForSelector('#dead-empty', { state: 'visible' });

    expect(await userPage.isVisible('#queues')).toBe(false);
    expect(await userPage.isVisible('#alerts')).toBe(false);
    expect(asked.filter((pathname) => /\/api\/webhooks\/(dlq|alerts)/.test(pathname))).toEqual([]);
    expect(refused).toEqual([]);
    // The operator's events are not the plain user's: their feed is empty.
    expect(await userPage.locator('#feed tbody tr').count()).toBe(0);
    await userPage.close();
  });

  it('logged no console errors, page errors or failed requests', () => {
    expect(problems).toEqual([]);
  });
});
