import { and, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Db } from '../../../../../shared/db/client';
import { loadMigrations, migrate } from '../../../../../shared/db/migrate';
import {
  syncedAccounts,
  syncedAssociations,
  syncedCases,
  syncedCompanies,
  syncedContacts,
  syncedCustomers,
  syncedDeals,
  syncedInventoryLevels,
  syncedLeads,
  syncedOpportunities,
  syncedOrders,
  syncedProducts,
  syncedTasks,
  webhookAlertRules,
  webhookAlerts,
  webhookMetrics,
} from '../../../../../shared/db/schema';
import type { Envelope } from '../../../../../shared/envelope';
import { entityHandlerFor } from '../../../../../shared/process/entities';
import { directWriter, type SyncedWriter } from '../../../../../shared/process/entities/upsert';
import { writeTogether } from '../../../../../shared/process/entities/write-together';
import { type TestDatabase, testDatabase } from './database';
import {
  fixture,
  fixtureEvent,
  hubspotEvent,
  hubspotEvents,
  outboundMessageEvents,
  salesforceEvent,
  salesforceEvents,
  shopifyEvent,
  shopifyFixtureText,
  shopifyRaw,
  withHeader,
} from './events';

const SHOP = 'jsmith.myshopify.com';
const ORDER_ID = '820982911946154508';
const CUSTOMER_ID = '706405506930370084';
const PRODUCT_ID = '788032119674292922';
const INVENTORY_ITEM_ID = '271878346596884015';
const LOCATION_ID = '24826418';
const PORTAL = '62515';
const OPPORTUNITY_ID = '0065g00000XyZ12AAB';

let database: TestDatabase;
let db: Db;

beforeAll(async () => {
  database = await testDatabase();
  db = database.db;
});

afterAll(async () => {
  await database.close();
});

beforeEach(async () => {
  await database.truncate();
});

async function apply(envelope: Envelope): Promise<boolean> {
  const handler = entityHandlerFor(envelope);
  if (!handler) throw new Error(`no handler for ${envelope.provider}:${envelope.objectType}`);
  return handler(directWriter(db), envelope);
}

async function applyAll(envelopes: Envelope[]): Promise<boolean[]> {
  const results: boolean[] = [];
  for (const envelope of envelopes) results.push(await apply(envelope));
  return results;
}

type Json = Record<string, unknown>;

// Shopify ---------------------------------------------------------------------------------------

const orderFixture = () => fixture('shopify/orders-create.json');

function order(changes: Json, options: { topic?: string; webhookId: string; shopDomain?: string }) {
  return shopifyEvent({ ...orderFixture(), ...changes }, { topic: 'orders/updated', ...options });
}

function orderDeletion(updatedAt: string, webhookId = 'wh-delete') {
  // orders/delete carries the id only; Triggered-At (here the fixture's) stands in for updated_at.
  return shopifyEvent({ id: ORDER_ID, updated_at: updatedAt }, { topic: 'orders/delete', webhookId });
}

async function storedOrder(shopDomain = SHOP) {
  const [row] = await db
    .select()
    .from(syncedOrders)
    .where(and(eq(syncedOrders.shopDomain, shopDomain), eq(syncedOrders.id, ORDER_ID)));
  return row;
}

