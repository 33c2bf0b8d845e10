-- Owners (shared/owner.ts): every synced_* row belongs to the owner of the delivery that wrote it,
-- a user (per-config endpoints) or the deployment itself ('system', provider-wide endpoints), and
-- the owner leads every primary key, so two tenants syncing the same shop, portal or org keep two
-- rows. Safe on a database with data in it: rows written before owners existed become the system's
-- (the column's default, a metadata-only change), and a key that widens a unique key cannot fail.
-- Replacing a primary key rebuilds its index under a table lock: on a large table, apply this
-- migration at a quiet time. A processor still running the previous code fails its upserts (its
-- ON CONFLICT target is gone) and its records are retried by the new code.
--
-- Rows frozen by a source time far in the future (a forged or broken updated_at, which no later real
-- update could beat) are brought back to the time they were written, as processing now clamps such
-- times (shared/process/entities/upsert.ts, MAX_SOURCE_TIME_AHEAD_MS): row versions, snapshot
-- versions and per-field versions alike. Version keys start with 15 digits of epoch milliseconds.

ALTER TABLE synced_orders ADD COLUMN owner_id text NOT NULL DEFAULT 'system';

ALTER TABLE synced_orders DROP CONSTRAINT synced_orders_pkey, ADD PRIMARY KEY (owner_id, shop_domain, id);

ALTER TABLE synced_customers ADD COLUMN owner_id text NOT NULL DEFAULT 'system';

ALTER TABLE synced_customers DROP CONSTRAINT synced_customers_pkey, ADD PRIMARY KEY (owner_id, shop_domain, id);

ALTER TABLE synced_products ADD COLUMN owner_id text NOT NULL DEFAULT 'system';

ALTER TABLE synced_products DROP CONSTRAINT synced_products_pkey, ADD PRIMARY KEY (owner_id, shop_domain, id);

ALTER TABLE synced_inventory_levels ADD COLUMN owner_id text NOT NULL DEFAULT 'system';

ALTER TABLE synced_inventory_levels DROP CONSTRAINT synced_inventory_levels_pkey, ADD PRIMARY KEY (owner_id, shop_domain, inventory_item_id, location_id);

ALTER TABLE synced_contacts ADD COLUMN owner_id text NOT NULL DEFAULT 'system';

ALTER TABLE synced_contacts DROP CONSTRAINT synced_contacts_pkey, ADD PRIMARY KEY (owner_id, portal_id, id);

ALTER TABLE synced_companies ADD COLUMN owner_id text NOT NULL DEFAULT 'system';

ALTER TABLE synced_companies DROP CONSTRAINT synced_companies_pkey, ADD PRIMARY KEY (owner_id, portal_id, id);

ALTER TABLE synced_deals ADD COLUMN owner_id text NOT NULL DEFAULT 'system';

ALTER TABLE synced_deals DROP CONSTRAINT synced_deals_pkey, ADD PRIMARY KEY (owner_id, portal_id, id);

ALTER TABLE synced_associations ADD COLUMN owner_id text NOT NULL DEFAULT 'system';

ALTER TABLE synced_associations DROP CONSTRAINT synced_associations_pkey, ADD PRIMARY KEY (owner_id, portal_id, association_type, from_object_id, to_object_id);

ALTER TABLE synced_opportunities ADD COLUMN owner_id text NOT NULL DEFAULT 'system';

ALTER TABLE synced_opportunities DROP CONSTRAINT synced_opportunities_pkey, ADD PRIMARY KEY (owner_id, id);

ALTER TABLE synced_leads ADD COLUMN owner_id text NOT NULL DEFAULT 'system';

ALTER TABLE synced_leads DROP CONSTRAINT synced_leads_pkey, ADD PRIMARY KEY (owner_id, id);

ALTER TABLE synced_accounts ADD COLUMN owner_id text NOT NULL DEFAULT 'system';

ALTER TABLE synced_accounts DROP CONSTRAINT synced_accounts_pkey, ADD PRIMARY KEY (owner_id, id);

ALTER TABLE synced_tasks ADD COLUMN owner_id text NOT NULL DEFAULT 'system';

ALTER TABLE synced_tasks DROP CONSTRAINT synced_tasks_pkey, ADD PRIMARY KEY (owner_id, id);

ALTER TABLE synced_cases ADD COLUMN owner_id text NOT NULL DEFAULT 'system';

ALTER TABLE synced_cases DROP CONSTRAINT synced_cases_pkey, ADD PRIMARY KEY (owner_id, id);

UPDATE synced_orders
SET source_updated_at = least(source_updated_at, updated_at),
  payload_version = CASE WHEN left(payload_version, 15) > lpad(round(extract(epoch FROM updated_at + interval '5 minutes') * 1000)::bigint::text, 15, '0')
    THEN lpad(round(extract(epoch FROM updated_at) * 1000)::bigint::text, 15, '0') || substr(payload_version, 16) ELSE payload_version END
WHERE source_updated_at > updated_at + interval '5 minutes'
  OR left(payload_version, 15) > lpad(round(extract(epoch FROM updated_at + interval '5 minutes') * 1000)::bigint::text, 15, '0');

UPDATE synced_customers
SET source_updated_at = least(source_updated_at, updated_at),
  payload_version = CASE WHEN left(payload_version, 15) > lpad(round(extract(epoch FROM updated_at + interval '5 minutes') * 1000)::bigint::text, 15, '0')
    THEN lpad(round(extract(epoch FROM updated_at) * 1000)::bigint::text, 15, '0') || substr(payload_version, 16) ELSE payload_version END
WHERE source_updated_at > updated_at + interval '5 minutes'
  OR left(payload_version, 15) > lpad(round(extract(epoch FROM updated_at + interval '5 minutes') * 1000)::bigint::text, 15, '0');

UPDATE synced_products
SET source_updated_at = least(source_updated_at, updated_at),
  payload_version = CASE WHEN left(payload_version, 15) > lpad(round(extract(epoch FROM updated_at + interval '5 minutes') * 1000)::bigint::text, 15, '0')
    THEN lpad(round(extract(epoch FROM updated_at) * 1000)::bigint::text, 15, '0') || substr(payload_version, 16) ELSE payload_version END
WHERE source_updated_at > updated_at + interval '5 minutes'
  OR left(payload_version, 15) > lpad(round(extract(epoch FROM updated_at + interval '5 minutes') * 1000)::bigint::text, 15, '0');

UPDATE synced_inventory_levels
SET source_updated_at = least(source_updated_at, updated_at),
  payload_version = CASE WHEN left(payload_version, 15) > lpad(round(extract(epoch FROM updated_at + interval '5 minutes') * 1000)::bigint::text, 15, '0')
    THEN lpad(round(extract(epoch FROM updated_at) * 1000)::bigint::text, 15, '0') || substr(payload_version, 16) ELSE payload_version END
WHERE source_updated_at > updated_at + interval '5 minutes'
  OR left(payload_version, 15) > lpad(round(extract(epoch FROM updated_at + interval '5 minutes') * 1000)::bigint::text, 15, '0');

UPDATE synced_contacts
SET source_updated_at = least(source_updated_at, updated_at),
  property_versions = (
    SELECT coalesce(jsonb_object_agg(e.key, CASE WHEN left(e.value, 15) > lpad(round(extract(epoch FROM updated_at + interval '5 minutes') * 1000)::bigint::text, 15, '0')
      THEN lpad(round(extract(epoch FROM updated_at) * 1000)::bigint::text, 15, '0') || substr(e.value, 16) ELSE e.value END), '{}'::jsonb)
    FROM jsonb_each_text(property_versions) AS e)
WHERE source_updated_at > updated_at + interval '5 minutes'
  OR EXISTS (SELECT 1 FROM jsonb_each_text(property_versions) AS e WHERE left(e.value, 15) > lpad(round(extract(epoch FROM updated_at + interval '5 minutes') * 1000)::bigint::text, 15, '0'));

UPDATE synced_companies
SET source_updated_at = least(source_updated_at, updated_at),
  property_versions = (
    SELECT coalesce(jsonb_object_agg(e.key, CASE WHEN left(e.value, 15) > lpad(round(extract(epoch FROM updated_at + interval '5 minutes') * 1000)::bigint::text, 15, '0')
      THEN lpad(round(extract(epoch FROM updated_at) * 1000)::bigint::text, 15, '0') || substr(e.value, 16) ELSE e.value END), '{}'::jsonb)
    FROM jsonb_each_text(property_versions) AS e)
WHERE source_updated_at > updated_at + interval '5 minutes'
  OR EXISTS (SELECT 1 FROM jsonb_each_text(property_versions) AS e WHERE left(e.value, 15) > lpad(round(extract(epoch FROM updated_at + interval '5 minutes') * 1000)::bigint::text, 15, '0'));

UPDATE synced_deals
SET source_updated_at = least(source_updated_at, updated_at),
  property_versions = (
    SELECT coalesce(jsonb_object_agg(e.key, CASE WHEN left(e.value, 15) > lpad(round(extract(epoch FROM updated_at + interval '5 minutes') * 1000)::bigint::text, 15, '0')
      THEN lpad(round(extract(epoch FROM updated_at) * 1000)::bigint::text, 15, '0') || substr(e.value, 16) ELSE e.value END), '{}'::jsonb)
    FROM jsonb_each_text(property_versions) AS e)
WHERE source_updated_at > updated_at + interval '5 minutes'
  OR EXISTS (SELECT 1 FROM jsonb_each_text(property_versions) AS e WHERE left(e.value, 15) > lpad(round(extract(epoch FROM updated_at + interval '5 minutes') * 1000)::bigint::text, 15, '0'));

UPDATE synced_associations
SET source_updated_at = least(source_updated_at, updated_at),
  payload_version = CASE WHEN left(payload_version, 15) > lpad(round(extract(epoch FROM updated_at + interval '5 minutes') * 1000)::bigint::text, 15, '0')
    THEN lpad(round(extract(epoch FROM updated_at) * 1000)::bigint::text, 15, '0') || substr(payload_version, 16) ELSE payload_version END
WHERE source_updated_at > updated_at + interval '5 minutes'
  OR left(payload_version, 15) > lpad(round(extract(epoch FROM updated_at + interval '5 minutes') * 1000)::bigint::text, 15, '0');

UPDATE synced_opportunities
SET source_updated_at = least(source_updated_at, updated_at),
  field_versions = (
    SELECT coalesce(jsonb_object_agg(e.key, CASE WHEN left(e.value, 15) > lpad(round(extract(epoch FROM updated_at + interval '5 minutes') * 1000)::bigint::text, 15, '0')
      THEN lpad(round(extract(epoch FROM updated_at) * 1000)::bigint::text, 15, '0') || substr(e.value, 16) ELSE e.value END), '{}'::jsonb)
    FROM jsonb_each_text(field_versions) AS e)
WHERE source_updated_at > updated_at + interval '5 minutes'
  OR EXISTS (SELECT 1 FROM jsonb_each_text(field_versions) AS e WHERE left(e.value, 15) > lpad(round(extract(epoch FROM updated_at + interval '5 minutes') * 1000)::bigint::text, 15, '0'));

UPDATE synced_leads
SET source_updated_at = least(source_updated_at, updated_at),
  field_versions = (
    SELECT coalesce(jsonb_object_agg(e.key, CASE WHEN left(e.value, 15) > lpad(round(extract(epoch FROM updated_at + interval '5 minutes') * 1000)::bigint::text, 15, '0')
      THEN lpad(round(extract(epoch FROM updated_at) * 1000)::bigint::text, 15, '0') || substr(e.value, 16) ELSE e.value END), '{}'::jsonb)
    FROM jsonb_each_text(field_versions) AS e)
WHERE source_updated_at > updated_at + interval '5 minutes'
  OR EXISTS (SELECT 1 FROM jsonb_each_text(field_versions) AS e WHERE left(e.value, 15) > lpad(round(extract(epoch FROM updated_at + interval '5 minutes') * 1000)::bigint::text, 15, '0'));

UPDATE synced_accounts
SET source_updated_at = least(source_updated_at, updated_at),
  field_versions = (
    SELECT coalesce(jsonb_object_agg(e.key, CASE WHEN left(e.value, 15) > lpad(round(extract(epoch FROM updated_at + interval '5 minutes') * 1000)::bigint::text, 15, '0')
      THEN lpad(round(extract(epoch FROM updated_at) * 1000)::bigint::text, 15, '0') || substr(e.value, 16) ELSE e.value END), '{}'::jsonb)
    FROM jsonb_each_text(field_versions) AS e)
WHERE source_updated_at > updated_at + interval '5 minutes'
  OR EXISTS (SELECT 1 FROM jsonb_each_text(field_versions) AS e WHERE left(e.value, 15) > lpad(round(extract(epoch FROM updated_at + interval '5 minutes') * 1000)::bigint::text, 15, '0'));

UPDATE synced_tasks
SET source_updated_at = least(source_updated_at, updated_at),
  field_versions = (
    SELECT coalesce(jsonb_object_agg(e.key, CASE WHEN left(e.value, 15) > lpad(round(extract(epoch FROM updated_at + interval '5 minutes') * 1000)::bigint::text, 15, '0')
      THEN lpad(round(extract(epoch FROM updated_at) * 1000)::bigint::text, 15, '0') || substr(e.value, 16) ELSE e.value END), '{}'::jsonb)
    FROM jsonb_each_text(field_versions) AS e)
WHERE source_updated_at > updated_at + interval '5 minutes'
  OR EXISTS (SELECT 1 FROM jsonb_each_text(field_versions) AS e WHERE left(e.value, 15) > lpad(round(extract(epoch FROM updated_at + interval '5 minutes') * 1000)::bigint::text, 15, '0'));

UPDATE synced_cases
SET source_updated_at = least(source_updated_at, updated_at),
  field_versions = (
    SELECT coalesce(jsonb_object_agg(e.key, CASE WHEN left(e.value, 15) > lpad(round(extract(epoch FROM updated_at + interval '5 minutes') * 1000)::bigint::text, 15, '0')
      THEN lpad(round(extract(epoch FROM updated_at) * 1000)::bigint::text, 15, '0') || substr(e.value, 16) ELSE e.value END), '{}'::jsonb)
    FROM jsonb_each_text(field_versions) AS e)
WHERE source_updated_at > updated_at + interval '5 minutes'
  OR EXISTS (SELECT 1 FROM jsonb_each_text(field_versions) AS e WHERE left(e.value, 15) > lpad(round(extract(epoch FROM updated_at + interval '5 minutes') * 1000)::bigint::text, 15, '0'));
