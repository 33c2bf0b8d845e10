/**
 * The seed's rate limits on the local front, configured as in AWS: WEBHOOKS_CONFIG holds the same
 * `webhooks` object `cdk deploy -c webhooks=...` takes (api.providerThrottling, waf.ipRateLimitPerMinute).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type E2eStack, startE2eStack } from '../support/e2e-stack';

const IP_LIMIT = 20;
let e2e: E2eStack;

beforeAll(async () => {
  e2e = await startE2eStack({
    secrets: { salesforce: 'e2e-salesforce-secret' },
    env: {
      POWERTOOLS_LOG_LEVEL: 'ERROR',
      WEBHOOKS_CONFIG: JSON.stringify({
        waf: { ipRateLimitPerMinute: IP_LIMIT },
        api: { providerThrottling: { salesforce: { rateLimit: 1, burstLimit: 2 } } },
      }),
    },
  });
});

afterAll(async () => {
  await e2e?.stop();
});

describe('rate limits on the local front', () => {
  it('throttles a provider route past its burst, then a source IP past its requests per minute', async () => {
    const post = () =>
      fetch(`${e2e.stack.httpUrl}/api/webhooks/salesforce`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: '{}',
      });
    const provider: Response[] = [];
    for (let i = 0; i < 4; i++) provider.push(await post());
    // The first two pass the edge (and fail the signature check); then the bucket is empty
    // (one token a second comes back, so one of the last two may pass too).
    expect(provider.slice(0, 2).map((r) => r.status)).toEqual([401, 401]);
    const throttled = provider.find((r) => r.status === 429);
    expect(throttled?.headers.get('retry-after')).toBe('1');
    expect(await throttled?.json()).toEqual({
      success: false,
      error: { code: 'throttled', message: 'Too many requests, retry later' },
    });

    // Every /api/ request from this address counts: IP_LIMIT in the minute pass, the next is refused.
    const get = () => fetch(`${e2e.stack.httpUrl}/api/webhooks/openapi.json`);
    const rest: number[] = [];
    for (let i = provider.length; i < IP_LIMIT; i++) rest.push((await get()).status);
    expect(new Set(rest)).toEqual(new Set([200]));
    const refused = await get();
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('60');
    expect(await refused.json()).toMatchObject({ error: { code: 'throttled' } });
    // The dashboard page is not behind the WAF rule.
    expect((await fetch(`${e2e.stack.httpUrl}/health`)).status).toBe(200);
  });
});
