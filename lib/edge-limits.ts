import type { ProviderName } from '../shared/envelope';

/*
 * The seed's rate limits, one source for the stack and the local front (no CDK import: the local
 * stack loads it). In AWS, API Gateway throttles each provider's routes and the WAF rate-based rule
 * each source IP; locally, local/edge-limits.ts applies the same numbers and gives the same answers.
 */

export interface ThrottleLimits {
  /** Steady-state requests per second (the token bucket's refill). */
  rateLimit: number;
  /** Requests accepted at once above the steady rate (the bucket's size). */
  burstLimit: number;
}

export const PROVIDER_THROTTLING_DEFAULTS: Readonly<Record<ProviderName, ThrottleLimits>> = {
  hubspot: { rateLimit: 100, burstLimit: 200 },
  shopify: { rateLimit: 200, burstLimit: 400 },
  salesforce: { rateLimit: 50, burstLimit: 100 },
};

/** Requests one source IP may send over the last 60 s before the WAF rule answers 429. */
export const IP_RATE_LIMIT_PER_MINUTE_DEFAULT = 3000;

/**
 * Requests one source IP may send to one webhook path over the last 60 s: a fifth of the smallest
 * provider route's steady rate (Salesforce, 50/s), so one source can never take a route's capacity.
 */
export const SOURCE_PATH_RATE_LIMIT_PER_MINUTE_DEFAULT = 600;

/** Requests one per-config endpoint may receive over the last 60 s, from every source together. */
export const CONFIG_RATE_LIMIT_PER_MINUTE_DEFAULT = 1200;

/**
 * Requests one provider's routes (provider-wide and per-config together, every source) may take
 * over the last 60 s: the seed's per-provider limit over a one-minute sliding window, a WAF rule.
 * The defaults are the routes' steady throttle for a minute; API Gateway's token bucket still caps
 * the bursts within it.
 */
export const PROVIDER_RATE_LIMIT_PER_MINUTE_DEFAULTS: Readonly<Record<ProviderName, number>> = {
  hubspot: 6000,
  shopify: 12_000,
  salesforce: 3000,
};

/** The WAF rule's evaluation window. */
export const IP_RATE_WINDOW_SECONDS = 60;

/** What a refused request gets: 429, `Retry-After` and the API's one error shape. */
export interface ThrottledAnswer {
  retryAfterSeconds: number;
  error: { code: string; message: string };
}

/** API Gateway's THROTTLED gateway response (a token comes back within a second). */
export const PROVIDER_THROTTLED: ThrottledAnswer = {
  retryAfterSeconds: 1,
  error: { code: 'throttled', message: 'Too many requests, retry later' },
};

/** The WAF rule's custom response: the address stays over its rate for up to the window. */
export const IP_THROTTLED: ThrottledAnswer = {
  retryAfterSeconds: IP_RATE_WINDOW_SECONDS,
  error: { code: 'throttled', message: 'Too many requests from this address, retry later' },
};

/** The per-provider rule's answer: the provider's minute is used up, for every sender. */
export const PROVIDER_RATE_THROTTLED: ThrottledAnswer = {
  retryAfterSeconds: IP_RATE_WINDOW_SECONDS,
  error: { code: 'throttled', message: 'Too many requests for this provider, retry later' },
};

/** A provider's webhook paths (`/api/webhooks/{provider}` and its per-config children), as WAF matches them. */
export function providerPathPattern(provider: string): string {
  return `/api/webhooks/${provider}(/[^/]*)?$`;
}

/** The per-source-and-path and per-config rules' answer (same window). */
export const PATH_THROTTLED: ThrottledAnswer = {
  retryAfterSeconds: IP_RATE_WINDOW_SECONDS,
  error: { code: 'throttled', message: 'Too many requests to this webhook, retry later' },
};

/** A per-config webhook path (`/api/webhooks/{provider}/{configId}`, any stage prefix), as WAF matches it. */
export const CONFIG_PATH_PATTERN = '/api/webhooks/[a-z]+/[0-9A-Fa-f-]{36}$';