describe('Shopify orders', () => {
  it('stores the order under its exact 18-digit id and shop with the fields users query', async () => {
    const envelope = shopifyRaw(shopifyFixtureText('shopify/orders-create.json'), {
      topic: 'orders/create',
      webhookId: 'wh-1',
    });

    expect(await apply(envelope)).toBe(true);

    const row = await storedOrder();
    expect(row).toMatchObject({
      id: ORDER_ID,
      shopDomain: SHOP,
      orderNumber: '1234',
      totalPrice: '403.00',
      financialStatus: 'paid',
      customerEmail: 'jon@example.com',
      sourceEventType: 'orders/create',
      sourceUpdatedAt: new Date('2022-01-01T00:00:00.000Z'),
      sourceSequence: 0,
      sourceEventId: 'shopify:wh-1',
      deletedAt: null,
      mergedInto: null,
      needsRefetch: false,
    });
    expect(row?.payload).toMatchObject({ id: ORDER_ID, customer: { id: CUSTOMER_ID } });
  });

  it('replaces the snapshot with a newer update', async () => {
    await apply(order({}, { topic: 'orders/create', webhookId: 'wh-1' }));

    const newer = order(
      { financial_status: 'refunded', total_price: '0.00', updated_at: '2022-01-02T00:00:00Z' },
      { webhookId: 'wh-2' },
    );

    expect(await apply(newer)).toBe(true);
    expect(await storedOrder()).toMatchObject({
      financialStatus: 'refunded',
      totalPrice: '0.00',
      sourceEventType: 'orders/updated',
      sourceUpdatedAt: new Date('2022-01-02T00:00:00.000Z'),
    });
  });

  it('ignores an update older than the stored one and leaves the row untouched', async () => {
    await apply(
      order({ financial_status: 'refunded', updated_at: '2022-01-02T00:00:00Z' }, { webhookId: 'wh-2' }),
    );
    const before = await storedOrder();

    const stale = await apply(order({}, { topic: 'orders/create', webhookId: 'wh-1' }));

    expect(stale).toBe(false);
    expect(await storedOrder()).toEqual(before);
  });

  it('returns true and keeps the same state when the same delivery is applied again', async () => {
    const envelope = order({}, { topic: 'orders/create', webhookId: 'wh-1' });
    await apply(envelope);
    const { updatedAt: _first, ...before } = (await storedOrder()) ?? {};

    expect(await apply(envelope)).toBe(true);

    const { updatedAt: _second, ...after } = (await storedOrder()) ?? {};
    expect(after).toEqual(before);
  });

  it('tombstones a deleted order and keeps its last known fields', async () => {
    await apply(order({}, { topic: 'orders/create', webhookId: 'wh-1' }));

    expect(await apply(orderDeletion('2022-01-03T00:00:00Z'))).toBe(true);

    expect(await storedOrder()).toMatchObject({
      deletedAt: new Date('2022-01-03T00:00:00.000Z'),
      sourceEventType: 'orders/delete',
      orderNumber: '1234',
      customerEmail: 'jon@example.com',
      payload: expect.objectContaining({ name: '#9999' }),
    });
  });

  it('fills in the last known fields of a tombstone from an older update arriving late, without resurrecting it', async () => {
    await apply(order({}, { topic: 'orders/create', webhookId: 'wh-1' }));
    await apply(orderDeletion('2022-01-03T00:00:00Z'));

    const late = await apply(
      order({ financial_status: 'refunded', updated_at: '2022-01-02T00:00:00Z' }, { webhookId: 'wh-2' }),
    );

    expect(late).toBe(false);
    expect(await storedOrder()).toMatchObject({
      deletedAt: new Date('2022-01-03T00:00:00.000Z'),
      financialStatus: 'refunded',
      sourceEventType: 'orders/delete',
    });
  });

  it('keeps the data of a create that arrives after the deletion it precedes', async () => {
    await apply(orderDeletion('2022-01-03T00:00:00Z'));
    expect((await storedOrder())?.payload).toBeNull();

    await apply(order({}, { topic: 'orders/create', webhookId: 'wh-1' }));

    expect(await storedOrder()).toMatchObject({
      deletedAt: new Date('2022-01-03T00:00:00.000Z'),
      orderNumber: '1234',
      totalPrice: '403.00',
    });
  });

  it('brings a deleted order back with a newer update', async () => {
    await apply(orderDeletion('2022-01-03T00:00:00Z'));

    await apply(order({ updated_at: '2022-01-04T00:00:00Z' }, { webhookId: 'wh-3' }));

    expect((await storedOrder())?.deletedAt).toBeNull();
  });

  it('keeps the same order id of two shops apart', async () => {
    await apply(order({}, { topic: 'orders/create', webhookId: 'wh-1' }));
    await apply(
      order(
        { total_price: '9.99' },
        { topic: 'orders/create', webhookId: 'wh-9', shopDomain: 'other.myshopify.com' },
      ),
    );

    expect((await storedOrder())?.totalPrice).toBe('403.00');
    expect((await storedOrder('other.myshopify.com'))?.totalPrice).toBe('9.99');
  });

  it('breaks a tie on updated_at by the delivery id, whatever the arrival order', async () => {
    const a = order({ financial_status: 'paid' }, { webhookId: 'wh-a' });
    const b = order({ financial_status: 'refunded' }, { webhookId: 'wh-b' });

    await applyAll([a, b]);
    const forward = (await storedOrder())?.financialStatus;
    await database.truncate();
    await applyAll([b, a]);

    expect(forward).toBe('refunded');
    expect((await storedOrder())?.financialStatus).toBe('refunded');
  });
});

describe('owners', () => {
  const received = (at: string) => new Date(Date.parse(at) + 2000).toISOString();
  /** The order as a delivery of `ownerId` received two seconds after its updated_at. */
  function ownedOrder(ownerId: string, changes: Json, webhookId: string): Envelope {
    const delivery = order(changes, { webhookId });
    const updatedAt = String(changes.updated_at ?? '2022-01-01T00:00:00Z');
    return {
      ...delivery,
      ownerId,
      dedupKey: `${ownerId}:${delivery.dedupKey}`,
      receivedAt: received(updatedAt),
    };
  }

  async function ordersOf(ownerId: string) {
    return db.select().from(syncedOrders).where(eq(syncedOrders.ownerId, ownerId));
  }

  it("keeps two owners' copies of the same shop's order as two rows that never touch", async () => {
    await apply(ownedOrder('tenant-a', { total_price: '10.00' }, 'wh-a'));
    await apply(ownedOrder('tenant-b', { total_price: '20.00' }, 'wh-b'));
    // Tenant B's later update changes B's row only.
    await apply(
      ownedOrder('tenant-b', { total_price: '25.00', updated_at: '2022-01-03T00:00:00Z' }, 'wh-b2'),
    );

    expect((await ordersOf('tenant-a')).map((row) => [row.id, row.totalPrice])).toEqual([
      [ORDER_ID, '10.00'],
    ]);
    expect((await ordersOf('tenant-b')).map((row) => [row.id, row.totalPrice])).toEqual([
      [ORDER_ID, '25.00'],
    ]);
  });

  it('takes a source time far in the future as the time it was received, so it cannot freeze the row', async () => {
    const forged = ownedOrder('tenant-a', { total_price: '9999999.00' }, 'wh-forged');
    forged.occurredAt = '9999-12-31T00:00:00.000Z';
    forged.receivedAt = '2025-11-29T10:00:00.000Z';
    expect(await apply(forged)).toBe(true);
    expect((await ordersOf('tenant-a'))[0]?.sourceUpdatedAt).toEqual(new Date('2025-11-29T10:00:00.000Z'));

    const real = ownedOrder(
      'tenant-a',
      { total_price: '42.00', updated_at: '2025-11-29T10:05:00Z' },
      'wh-real',
    );

    expect(await apply(real)).toBe(true);
    expect((await ordersOf('tenant-a'))[0]).toMatchObject({
      totalPrice: '42.00',
      sourceUpdatedAt: new Date('2025-11-29T10:05:00.000Z'),
    });
  });

  it('keeps a source time a little ahead of receipt (clock skew within five minutes) as it is', async () => {
    const skewed = ownedOrder('tenant-a', { updated_at: '2025-11-29T10:04:00Z' }, 'wh-skew');
    skewed.receivedAt = '2025-11-29T10:00:00.000Z';

    await apply(skewed);

    expect((await ordersOf('tenant-a'))[0]?.sourceUpdatedAt).toEqual(new Date('2025-11-29T10:04:00.000Z'));
  });
});

