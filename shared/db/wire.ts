import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { numberEnv } from '../env';
import { logger } from '../observability';
import type { Db } from './client';
import { schema } from './schema';

/**
 * A DATABASE_URL over the Postgres wire protocol (node-postgres): what the local stack and the
 * tests plug into dbFromEnv (`useWireProtocol(wireDb)`). Lambda functions never import this module.
 */
export function wireDb(url: string): Db {
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
  return drizzle(pool, { schema }) as unknown as Db;
}
