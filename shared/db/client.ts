import { RDSDataClient } from '@aws-sdk/client-rds-data';
import { drizzle as drizzleDataApi } from 'drizzle-orm/aws-data-api/pg';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { numberEnv, optionalEnv, requireEnv } from '../env';
import { logger } from '../observability';
import { schema } from './schema';

/** One typed Postgres handle whatever the transport; queries are written once against it. */
export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

/**
 * In AWS the processors reach Aurora through the RDS Data API (no VPC, no connection storms);
 * with DATABASE_URL (a real server, or the local stack's PGlite) they speak the wire protocol.
 */
export function dbFromEnv(): Db {
  const url = optionalEnv('DATABASE_URL');
  if (url) {
    const pool = new pg.Pool({
      connectionString: url,
      max: numberEnv('DATABASE_POOL_MAX', 4),
      // A connection cut mid-handshake or mid-query fails the attempt (which is retried) instead of
      // holding one of the pool's few clients until the invocation times out.
      connectionTimeoutMillis: 5000,
      query_timeout: 10_000,
    });
    // An idle connection dropped by the server must not crash the process; the pool reconnects.
    pool.on('error', (error) => logger.warn('idle Postgres connection closed', { reason: error.message }));
    return drizzlePg(pool, { schema }) as unknown as Db;
  }
  return drizzleDataApi(new RDSDataClient({}), {
    resourceArn: requireEnv('DB_CLUSTER_ARN'),
    secretArn: requireEnv('DB_SECRET_ARN'),
    database: requireEnv('DB_NAME'),
    schema,
  }) as unknown as Db;
}