describe('Shopify customers', () => {
  async function stored() {
    const [row] = await db.select().from(syncedCustomers).where(eq(syncedCustomers.id, CUSTOMER_ID));
    return row;
  }

  it('stores a customer under its exact id with email and name', async () => {
    await apply(
      shopifyRaw(shopifyFixtureText('shopify/customers-create.json'), { topic: 'customers/create' }),
    );

    expect(await stored()).toMatchObject({
      id: CUSTOMER_ID,
      shopDomain: SHOP,
      email: 'bob@biller.com',
      firstName: 'Bob',
      lastName: 'Biller',
      state: 'disabled',
      sourceUpdatedAt: new Date('2022-01-01T00:00:00.000Z'),
    });
  });

  it('applies a newer update, ignores an older one and tombstones a deletion', async () => {
    const customer = fixture('shopify/customers-create.json');
    await apply(shopifyEvent(customer, { topic: 'customers/create', webhookId: 'c1' }));
    const update = { ...customer, email: 'bob@new.example', updated_at: '2022-01-02T00:00:00Z' };
    expect(await apply(shopifyEvent(update, { topic: 'customers/update', webhookId: 'c2' }))).toBe(true);
    expect(await apply(shopifyEvent(customer, { topic: 'customers/update', webhookId: 'c0' }))).toBe(false);

    const deletion = { id: CUSTOMER_ID, updated_at: '2022-01-03T00:00:00Z' };
    expect(await apply(shopifyEvent(deletion, { topic: 'customers/delete', webhookId: 'c3' }))).toBe(true);

    expect(await stored()).toMatchObject({
      email: 'bob@new.example',
      deletedAt: new Date('2022-01-03T00:00:00.000Z'),
    });
  });
});

describe('Shopify products', () => {
  async function stored() {
    const [row] = await db.select().from(syncedProducts).where(eq(syncedProducts.id, PRODUCT_ID));
    return row;
  }

  it('stores a product under its exact id with title and status, then updates and deletes it', async () => {
    await apply(
      shopifyRaw(shopifyFixtureText('entities/shopify-products-create.json'), { topic: 'products/create' }),
    );
    expect(await stored()).toMatchObject({
      id: PRODUCT_ID,
      title: 'Example T-Shirt',
      status: 'active',
      vendor: 'Acme',
      productType: 'Shirts',
    });
    expect((await stored())?.payload).toMatchObject({ variants: [{ inventory_item_id: INVENTORY_ITEM_ID }] });

    const product = fixture('entities/shopify-products-create.json');
    const archived = { ...product, status: 'archived', updated_at: '2022-01-05T00:00:00Z' };
    await apply(shopifyEvent(archived, { topic: 'products/update', webhookId: 'p2' }));
    expect(await apply(shopifyEvent(product, { topic: 'products/update', webhookId: 'p1' }))).toBe(false);
    expect((await stored())?.status).toBe('archived');

    await apply(
      shopifyEvent({ id: PRODUCT_ID, updated_at: '2022-01-06T00:00:00Z' }, { topic: 'products/delete' }),
    );
    expect(await stored()).toMatchObject({
      status: 'archived',
      deletedAt: new Date('2022-01-06T00:00:00.000Z'),
    });
  });
});

describe('Shopify inventory levels', () => {
  async function stored() {
    const [row] = await db
      .select()
      .from(syncedInventoryLevels)
      .where(
        and(
          eq(syncedInventoryLevels.inventoryItemId, INVENTORY_ITEM_ID),
          eq(syncedInventoryLevels.locationId, LOCATION_ID),
        ),
      );
    return row;
  }

  it('keys a level by its exact inventory item and location and stores what is available', async () => {
    await apply(
      shopifyRaw(shopifyFixtureText('shopify/inventory-levels-update.json'), {
        topic: 'inventory_levels/update',
      }),
    );

    expect(await stored()).toMatchObject({
      shopDomain: SHOP,
      inventoryItemId: INVENTORY_ITEM_ID,
      locationId: LOCATION_ID,
      available: 6,
      sourceUpdatedAt: new Date('2022-01-01T00:00:00.000Z'),
    });
  });

  it('applies newer counts, ignores older ones and tombstones a disconnected level', async () => {
    const level = fixture('shopify/inventory-levels-update.json');
    const at = (available: number, updatedAt: string) => ({ ...level, available, updated_at: updatedAt });
    await apply(
      shopifyEvent(at(4, '2022-01-02T00:00:00Z'), { topic: 'inventory_levels/update', webhookId: 'i2' }),
    );
    expect(
      await apply(
        shopifyEvent(at(9, '2022-01-01T12:00:00Z'), { topic: 'inventory_levels/update', webhookId: 'i1' }),
      ),
    ).toBe(false);
    expect((await stored())?.available).toBe(4);

    const disconnect = { inventory_item_id: INVENTORY_ITEM_ID, location_id: Number(LOCATION_ID) };
    await apply(
      shopifyEvent(
        { ...disconnect, updated_at: '2022-01-03T00:00:00Z' },
        { topic: 'inventory_levels/disconnect' },
      ),
    );
    expect(await stored()).toMatchObject({ available: 4, deletedAt: new Date('2022-01-03T00:00:00.000Z') });
  });
});

