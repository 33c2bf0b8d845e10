-- The synced_* tables of every provider, and the seed's monitoring tables.
--
-- Runs on the RDS Data API too: one statement per semicolon-terminated line group, no DO blocks,
-- no functions, no statement depending on a server setting.
--
-- Every synced_* row carries the version of the event that last won it:
-- (source_updated_at, source_sequence, source_event_id), compared as a row value. source_event_id
-- (and every version key) is COLLATE "C" so the order is bytewise, the same on every server and
-- in JavaScript. Data fields carry their own versions (payload_version for Shopify snapshots,
-- property_versions / field_versions per HubSpot property / Salesforce field), so an older event
-- can still fill in data a newer event did not carry. See shared/process/entities/upsert.ts.

-- Shopify orders: the version columns, and the shop in the key (ids are unique per shop only).
ALTER TABLE synced_orders
  ADD COLUMN source_sequence bigint NOT NULL DEFAULT 0,
  ADD COLUMN source_event_id text COLLATE "C" NOT NULL DEFAULT '',
  ADD COLUMN merged_into text,
  ADD COLUMN needs_refetch boolean NOT NULL DEFAULT false,
  ADD COLUMN payload_version text COLLATE "C",
  ALTER COLUMN payload DROP NOT NULL;

-- Rows written before this migration hold the snapshot of their row version (milliseconds,
-- sequence 0, empty event id: the smallest key of that instant).
UPDATE synced_orders
SET payload_version = lpad(round(extract(epoch FROM source_updated_at) * 1000)::bigint::text, 15, '0')
  || '.0000000000000000.'
WHERE payload_version IS NULL;

ALTER TABLE synced_orders DROP CONSTRAINT synced_orders_pkey, ADD PRIMARY KEY (shop_domain, id);

CREATE TABLE synced_customers (
  shop_domain text NOT NULL DEFAULT '',
  id text NOT NULL,
  email text,
  first_name text,
  last_name text,
  state text,
  payload jsonb,
  payload_version text COLLATE "C",
  source_event_type text NOT NULL,
  source_updated_at timestamptz NOT NULL,
  source_sequence bigint NOT NULL DEFAULT 0,
  source_event_id text COLLATE "C" NOT NULL DEFAULT '',
  deleted_at timestamptz,
  merged_into text,
  needs_refetch boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (shop_domain, id)
);

CREATE INDEX synced_customers_email_idx ON synced_customers (shop_domain, email);

CREATE TABLE synced_products (
  shop_domain text NOT NULL DEFAULT '',
  id text NOT NULL,
  title text,
  status text,
  vendor text,
  product_type text,
  payload jsonb,
  payload_version text COLLATE "C",
  source_event_type text NOT NULL,
  source_updated_at timestamptz NOT NULL,
  source_sequence bigint NOT NULL DEFAULT 0,
  source_event_id text COLLATE "C" NOT NULL DEFAULT '',
  deleted_at timestamptz,
  merged_into text,
  needs_refetch boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (shop_domain, id)
);

CREATE INDEX synced_products_status_idx ON synced_products (shop_domain, status);

-- An inventory level has no id of its own: it is the (inventory item, location) pair.
CREATE TABLE synced_inventory_levels (
  shop_domain text NOT NULL DEFAULT '',
  inventory_item_id text NOT NULL,
  location_id text NOT NULL,
  available integer,
  payload jsonb,
  payload_version text COLLATE "C",
  source_event_type text NOT NULL,
  source_updated_at timestamptz NOT NULL,
  source_sequence bigint NOT NULL DEFAULT 0,
  source_event_id text COLLATE "C" NOT NULL DEFAULT '',
  deleted_at timestamptz,
  merged_into text,
  needs_refetch boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (shop_domain, inventory_item_id, location_id)
);

CREATE INDEX synced_inventory_levels_location_idx ON synced_inventory_levels (shop_domain, location_id);

-- HubSpot object ids are unique per portal (account) only: the portal is part of every key.
CREATE TABLE synced_contacts (
  portal_id text NOT NULL DEFAULT '',
  id text NOT NULL,
  email text,
  first_name text,
  last_name text,
  properties jsonb NOT NULL DEFAULT '{}',
  property_versions jsonb NOT NULL DEFAULT '{}',
  source_event_type text NOT NULL,
  source_updated_at timestamptz NOT NULL,
  source_sequence bigint NOT NULL DEFAULT 0,
  source_event_id text COLLATE "C" NOT NULL DEFAULT '',
  deleted_at timestamptz,
  merged_into text,
  needs_refetch boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (portal_id, id)
);

