import {
  bigint,
  boolean,
  date,
  index,
  integer,
  jsonb,
  numeric,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { SYSTEM_OWNER } from '../owner';

/** Mirrors shared/db/migrations/*.sql; the SQL files are the source of truth for the database. */
export const schemaMigrations = pgTable('schema_migrations', {
  id: text('id').primaryKey(),
  appliedAt: timestamp('applied_at', { withTimezone: true }).notNull().defaultNow(),
});

const timestamptz = (name: string) => timestamp(name, { withTimezone: true });

/**
 * What every synced_* row keeps: its owner, and about the event that last won it (see shared/process/entities/upsert.ts).
 * The row version is `(source_updated_at, source_sequence, source_event_id)`, compared as a row value;
 * `source_event_id` is `COLLATE "C"` in SQL so its order is bytewise on every server.
 */
function syncColumns() {
  return {
    /** Whose row (shared/owner.ts): leads every synced_* primary key; rows from before owners are the system's. */
    ownerId: text('owner_id').notNull().default(SYSTEM_OWNER),
    sourceEventType: text('source_event_type').notNull(),
    sourceUpdatedAt: timestamptz('source_updated_at').notNull(),
    sourceSequence: bigint('source_sequence', { mode: 'number' }).notNull().default(0),
    sourceEventId: text('source_event_id').notNull().default(''),
    deletedAt: timestamptz('deleted_at'),
    mergedInto: text('merged_into'),
    needsRefetch: boolean('needs_refetch').notNull().default(false),
    createdAt: timestamptz('created_at').notNull().defaultNow(),
    updatedAt: timestamptz('updated_at').notNull().defaultNow(),
  };
}

/** Shopify: full snapshots replace `payload`; `payload_version` is the version key of that snapshot. */
function snapshotColumns() {
  return {
    payload: jsonb('payload'),
    payloadVersion: text('payload_version'),
  };
}

/** HubSpot: one property per event, merged per property (`property_versions`: name -> version key). */
function propertyColumns() {
  return {
    properties: jsonb('properties').$type<Record<string, unknown>>().notNull().default({}),
    propertyVersions: jsonb('property_versions').$type<Record<string, string>>().notNull().default({}),
  };
}

/** Salesforce: changed fields merged per field (`field_versions`: field -> version key). */
function fieldColumns() {
  return {
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull().default({}),
    fieldVersions: jsonb('field_versions').$type<Record<string, string>>().notNull().default({}),
  };
}

// Shopify ---------------------------------------------------------------------------------------

export const syncedOrders = pgTable(
  'synced_orders',
  {
    id: text('id').notNull(),
    shopDomain: text('shop_domain').notNull().default(''),
    orderNumber: text('order_number'),
    totalPrice: numeric('total_price', { precision: 14, scale: 2 }),
    currency: text('currency'),
    financialStatus: text('financial_status'),
    fulfillmentStatus: text('fulfillment_status'),
    customerEmail: text('customer_email'),
    ...snapshotColumns(),
    ...syncColumns(),
  },
  (table) => [
    primaryKey({ columns: [table.ownerId, table.shopDomain, table.id] }),
    index('synced_orders_customer_email_idx').on(table.customerEmail),
    index('synced_orders_source_updated_at_idx').on(table.sourceUpdatedAt),
  ],
);

export const syncedCustomers = pgTable(
  'synced_customers',
  {
    id: text('id').notNull(),
    shopDomain: text('shop_domain').notNull().default(''),
    email: text('email'),
    firstName: text('first_name'),
    lastName: text('last_name'),
    state: text('state'),
    ...snapshotColumns(),
    ...syncColumns(),
  },
  (table) => [
    primaryKey({ columns: [table.ownerId, table.shopDomain, table.id] }),
    index('synced_customers_email_idx').on(table.shopDomain, table.email),
  ],
);

export const syncedProducts = pgTable(
  'synced_products',
  {
    id: text('id').notNull(),
    shopDomain: text('shop_domain').notNull().default(''),
    title: text('title'),
    status: text('status'),
    vendor: text('vendor'),
    productType: text('product_type'),
    ...snapshotColumns(),
    ...syncColumns(),
  },
  (table) => [
    primaryKey({ columns: [table.ownerId, table.shopDomain, table.id] }),
    index('synced_products_status_idx').on(table.shopDomain, table.status),
  ],
);

/** An inventory level has no id of its own: it is the (inventory item, location) pair. */
export const syncedInventoryLevels = pgTable(
  'synced_inventory_levels',
  {
    shopDomain: text('shop_domain').notNull().default(''),
    inventoryItemId: text('inventory_item_id').notNull(),
    locationId: text('location_id').notNull(),
    available: integer('available'),
    ...snapshotColumns(),
    ...syncColumns(),
  },
  (table) => [
    primaryKey({ columns: [table.ownerId, table.shopDomain, table.inventoryItemId, table.locationId] }),
    index('synced_inventory_levels_location_idx').on(table.shopDomain, table.locationId),
  ],
);

// HubSpot ---------------------------------------------------------------------------------------

export const syncedContacts = pgTable(
  'synced_contacts',
  {
    portalId: text('portal_id').notNull().default(''),
    id: text('id').notNull(),
    email: text('email'),
    firstName: text('first_name'),
    lastName: text('last_name'),
    ...propertyColumns(),
    ...syncColumns(),
  },
  (table) => [
    primaryKey({ columns: [table.ownerId, table.portalId, table.id] }),
    index('synced_contacts_email_idx').on(table.portalId, table.email),
  ],
);

export const syncedCompanies = pgTable(
  'synced_companies',
  {
    portalId: text('portal_id').notNull().default(''),
    id: text('id').notNull(),
    name: text('name'),
    domain: text('domain'),
    ...propertyColumns(),
    ...syncColumns(),
  },
  (table) => [
    primaryKey({ columns: [table.ownerId, table.portalId, table.id] }),
    index('synced_companies_domain_idx').on(table.portalId, table.domain),
  ],
);

export const syncedDeals = pgTable(
  'synced_deals',
  {
    portalId: text('portal_id').notNull().default(''),
    id: text('id').notNull(),
    dealName: text('deal_name'),
    dealStage: text('deal_stage'),
    amount: numeric('amount'),
    pipeline: text('pipeline'),
    ...propertyColumns(),
    ...syncColumns(),
  },
  (table) => [
    primaryKey({ columns: [table.ownerId, table.portalId, table.id] }),
    index('synced_deals_stage_idx').on(table.portalId, table.pipeline, table.dealStage),
  ],
);

/** HubSpot `*.associationChange`: one row per association; removal tombstones it. */
export const syncedAssociations = pgTable(
  'synced_associations',
  {
    portalId: text('portal_id').notNull().default(''),
    associationType: text('association_type').notNull(),
    fromObjectId: text('from_object_id').notNull(),
    toObjectId: text('to_object_id').notNull(),
    ...snapshotColumns(),
    ...syncColumns(),
  },
  (table) => [
    primaryKey({
      columns: [table.ownerId, table.portalId, table.associationType, table.fromObjectId, table.toObjectId],
    }),
    index('synced_associations_to_idx').on(table.portalId, table.toObjectId),
  ],
);

// Salesforce ------------------------------------------------------------------------------------

export const syncedOpportunities = pgTable(
  'synced_opportunities',
  {
    id: text('id').notNull(),
    name: text('name'),
    stageName: text('stage_name'),
    amount: numeric('amount'),
    closeDate: date('close_date'),
    ...fieldColumns(),
    ...syncColumns(),
  },
  (table) => [
    primaryKey({ columns: [table.ownerId, table.id] }),
    index('synced_opportunities_stage_idx').on(table.stageName, table.closeDate),
  ],
);

export const syncedLeads = pgTable(
  'synced_leads',
  {
    id: text('id').notNull(),
    status: text('status'),
    company: text('company'),
    email: text('email'),
    ...fieldColumns(),
    ...syncColumns(),
  },
  (table) => [
    primaryKey({ columns: [table.ownerId, table.id] }),
    index('synced_leads_email_idx').on(table.email),
  ],
);

export const syncedAccounts = pgTable(
  'synced_accounts',
  {
    id: text('id').notNull(),
    name: text('name'),
    industry: text('industry'),
    ...fieldColumns(),
    ...syncColumns(),
  },
  (table) => [
    primaryKey({ columns: [table.ownerId, table.id] }),
    index('synced_accounts_name_idx').on(table.name),
  ],
);

export const syncedTasks = pgTable(
  'synced_tasks',
  {
    id: text('id').notNull(),
    subject: text('subject'),
    status: text('status'),
    priority: text('priority'),
    ...fieldColumns(),
    ...syncColumns(),
  },
  (table) => [
    primaryKey({ columns: [table.ownerId, table.id] }),
    index('synced_tasks_status_idx').on(table.status, table.priority),
  ],
);

export const syncedCases = pgTable(
  'synced_cases',
  {
    id: text('id').notNull(),
    subject: text('subject'),
    status: text('status'),
    priority: text('priority'),
    ...fieldColumns(),
    ...syncColumns(),
  },
  (table) => [
    primaryKey({ columns: [table.ownerId, table.id] }),
    index('synced_cases_status_idx').on(table.status, table.priority),
  ],
);

// Monitoring (the seed's tables) ----------------------------------------------------------------

export const webhookMetrics = pgTable(
  'webhook_metrics',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    provider: text('provider').notNull(),
    totalEvents: integer('total_events').notNull(),
    successfulEvents: integer('successful_events').notNull(),
    failedEvents: integer('failed_events').notNull(),
    successRate: numeric('success_rate', { precision: 5, scale: 2 }).notNull(),
    averageProcessingTime: integer('average_processing_time').notNull(),
    eventsPerMinute: numeric('events_per_minute', { precision: 10, scale: 2 }).notNull(),
    errorRate: numeric('error_rate', { precision: 5, scale: 2 }).notNull(),
    lastEventAt: timestamptz('last_event_at').notNull(),
    recordedAt: timestamptz('recorded_at').defaultNow(),
    /** `all`, `owner:<owner>` or `config:<id>` (shared/metrics/history.ts). */
    series: text('series'),
    ownerId: text('owner_id'),
    configId: text('config_id'),
    /** The minute the row covers (its start, UTC). */
    minute: timestamptz('minute'),
  },
  (table) => [
    index('webhook_metrics_provider_recorded_at_idx').on(table.provider, table.recordedAt),
    uniqueIndex('webhook_metrics_series_provider_minute_idx').on(table.series, table.provider, table.minute),
  ],
);

