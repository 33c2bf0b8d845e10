import { index, jsonb, numeric, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/** Mirrors shared/db/migrations/*.sql; the SQL files are the source of truth for the database. */
export const schemaMigrations = pgTable('schema_migrations', {
  id: text('id').primaryKey(),
  appliedAt: timestamp('applied_at', { withTimezone: true }).notNull().defaultNow(),
});

export const syncedOrders = pgTable(
  'synced_orders',
  {
    id: text('id').primaryKey(),
    shopDomain: text('shop_domain').notNull().default(''),
    orderNumber: text('order_number'),
    totalPrice: numeric('total_price', { precision: 14, scale: 2 }),
    currency: text('currency'),
    financialStatus: text('financial_status'),
    fulfillmentStatus: text('fulfillment_status'),
    customerEmail: text('customer_email'),
    payload: jsonb('payload').notNull(),
    sourceEventType: text('source_event_type').notNull(),
    sourceUpdatedAt: timestamp('source_updated_at', { withTimezone: true }).notNull(),
    deletedAt: timestamp('deleted_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    index('synced_orders_customer_email_idx').on(table.customerEmail),
    index('synced_orders_source_updated_at_idx').on(table.sourceUpdatedAt),
  ],
);

export const schema = { schemaMigrations, syncedOrders };