CREATE INDEX synced_contacts_email_idx ON synced_contacts (portal_id, email);

CREATE INDEX synced_contacts_merged_into_idx ON synced_contacts (portal_id, merged_into) WHERE merged_into IS NOT NULL;

CREATE TABLE synced_companies (
  portal_id text NOT NULL DEFAULT '',
  id text NOT NULL,
  name text,
  domain text,
  properties jsonb NOT NULL DEFAULT '{}',
  property_versions jsonb NOT NULL DEFAULT '{}',
  source_event_type text NOT NULL,
  source_updated_at timestamptz NOT NULL,
  source_sequence bigint NOT NULL DEFAULT 0,
  source_event_id text COLLATE "C" NOT NULL DEFAULT '',
  deleted_at timestamptz,
  merged_into text,
  needs_refetch boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (portal_id, id)
);

CREATE INDEX synced_companies_domain_idx ON synced_companies (portal_id, domain);

CREATE INDEX synced_companies_merged_into_idx ON synced_companies (portal_id, merged_into) WHERE merged_into IS NOT NULL;

CREATE TABLE synced_deals (
  portal_id text NOT NULL DEFAULT '',
  id text NOT NULL,
  deal_name text,
  deal_stage text,
  amount numeric,
  pipeline text,
  properties jsonb NOT NULL DEFAULT '{}',
  property_versions jsonb NOT NULL DEFAULT '{}',
  source_event_type text NOT NULL,
  source_updated_at timestamptz NOT NULL,
  source_sequence bigint NOT NULL DEFAULT 0,
  source_event_id text COLLATE "C" NOT NULL DEFAULT '',
  deleted_at timestamptz,
  merged_into text,
  needs_refetch boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (portal_id, id)
);

CREATE INDEX synced_deals_stage_idx ON synced_deals (portal_id, pipeline, deal_stage);

CREATE INDEX synced_deals_merged_into_idx ON synced_deals (portal_id, merged_into) WHERE merged_into IS NOT NULL;

-- HubSpot associations (CONTACT_TO_COMPANY, ...): a removed association is tombstoned.
CREATE TABLE synced_associations (
  portal_id text NOT NULL DEFAULT '',
  association_type text NOT NULL,
  from_object_id text NOT NULL,
  to_object_id text NOT NULL,
  payload jsonb,
  payload_version text COLLATE "C",
  source_event_type text NOT NULL,
  source_updated_at timestamptz NOT NULL,
  source_sequence bigint NOT NULL DEFAULT 0,
  source_event_id text COLLATE "C" NOT NULL DEFAULT '',
  deleted_at timestamptz,
  merged_into text,
  needs_refetch boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (portal_id, association_type, from_object_id, to_object_id)
);

CREATE INDEX synced_associations_to_idx ON synced_associations (portal_id, to_object_id);