// HubSpot ---------------------------------------------------------------------------------------

const HUBSPOT = 'entities/hubspot-events.json';

function hubspotChange(name: string, changes: Json = {}): Envelope {
  return hubspotEvent({ ...fixtureEvent(HUBSPOT, name), ...changes });
}

function contactChange(propertyName: string, propertyValue: unknown, eventId: number, occurredAt: number) {
  return hubspotChange('contactPropertyChange', { propertyName, propertyValue, eventId, occurredAt });
}

async function storedContact(id: string, portalId = PORTAL) {
  const [row] = await db
    .select()
    .from(syncedContacts)
    .where(and(eq(syncedContacts.portalId, portalId), eq(syncedContacts.id, id)));
  return row;
}

describe('HubSpot contacts', () => {
  it('creates the contact from a creation event that carries no properties', async () => {
    expect(await apply(hubspotChange('contactCreation'))).toBe(true);

    expect(await storedContact('123')).toMatchObject({
      portalId: PORTAL,
      id: '123',
      email: null,
      properties: {},
      propertyVersions: {},
      sourceEventType: 'contact.creation',
      sourceUpdatedAt: new Date(1764410000000),
      sourceEventId: `hubspot:${PORTAL}:54321:2101:3001:1764410000000`,
      deletedAt: null,
    });
  });

  it('mirrors email, first and last name from property changes', async () => {
    await applyAll([
      contactChange('email', 'ada@example.com', 1, 1764410001000),
      contactChange('firstname', 'Ada', 2, 1764410002000),
      contactChange('lastname', 'Lovelace', 3, 1764410003000),
      contactChange('hs_lead_status', 'NEW', 4, 1764410004000),
    ]);

    expect(await storedContact('123')).toMatchObject({
      email: 'ada@example.com',
      firstName: 'Ada',
      lastName: 'Lovelace',
      properties: { email: 'ada@example.com', firstname: 'Ada', lastname: 'Lovelace', hs_lead_status: 'NEW' },
      sourceUpdatedAt: new Date(1764410004000),
    });
  });

  it('keeps an older change of one property that arrives after a newer change of another', async () => {
    await apply(contactChange('firstname', 'Ada', 2, 1764410002000));

    const older = await apply(contactChange('email', 'ada@example.com', 1, 1764410001000));

    expect(older).toBe(true);
    expect(await storedContact('123')).toMatchObject({
      email: 'ada@example.com',
      firstName: 'Ada',
      // The row version stays the newest event's.
      sourceUpdatedAt: new Date(1764410002000),
      sourceEventType: 'contact.propertyChange',
    });
    const versions = (await storedContact('123'))?.propertyVersions ?? {};
    expect(versions.email).toMatch(/^001764410001000\.0{16}\.hubspot:/);
    expect(versions.firstname).toMatch(/^001764410002000\.0{16}\.hubspot:/);
  });

  it('ignores an older change of a property already changed since', async () => {
    await apply(contactChange('email', 'new@example.com', 2, 1764410002000));
    const before = await storedContact('123');

    expect(await apply(contactChange('email', 'old@example.com', 1, 1764410001000))).toBe(false);

    expect(await storedContact('123')).toEqual(before);
  });

  it('breaks a tie between two changes of a property at the same millisecond the same way in any order', async () => {
    const a = contactChange('email', 'a@example.com', 10, 1764410001000);
    const b = contactChange('email', 'b@example.com', 20, 1764410001000);

    await applyAll([a, b]);
    const forward = (await storedContact('123'))?.email;
    await database.truncate();
    await applyAll([b, a]);

    expect((await storedContact('123'))?.email).toBe(forward);
  });

  it('tombstones a deleted contact, keeps its properties and brings it back on restore', async () => {
    await apply(contactChange('email', 'ada@example.com', 1, 1764410001000));

    expect(await apply(hubspotChange('contactDeletion'))).toBe(true);
    expect(await storedContact('123')).toMatchObject({
      deletedAt: new Date(1764410005000),
      email: 'ada@example.com',
      sourceEventType: 'contact.deletion',
    });

    expect(await apply(hubspotChange('contactRestore'))).toBe(true);
    expect(await storedContact('123')).toMatchObject({ deletedAt: null, email: 'ada@example.com' });
  });

  it('does not resurrect a deleted contact with an older property change, but keeps its value', async () => {
    await apply(hubspotChange('contactDeletion'));

    expect(await apply(contactChange('email', 'late@example.com', 1, 1764410001000))).toBe(false);

    expect(await storedContact('123')).toMatchObject({
      deletedAt: new Date(1764410005000),
      email: 'late@example.com',
    });
  });

  it('upserts the primary of a merge and tombstones the merged contacts into it', async () => {
    await apply(contactChange('email', 'ada@example.com', 1, 1764410001000));

    expect(await apply(hubspotChange('contactMerge'))).toBe(true);

    expect(await storedContact('777')).toMatchObject({ deletedAt: null, mergedInto: null });
    for (const id of ['123', '456']) {
      expect(await storedContact(id)).toMatchObject({
        deletedAt: new Date(1764410003000),
        mergedInto: '777',
        sourceEventType: 'contact.merge',
      });
    }
    expect((await storedContact('123'))?.email).toBe('ada@example.com');
  });

  it('keeps a merged contact merged when its older events arrive after the merge', async () => {
    await apply(hubspotChange('contactMerge'));

    await applyAll([hubspotChange('contactCreation'), contactChange('firstname', 'Ada', 1, 1764410001000)]);

    expect(await storedContact('123')).toMatchObject({ mergedInto: '777', firstName: 'Ada' });
    expect((await storedContact('123'))?.deletedAt).not.toBeNull();
  });

  it('keeps the same contact id of two portals apart', async () => {
    await apply(contactChange('email', 'one@example.com', 1, 1764410001000));
    await apply(hubspotChange('contactPropertyChange', { portalId: 99, propertyValue: 'two@example.com' }));

    expect((await storedContact('123'))?.email).toBe('one@example.com');
    expect((await storedContact('123', '99'))?.email).toBe('two@example.com');
  });

  it('creates a contact from the seed example that names neither portal nor property', async () => {
    const [seed] = hubspotEvents([{ eventId: 'test', objectId: '123', eventType: 'contact.propertyChange' }]);

    expect(await apply(seed as Envelope)).toBe(true);

    expect(await storedContact('123', '')).toMatchObject({ id: '123', properties: {} });
  });
});

