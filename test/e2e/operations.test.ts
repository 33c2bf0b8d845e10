import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runOncall } from '../../bin/oncall';
import type { LocalStack } from '../../local/stack';
import { responseSchemas } from '../../shared/api/openapi';
import { OPERATORS_GROUP, signDevToken } from '../../shared/auth/tokens';
import { type E2eStack, eventually, putOnQueue, startE2eStack } from '../support/e2e-stack';
import { shopifySignature } from '../support/shopify';
import { envelope } from '../unit/support/envelopes';

/*
 * The management API as a new user meets it on the local stack: register a Shopify config, send a
 * signed event to its endpoint, find it in `status` and `events`, replay it, and see that another
 * user sees none of it; then the on-call CLI, and a DLQ redrive through SQS message move tasks.
 */

let e2e: E2eStack;
let stack: LocalStack;
const TOKEN_SECRET = 'e2e-dev-token-secret';

beforeAll(async () => {
  e2e = await startE2eStack({
    secrets: { shopify: 'e2e-global-shopify-secret' },
    // Status is normally cached for a minute; this file reads it right after processing.
    env: { STATUS_CACHE_TTL_SECONDS: '0' },
  });
  ({ stack } = e2e);
});

afterAll(async () => {
  await e2e?.stop();
});

const api = (user: string, method: string, path: string, body?: unknown, groups: string[] = []) =>
  e2e.api(user, method, path, { body, groups });

describe('a new user on the local stack', () => {
  let webhook: { id: string; webhook_url: string; secret: string };
  let eventId: string;

  it('registers a Shopify config and sends a signed event to its webhook_url', async () => {
    const registered = await api('newcomer', 'POST', '/api/webhooks/register', {
      provider: 'shopify',
      events: ['orders/create'],
    });
    expect(registered.status).toBe(201);
    webhook = responseSchemas.config.parse(registered.body).webhook as typeof webhook;
    expect(registered.body.webhook.registration_status).toBe('manual');

    const body =
      '{"id":5551234567890123456,"order_number":7,"total_price":"20.00","financial_status":"paid"}';
    const delivered = await fetch(webhook.webhook_url, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'X-Shopify-Topic': 'orders/create',
        'X-Shopify-Hmac-Sha256': shopifySignature(webhook.secret, body),
        'X-Shopify-Shop-Domain': 'newcomer.myshopify.com',
        'X-Shopify-Webhook-Id': 'newcomer-delivery-1',
      },
      body,
    });
    expect(delivered.status).toBe(200);
  });

  it('finds it processed in events, with its payload', async () => {
    const listed = await eventually(
      () => api('newcomer', 'GET', '/api/webhooks/events?status=processed'),
      (response) => response.body.events.length === 1,
      'the processed event',
    );
    const [event] = responseSchemas.events.parse(listed.body).events;
    expect(event).toMatchObject({
      provider: 'shopify',
      event_type: 'orders/create',
      object_id: '5551234567890123456',
      config_id: webhook.id,
      status: 'processed',
      attempts: 1,
    });
    eventId = event?.id ?? '';
    const detail = await api('newcomer', 'GET', `/api/webhooks/events/${encodeURIComponent(eventId)}`);
    expect(detail.status).toBe(200);
    // Integers beyond 2^53 stay exact: ingest keeps them as strings.
    expect(detail.body.event.payload).toMatchObject({ id: '5551234567890123456', total_price: '20.00' });
  });

  it('sees it counted in status', async () => {
    const status = await eventually(
      () => api('newcomer', 'GET', '/api/webhooks/status?time_range=1h'),
      (response) => response.body.webhooks[0]?.statistics.total_events === 1,
      'the counted event',
    );
    expect(responseSchemas.status.parse(status.body)).toMatchObject({
      webhooks: [
        {
          id: webhook.id,
          provider: 'shopify',
          health_status: 'healthy',
          statistics: { total_events: 1, successful_events: 1, failed_events: 0, success_rate: 100 },
        },
      ],
      overall_stats: { total_webhooks: 1, active_webhooks: 1 },
    });
  });

  it('replays it: processed again, once, with the order row unchanged', async () => {
    const before = await e2e.db.query('SELECT * FROM synced_orders WHERE id = $1', ['5551234567890123456']);
    expect(before.rows).toHaveLength(1);
    const replayed = await api(
      'newcomer',
      'POST',
      `/api/webhooks/events/${encodeURIComponent(eventId)}/replay`,
    );
    expect(replayed.status).toBe(202);
    const detail = await eventually(
      () => api('newcomer', 'GET', `/api/webhooks/events/${encodeURIComponent(eventId)}`),
      (response) => response.body.event.replay_count === 1 && response.body.event.status === 'processed',
      'the replay',
    );
    // The same version again: the upsert writes the same state (applied); only the write time moves.
    expect(detail.body.event.outcome).toBe('applied');
    const after = await e2e.db.query('SELECT * FROM synced_orders WHERE id = $1', ['5551234567890123456']);
    const withoutWriteTime = (rows: Record<string, unknown>[]) =>
      rows.map(({ updated_at: _, ...row }) => row);
    expect(withoutWriteTime(after.rows)).toEqual(withoutWriteTime(before.rows));
  });

  it('shows another user none of it', async () => {
    expect((await api('stranger', 'GET', '/api/webhooks/events')).body.events).toEqual([]);
    expect((await api('stranger', 'GET', '/api/webhooks/status')).body.webhooks).toEqual([]);
    const path = `/api/webhooks/events/${encodeURIComponent(eventId)}`;
    expect((await api('stranger', 'GET', path)).status).toBe(404);
    expect((await api('stranger', 'POST', `${path}/replay`)).status).toBe(404);
    expect((await api('stranger', 'GET', `/api/webhooks/configs/${webhook.id}`)).status).toBe(404);
  });

  it('serves the OpenAPI document without a token', async () => {
    const response = await fetch(`${stack.httpUrl}/api/webhooks/openapi.json`);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { paths: object }).paths).toHaveProperty([
      '/api/webhooks/events/{id}/replay',
    ]);
  });
});

