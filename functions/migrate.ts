import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { dbFromEnv } from '../shared/db/client';
import { loadMigrations, migrate } from '../shared/db/migrate';
import { logger } from '../shared/observability';

/**
 * Custom resource (Provider framework onEvent) applying the SQL migrations at deploy. Migrations
 * only move forward: deleting the resource leaves the schema and its data in place.
 */
export async function handler(event: CloudFormationCustomResourceEvent) {
  const physicalResourceId = 'PhysicalResourceId' in event ? event.PhysicalResourceId : 'schema-migrations';
  if (event.RequestType === 'Delete') return { PhysicalResourceId: physicalResourceId };
  const applied = await migrate(dbFromEnv(), await loadMigrations());
  logger.info('migrations applied', { applied });
  return { PhysicalResourceId: physicalResourceId, Data: { Applied: applied.join(',') } };
}