describe('HubSpot associations', () => {
  async function stored() {
    return db.select().from(syncedAssociations);
  }

  it('records an association and tombstones it when removed, monotonically', async () => {
    expect(await apply(hubspotChange('contactAssociationChange'))).toBe(true);
    expect(await stored()).toMatchObject([
      {
        portalId: PORTAL,
        associationType: 'CONTACT_TO_COMPANY',
        fromObjectId: '123',
        toObjectId: '555',
        deletedAt: null,
      },
    ]);

    await apply(
      hubspotChange('contactAssociationChange', {
        associationRemoved: true,
        eventId: 3,
        occurredAt: 1764410008000,
      }),
    );
    const staleAdd = await apply(
      hubspotChange('contactAssociationChange', { eventId: 2, occurredAt: 1764410006000 }),
    );

    expect(staleAdd).toBe(false);
    expect(await stored()).toMatchObject([{ deletedAt: new Date(1764410008000) }]);
    expect(await db.select().from(syncedContacts)).toEqual([]);
  });
});

describe('HubSpot companies and deals', () => {
  it('creates a company and mirrors its name and domain', async () => {
    await applyAll([
      hubspotChange('companyCreation'),
      hubspotChange('companyPropertyChange'),
      hubspotChange('companyPropertyChange', {
        propertyName: 'domain',
        propertyValue: 'acme.com',
        eventId: 9,
      }),
    ]);

    const [company] = await db.select().from(syncedCompanies).where(eq(syncedCompanies.id, '555'));
    expect(company).toMatchObject({ portalId: PORTAL, name: 'Acme Inc', domain: 'acme.com' });
  });

  it('mirrors deal stage, name, pipeline and amount from property changes', async () => {
    const deal = (propertyName: string, propertyValue: string, eventId: number) =>
      hubspotChange('dealStageChange', {
        propertyName,
        propertyValue,
        eventId,
        occurredAt: 1764410000000 + eventId,
      });
    const envelopes = [
      hubspotChange('dealStageChange'),
      deal('dealname', 'Acme renewal', 11),
      deal('pipeline', 'default', 12),
      deal('amount', '1500.50', 13),
    ];
    expect(envelopes[0]?.eventType).toBe('deal.stageChange');

    await applyAll(envelopes);

    const [row] = await db.select().from(syncedDeals).where(eq(syncedDeals.id, '9001'));
    expect(row).toMatchObject({
      dealStage: 'closedwon',
      dealName: 'Acme renewal',
      pipeline: 'default',
      amount: '1500.50',
    });
  });

  it('keeps an amount that is not a number in the properties only', async () => {
    await apply(hubspotChange('dealStageChange', { propertyName: 'amount', propertyValue: 'about 1k' }));

    const [row] = await db.select().from(syncedDeals);
    expect(row).toMatchObject({ amount: null, properties: { amount: 'about 1k' } });
  });

  it('creates a deal from a generic object.creation of type 0-3', async () => {
    await apply(hubspotChange('dealObjectCreation'));

    expect(await db.select({ id: syncedDeals.id }).from(syncedDeals)).toEqual([{ id: '9002' }]);
  });
});

// Salesforce ------------------------------------------------------------------------------------

const SALESFORCE = 'entities/salesforce-events.json';

function salesforceChange(name: string, header: Json = {}, fields: Json = {}): Envelope {
  return salesforceEvent({ ...withHeader(fixtureEvent(SALESFORCE, name), header), ...fields });
}

