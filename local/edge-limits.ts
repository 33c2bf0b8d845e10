import type { APIGatewayProxyResult } from 'aws-lambda';
import {
  IP_RATE_WINDOW_SECONDS,
  IP_THROTTLED,
  PROVIDER_THROTTLED,
  type ThrottledAnswer,
  type ThrottleLimits,
} from '../lib/edge-limits';

export interface EdgeLimitsOptions {
  /** Each provider's route throttling (config `api.providerThrottling`). */
  providers: Readonly<Record<string, ThrottleLimits>>;
  /** Requests per source IP over the last 60 s (config `waf.ipRateLimitPerMinute`). */
  ipRateLimitPerMinute: number;
  now?: () => number;
}

/** Refuses a request with the answer AWS would give, or lets it through (undefined). */
export type EdgeCheck = (pathname: string, sourceIp: string) => APIGatewayProxyResult | undefined;

const PROVIDER_ROUTE = /^\/api\/webhooks\/([^/]+)(\/[^/]+)?$/;

/**
 * The seed's rate limits as the AWS edge applies them, for the local REST front. First the WAF
 * rate-based rule: a source IP that sent `ipRateLimitPerMinute` requests over the last 60 s is
 * refused (every request counts, refused ones too, as WAF counts what it sees) until its rate drops.
 * Then API Gateway's method throttling: a token bucket per route (`/api/webhooks/{provider}` and its
 * per-config child are two methods, each with the provider's limits) refilled at `rateLimit` per
 * second, holding at most `burstLimit`.
 */
export function edgeLimits(options: EdgeLimitsOptions): EdgeCheck {
  const now = options.now ?? Date.now;
  const windowMs = IP_RATE_WINDOW_SECONDS * 1000;
  const limit = options.ipRateLimitPerMinute;
  // The last `limit` request times per IP: the oldest of them inside the window means the IP is over.
  const recent = new Map<string, number[]>();
  const buckets = new Map<string, { tokens: number; at: number }>();

  const overIpRate = (sourceIp: string, at: number): boolean => {
    const times = recent.get(sourceIp) ?? [];
    const over = times.length >= limit && at - (times[0] as number) < windowMs;
    times.push(at);
    if (times.length > limit) times.shift();
    recent.set(sourceIp, times);
    return over;
  };

  const takeToken = (route: string, limits: ThrottleLimits, at: number): boolean => {
    const bucket = buckets.get(route) ?? { tokens: limits.burstLimit, at };
    bucket.tokens = Math.min(limits.burstLimit, bucket.tokens + ((at - bucket.at) / 1000) * limits.rateLimit);
    bucket.at = at;
    buckets.set(route, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  };

  return (pathname, sourceIp) => {
    if (!pathname.startsWith('/api/')) return undefined;
    const at = now();
    if (overIpRate(sourceIp, at)) return throttled(IP_THROTTLED);
    const route = PROVIDER_ROUTE.exec(pathname);
    const provider = route?.[1];
    if (!route || !provider || !Object.hasOwn(options.providers, provider)) return undefined;
    const limits = options.providers[provider] as ThrottleLimits;
    const method = route[2] === undefined ? provider : `${provider}/{configId}`;
    return takeToken(method, limits, at) ? undefined : throttled(PROVIDER_THROTTLED);
  };
}

function throttled(answer: ThrottledAnswer): APIGatewayProxyResult {
  return {
    statusCode: 429,
    headers: {
      'Content-Type': 'application/json',
      'Cache-Control': 'no-store',
      'Retry-After': String(answer.retryAfterSeconds),
    },
    body: JSON.stringify({ success: false, error: answer.error }),
  };
}
