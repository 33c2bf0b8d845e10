import * as z from 'zod';
import { PROVIDER_NAMES } from '../envelope';
import { ALL_SERIES, type MetricsRow, ownerSeries } from '../metrics/history';
import { type Caller, ownerScope } from './route-context';
import { TIME_RANGE_MS, timeRange } from './time-range';

/** `GET /api/webhooks/metrics`: the minute history of the caller's (or, for operators, any) owner. */
export const metricsQuerySchema = z
  .strictObject({
    /** Operators: one owner's figures (`system`: the provider-wide endpoints); default every owner's together. */
    owner: z.string().min(1).max(200).optional(),
    provider: z.enum(PROVIDER_NAMES).optional(),
    /** The last hour (default), day, week or month; or explicit bounds with `since`/`until`. */
    time_range: timeRange.optional(),
    since: z.iso.datetime({ offset: true }).optional(),
    until: z.iso.datetime({ offset: true }).optional(),
    /** Rows, newest kept when there are more (one per minute and provider). */
    limit: z.coerce.number().int().min(1).max(5000).default(1000),
  })
  .refine((query) => !(query.time_range && (query.since || query.until)), {
    message: 'Use time_range or since/until, not both',
    path: ['time_range'],
  });

/**
 * A user reads their own figures (the owner series); an operator every owner's together (`all`),
 * or one owner's with `owner=`.
 */
export function toMetricsQuery(caller: Caller, params: z.output<typeof metricsQuerySchema>, now: Date) {
  const owner = ownerScope(caller, params.owner);
  const until = params.until ? new Date(params.until) : now;
  const since = params.since
    ? new Date(params.since)
    : new Date(now.getTime() - TIME_RANGE_MS[params.time_range ?? '1h']);
  return {
    series: [owner === undefined ? ALL_SERIES : ownerSeries(owner)],
    provider: params.provider,
    from: since,
    to: until,
    limit: params.limit,
  };
}

/** A row in the seed's columns (`webhook_metrics`), with the minute it covers and whose it is. */
export function toPublicMetrics(row: MetricsRow) {
  return {
    provider: row.provider,
    owner_id: row.ownerId,
    minute: row.minute,
    total_events: row.totalEvents,
    successful_events: row.successfulEvents,
    failed_events: row.failedEvents,
    success_rate: row.successRate,
    average_processing_time: row.averageProcessingTime,
    events_per_minute: row.eventsPerMinute,
    error_rate: row.errorRate,
    last_event_at: row.lastEventAt,
  };
}
