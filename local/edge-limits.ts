import type { APIGatewayProxyResult } from 'aws-lambda';
import {
  CONFIG_PATH_PATTERN,
  IP_RATE_WINDOW_SECONDS,
  IP_THROTTLED,
  PATH_THROTTLED,
  PROVIDER_RATE_THROTTLED,
  PROVIDER_THROTTLED,
  type ThrottledAnswer,
  type ThrottleLimits,
} from '../lib/edge-limits';

export interface EdgeLimitsOptions {
  /** Each provider's route throttling (config `api.providerThrottling`). */
  providers: Readonly<Record<string, ThrottleLimits>>;
  /** Requests per source IP over the last 60 s (config `waf.ipRateLimitPerMinute`). */
  ipRateLimitPerMinute: number;
  /** Requests per source IP and webhook path over the last 60 s (`waf.sourcePathRateLimitPerMinute`). */
  sourcePathRateLimitPerMinute: number;
  /** Requests per per-config endpoint, every source together, over the last 60 s (`waf.configRateLimitPerMinute`). */
  configRateLimitPerMinute: number;
  /** Requests per provider, every source and endpoint together, over the last 60 s (`waf.providerRateLimitPerMinute`). */
  providerRateLimitPerMinute?: Readonly<Record<string, number>>;
  now?: () => number;
}

/** Refuses a request with the answer AWS would give, or lets it through (undefined). */
export type EdgeCheck = (pathname: string, sourceIp: string) => APIGatewayProxyResult | undefined;

const PROVIDER_ROUTE = /^\/api\/webhooks\/([^/]+)(\/[^/]+)?$/;

/**
 * The seed's rate limits as the AWS edge applies them, for the local REST front. First the WAF
 * rate-based rules, each over the last 60 s and counting every request it sees (refused ones too):
 * per source IP (`ipRateLimitPerMinute`, every path under /api/), per source IP and webhook path
 * (`sourcePathRateLimitPerMinute`), and per per-config endpoint from every source together
 * (`configRateLimitPerMinute`), and per provider, every source and endpoint together
 * (`providerRateLimitPerMinute`, the seed's per-provider one-minute window). Then API Gateway's method throttling: a token bucket per route
 * (`/api/webhooks/{provider}` and its per-config child are two methods, each with the provider's
 * limits) refilled at `rateLimit` per second, holding at most `burstLimit`.
 */
export function edgeLimits(options: EdgeLimitsOptions): EdgeCheck {
  const now = options.now ?? Date.now;
  const windowMs = IP_RATE_WINDOW_SECONDS * 1000;
  const configPath = new RegExp(CONFIG_PATH_PATTERN);
  const buckets = new Map<string, { tokens: number; at: number }>();

  /** A WAF rate rule: the last `limit` request times per key; the oldest inside the window means over. */
  const rateRule = (limit: number) => {
    const recent = new Map<string, number[]>();
    return (key: string, at: number): boolean => {
      const times = recent.get(key) ?? [];
      const over = times.length >= limit && at - (times[0] as number) < windowMs;
      times.push(at);
      if (times.length > limit) times.shift();
      recent.set(key, times);
      return over;
    };
  };
  const overIpRate = rateRule(options.ipRateLimitPerMinute);
  const overSourcePathRate = rateRule(options.sourcePathRateLimitPerMinute);
  const overConfigRate = rateRule(options.configRateLimitPerMinute);
  const overProviderRate = new Map(
    Object.entries(options.providerRateLimitPerMinute ?? {}).map(([provider, limit]) => [
      provider,
      rateRule(limit),
    ]),
  );

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
    // WAF evaluates every rule; the first that blocks answers (the web ACL's order).
    const ipOver = overIpRate(sourceIp, at);
    const webhook = pathname.startsWith('/api/webhooks/');
    const sourcePathOver = webhook && overSourcePathRate(`${sourceIp} ${pathname}`, at);
    const configOver = configPath.test(pathname) && overConfigRate(pathname, at);
    const route = PROVIDER_ROUTE.exec(pathname);
    const provider = route?.[1];
    const providerRate = provider === undefined ? undefined : overProviderRate.get(provider);
    const providerOver = providerRate?.(provider as string, at) ?? false;
    if (ipOver) return throttled(IP_THROTTLED);
    if (sourcePathOver || configOver) return throttled(PATH_THROTTLED);
    if (providerOver) return throttled(PROVIDER_RATE_THROTTLED);
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
