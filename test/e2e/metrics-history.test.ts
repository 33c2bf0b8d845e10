import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { responseSchemas } from '../../shared/api/openapi';
import { OPERATORS_GROUP } from '../../shared/auth/tokens';
import { type E2eStack, eventually, startE2eStack } from '../support/e2e-stack';
import { shopifySignature } from '../support/shopify';

/*
 * The seed's monitoring record on the local stack: webhook_metrics written by the minute metrics
 * job (every second here) and read back by the status API's 30 days and GET /api/webhooks/metrics,
 * and the full event record (signature, source IP, User-Agent) of a delivery.
 */

const SECRET = 'e2e-metrics-history-shopify-secret';
const OPERATOR = { groups: [OPERATORS_GROUP] };

let e2e: E2eStack;

beforeAll(async () => {
  e2e = await startE2eStack({
    secrets: { shopify: SECRET },
    env: { METRICS_PUSH_INTERVAL_SECONDS: '1', STATUS_CACHE_TTL_SECONDS: '0' },
  });
});

afterAll(async () => {
  await e2e?.stop();
});

describe('the seed monitoring record', () => {
  const body = '{"id":6060606060606060606,"total_price":"12.00","financial_status":"paid"}';
  const signature = shopifySignature(SECRET, body);

  it('keeps the signature, source IP and User-Agent of a delivery and shows them in its detail', async () => {
    const response = await fetch(`${e2e.stack.httpUrl}/api/webhooks/shopify`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'User-Agent': 'Shopify-Captain-Hook',
        'X-Shopify-Topic': 'orders/create',
        'X-Shopify-Hmac-Sha256': signature,
        'X-Shopify-Shop-Domain': 'history.myshopify.com',
        'X-Shopify-Webhook-Id': 'history-1',
      },
      body,
    });
    expect(response.status).toBe(200);

    const id = encodeURIComponent('system:shopify:history-1');
    const detail = await eventually(
      () => e2e.api('oncall', 'GET', `/api/webhooks/events/${id}`, OPERATOR),
      (result) => result.body?.event?.status === 'processed',
      'the delivery to be processed',
    );
    expect(responseSchemas.event.parse(detail.body).event).toMatchObject({
      signature,
      source_ip: expect.stringMatching(/127\.0\.0\.1$/),
      user_agent: 'Shopify-Captain-Hook',
    });
  });

  it('writes the minute into webhook_metrics with every seed column, per series and provider', async () => {
    const rows = await eventually(
      () =>
        e2e.db.query(
          `SELECT series, owner_id, total_events, successful_events, failed_events, success_rate,
             average_processing_time, events_per_minute, error_rate, last_event_at, recorded_at
           FROM webhook_metrics WHERE provider = 'shopify' ORDER BY series`,
        ),
      (result) => result.rows.length >= 2,
      'the minute history',
    );
    expect(rows.rows.map((row) => row.series)).toEqual(['all', 'owner:system']);
    expect(rows.rows[1]).toMatchObject({
      owner_id: 'system',
      total_events: 1,
      successful_events: 1,
      failed_events: 0,
      success_rate: '100.00',
      events_per_minute: '1.00',
      error_rate: '0.00',
    });
    expect(rows.rows[1]?.last_event_at).toBeInstanceOf(Date);
    expect(rows.rows[1]?.recorded_at).toBeInstanceOf(Date);
  });

  it('answers the history and the 30-day status from it', async () => {
    const history = await e2e.api('oncall', 'GET', '/api/webhooks/metrics?owner=system', OPERATOR);
    expect(responseSchemas.metrics.parse(history.body).metrics).toEqual([
      expect.objectContaining({ provider: 'shopify', owner_id: 'system', total_events: 1 }),
    ]);

    const status = await e2e.api(
      'oncall',
      'GET',
      '/api/webhooks/status?owner=system&time_range=30d',
      OPERATOR,
    );
    const shopify = responseSchemas.status
      .parse(status.body)
      .webhooks.find((webhook) => webhook.id === 'shopify');
    expect(shopify?.statistics).toMatchObject({ total_events: 1, successful_events: 1 });
  });
});