/** An UPDATE of some fields of the opportunity at a given commit time and sequence. */
function opportunityUpdate(
  fields: Json,
  commitTimestamp: number,
  sequenceNumber = 1,
  key = `tx-${commitTimestamp}`,
) {
  return salesforceEvent({
    ChangeEventHeader: {
      entityName: 'Opportunity',
      recordIds: [OPPORTUNITY_ID],
      changeType: 'UPDATE',
      transactionKey: key,
      sequenceNumber,
      commitTimestamp,
      changedFields: Object.keys(fields),
    },
    ...fields,
  });
}

async function storedOpportunity(id = OPPORTUNITY_ID) {
  const [row] = await db.select().from(syncedOpportunities).where(eq(syncedOpportunities.id, id));
  return row;
}

describe('Salesforce opportunities', () => {
  it('creates an opportunity under its exact 18-character id with the fields users query', async () => {
    expect(await apply(salesforceChange('opportunityCreate'))).toBe(true);

    expect(await storedOpportunity()).toMatchObject({
      id: OPPORTUNITY_ID,
      name: 'Acme - 200 licenses',
      stageName: 'Prospecting',
      amount: '42000',
      closeDate: '2025-12-31',
      sourceEventType: 'OpportunityChangeEvent',
      sourceUpdatedAt: new Date(1764409000000),
      sourceSequence: 1,
      sourceEventId: `salesforce:0001a1b2-1111-4f5d-9a7b-8c6d5e4f3a2b:1:${OPPORTUNITY_ID}`,
    });
    // A CREATE's nulls are unset fields, not values.
    expect((await storedOpportunity())?.payload).not.toHaveProperty('Description');
  });

  it('fans a change event out to every record it names and merges the changed fields', async () => {
    await apply(salesforceChange('opportunityCreate'));

    const results = await applyAll(salesforceEvents(fixture('salesforce/opportunity-change.json')));

    expect(results).toEqual([true, true]);
    expect(await storedOpportunity()).toMatchObject({
      name: 'Acme - 200 licenses',
      stageName: 'Closed Won',
      amount: '50000',
      closeDate: '2025-12-31',
      payload: expect.objectContaining({ AccountId: '0015g00000QrStUAAZ', StageName: 'Closed Won' }),
    });
    expect(await storedOpportunity('0065g00000XyZ34AAB')).toMatchObject({
      stageName: 'Closed Won',
      name: null,
    });
  });

  it('keeps an older change of one field that arrives after a newer change of another', async () => {
    await apply(opportunityUpdate({ Amount: 60000 }, 1764410002000));

    expect(await apply(opportunityUpdate({ StageName: 'Negotiation/Review' }, 1764410001000))).toBe(true);

    expect(await storedOpportunity()).toMatchObject({
      amount: '60000',
      stageName: 'Negotiation/Review',
      sourceUpdatedAt: new Date(1764410002000),
    });
  });

  it('ignores an older change of a field changed since', async () => {
    await apply(opportunityUpdate({ StageName: 'Closed Won' }, 1764410002000));

    expect(await apply(opportunityUpdate({ StageName: 'Prospecting' }, 1764410001000))).toBe(false);

    expect((await storedOpportunity())?.stageName).toBe('Closed Won');
  });

  it('orders changes of one commit by sequence number, whatever the arrival order', async () => {
    const first = opportunityUpdate({ StageName: 'Qualification' }, 1764410001000, 1, 'tx-same');
    const second = opportunityUpdate({ StageName: 'Closed Lost' }, 1764410001000, 2, 'tx-same');

    await applyAll([second, first]);

    expect(await storedOpportunity()).toMatchObject({ stageName: 'Closed Lost', sourceSequence: 2 });
  });

  it('tombstones on DELETE keeping the fields, and UNDELETE brings the record back', async () => {
    await apply(salesforceChange('opportunityCreate'));

    expect(await apply(salesforceChange('opportunityDelete'))).toBe(true);
    expect(await storedOpportunity()).toMatchObject({
      deletedAt: new Date(1764411000000),
      stageName: 'Prospecting',
    });

    expect(await apply(salesforceChange('opportunityUndelete'))).toBe(true);
    expect(await storedOpportunity()).toMatchObject({
      deletedAt: null,
      stageName: 'Closed Won',
      amount: '50000',
    });
  });

  it('keeps a deleted record deleted when an older update arrives after the DELETE', async () => {
    await apply(salesforceChange('opportunityDelete'));

    expect(await apply(opportunityUpdate({ StageName: 'Closed Won' }, 1764410001000))).toBe(false);

    expect(await storedOpportunity()).toMatchObject({
      deletedAt: new Date(1764411000000),
      stageName: 'Closed Won',
    });
  });

  it('marks the record for re-fetch on a GAP event, advancing the version without applying data', async () => {
    await apply(salesforceChange('opportunityCreate'));

    expect(await apply(salesforceChange('opportunityGap'))).toBe(true);

    expect(await storedOpportunity()).toMatchObject({
      needsRefetch: true,
      stageName: 'Prospecting',
      sourceEventType: 'OpportunityChangeEvent',
      sourceUpdatedAt: new Date(1764410500000),
      deletedAt: null,
    });
    expect((await storedOpportunity())?.payload).toMatchObject({ StageName: 'Prospecting' });
    // An update older than the gap still lands (its field is newer), and the mark stays.
    await apply(opportunityUpdate({ Amount: 43000 }, 1764410100000));
    expect(await storedOpportunity()).toMatchObject({ needsRefetch: true, amount: '43000' });
  });

  it('marks the record for re-fetch when a changed value is sent as a diff, and skips that value', async () => {
    await apply(salesforceChange('opportunityCreate'));
    const diff = opportunityUpdate({ Description: '@@ -1 +1 @@', Amount: 1 }, 1764410001000);
    const header = (diff.payload as Json).ChangeEventHeader as Json;
    header.diffFields = ['Description'];

    await apply(diff);

    expect(await storedOpportunity()).toMatchObject({ needsRefetch: true, amount: '1' });
    expect((await storedOpportunity())?.payload).not.toHaveProperty('Description');
  });

  it('stores a null close date rather than a date that does not exist', async () => {
    await apply(opportunityUpdate({ CloseDate: '2025-02-30' }, 1764410001000));

    expect(await storedOpportunity()).toMatchObject({
      closeDate: null,
      payload: { CloseDate: '2025-02-30' },
    });
  });

  it("applies our users' simplified shape", async () => {
    await apply(salesforceEvent(fixtureEvent(SALESFORCE, 'simplified')));

    expect(await storedOpportunity('opp123')).toMatchObject({ stageName: 'Closed Won', amount: '50000' });
  });

  it('applies the fields of an Outbound Message', async () => {
    const results = await applyAll(outboundMessageEvents());

    expect(results).toEqual([true, true]);
    expect(await storedOpportunity()).toMatchObject({
      stageName: 'Closed Won',
      amount: '50000.0',
      sourceEventType: 'OpportunityOutboundMessage',
      sourceUpdatedAt: new Date('2025-11-29T10:00:00.000Z'),
    });
  });
});

