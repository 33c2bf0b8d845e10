import { describe, expect, it } from 'vitest';
import { PROVIDER_THROTTLING_DEFAULTS } from '../../../lib/edge-limits';
import { edgeLimits } from '../../../local/edge-limits';

function clock(start = 1_000_000) {
  let at = start;
  return { now: () => at, advance: (ms: number) => (at += ms) };
}

/** The per-source-and-path and per-config rules out of the way of a test about the others. */
const WIDE_OPEN = { sourcePathRateLimitPerMinute: 1_000_000, configRateLimitPerMinute: 1_000_000 };

const statuses = (results: ({ statusCode: number } | undefined)[]) =>
  results.map((result) => result?.statusCode ?? 200);

describe('local edge limits', () => {
  it('refuses a source IP over its requests of the last 60 s with 429 and Retry-After 60, as the WAF rule', () => {
    const time = clock();
    const check = edgeLimits({ providers: {}, ipRateLimitPerMinute: 3, ...WIDE_OPEN, now: time.now });
    const first = [0, 1, 2].map(() => check('/api/webhooks/configs', '203.0.113.7'));
    const refused = check('/api/webhooks/configs', '203.0.113.7');
    expect(statuses([...first, refused])).toEqual([200, 200, 200, 429]);
    expect(refused?.headers).toMatchObject({ 'Retry-After': '60' });
    expect(JSON.parse(refused?.body ?? '')).toEqual({
      success: false,
      error: { code: 'throttled', message: 'Too many requests from this address, retry later' },
    });
    // Another address has its own count; paths outside /api/ (the page, /health) are not behind WAF.
    expect(check('/api/webhooks/configs', '198.51.100.1')).toBeUndefined();
    expect(check('/health', '203.0.113.7')).toBeUndefined();
  });

  it('refuses a provider over its requests of the last 60 s, from every source and endpoint together, as the WAF rule', () => {
    const time = clock();
    const check = edgeLimits({
      providers: {},
      ipRateLimitPerMinute: 1000,
      ...WIDE_OPEN,
      providerRateLimitPerMinute: { shopify: 3, hubspot: 1000 },
      now: time.now,
    });
    const config = '/api/webhooks/shopify/0f8fad5b-d9cb-469f-a165-70867728950e';
    const first = [
      check('/api/webhooks/shopify', '192.0.2.1'),
      check(config, '192.0.2.2'),
      check('/api/webhooks/shopify', '192.0.2.3'),
    ];
    const refused = check(config, '192.0.2.4');
    expect(statuses([...first, refused])).toEqual([200, 200, 200, 429]);
    expect(refused?.headers).toMatchObject({ 'Retry-After': '60' });
    expect(JSON.parse(refused?.body ?? '').error).toEqual({
      code: 'throttled',
      message: 'Too many requests for this provider, retry later',
    });
    // Another provider has its own minute; the first requests leave the window after 60 s.
    expect(check('/api/webhooks/hubspot', '192.0.2.1')).toBeUndefined();
    time.advance(60_001);
    expect(check('/api/webhooks/shopify', '192.0.2.1')).toBeUndefined();
  });

  it('slides: the window holds the last 60 s, and refused requests count too', () => {
    const time = clock();
    const check = edgeLimits({ providers: {}, ipRateLimitPerMinute: 2, ...WIDE_OPEN, now: time.now });
    check('/api/x', 'a');
    time.advance(30_000);
    check('/api/x', 'a');
    time.advance(29_999);
    expect(check('/api/x', 'a')?.statusCode).toBe(429);
    // 60 s after the first request it has left the window, but the refused one (at 59.999 s) has not.
    time.advance(1);
    expect(check('/api/x', 'a')?.statusCode).toBe(429);
    time.advance(60_000);
    expect(check('/api/x', 'a')).toBeUndefined();
  });

  it('throttles each provider route with a token bucket of rateLimit per second and burstLimit, as API Gateway', () => {
    const time = clock();
    const check = edgeLimits({
      providers: { salesforce: { rateLimit: 2, burstLimit: 3 } },
      ipRateLimitPerMinute: 1000,
      ...WIDE_OPEN,
      now: time.now,
    });
    const burst = [0, 1, 2, 3].map(() => check('/api/webhooks/salesforce', '192.0.2.1'));
    expect(statuses(burst)).toEqual([200, 200, 200, 429]);
    expect(burst[3]?.headers).toMatchObject({ 'Retry-After': '1' });
    expect(JSON.parse(burst[3]?.body ?? '').error).toEqual({
      code: 'throttled',
      message: 'Too many requests, retry later',
    });
    // The per-config route is another method with the same limits; other routes are not throttled.
    expect(
      check('/api/webhooks/salesforce/5a3c0f7e-0000-4000-8000-000000000001', '192.0.2.1'),
    ).toBeUndefined();
    expect(check('/api/webhooks/configs', '192.0.2.1')).toBeUndefined();
    expect(check('/api/webhooks/constructor', '192.0.2.1')).toBeUndefined();
    // Half a second refills one token (2 per second).
    time.advance(500);
    expect(statuses([0, 1].map(() => check('/api/webhooks/salesforce', '192.0.2.1')))).toEqual([200, 429]);
  });

  it('uses the stack configuration defaults for every provider', () => {
    const time = clock();
    const check = edgeLimits({
      providers: PROVIDER_THROTTLING_DEFAULTS,
      ipRateLimitPerMinute: 10_000,
      ...WIDE_OPEN,
      now: time.now,
    });
    for (const [provider, { burstLimit }] of Object.entries(PROVIDER_THROTTLING_DEFAULTS)) {
      const burst = Array.from({ length: burstLimit + 1 }, () => check(`/api/webhooks/${provider}`, 'x'));
      expect(statuses(burst).lastIndexOf(200), provider).toBe(burstLimit - 1);
      expect(burst[burstLimit]?.statusCode, provider).toBe(429);
    }
  });

  const CONFIG_A = '/api/webhooks/salesforce/5a3c0f7e-0000-4000-8000-00000000000a';
  const CONFIG_B = '/api/webhooks/salesforce/5a3c0f7e-0000-4000-8000-00000000000b';

  it('keeps one source within its share of a route: per source IP and path, below the route throttle (issue 16)', () => {
    const time = clock();
    const check = edgeLimits({
      providers: PROVIDER_THROTTLING_DEFAULTS,
      ipRateLimitPerMinute: 1_000_000,
      sourcePathRateLimitPerMinute: 5,
      configRateLimitPerMinute: 1_000_000,
      now: time.now,
    });
    const noisy = Array.from({ length: 6 }, () => check('/api/webhooks/salesforce', '203.0.113.66'));
    expect(statuses(noisy)).toEqual([200, 200, 200, 200, 200, 429]);
    expect(JSON.parse(noisy[5]?.body ?? '').error.message).toBe(
      'Too many requests to this webhook, retry later',
    );
    // Another source still gets through the same route, and the noisy one to another path.
    expect(check('/api/webhooks/salesforce', '198.51.100.2')).toBeUndefined();
    expect(check('/api/webhooks/shopify', '203.0.113.66')).toBeUndefined();
  });

  it('keeps one config within its share of the per-config route, whatever the number of sources (issue 16)', () => {
    const time = clock();
    const check = edgeLimits({
      providers: PROVIDER_THROTTLING_DEFAULTS,
      ipRateLimitPerMinute: 1_000_000,
      sourcePathRateLimitPerMinute: 1_000_000,
      configRateLimitPerMinute: 4,
      now: time.now,
    });
    const spread = Array.from({ length: 5 }, (_, i) => check(CONFIG_A, `203.0.113.${i}`));
    expect(statuses(spread)).toEqual([200, 200, 200, 200, 429]);
    // Another tenant's config on the same route is untouched; the provider-wide path has no such rule.
    expect(check(CONFIG_B, '203.0.113.1')).toBeUndefined();
    expect(statuses(Array.from({ length: 5 }, () => check('/api/webhooks/salesforce', '192.0.2.9')))).toEqual(
      [200, 200, 200, 200, 200],
    );
  });
});
