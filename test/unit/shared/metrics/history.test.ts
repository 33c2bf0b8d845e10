import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { healthOf, statisticsOf } from '../../../../shared/api/status';
import {
  bucketsOf,
  MetricsHistory,
  type MetricsRow,
  recordMinuteMetrics,
  rowOf,
} from '../../../../shared/metrics/history';
import type { ReadBucket } from '../../../../shared/stores/metric-counters';
import { counts } from '../../support/management-fakes';
import { webhookConfig } from '../../support/webhook-config';
import { type TestDatabase, testDatabase } from '../process/entities/database';

const series = { series: 'owner:alice', provider: 'shopify', ownerId: 'alice', configId: null };

describe('a minute counter as a webhook_metrics row', () => {
  it('fills every seed column, counting events as the status API does', () => {
    const bucket: ReadBucket = {
      minute: '2026-03-01T10:04',
      counts: counts({ total: 7, succeeded: 4, failed: 2, dead: 1, processingMsSum: 100 }),
      lastEventAt: '2026-03-01T10:04:41.500Z',
    };

    expect(rowOf(series, bucket)).toEqual({
      ...series,
      minute: '2026-03-01T10:04:00.000Z',
      // Retried attempts (failed) are not events: 4 processed and 1 dead.
      totalEvents: 5,
      successfulEvents: 4,
      failedEvents: 1,
      successRate: 80,
      averageProcessingTime: 25,
      eventsPerMinute: 5,
      errorRate: 20,
      lastEventAt: '2026-03-01T10:04:41.500Z',
    });
  });

  it('writes no row for a minute without events, and takes the end of the minute when the time is unknown', () => {
    expect(
      rowOf(series, { minute: '2026-03-01T10:04', counts: counts({ total: 3, failed: 3 }) }),
    ).toBeUndefined();
    expect(
      rowOf(series, { minute: '2026-03-01T10:04', counts: counts({ total: 1, dead: 1 }) })?.lastEventAt,
    ).toBe('2026-03-01T10:04:59.999Z');
  });
});

describe('recordMinuteMetrics', () => {
  it('reads the last three minutes of every series (all owners, each owner, each config) and writes the minutes with events', async () => {
    const reads: string[] = [];
    const written: MetricsRow[] = [];
    const buckets: Record<string, ReadBucket[]> = {
      'provider#shopify': [{ minute: '2026-03-01T10:04', counts: counts({ total: 2, succeeded: 2 }) }],
      'config#c1': [
        { minute: '2026-03-01T10:03', counts: counts({ total: 1, failed: 1 }) },
        { minute: '2026-03-01T10:04', counts: counts({ total: 1, succeeded: 1 }) },
      ],
    };

    const result = await recordMinuteMetrics({
      configs: { listAll: async () => [webhookConfig({ id: 'c1', userId: 'alice', provider: 'shopify' })] },
      counters: {
        read: async (pk, from, to) => {
          reads.push(`${pk} ${from}..${to}`);
          return buckets[pk] ?? [];
        },
      },
      history: { record: async (rows) => void written.push(...rows) },
      providers: ['shopify'],
      now: () => new Date('2026-03-01T10:05:20Z'),
    });

    expect(reads.sort()).toEqual([
      'config#c1 2026-03-01T10:03..2026-03-01T10:05',
      'owner#alice#shopify 2026-03-01T10:03..2026-03-01T10:05',
      'owner#system#shopify 2026-03-01T10:03..2026-03-01T10:05',
      'provider#shopify 2026-03-01T10:03..2026-03-01T10:05',
    ]);
    expect(written.map((row) => [row.series, row.minute, row.totalEvents])).toEqual([
      ['all', '2026-03-01T10:04:00.000Z', 2],
      ['config:c1', '2026-03-01T10:04:00.000Z', 1],
    ]);
    expect(written[1]).toMatchObject({ ownerId: 'alice', configId: 'c1', provider: 'shopify' });
    expect(result).toEqual({ series: 4, rows: 2 });
  });
});

describe(`webhook_metrics in Postgres (${process.env.TEST_DATABASE_URL ? 'postgres' : 'pglite'})`, () => {
  let database: TestDatabase;
  let history: MetricsHistory;

  beforeAll(async () => {
    database = await testDatabase();
    history = new MetricsHistory(database.db);
  });

  afterAll(async () => {
    await database?.close();
  });

  beforeEach(async () => {
    await database.truncate(['webhook_metrics']);
  });

  const row = (minute: string, overrides: Partial<MetricsRow> = {}): MetricsRow => ({
    series: 'owner:system',
    provider: 'shopify',
    ownerId: 'system',
    configId: null,
    minute,
    totalEvents: 10,
    successfulEvents: 9,
    failedEvents: 1,
    successRate: 90,
    averageProcessingTime: 20,
    eventsPerMinute: 10,
    errorRate: 10,
    lastEventAt: minute.replace(':00.000Z', ':30.000Z'),
    ...overrides,
  });

  it('keeps one row per series, provider and minute: a later run replaces it', async () => {
    await history.record([
      row('2026-03-01T10:04:00.000Z', { totalEvents: 3, successfulEvents: 3, failedEvents: 0 }),
    ]);
    await history.record([row('2026-03-01T10:04:00.000Z')]);

    const stored = await database.db.execute(
      sql.raw(
        `SELECT series, provider, owner_id, total_events, success_rate, events_per_minute FROM webhook_metrics`,
      ),
    );
    expect((stored as unknown as { rows: unknown[] }).rows).toEqual([
      {
        series: 'owner:system',
        provider: 'shopify',
        owner_id: 'system',
        total_events: 10,
        success_rate: '90.00',
        events_per_minute: '10.00',
      },
    ]);
  });

  it('reads a series in a range, oldest first, and sums it per provider with its newest minute apart', async () => {
    await history.record([
      row('2026-03-01T10:01:00.000Z'),
      row('2026-03-01T10:02:00.000Z', { successfulEvents: 0, failedEvents: 4, totalEvents: 4 }),
      row('2026-03-01T10:02:00.000Z', { provider: 'hubspot' }),
      row('2026-03-01T10:02:00.000Z', { series: 'all', ownerId: null }),
    ]);

    const read = await history.read({
      series: ['owner:system'],
      provider: 'shopify',
      from: new Date('2026-03-01T10:00:00Z'),
      to: new Date('2026-03-01T10:10:00Z'),
      limit: 10,
    });
    expect(read.map((found) => [found.minute, found.failedEvents])).toEqual([
      ['2026-03-01T10:01:00.000Z', 1],
      ['2026-03-01T10:02:00.000Z', 4],
    ]);

    const summaries = await history.summarize({
      series: ['owner:system'],
      from: new Date('2026-03-01T10:00:00Z'),
      to: new Date('2026-03-01T10:10:00Z'),
    });
    const shopify = summaries.find((summary) => summary.provider === 'shopify');
    expect(shopify).toMatchObject({ successfulEvents: 9, failedEvents: 5, processingMsSum: 180 });
    expect(shopify?.latest?.minute).toBe('2026-03-01T10:02:00.000Z');
    // As buckets: 14 events, 9 processed; the newest minute failed entirely: unhealthy now.
    const buckets = bucketsOf(shopify as NonNullable<typeof shopify>);
    const statistics = statisticsOf(buckets);
    expect(statistics).toMatchObject({ total_events: 14, successful_events: 9, failed_events: 5 });
    expect(healthOf(statistics, buckets)).toBe('unhealthy');
    expect(summaries.map((summary) => summary.provider).sort()).toEqual(['hubspot', 'shopify']);
  });
});
