/**
 * The cleanup job on the local stack: the same handler as the hourly schedule in AWS, run by a
 * timer (CLEANUP_INTERVAL_SECONDS), with the retention of the stack configuration (WEBHOOKS_CONFIG).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type E2eStack, startE2eStack } from '../support/e2e-stack';

let e2e: E2eStack;

beforeAll(async () => {
  e2e = await startE2eStack({
    secrets: {},
    env: { CLEANUP_INTERVAL_SECONDS: '0.2', WEBHOOKS_CONFIG: JSON.stringify({ alertRetentionDays: 7 }) },
  });
});

afterAll(async () => {
  await e2e?.stop();
});

describe('cleanup job', () => {
  it('deletes alerts past the configured retention and keeps the recent ones', async () => {
    await e2e.db.query(
      `INSERT INTO webhook_alerts (provider, metric, current_value, threshold, severity, message, created_at)
       VALUES ('shopify', 'success_rate', 80, 95, 'warning', 'old', now() - interval '8 days'),
              ('shopify', 'success_rate', 80, 95, 'warning', 'recent', now() - interval '6 days')`,
    );
    await expect
      .poll(async () => (await e2e.db.query('SELECT message FROM webhook_alerts ORDER BY message')).rows, {
        timeout: 10_000,
      })
      .toEqual([{ message: 'recent' }]);
  });
});
