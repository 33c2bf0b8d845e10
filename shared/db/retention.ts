import { inArray, lt } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import type { Db } from './client';
import { webhookAlerts, webhookMetrics } from './schema';

/** How long rows of the monitoring tables are kept (config `alertRetentionDays`, `metricsRetentionDays`). */
export interface RetentionPolicy {
  alertsDays: number;
  metricsDays: number;
}

export interface RetentionRun {
  /** Rows deleted per table. */
  alerts: number;
  metrics: number;
}

/**
 * Small batches: each is one short statement (the Data API's calls time out after 45 s) that holds
 * few row locks, so the alert recorder and the metrics writer are never kept waiting.
 */
const BATCH_ROWS = 1000;

const DAY_MS = 86_400_000;

/**
 * Deletes `webhook_alerts` rows created, and `webhook_metrics` rows recorded, before their
 * retention, acknowledged or not: an alert older than its retention is history, not work.
 */
export async function deleteExpiredRows(db: Db, policy: RetentionPolicy, now: Date): Promise<RetentionRun> {
  const before = (days: number) => new Date(now.getTime() - days * DAY_MS);
  return {
    alerts: await deleteBefore(
      db,
      webhookAlerts,
      webhookAlerts.id,
      webhookAlerts.createdAt,
      before(policy.alertsDays),
    ),
    metrics: await deleteBefore(
      db,
      webhookMetrics,
      webhookMetrics.id,
      webhookMetrics.recordedAt,
      before(policy.metricsDays),
    ),
  };
}

/** Deletes a table's rows whose `time` is before `before`, a batch at a time. */
async function deleteBefore(
  db: Db,
  table: PgTable,
  id: PgColumn,
  time: PgColumn,
  before: Date,
): Promise<number> {
  let total = 0;
  for (;;) {
    const expired = db.select({ id }).from(table).where(lt(time, before)).limit(BATCH_ROWS);
    const deleted = await db.delete(table).where(inArray(id, expired)).returning({ id });
    total += deleted.length;
    if (deleted.length < BATCH_ROWS) return total;
  }
}
