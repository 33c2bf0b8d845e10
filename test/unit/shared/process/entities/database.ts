import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import type { Db } from '../../../../../shared/db/client';
import { loadMigrations, migrate } from '../../../../../shared/db/migrate';
import { schema } from '../../../../../shared/db/schema';
import { inMemoryDb } from '../../../support/pglite';

/** Every table the entity handlers write. */
export const SYNCED_TABLES = [
  'synced_orders',
  'synced_customers',
  'synced_products',
  'synced_inventory_levels',
  'synced_contacts',
  'synced_companies',
  'synced_deals',
  'synced_associations',
  'synced_opportunities',
  'synced_leads',
  'synced_accounts',
  'synced_tasks',
  'synced_cases',
] as const;

export interface TestDatabase {
  db: Db;
  /** Which server the tests run against, for the test names. */
  kind: 'pglite' | 'postgres';
  /** Empties the given tables (every synced_* table by default). */
  truncate: (tables?: readonly string[]) => Promise<void>;
  close: () => Promise<void>;
}

/**
 * A migrated database for the entity tests: a real PostgreSQL in a fresh schema (dropped on close)
 * when TEST_DATABASE_URL is set, else an in-memory PGlite. `upTo` stops after that migration (the
 * migration tests apply the rest themselves).
 */
export async function testDatabase(options: { upTo?: string } = {}): Promise<TestDatabase> {
  const url = process.env.TEST_DATABASE_URL;
  let db: Db;
  let close: () => Promise<void>;
  let kind: TestDatabase['kind'];
  if (url) {
    const schemaName = `entities_test_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schemaName}`);
    await admin.end();
    const pool = new pg.Pool({ connectionString: url, max: 2, options: `-c search_path=${schemaName}` });
    db = drizzle(pool, { schema }) as unknown as Db;
    kind = 'postgres';
    close = async () => {
      await pool.query(`DROP SCHEMA ${schemaName} CASCADE`);
      await pool.end();
    };
  } else {
    const memory = await inMemoryDb();
    db = memory.db;
    kind = 'pglite';
    close = memory.close;
  }
  const { upTo } = options;
  await migrate(
    db,
    (await loadMigrations()).filter((migration) => upTo === undefined || migration.id <= upTo),
  );
  return {
    db,
    kind,
    truncate: async (tables = SYNCED_TABLES) => {
      await db.execute(sql.raw(`TRUNCATE ${tables.join(', ')}`));
    },
    close,
  };
}
