import { and, asc, desc, gte, inArray, lte, type SQL, sql } from 'drizzle-orm';
import { mapLimited } from '../concurrency';
import type { Db } from '../db/client';
import { webhookMetrics } from '../db/schema';
import type { ProviderName } from '../envelope';
import { SYSTEM_OWNER } from '../owner';
import {
  configMinuteCounter,
  type MetricCounters,
  type MinuteCounts,
  minuteOf,
  ownerMinuteCounter,
  providerCounter,
  type ReadBucket,
} from '../stores/metric-counters';
import type { ListedConfig, WebhookConfigStore } from '../stores/webhook-configs';
import { averageProcessingMs, errorRate, eventCount, outcomesOf, successRate } from './outcomes';

/*
 * `webhook_metrics`: the minute history of the processing metrics, in the seed's columns. The
 * metrics job (functions/realtime/metrics-push.ts) writes, every minute, one row per series and
 * provider for each minute that had events: every owner together (`all`), each owner (`owner:…`,
 * the provider-wide endpoints under the system owner) and each webhook config (`config:…`). The
 * counters (DynamoDB, 8 days) answer the last hour to the last week; this table the longer ranges
 * (`metricsRetentionDays`, 30 by default) and the dashboards' history.
 */

export const ALL_SERIES = 'all';
export const ownerSeries = (ownerId: string) => `owner:${encodeURIComponent(ownerId)}`;
export const configSeries = (configId: string) => `config:${configId}`;

/** One row: a minute of one series and provider, its figures counted as the status API counts them. */
export interface MetricsRow {
  series: string;
  provider: string;
  ownerId: string | null;
  configId: string | null;
  /** The minute's start, ISO 8601. */
  minute: string;
  totalEvents: number;
  successfulEvents: number;
  failedEvents: number;
  successRate: number;
  averageProcessingTime: number;
  eventsPerMinute: number;
  errorRate: number;
  lastEventAt: string;
}

/** The row of a minute counter bucket; undefined for a minute without events (retries only). */
export function rowOf(
  series: Pick<MetricsRow, 'series' | 'provider' | 'ownerId' | 'configId'>,
  bucket: ReadBucket,
): MetricsRow | undefined {
  const outcomes = outcomesOf([bucket]);
  const total = eventCount(outcomes);
  if (total === 0) return undefined;
  const start = new Date(`${bucket.minute}:00Z`);
  return {
    ...series,
    minute: start.toISOString(),
    totalEvents: total,
    successfulEvents: outcomes.processed,
    failedEvents: outcomes.dead,
    successRate: round2(successRate(outcomes) ?? 100),
    averageProcessingTime: Math.round(averageProcessingMs(outcomes) ?? 0),
    // A row covers one minute: its events are its rate per minute.
    eventsPerMinute: total,
    errorRate: round2(errorRate(outcomes) ?? 0),
    // Counters written before they kept the time say the minute's last instant.
    lastEventAt: bucket.lastEventAt ?? new Date(start.getTime() + 59_999).toISOString(),
  };
}

const round2 = (value: number) => Math.round(value * 100) / 100;

/** A series' events of one provider over a range, added up, and its newest minute (what decides its health). */
export interface SeriesSummary {
  series: string;
  provider: string;
  successfulEvents: number;
  failedEvents: number;
  /** Summed over the successful events. */
  processingMsSum: number;
  latest?: MetricsRow;
}

/** A summary as the counter buckets the status API reads: every minute but the newest, then the newest. */
export function bucketsOf(summary: SeriesSummary): { minute: string; counts: MinuteCounts }[] {
  const counts = (successful: number, failed: number, processingMsSum: number): MinuteCounts => ({
    total: successful + failed,
    succeeded: successful,
    duplicates: 0,
    failed: 0,
    dead: failed,
    processingMsSum,
    latencyMsSum: 0,
  });
  const { latest } = summary;
  if (!latest) return [{ minute: '', counts: counts(0, 0, 0) }];
  const latestMs = latest.averageProcessingTime * latest.successfulEvents;
  return [
    {
      minute: '',
      counts: counts(
        summary.successfulEvents - latest.successfulEvents,
        summary.failedEvents - latest.failedEvents,
        summary.processingMsSum - latestMs,
      ),
    },
    {
      minute: latest.minute.slice(0, 16),
      counts: counts(latest.successfulEvents, latest.failedEvents, latestMs),
    },
  ];
}