-- Salesforce record ids (15/18 characters, case-sensitive) are kept exactly as sent.
CREATE TABLE synced_opportunities (
  id text PRIMARY KEY,
  name text,
  stage_name text,
  amount numeric,
  close_date date,
  payload jsonb NOT NULL DEFAULT '{}',
  field_versions jsonb NOT NULL DEFAULT '{}',
  source_event_type text NOT NULL,
  source_updated_at timestamptz NOT NULL,
  source_sequence bigint NOT NULL DEFAULT 0,
  source_event_id text COLLATE "C" NOT NULL DEFAULT '',
  deleted_at timestamptz,
  merged_into text,
  needs_refetch boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX synced_opportunities_stage_idx ON synced_opportunities (stage_name, close_date);

CREATE TABLE synced_leads (
  id text PRIMARY KEY,
  status text,
  company text,
  email text,
  payload jsonb NOT NULL DEFAULT '{}',
  field_versions jsonb NOT NULL DEFAULT '{}',
  source_event_type text NOT NULL,
  source_updated_at timestamptz NOT NULL,
  source_sequence bigint NOT NULL DEFAULT 0,
  source_event_id text COLLATE "C" NOT NULL DEFAULT '',
  deleted_at timestamptz,
  merged_into text,
  needs_refetch boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX synced_leads_email_idx ON synced_leads (email);

CREATE TABLE synced_accounts (
  id text PRIMARY KEY,
  name text,
  industry text,
  payload jsonb NOT NULL DEFAULT '{}',
  field_versions jsonb NOT NULL DEFAULT '{}',
  source_event_type text NOT NULL,
  source_updated_at timestamptz NOT NULL,
  source_sequence bigint NOT NULL DEFAULT 0,
  source_event_id text COLLATE "C" NOT NULL DEFAULT '',
  deleted_at timestamptz,
  merged_into text,
  needs_refetch boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX synced_accounts_name_idx ON synced_accounts (name);

CREATE TABLE synced_tasks (
  id text PRIMARY KEY,
  subject text,
  status text,
  priority text,
  payload jsonb NOT NULL DEFAULT '{}',
  field_versions jsonb NOT NULL DEFAULT '{}',
  source_event_type text NOT NULL,
  source_updated_at timestamptz NOT NULL,
  source_sequence bigint NOT NULL DEFAULT 0,
  source_event_id text COLLATE "C" NOT NULL DEFAULT '',
  deleted_at timestamptz,
  merged_into text,
  needs_refetch boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX synced_tasks_status_idx ON synced_tasks (status, priority);

CREATE TABLE synced_cases (
  id text PRIMARY KEY,
  subject text,
  status text,
  priority text,
  payload jsonb NOT NULL DEFAULT '{}',
  field_versions jsonb NOT NULL DEFAULT '{}',
  source_event_type text NOT NULL,
  source_updated_at timestamptz NOT NULL,
  source_sequence bigint NOT NULL DEFAULT 0,
  source_event_id text COLLATE "C" NOT NULL DEFAULT '',
  deleted_at timestamptz,
  merged_into text,
  needs_refetch boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX synced_cases_status_idx ON synced_cases (status, priority);

-- Rows still to re-fetch from Salesforce after a GAP_* event.
CREATE INDEX synced_opportunities_refetch_idx ON synced_opportunities (id) WHERE needs_refetch;

CREATE INDEX synced_leads_refetch_idx ON synced_leads (id) WHERE needs_refetch;

CREATE INDEX synced_accounts_refetch_idx ON synced_accounts (id) WHERE needs_refetch;

CREATE INDEX synced_tasks_refetch_idx ON synced_tasks (id) WHERE needs_refetch;

CREATE INDEX synced_cases_refetch_idx ON synced_cases (id) WHERE needs_refetch;

-- The seed's monitoring tables. User ids are text (token subjects are not always UUIDs), with no
-- foreign key to an auth schema; alert rules and alerts carry user_id for tenancy.
CREATE TABLE webhook_metrics (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  provider text NOT NULL,
  total_events integer NOT NULL,
  successful_events integer NOT NULL,
  failed_events integer NOT NULL,
  success_rate decimal(5, 2) NOT NULL,
  average_processing_time integer NOT NULL,
  events_per_minute decimal(10, 2) NOT NULL,
  error_rate decimal(5, 2) NOT NULL,
  last_event_at timestamptz NOT NULL,
  recorded_at timestamptz DEFAULT now()
);

CREATE INDEX webhook_metrics_provider_recorded_at_idx ON webhook_metrics (provider, recorded_at DESC);

CREATE TABLE webhook_alert_rules (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id text,
  name text NOT NULL,
  provider text,
  metric text NOT NULL,
  threshold decimal(10, 2) NOT NULL,
  comparison text NOT NULL,
  time_window_minutes integer NOT NULL,
  enabled boolean DEFAULT true,
  notification_channels text[] NOT NULL,
  created_at timestamptz DEFAULT now()
);

CREATE INDEX webhook_alert_rules_user_idx ON webhook_alert_rules (user_id);

CREATE INDEX webhook_alert_rules_enabled_idx ON webhook_alert_rules (provider) WHERE enabled;

-- Alerts outlive the rule that raised them (rules are reconciled and may be deleted).
CREATE TABLE webhook_alerts (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id text,
  rule_id uuid REFERENCES webhook_alert_rules (id) ON DELETE SET NULL,
  provider text NOT NULL,
  metric text NOT NULL,
  current_value decimal(10, 2) NOT NULL,
  threshold decimal(10, 2) NOT NULL,
  severity text NOT NULL,
  message text NOT NULL,
  acknowledged boolean DEFAULT false,
  acknowledged_by text,
  acknowledged_at timestamptz,
  created_at timestamptz DEFAULT now()
);

CREATE INDEX webhook_alerts_rule_idx ON webhook_alerts (rule_id);

CREATE INDEX webhook_alerts_user_created_at_idx ON webhook_alerts (user_id, created_at DESC);

CREATE INDEX webhook_alerts_unacknowledged_idx ON webhook_alerts (created_at DESC) WHERE NOT acknowledged;