describe('Salesforce leads, accounts, tasks and cases', () => {
  it('stores a lead with status, company and email, flattening its compound name', async () => {
    await apply(salesforceEvent(fixture('salesforce/lead-change.json')));
    await apply(salesforceChange('leadUpdateCompound'));

    const [lead] = await db.select().from(syncedLeads);
    expect(lead).toMatchObject({
      id: '00Q5g00000LmNoPEAV',
      status: 'Working - Contacted',
      company: 'Analytical Engines Ltd',
      email: 'ada@example.com',
    });
    expect(lead?.payload).toMatchObject({ FirstName: 'Ada', LastName: 'King', City: 'London' });
    expect(lead?.payload).not.toHaveProperty('Name');
  });

  it('stores an account with industry and applies nulled fields', async () => {
    await apply(salesforceEvent(fixture('salesforce/account-change.json')));

    const [account] = await db.select().from(syncedAccounts);
    expect(account).toMatchObject({ id: '0015g00000QrStUAAZ', industry: 'Manufacturing', name: null });
    expect(account?.payload).toEqual({
      Industry: 'Manufacturing',
      Website: null,
      LastModifiedDate: '2025-11-29T09:56:40.000Z',
    });
  });

  it('stores a task with subject, status and priority', async () => {
    await apply(salesforceEvent(fixture('salesforce/task-change.json')));

    const [task] = await db.select().from(syncedTasks);
    expect(task).toMatchObject({
      id: '00T5g00000VwXyZEAV',
      subject: 'Follow up on proposal',
      status: 'Not Started',
      priority: 'Normal',
    });
  });

  it('stores a case and merges its later update', async () => {
    await apply(salesforceChange('caseCreate'));
    await apply(salesforceEvent(fixture('salesforce/case-change.json')));

    const [row] = await db.select().from(syncedCases);
    expect(row).toMatchObject({
      id: '5005g00000AaBbCAAR',
      subject: 'Cannot log in',
      status: 'Escalated',
      priority: 'High',
      payload: expect.objectContaining({ CaseNumber: '00001026', IsEscalated: true }),
    });
  });
});

// Registry --------------------------------------------------------------------------------------

describe('entityHandlerFor', () => {
  it('has a handler for every object type with a table', () => {
    const envelopes = [
      shopifyEvent(fixture('shopify/customers-create.json'), { topic: 'customers/create' }),
      hubspotChange('contactCreation'),
      hubspotChange('companyCreation'),
      hubspotChange('dealObjectCreation'),
      ...salesforceEvents([
        fixture('salesforce/lead-change.json'),
        fixture('salesforce/account-change.json'),
        fixture('salesforce/task-change.json'),
        fixture('salesforce/case-change.json'),
      ]),
    ];

    expect(envelopes.map((envelope) => entityHandlerFor(envelope) !== undefined)).toEqual(
      envelopes.map(() => true),
    );
  });

  it('has none for object types without a table or actions that mean nothing for a record', () => {
    const ticket = hubspotChange('dealObjectCreation', { objectTypeId: '0-5' });
    const unknownAction = hubspotChange('contactCreation', { subscriptionType: 'contact.somethingNew' });
    const cart = shopifyEvent({ id: 1, updated_at: '2022-01-01T00:00:00Z' }, { topic: 'carts/create' });
    const contactChange = salesforceEvent({
      ...fixture('salesforce/account-change.json'),
      ChangeEventHeader: { entityName: 'Contact', recordIds: ['0035g00000AbCdEAAV'], changeType: 'UPDATE' },
    });

    expect([ticket, unknownAction, cart, contactChange].map(entityHandlerFor)).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });
});

// Schema ----------------------------------------------------------------------------------------

/** `execute` results of node-postgres and PGlite both carry `rows`. */
function rowsOf(result: unknown): unknown[] {
  return (result as { rows: unknown[] }).rows;
}