const decimal = (value: number) => value.toFixed(2);

/** webhook_metrics in Postgres (the Data API in AWS): written by the metrics job, read by the API. */
export class MetricsHistory {
  constructor(private readonly db: Db) {}

  /** Writes the rows, replacing a row of the same series, provider and minute (a run may repeat it). */
  async record(rows: readonly MetricsRow[]): Promise<void> {
    for (let start = 0; start < rows.length; start += 100) {
      const chunk = rows.slice(start, start + 100);
      await this.db
        .insert(webhookMetrics)
        .values(
          chunk.map((row) => ({
            series: row.series,
            provider: row.provider,
            ownerId: row.ownerId,
            configId: row.configId,
            minute: new Date(row.minute),
            totalEvents: row.totalEvents,
            successfulEvents: row.successfulEvents,
            failedEvents: row.failedEvents,
            successRate: decimal(row.successRate),
            averageProcessingTime: row.averageProcessingTime,
            eventsPerMinute: decimal(row.eventsPerMinute),
            errorRate: decimal(row.errorRate),
            lastEventAt: new Date(row.lastEventAt),
          })),
        )
        .onConflictDoUpdate({
          target: [webhookMetrics.series, webhookMetrics.provider, webhookMetrics.minute],
          set: {
            totalEvents: sql`excluded.total_events`,
            successfulEvents: sql`excluded.successful_events`,
            failedEvents: sql`excluded.failed_events`,
            successRate: sql`excluded.success_rate`,
            averageProcessingTime: sql`excluded.average_processing_time`,
            eventsPerMinute: sql`excluded.events_per_minute`,
            errorRate: sql`excluded.error_rate`,
            lastEventAt: sql`excluded.last_event_at`,
            recordedAt: sql`now()`,
          },
        });
    }
  }

  /** The rows of some series from `from` to `to` (inclusive), oldest first, at most `limit`. */
  async read(query: {
    series: readonly string[];
    provider?: string;
    from: Date;
    to: Date;
    limit: number;
  }): Promise<MetricsRow[]> {
    if (query.series.length === 0) return [];
    const rows = await this.db
      .select()
      .from(webhookMetrics)
      .where(this.within(query))
      .orderBy(desc(webhookMetrics.minute), asc(webhookMetrics.provider))
      .limit(query.limit);
    return rows.map(toRow).reverse();
  }

  /** Per series and provider with rows, its events over the range added up in SQL, and its newest row. */
  async summarize(query: { series: readonly string[]; from: Date; to: Date }): Promise<SeriesSummary[]> {
    if (query.series.length === 0) return [];
    const where = this.within(query);
    const [totals, latest] = await Promise.all([
      this.db
        .select({
          series: webhookMetrics.series,
          provider: webhookMetrics.provider,
          successful: sql<string>`sum(${webhookMetrics.successfulEvents})`,
          failed: sql<string>`sum(${webhookMetrics.failedEvents})`,
          processingMs: sql<string>`sum(CAST(${webhookMetrics.averageProcessingTime} AS bigint) * ${webhookMetrics.successfulEvents})`,
        })
        .from(webhookMetrics)
        .where(where)
        .groupBy(webhookMetrics.series, webhookMetrics.provider),
      this.db
        .selectDistinctOn([webhookMetrics.series, webhookMetrics.provider])
        .from(webhookMetrics)
        .where(where)
        .orderBy(webhookMetrics.series, webhookMetrics.provider, desc(webhookMetrics.minute)),
    ]);
    return totals.map((total) => {
      const newest = latest.find((row) => row.series === total.series && row.provider === total.provider);
      return {
        series: total.series ?? '',
        provider: total.provider,
        successfulEvents: Number(total.successful),
        failedEvents: Number(total.failed),
        processingMsSum: Number(total.processingMs),
        ...(newest && { latest: toRow(newest) }),
      };
    });
  }

