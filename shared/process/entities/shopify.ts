import { syncedCustomers, syncedInventoryLevels, syncedOrders, syncedProducts } from '../../db/schema';
import type { Envelope } from '../../envelope';
import { isJsonObject } from '../../json';
import {
  decimalValue,
  type EntityHandler,
  integerValue,
  type SnapshotSpec,
  type SyncedWrite,
  textValue,
  versionOf,
} from './upsert';

/**
 * Shopify payloads are full snapshots of the resource, so the newest one replaces the stored one.
 * Rows are keyed by shop and id: ids are unique per shop only.
 */
const orders: SnapshotSpec = {
  kind: 'snapshot',
  table: syncedOrders,
  key: ['shopDomain', 'id'],
  mirror: (order) => {
    const customer = isJsonObject(order.customer) ? order.customer : {};
    return {
      orderNumber: textValue(order.order_number) ?? textValue(order.name),
      totalPrice: decimalValue(order.total_price, 12),
      currency: textValue(order.currency),
      financialStatus: textValue(order.financial_status),
      fulfillmentStatus: textValue(order.fulfillment_status),
      customerEmail: textValue(order.email) ?? textValue(customer.email),
    };
  },
};

const customers: SnapshotSpec = {
  kind: 'snapshot',
  table: syncedCustomers,
  key: ['shopDomain', 'id'],
  mirror: (customer) => ({
    email: textValue(customer.email),
    firstName: textValue(customer.first_name),
    lastName: textValue(customer.last_name),
    state: textValue(customer.state),
  }),
};

const products: SnapshotSpec = {
  kind: 'snapshot',
  table: syncedProducts,
  key: ['shopDomain', 'id'],
  mirror: (product) => ({
    title: textValue(product.title),
    status: textValue(product.status),
    vendor: textValue(product.vendor),
    productType: textValue(product.product_type),
  }),
};

const inventoryLevels: SnapshotSpec = {
  kind: 'snapshot',
  table: syncedInventoryLevels,
  key: ['shopDomain', 'inventoryItemId', 'locationId'],
  mirror: (level) => ({ available: integerValue(level.available) }),
};

/** `orders/delete`, `products/delete`, `customers/delete` and `inventory_levels/disconnect` carry only ids. */
const REMOVALS = new Set(['delete', 'disconnect']);

function handler(
  spec: SnapshotSpec,
  keyOf: (envelope: Envelope, shopDomain: string) => Record<string, string>,
) {
  const apply: EntityHandler = (writer, envelope) => {
    const action = envelope.eventType.slice(envelope.eventType.indexOf('/') + 1);
    const deleted = REMOVALS.has(action);
    const write: SyncedWrite = {
      key: keyOf(envelope, envelope.meta.shopDomain ?? ''),
      ownerId: envelope.ownerId,
      version: versionOf(envelope),
      eventType: envelope.eventType,
      deleted,
      // A removal keeps the last known snapshot: its own body is not one.
      data: !deleted && isJsonObject(envelope.payload) ? envelope.payload : undefined,
    };
    return writer.upsert(spec, write);
  };
  return apply;
}

const byId = (envelope: Envelope, shopDomain: string) => ({ shopDomain, id: envelope.objectId });

/** The Shopify provider names an inventory level `inventoryItemId:locationId`. */
function byItemAndLocation(envelope: Envelope, shopDomain: string) {
  const separator = envelope.objectId.lastIndexOf(':');
  if (separator < 0) return { shopDomain, inventoryItemId: envelope.objectId, locationId: '' };
  return {
    shopDomain,
    inventoryItemId: envelope.objectId.slice(0, separator),
    locationId: envelope.objectId.slice(separator + 1),
  };
}

export const shopifyHandlers: Record<string, EntityHandler> = {
  order: handler(orders, byId),
  customer: handler(customers, byId),
  product: handler(products, byId),
  inventory_level: handler(inventoryLevels, byItemAndLocation),
};
