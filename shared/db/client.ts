import { RDSDataClient } from '@aws-sdk/client-rds-data';
import { drizzle as drizzleDataApi } from 'drizzle-orm/aws-data-api/pg';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { optionalEnv, requireEnv } from '../env';
import { schema } from './schema';

/** One typed Postgres handle whatever the transport; queries are written once against it. */
export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

/**
 * How a DATABASE_URL is opened. The wire-protocol driver (node-postgres) is plugged in by whoever
 * uses one, the local stack and tests (shared/db/wire.ts), so that no Lambda bundle carries it.
 */
let openUrl: ((url: string) => Db) | undefined;

export function useWireProtocol(open: (url: string) => Db): void {
  openUrl = open;
}

/**
 * In AWS the processors reach Aurora through the RDS Data API (no VPC, no connection storms);
 * with DATABASE_URL (a real server, or the local stack's PGlite) they speak the wire protocol.
 */
export function dbFromEnv(): Db {
  const url = optionalEnv('DATABASE_URL');
  if (url) {
    if (!openUrl)
      throw new Error('DATABASE_URL is set but no wire-protocol driver is plugged in (shared/db/wire.ts)');
    return openUrl(url);
  }
  return drizzleDataApi(new RDSDataClient({}), {
    resourceArn: requireEnv('DB_CLUSTER_ARN'),
    secretArn: requireEnv('DB_SECRET_ARN'),
    database: requireEnv('DB_NAME'),
    schema,
  }) as unknown as Db;
}