  private within(query: {
    series: readonly string[];
    provider?: string;
    from: Date;
    to: Date;
  }): SQL | undefined {
    return and(
      inArray(webhookMetrics.series, [...query.series]),
      query.provider === undefined ? undefined : sql`${webhookMetrics.provider} = ${query.provider}`,
      gte(webhookMetrics.minute, query.from),
      lte(webhookMetrics.minute, query.to),
    );
  }
}

function toRow(row: typeof webhookMetrics.$inferSelect): MetricsRow {
  const iso = (value: unknown) =>
    value instanceof Date ? value.toISOString() : new Date(String(value)).toISOString();
  return {
    series: row.series ?? '',
    provider: row.provider,
    ownerId: row.ownerId,
    configId: row.configId,
    minute: iso(row.minute),
    totalEvents: row.totalEvents,
    successfulEvents: row.successfulEvents,
    failedEvents: row.failedEvents,
    successRate: Number(row.successRate),
    averageProcessingTime: row.averageProcessingTime,
    eventsPerMinute: Number(row.eventsPerMinute),
    errorRate: Number(row.errorRate),
    lastEventAt: iso(row.lastEventAt),
  };
}

export interface MetricsRecordDeps {
  configs: Pick<WebhookConfigStore, 'listAll'>;
  counters: Pick<MetricCounters, 'read'>;
  history: Pick<MetricsHistory, 'record'>;
  /** The deployment's providers: the `all` and provider-wide (system owner) series cover them. */
  providers: readonly ProviderName[];
  now: () => Date;
  readConcurrency?: number;
}

/**
 * One run of the minute history: the last three minutes of every series, from the minute counters.
 * The minute in progress is written as far as it goes and completed by the next runs, which write
 * it again (a row is replaced, never added twice); two minutes back it is final, so a batch that
 * counted late into a minute is not lost. Returns how many counters were read and rows written.
 */
export async function recordMinuteMetrics(
  deps: MetricsRecordDeps,
): Promise<{ series: number; rows: number }> {
  const now = deps.now();
  const from = minuteOf(new Date(now.getTime() - 120_000));
  const to = minuteOf(now);
  const counters = seriesOf(await deps.configs.listAll(), deps.providers);
  const rows = (
    await mapLimited(counters, deps.readConcurrency ?? 8, async ({ counter, ...series }) =>
      (await deps.counters.read(counter, from, to)).map((bucket) => rowOf(series, bucket)),
    )
  )
    .flat()
    .filter((row): row is MetricsRow => row !== undefined);
  await deps.history.record(rows);
  return { series: counters.length, rows: rows.length };
}

type SeriesCounter = Pick<MetricsRow, 'series' | 'provider' | 'ownerId' | 'configId'> & { counter: string };

/** Every series the history keeps, with the minute counter it is read from. */
function seriesOf(configs: readonly ListedConfig[], providers: readonly ProviderName[]): SeriesCounter[] {
  const series = new Map<string, SeriesCounter>();
  const add = (entry: SeriesCounter) => series.set(`${entry.series}|${entry.provider}`, entry);
  for (const provider of providers) {
    add({ series: ALL_SERIES, provider, ownerId: null, configId: null, counter: providerCounter(provider) });
    add({
      series: ownerSeries(SYSTEM_OWNER),
      provider,
      ownerId: SYSTEM_OWNER,
      configId: null,
      counter: ownerMinuteCounter(SYSTEM_OWNER, provider),
    });
  }
  for (const config of configs) {
    const { provider, userId } = config;
    add({
      series: ownerSeries(userId),
      provider,
      ownerId: userId,
      configId: null,
      counter: ownerMinuteCounter(userId, provider),
    });
    add({
      series: configSeries(config.id),
      provider,
      ownerId: userId,
      configId: config.id,
      counter: configMinuteCounter(config.id),
    });
  }
  return [...series.values()];
}
