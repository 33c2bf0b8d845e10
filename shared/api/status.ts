import * as z from 'zod';
import { mapLimited } from '../concurrency';
import { PROVIDER_NAMES } from '../envelope';
import { averageProcessingMs, eventCount, outcomesOf, successRate } from '../metrics/outcomes';
import {
  configHourCounter,
  configMinuteCounter,
  hourOf,
  type MetricCounters,
  type MinuteCounts,
  minuteOf,
} from '../stores/metric-counters';
import type { WebhookConfig, WebhookConfigStore } from '../stores/webhook-configs';
import { TIME_RANGE_MS, type TimeRange, timeRange } from './time-range';

/** `GET /api/webhooks/status` query parameters. */
export const statusQuerySchema = z.strictObject({
  provider: z.enum(PROVIDER_NAMES).optional(),
  time_range: timeRange.default('24h'),
});

export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy';

/** Below these success rates (percent) a webhook is degraded or unhealthy. */
const DEGRADED_BELOW = 99;
const UNHEALTHY_BELOW = 90;

export interface Statistics {
  total_events: number;
  successful_events: number;
  failed_events: number;
  success_rate: number;
  average_processing_time_ms: number;
}

type Bucket = { minute: string; counts: MinuteCounts };

/**
 * One webhook's figures over its buckets. An event counts once, by how it ended: processed
 * (successful) or dead-lettered (failed); retried attempts and duplicate deliveries are not events.
 * With no events the success rate is 100: nothing has failed.
 */
export function statisticsOf(buckets: readonly Bucket[]): Statistics {
  const outcomes = outcomesOf(buckets);
  return {
    total_events: eventCount(outcomes),
    successful_events: outcomes.processed,
    failed_events: outcomes.dead,
    success_rate: round1(successRate(outcomes) ?? 100),
    average_processing_time_ms: Math.round(averageProcessingMs(outcomes) ?? 0),
  };
}

/**
 * Health from the success rate over the window and from recency: the latest bucket with events
 * decides whether it is failing now, so a webhook that failed an hour ago and recovered since is
 * degraded rather than unhealthy, and one that has just started failing is not hidden by a good day.
 */
export function healthOf(stats: Statistics, buckets: readonly Bucket[]): HealthStatus {
  const latest = [...buckets].reverse().find(({ counts }) => counts.succeeded + counts.dead > 0);
  const failingNow = latest !== undefined && latest.counts.dead > 0 && latest.counts.succeeded === 0;
  if (failingNow || stats.success_rate < UNHEALTHY_BELOW) return 'unhealthy';
  if (stats.success_rate < DEGRADED_BELOW || (latest?.counts.dead ?? 0) > 0) return 'degraded';
  return 'healthy';
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}

/** The counter and bucket range that cover a window ending at `now`: minutes for an hour, else hours. */
export function counterRange(configId: string, range: TimeRange, now: Date) {
  const from = new Date(now.getTime() - TIME_RANGE_MS[range] + (range === '1h' ? 60_000 : 3_600_000));
  return range === '1h'
    ? { pk: configMinuteCounter(configId), from: minuteOf(from), to: minuteOf(now) }
    : { pk: configHourCounter(configId), from: hourOf(from), to: hourOf(now) };
}

export interface StatusDeps {
  configs: Pick<WebhookConfigStore, 'listByUser'>;
  counters: Pick<MetricCounters, 'read'>;
  now: () => Date;
  /** How long a computed status is served again (the seed's dashboards poll it). */
  cacheTtlMs?: number;
}

const READ_CONCURRENCY = 8;
const CACHE_ENTRIES = 500;

/** The seed's status document for one user's webhooks, from the counters, cached per instance. */
export class StatusService {
  private readonly cache = new Map<string, { at: number; body: unknown }>();

  constructor(private readonly deps: StatusDeps) {}

  async status(userId: string, query: z.output<typeof statusQuerySchema>) {
    const now = this.deps.now();
    const key = JSON.stringify([userId, query.provider ?? null, query.time_range]);
    const cached = this.cache.get(key);
    if (cached && now.getTime() - cached.at < (this.deps.cacheTtlMs ?? 60_000)) return cached.body;

    const configs = (await this.deps.configs.listByUser(userId)).filter(
      (config) => query.provider === undefined || config.provider === query.provider,
    );
    const perConfig = await mapLimited(configs, READ_CONCURRENCY, async (config) => {
      const { pk, from, to } = counterRange(config.id, query.time_range, now);
      return { config, buckets: await this.deps.counters.read(pk, from, to) };
    });
    const body = statusDocument(perConfig);

    this.cache.set(key, { at: now.getTime(), body });
    // A Map iterates in insertion order: the first key is the oldest entry.
    if (this.cache.size > CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value as string);
    return body;
  }
}

function statusDocument(perConfig: { config: WebhookConfig; buckets: Bucket[] }[]) {
  const webhooks = perConfig.map(({ config, buckets }) => {
    const statistics = statisticsOf(buckets);
    return {
      id: config.id,
      provider: config.provider,
      health_status: healthOf(statistics, buckets),
      statistics,
    };
  });
  const overall = statisticsOf(perConfig.flatMap(({ buckets }) => buckets));
  return {
    success: true,
    webhooks,
    overall_stats: {
      total_webhooks: perConfig.length,
      active_webhooks: perConfig.filter(({ config }) => config.active).length,
      success_rate: overall.success_rate,
      average_processing_time_ms: overall.average_processing_time_ms,
    },
  };
}
