import type { ScheduledEvent } from 'aws-lambda';
import { type Db, dbFromEnv } from '../shared/db/client';
import { deleteExpiredRows, type RetentionRun } from '../shared/db/retention';
import { numberEnv } from '../shared/env';
import { logger } from '../shared/observability';

let db: Db | undefined;

/**
 * The cleanup job (an EventBridge schedule in AWS; a timer in the local stack, which calls it
 * without an event): deletes monitoring rows past ALERT_RETENTION_DAYS and METRICS_RETENTION_DAYS.
 */
export const handler = async (_event?: ScheduledEvent): Promise<RetentionRun> => {
  db ??= dbFromEnv();
  const run = await deleteExpiredRows(
    db,
    {
      alertsDays: numberEnv('ALERT_RETENTION_DAYS', 90),
      metricsDays: numberEnv('METRICS_RETENTION_DAYS', 30),
    },
    new Date(),
  );
  if (run.alerts + run.metrics > 0) logger.info('expired rows deleted', { ...run });
  return run;
};
