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
