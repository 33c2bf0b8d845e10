import type { CloudFormationCustomResourceEvent, Context } from 'aws-lambda';
import { dbFromEnv } from '../shared/db/client';
import { loadMigrations, migrate } from '../shared/db/migrate';
import { type ResumeRetryOptions, retryWhileResuming } from '../shared/db/resume';
import { logger } from '../shared/observability';

/** Time kept back from the function's timeout to answer CloudFormation after the last attempt. */
const ANSWER_MARGIN_MS = 15_000;

/**
 * Custom resource (Provider framework onEvent) applying the SQL migrations at deploy. Migrations
 * only move forward: deleting the resource leaves the schema and its data in place. A paused
 * cluster (minCapacity 0) is waited for within the function's own timeout.
 */
export function migrationsHandler(deps: Pick<ResumeRetryOptions, 'now' | 'sleep'> = {}) {
  return async (
    event: CloudFormationCustomResourceEvent,
    context: Pick<Context, 'getRemainingTimeInMillis'>,
  ) => {
    const physicalResourceId = 'PhysicalResourceId' in event ? event.PhysicalResourceId : 'schema-migrations';
    if (event.RequestType === 'Delete') return { PhysicalResourceId: physicalResourceId };
    const now = deps.now ?? Date.now;
    const db = dbFromEnv();
    const migrations = await loadMigrations();
    const applied = await retryWhileResuming(() => migrate(db, migrations), {
      ...deps,
      deadline: now() + context.getRemainingTimeInMillis() - ANSWER_MARGIN_MS,
      log: (message, detail) => logger.warn(message, detail),
    });
    logger.info('migrations applied', { applied });
    return { PhysicalResourceId: physicalResourceId, Data: { Applied: applied.join(',') } };
  };
}

export const handler = migrationsHandler();
