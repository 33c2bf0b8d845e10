import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMigrations, migrate } from '../../../../shared/db/migrate';
import { SYNCED_TABLES, type TestDatabase, testDatabase } from '../process/entities/database';

/*
 * Migration 0003 (owners) on a database that already holds rows, as a deployed one does: applied on
 * PGlite, and on a real PostgreSQL when TEST_DATABASE_URL is set (as CI does).
 */

let database: TestDatabase;

const rows = async (query: string) =>
  (await database.db.execute(sql.raw(query))) as unknown as { rows: Record<string, unknown>[] };

beforeAll(async () => {
  database = await testDatabase({ upTo: '0002_entities' });
  // Written before owners existed: an order, a frozen order (a forged updated_at in year 9999, written
  // on 2025-11-29), a HubSpot contact with a frozen property, a Salesforce opportunity.
  await rows(`
    INSERT INTO synced_orders (shop_domain, id, total_price, payload, payload_version, source_event_type,
      source_updated_at, source_event_id, updated_at)
    VALUES
      ('a.myshopify.com', '1', 10, '{}', '001640995200000.0000000000000000.shopify:w1', 'orders/create',
        '2022-01-01T00:00:00Z', 'shopify:w1', '2022-01-01T00:00:05Z'),
      ('a.myshopify.com', '2', 9999999, '{}', '253402214400000.0000000000000000.shopify:w2', 'orders/updated',
        '9999-12-31T00:00:00Z', 'shopify:w2', '2025-11-29T10:00:00Z')`);
  await rows(`
    INSERT INTO synced_contacts (portal_id, id, properties, property_versions, source_event_type,
      source_updated_at, source_event_id, updated_at)
    VALUES ('62515', '7', '{"email":"x@example.com","firstname":"X"}',
      '{"email":"253402214400000.0000000000000000.hubspot:e1","firstname":"001640995200000.0000000000000000.hubspot:e0"}',
      'contact.propertyChange', '9999-12-31T00:00:00Z', 'hubspot:e1', '2025-11-29T10:00:00Z')`);
  await rows(`
    INSERT INTO synced_opportunities (id, payload, field_versions, source_event_type, source_updated_at)
    VALUES ('0065g00000XyZ12AAB', '{"StageName":"Prospecting"}', '{}', 'OpportunityChangeEvent',
      '2022-01-01T00:00:00Z')`);
  const applied = await migrate(database.db, await loadMigrations());
  expect(applied).toContain('0003_owners');
});

afterAll(async () => {
  await database?.close();
});

describe(`migration 0003, owners (${process.env.TEST_DATABASE_URL ? 'postgres' : 'pglite'})`, () => {
  it("gives every existing row to the system owner, the provider-wide endpoints' owner", async () => {
    const owners = await rows(`
      SELECT 'orders' AS t, owner_id FROM synced_orders
      UNION ALL SELECT 'contacts', owner_id FROM synced_contacts
      UNION ALL SELECT 'opportunities', owner_id FROM synced_opportunities`);
    expect(owners.rows.map((row) => row.owner_id)).toEqual(['system', 'system', 'system', 'system']);
  });

  it("leads every synced_* primary key with the owner, so another owner's copy is a row of its own", async () => {
    const keys = await rows(`
      SELECT t.relname AS table_name, a.attname AS first_column
      FROM pg_index i
      JOIN pg_class t ON t.oid = i.indrelid
      JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0]
      JOIN pg_namespace n ON n.oid = t.relnamespace
      WHERE i.indisprimary AND n.nspname = current_schema() AND t.relname LIKE 'synced_%'`);
    const firstColumns = Object.fromEntries(keys.rows.map((row) => [row.table_name, row.first_column]));
    expect(firstColumns).toEqual(Object.fromEntries(SYNCED_TABLES.map((table) => [table, 'owner_id'])));

    await rows(`
      INSERT INTO synced_orders (owner_id, shop_domain, id, payload, source_event_type, source_updated_at)
      VALUES ('tenant-a', 'a.myshopify.com', '1', '{}', 'orders/create', now())`);
    const copies = await rows(`SELECT owner_id FROM synced_orders WHERE id = '1' ORDER BY owner_id`);
    expect(copies.rows.map((row) => row.owner_id)).toEqual(['system', 'tenant-a']);
  });

  it('brings a row frozen by a future source time back to when it was written, and leaves the rest', async () => {
    const orders = await rows(
      `SELECT id, source_updated_at, payload_version FROM synced_orders WHERE owner_id = 'system' ORDER BY id`,
    );
    expect(orders.rows.map((row) => [row.id, new Date(String(row.source_updated_at)).toISOString()])).toEqual(
      [
        ['1', '2022-01-01T00:00:00.000Z'],
        ['2', '2025-11-29T10:00:00.000Z'],
      ],
    );
    expect(orders.rows.map((row) => row.payload_version)).toEqual([
      '001640995200000.0000000000000000.shopify:w1',
      '001764410400000.0000000000000000.shopify:w2',
    ]);
    const [contact] = (await rows(`SELECT source_updated_at, property_versions FROM synced_contacts`)).rows;
    expect(new Date(String(contact?.source_updated_at)).toISOString()).toBe('2025-11-29T10:00:00.000Z');
    expect(contact?.property_versions).toEqual({
      email: '001764410400000.0000000000000000.hubspot:e1',
      firstname: '001640995200000.0000000000000000.hubspot:e0',
    });
  });
});
