import { sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { syncedOrders } from '../db/schema';
import type { Envelope } from '../envelope';
import { isJsonObject } from '../json';

/** Applies one event to its Postgres table. Resolves true if the row changed, false if the event was stale. */
export type EntityHandler = (db: Db, envelope: Envelope) => Promise<boolean>;

const handlers: Record<string, EntityHandler> = {
  'shopify:order': upsertOrder,
};

export function entityHandlerFor(envelope: Envelope): EntityHandler | undefined {
  return handlers[`${envelope.provider}:${envelope.objectType}`];
}

async function upsertOrder(db: Db, envelope: Envelope): Promise<boolean> {
  const order = isJsonObject(envelope.payload) ? envelope.payload : {};
  const customer = isJsonObject(order.customer) ? order.customer : {};
  const source = {
    shopDomain: envelope.meta.shopDomain ?? '',
    sourceEventType: envelope.eventType,
    sourceUpdatedAt: new Date(envelope.occurredAt),
  };
  // orders/delete carries only the id: it marks the row deleted and keeps the last known fields.
  if (envelope.eventType === 'orders/delete') {
    const tombstone = { ...source, deletedAt: source.sourceUpdatedAt };
    return upsertOrderIfNotOlder(
      db,
      { id: envelope.objectId, payload: envelope.payload, ...tombstone },
      tombstone,
    );
  }
  const changes = {
    ...source,
    orderNumber: text(order.order_number) ?? text(order.name),
    totalPrice: decimal(order.total_price),
    currency: text(order.currency),
    financialStatus: text(order.financial_status),
    fulfillmentStatus: text(order.fulfillment_status),
    customerEmail: text(order.email) ?? text(customer.email),
    payload: envelope.payload,
    deletedAt: null,
  };
  return upsertOrderIfNotOlder(db, { id: envelope.objectId, ...changes }, changes);
}

/**
 * Monotonic upsert: an existing row takes `changes` only if the event is not older than what is
 * stored, so a replayed, duplicated or reordered delivery can never roll an order back.
 */
async function upsertOrderIfNotOlder(
  db: Db,
  row: typeof syncedOrders.$inferInsert,
  changes: Partial<typeof syncedOrders.$inferInsert>,
): Promise<boolean> {
  const written = await db
    .insert(syncedOrders)
    .values(row)
    .onConflictDoUpdate({
      target: syncedOrders.id,
      set: { ...changes, updatedAt: sql`now()` },
      setWhere: sql`${syncedOrders.sourceUpdatedAt} <= excluded.source_updated_at`,
    })
    .returning({ id: syncedOrders.id });
  return written.length > 0;
}

function text(value: unknown): string | null {
  if (typeof value === 'string' && value.length > 0) return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return null;
}

function decimal(value: unknown): string | null {
  const candidate = text(value);
  return candidate !== null && /^-?\d{1,12}(\.\d+)?$/.test(candidate) ? candidate : null;
}
