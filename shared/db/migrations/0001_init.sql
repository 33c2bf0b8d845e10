-- Statements are separated by a semicolon at the end of a line: the RDS Data API runs one
-- statement per call, so the migrator splits on that boundary.

CREATE TABLE IF NOT EXISTS synced_orders (
  id text PRIMARY KEY,
  shop_domain text NOT NULL DEFAULT '',
  order_number text,
  total_price numeric(14, 2),
  currency text,
  financial_status text,
  fulfillment_status text,
  customer_email text,
  payload jsonb NOT NULL,
  source_event_type text NOT NULL,
  source_updated_at timestamptz NOT NULL,
  deleted_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS synced_orders_customer_email_idx ON synced_orders (customer_email);

CREATE INDEX IF NOT EXISTS synced_orders_source_updated_at_idx ON synced_orders (source_updated_at DESC);
