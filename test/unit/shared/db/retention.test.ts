import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteExpiredRows } from '../../../../shared/db/retention';
import { webhookAlerts, webhookMetrics } from '../../../../shared/db/schema';
import { type TestDatabase, testDatabase } from '../process/entities/database';

const NOW = new Date('2026-06-01T12:00:00.000Z');
const daysAgo = (days: number) => new Date(NOW.getTime() - days * 86_400_000);

let database: TestDatabase;

beforeAll(async () => {
  database = await testDatabase();
});

afterAll(async () => {
  await database?.close();
});

const alert = (createdAt: Date, acknowledged = false) => ({
  provider: 'shopify',
  metric: 'success_rate',
  currentValue: '80.00',
  threshold: '95.00',
  severity: 'warning',
  message: `alert of ${createdAt.toISOString()}`,
  acknowledged,
  createdAt,
});

const metric = (recordedAt: Date) => ({
  provider: 'hubspot',
  totalEvents: 10,
  successfulEvents: 9,
  failedEvents: 1,
  successRate: '90.00',
  averageProcessingTime: 12,
  eventsPerMinute: '10.00',
  errorRate: '10.00',
  lastEventAt: recordedAt,
  recordedAt,
});

describe('retention of the monitoring tables', () => {
  it('deletes alerts and metrics rows older than their retention, acknowledged or not, and keeps the rest', async () => {
    const { db } = database;
    await db
      .insert(webhookAlerts)
      .values([alert(daysAgo(91)), alert(daysAgo(120), true), alert(daysAgo(89)), alert(daysAgo(0))]);
    await db
      .insert(webhookMetrics)
      .values([metric(daysAgo(31)), metric(daysAgo(30.5)), metric(daysAgo(29)), metric(NOW)]);

    const run = await deleteExpiredRows(db, { alertsDays: 90, metricsDays: 30 }, NOW);

    expect(run).toEqual({ alerts: 2, metrics: 2 });
    const kept = await db.select({ createdAt: webhookAlerts.createdAt }).from(webhookAlerts);
    expect(kept.map((row) => row.createdAt?.toISOString()).sort()).toEqual(
      [daysAgo(89), daysAgo(0)].map((d) => d.toISOString()).sort(),
    );
    expect(await db.$count(webhookMetrics)).toBe(2);
    // A second run finds nothing more to delete.
    expect(await deleteExpiredRows(db, { alertsDays: 90, metricsDays: 30 }, NOW)).toEqual({
      alerts: 0,
      metrics: 0,
    });
  });

  it('deletes more rows than one batch holds', async () => {
    const { db } = database;
    await db.delete(webhookMetrics);
    await db.insert(webhookMetrics).values(Array.from({ length: 2500 }, () => metric(daysAgo(40))));

    expect((await deleteExpiredRows(db, { alertsDays: 90, metricsDays: 30 }, NOW)).metrics).toBe(2500);
    expect(await db.$count(webhookMetrics)).toBe(0);
  });
});