export const webhookAlertRules = pgTable(
  'webhook_alert_rules',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: text('user_id'),
    name: text('name').notNull(),
    provider: text('provider'),
    metric: text('metric').notNull(),
    threshold: numeric('threshold', { precision: 10, scale: 2 }).notNull(),
    comparison: text('comparison').notNull(),
    timeWindowMinutes: integer('time_window_minutes').notNull(),
    enabled: boolean('enabled').default(true),
    notificationChannels: text('notification_channels').array().notNull(),
    createdAt: timestamptz('created_at').defaultNow(),
  },
  (table) => [index('webhook_alert_rules_user_idx').on(table.userId)],
);

export const webhookAlerts = pgTable(
  'webhook_alerts',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: text('user_id'),
    ruleId: uuid('rule_id').references(() => webhookAlertRules.id, { onDelete: 'set null' }),
    provider: text('provider').notNull(),
    metric: text('metric').notNull(),
    currentValue: numeric('current_value', { precision: 10, scale: 2 }).notNull(),
    threshold: numeric('threshold', { precision: 10, scale: 2 }).notNull(),
    severity: text('severity').notNull(),
    message: text('message').notNull(),
    acknowledged: boolean('acknowledged').default(false),
    acknowledgedBy: text('acknowledged_by'),
    acknowledgedAt: timestamptz('acknowledged_at'),
    createdAt: timestamptz('created_at').defaultNow(),
  },
  (table) => [
    index('webhook_alerts_rule_idx').on(table.ruleId),
    index('webhook_alerts_user_created_at_idx').on(table.userId, table.createdAt),
  ],
);

export const schema = {
  schemaMigrations,
  syncedOrders,
  syncedCustomers,
  syncedProducts,
  syncedInventoryLevels,
  syncedContacts,
  syncedCompanies,
  syncedDeals,
  syncedAssociations,
  syncedOpportunities,
  syncedLeads,
  syncedAccounts,
  syncedTasks,
  syncedCases,
  webhookMetrics,
  webhookAlertRules,
  webhookAlerts,
};