describe('migration 0002', () => {
  it('keeps the seed monitoring tables with generated ids, and alerts outlive their rule', async () => {
    const [rule] = await db
      .insert(webhookAlertRules)
      .values({
        userId: 'dev-user',
        name: 'HubSpot Success Rate Alert',
        provider: 'hubspot',
        metric: 'success_rate',
        threshold: '95.00',
        comparison: 'less_than',
        timeWindowMinutes: 15,
        notificationChannels: ['email', 'slack'],
      })
      .returning();
    const [alert] = await db
      .insert(webhookAlerts)
      .values({
        userId: 'dev-user',
        ruleId: rule?.id,
        provider: 'hubspot',
        metric: 'success_rate',
        currentValue: '91.50',
        threshold: '95.00',
        severity: 'warning',
        message: 'Success rate 91.5% < 95%',
      })
      .returning();
    await db.insert(webhookMetrics).values({
      provider: 'hubspot',
      totalEvents: 200,
      successfulEvents: 183,
      failedEvents: 17,
      successRate: '91.50',
      averageProcessingTime: 45,
      eventsPerMinute: '13.33',
      errorRate: '8.50',
      lastEventAt: new Date('2025-11-29T10:00:00Z'),
    });

    expect(rule).toMatchObject({ enabled: true, notificationChannels: ['email', 'slack'] });
    expect(rule?.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(alert).toMatchObject({ acknowledged: false, ruleId: rule?.id });

    await db.delete(webhookAlertRules).where(eq(webhookAlertRules.id, rule?.id ?? ''));
    const [kept] = await db.select().from(webhookAlerts);
    expect(kept).toMatchObject({ id: alert?.id, ruleId: null });
    await db.execute(sql`TRUNCATE webhook_alerts, webhook_alert_rules, webhook_metrics`);
  });

  it('moves existing orders to the shop-scoped key with the version of their snapshot', async () => {
    const [init, entities] = await loadMigrations();
    if (!init || !entities) throw new Error('expected migrations 0001 and 0002');
    const rollback = new Error('rollback');
    // A throwaway schema inside a transaction: 0001, one order as 0001 wrote it, then 0002.
    await expect(
      db.transaction(async (tx) => {
        await tx.execute(sql`CREATE SCHEMA legacy`);
        await tx.execute(sql`SET LOCAL search_path TO legacy`);
        await migrate(tx as unknown as Db, [init]);
        await tx.execute(sql`
          INSERT INTO synced_orders (id, shop_domain, total_price, payload, source_event_type, source_updated_at)
          VALUES ('820982911946154508', 'jsmith.myshopify.com', 403, '{"id": "820982911946154508"}',
                  'orders/create', '2022-01-01T00:00:00Z')`);
        await migrate(tx as unknown as Db, [entities]);

        const rows = await tx.execute(
          sql`SELECT payload_version, source_sequence, source_event_id FROM synced_orders`,
        );
        const keys = await tx.execute(sql`
          SELECT a.attname AS column FROM pg_index i
          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
          WHERE i.indrelid = 'legacy.synced_orders'::regclass AND i.indisprimary ORDER BY a.attname`);
        expect(rowsOf(rows)).toEqual([
          {
            payload_version: '001640995200000.0000000000000000.',
            source_sequence: expect.anything(),
            source_event_id: '',
          },
        ]);
        expect(rowsOf(keys)).toEqual([{ column: 'id' }, { column: 'shop_domain' }]);
        throw rollback;
      }),
    ).rejects.toBe(rollback);
  });
});

// Together --------------------------------------------------------------------------------------

describe('events written together (a batch: one statement per table)', () => {
  /** Every row of the tables these events write, without the write time. */
  async function rows() {
    const strip = <T extends { updatedAt?: unknown; createdAt?: unknown }>(all: T[]) =>
      all
        .map(({ updatedAt: _u, createdAt: _c, ...row }) => row)
        .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    return {
      orders: strip(await db.select().from(syncedOrders)),
      contacts: strip(await db.select().from(syncedContacts)),
    };
  }

  it('gives every event the result and the rows it gives written alone, in order, several versions of one row included', async () => {
    const events = [
      order({}, { topic: 'orders/create', webhookId: 'wh-1' }),
      order({}, { topic: 'orders/create', webhookId: 'wh-x', shopDomain: 'other.myshopify.com' }),
      contactChange('email', 'a@example.com', 1, 1764410000000),
      order({ financial_status: 'refunded', updated_at: '2022-01-02T00:00:00Z' }, { webhookId: 'wh-2' }),
      contactChange('firstname', 'Ada', 2, 1764410001000),
      order({ financial_status: 'pending', updated_at: '2021-12-31T00:00:00Z' }, { webhookId: 'wh-0' }),
      contactChange('email', 'old@example.com', 3, 1764409999000),
    ];
    const alone = await applyAll(events);
    const rowsAlone = await rows();
    await database.truncate();

    const together = await writeTogether(
      db,
      events.map((envelope) => (writer: SyncedWriter) => {
        const handler = entityHandlerFor(envelope);
        if (!handler) throw new Error(`no handler for ${envelope.eventType}`);
        return handler(writer, envelope);
      }),
    );

    expect(alone).toEqual([true, true, true, true, true, false, false]);
    expect(together).toEqual(alone.map((value) => ({ status: 'fulfilled', value })));
    expect(await rows()).toEqual(rowsAlone);
  });
});
