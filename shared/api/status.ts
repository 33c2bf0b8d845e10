import * as z from 'zod';
import { mapLimited } from '../concurrency';
import { PROVIDER_NAMES, type ProviderName } from '../envelope';
import { bucketsOf, configSeries, type MetricsHistory, ownerSeries } from '../metrics/history';
import { averageProcessingMs, eventCount, outcomesOf, successRate } from '../metrics/outcomes';
import { SYSTEM_OWNER } from '../owner';
import {
  configHourCounter,
  configMinuteCounter,
  hourOf,
  type MetricCounters,
  type MinuteCounts,
  minuteOf,
  ownerHourCounter,
  ownerMinuteCounter,
} from '../stores/metric-counters';
import type { ListedConfig, WebhookConfigStore } from '../stores/webhook-configs';
import { type Caller, ownerScope } from './route-context';
import { TIME_RANGE_MS, type TimeRange, timeRange } from './time-range';

/** `GET /api/webhooks/status` query parameters. */
export const statusQuerySchema = z.strictObject({
  /** Operators: one owner's webhooks (`system`: the provider-wide endpoints); default every owner's. */
  owner: z.string().min(1).max(200).optional(),
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

/** One webhook endpoint of the status document: a config's, or a provider-wide one (the system's). */
interface Endpoint {
  id: string;
  provider: ProviderName;
  ownerId: string;
  active: boolean;
  counters: { minute: string; hour: string };
  /** Its series in the minute history (webhook_metrics), for the ranges the counters do not keep. */
  series: string;
}

function configEndpoint(config: ListedConfig): Endpoint {
  return {
    id: config.id,
    provider: config.provider,
    ownerId: config.userId,
    active: config.active,
    counters: { minute: configMinuteCounter(config.id), hour: configHourCounter(config.id) },
    series: configSeries(config.id),
  };
}

/** `/api/webhooks/{provider}`: listed under the provider's name, counted as the system owner's. */
function providerWideEndpoint(provider: ProviderName): Endpoint {
  return {
    id: provider,
    provider,
    ownerId: SYSTEM_OWNER,
    active: true,
    counters: {
      minute: ownerMinuteCounter(SYSTEM_OWNER, provider),
      hour: ownerHourCounter(SYSTEM_OWNER, provider),
    },
    series: ownerSeries(SYSTEM_OWNER),
  };
}

/** The counter and bucket range that cover a window ending at `now`: minutes for an hour, else hours. */
export function counterRange(counters: Endpoint['counters'], range: TimeRange, now: Date) {
  const from = new Date(now.getTime() - TIME_RANGE_MS[range] + (range === '1h' ? 60_000 : 3_600_000));
  return range === '1h'
    ? { pk: counters.minute, from: minuteOf(from), to: minuteOf(now) }
    : { pk: counters.hour, from: hourOf(from), to: hourOf(now) };
}

export interface StatusDeps {
  configs: Pick<WebhookConfigStore, 'listByUser' | 'listAll'>;
  counters: Pick<MetricCounters, 'read'>;
  /** The minute history, for `30d` (the counters expire after 8 days). */
  history: Pick<MetricsHistory, 'summarize'>;
  /** The providers this deployment serves: each has a provider-wide endpoint. */
  providers: readonly ProviderName[];
  now: () => Date;
  /** How long a computed status is served again (the seed's dashboards poll it). */
  cacheTtlMs?: number;
}

const READ_CONCURRENCY = 8;
const CACHE_ENTRIES = 500;

/**
 * The seed's status document, from the counters, cached per instance: a user's own webhooks; for an
 * operator every owner's (or the one named), the provider-wide endpoints included.
 */
export class StatusService {
  private readonly cache = new Map<string, { at: number; body: unknown }>();

  constructor(private readonly deps: StatusDeps) {}

  async status(caller: Caller, query: z.output<typeof statusQuerySchema>) {
    const now = this.deps.now();
    const owner = ownerScope(caller, query.owner);
    const key = JSON.stringify([owner ?? '*', query.provider ?? null, query.time_range]);
    const cached = this.cache.get(key);
    if (cached && now.getTime() - cached.at < (this.deps.cacheTtlMs ?? 60_000)) return cached.body;

    const endpoints = (await this.endpointsOf(owner)).filter(
      (endpoint) => query.provider === undefined || endpoint.provider === query.provider,
    );
    const perEndpoint =
      query.time_range === '30d'
        ? await this.fromHistory(endpoints, now)
        : await mapLimited(endpoints, READ_CONCURRENCY, async (endpoint) => {
            const { pk, from, to } = counterRange(endpoint.counters, query.time_range, now);
            return { endpoint, buckets: await this.deps.counters.read(pk, from, to) };
          });
    const body = statusDocument(perEndpoint);

    this.cache.set(key, { at: now.getTime(), body });
    // A Map iterates in insertion order: the first key is the oldest entry.
    if (this.cache.size > CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value as string);
    return body;
  }

  /** The endpoints' last 30 days from the minute history: one summary query for all of them. */
  private async fromHistory(endpoints: readonly Endpoint[], now: Date) {
    const summaries = await this.deps.history.summarize({
      series: [...new Set(endpoints.map((endpoint) => endpoint.series))],
      from: new Date(now.getTime() - TIME_RANGE_MS['30d']),
      to: now,
    });
    return endpoints.map((endpoint) => {
      const summary = summaries.find(
        (found) => found.series === endpoint.series && found.provider === endpoint.provider,
      );
      return { endpoint, buckets: summary ? bucketsOf(summary) : [] };
    });
  }

  /** One owner's endpoints, or (undefined) every owner's: every config and the provider-wide ones. */
  private async endpointsOf(owner: string | undefined): Promise<Endpoint[]> {
    const providerWide = this.deps.providers.map(providerWideEndpoint);
    if (owner === SYSTEM_OWNER) return providerWide;
    if (owner !== undefined) return (await this.deps.configs.listByUser(owner)).map(configEndpoint);
    return [...providerWide, ...(await this.deps.configs.listAll()).map(configEndpoint)];
  }
}

function statusDocument(perEndpoint: { endpoint: Endpoint; buckets: Bucket[] }[]) {
  const webhooks = perEndpoint.map(({ endpoint, buckets }) => {
    const statistics = statisticsOf(buckets);
    return {
      id: endpoint.id,
      provider: endpoint.provider,
      owner_id: endpoint.ownerId,
      health_status: healthOf(statistics, buckets),
      statistics,
    };
  });
  const overall = statisticsOf(perEndpoint.flatMap(({ buckets }) => buckets));
  return {
    success: true,
    webhooks,
    overall_stats: {
      total_webhooks: perEndpoint.length,
      active_webhooks: perEndpoint.filter(({ endpoint }) => endpoint.active).length,
      success_rate: overall.success_rate,
      average_processing_time_ms: overall.average_processing_time_ms,
    },
  };
}