describe('on-call', () => {
  const lines: string[] = [];
  const oncall = (...argv: string[]) =>
    runOncall([...argv, '--url', stack.httpUrl, '--user', 'newcomer'], {
      fetch,
      out: (line) => lines.push(line),
      env: {},
      devToken: (user) => signDevToken(TOKEN_SECRET, user, 3600, [OPERATORS_GROUP]),
    });

  it('lists events with the CLI, and says when there are no dead ones', async () => {
    lines.length = 0;
    expect(await oncall('events')).toBe(0);
    expect(lines.join('\n')).toMatch(
      // Two attempts: the delivery's, and its replay's.
      /processed {2}x2 {2}shopify {2}orders\/create {2}order\/5551234567890123456/,
    );
    lines.length = 0;
    expect(await oncall('dead')).toBe(0);
    expect(lines).toEqual(['No dead events.']);
  });

  it('redrives a DLQ with a message move task: the message is processed from its queue', async () => {
    // A valid delivery that ended in the high DLQ (say, after an outage that has passed since).
    const stranded = envelope({
      dedupKey: 'shopify:stranded-1',
      deliveryId: 'stranded-1',
      objectId: '777000777',
      receivedAt: new Date().toISOString(),
      payload: { id: '777000777', total_price: '1.00' },
    });
    await putOnQueue(stack, stack.queues.high.dlqUrl, stranded);
    lines.length = 0;
    expect(await oncall('redrive', 'high')).toBe(0);
    expect(lines[0]).toMatch(/Redrive of the high DLQ: RUNNING/);

    const operator = (path: string) => api('oncall', 'GET', path, undefined, [OPERATORS_GROUP]);
    const progress = await eventually(
      () => operator('/api/webhooks/dlq'),
      (response) => response.body.queues[0].tasks[0]?.status === 'COMPLETED',
      'the move task',
    );
    expect(responseSchemas.dlq.parse(progress.body).queues[0]).toMatchObject({
      priority: 'high',
      tasks: [{ status: 'COMPLETED', messages_moved: 1 }],
    });
    await eventually(
      () => e2e.db.query('SELECT id FROM synced_orders WHERE id = $1', ['777000777']),
      (result) => result.rows.length === 1,
      'the redriven order in Postgres',
    );
    const { Attributes } = await stack.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: stack.queues.high.dlqUrl,
        AttributeNames: ['ApproximateNumberOfMessages'],
      }),
    );
    expect(Attributes?.ApproximateNumberOfMessages).toBe('0');
    lines.length = 0;
    expect(await oncall('dlq')).toBe(0);
    // The redriven message may still be in flight: its row is written before SQS hears it is done.
    expect(lines[0]).toMatch(
      /^high {4}queue \d+ \(\+\d+ in flight\) {2}dlq depth 0 {2}last redrive COMPLETED 1\/1 moved$/,
    );
  });

  it('refuses redrive to a user outside the operators group', async () => {
    const response = await api('newcomer', 'POST', '/api/webhooks/dlq/redrive', { priority: 'high' });
    expect(response.status).toBe(403);
  });
});
