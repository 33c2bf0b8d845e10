import { asc } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../../../../shared/db/client';
import { syncedContacts, syncedOpportunities, syncedOrders } from '../../../../../shared/db/schema';
import type { Envelope } from '../../../../../shared/envelope';
import { entityHandlerFor } from '../../../../../shared/process/entities';
import { directWriter, versionKey, versionOf } from '../../../../../shared/process/entities/upsert';
import { type TestDatabase, testDatabase } from './database';
import { hubspotEvent, salesforceEvent, shopifyEvent } from './events';

/**
 * Convergence: whatever the arrival order and however many duplicates, a set of events for one
 * object ends in the state of applying each event once in version order; and that state is the
 * one the semantics define (newest event decides the row, newest data decides each field).
 */

const RUNS = 50;

let database: TestDatabase;
let db: Db;

beforeAll(async () => {
  database = await testDatabase();
  db = database.db;
});

afterAll(async () => {
  await database.close();
});

function byVersion(a: Envelope, b: Envelope): number {
  const [x, y] = [versionKey(versionOf(a)), versionKey(versionOf(b))];
  return x < y ? -1 : x > y ? 1 : 0;
}

function newest<T extends { envelope: Envelope }>(events: readonly T[]): T | undefined {
  return [...events].sort((a, b) => byVersion(a.envelope, b.envelope)).at(-1);
}

async function applyEach(envelopes: readonly Envelope[]): Promise<void> {
  for (const envelope of envelopes) {
    const handler = entityHandlerFor(envelope);
    if (!handler) throw new Error(`no handler for ${envelope.eventType}`);
    await handler(directWriter(db), envelope);
  }
}

/** Rows without the bookkeeping times, which record when we wrote, not what. */
function withoutWriteTimes<T extends { createdAt: Date; updatedAt: Date }>(rows: T[]) {
  return rows.map(({ createdAt: _createdAt, updatedAt: _updatedAt, ...row }) => row);
}

/**
 * For a generated list of events: the arrival sequence, a shuffled multiset holding every event at
 * least once and some of them again (redeliveries, retries, replays).
 */
function withArrivals<T>(events: fc.Arbitrary<T[]>): fc.Arbitrary<{ events: T[]; arrivals: T[] }> {
  return events.chain((list) =>
    fc
      .array(fc.nat({ max: list.length - 1 }), { maxLength: list.length })
      .chain((duplicates) => {
        const all = [...list.keys(), ...duplicates];
        return fc.shuffledSubarray(all, { minLength: all.length, maxLength: all.length });
      })
      .map((order) => ({ events: list, arrivals: order.map((index) => list[index] as T) })),
  );
}

/** A unique, randomly ordered delivery id: ties on time (and sequence) break on it. */
const deliveryId = (index: number) =>
  fc.stringMatching(/^[0-9A-Za-z_.-]{4,8}$/).map((id) => `${id}-${index}`);

function indexed<T>(make: (index: number) => fc.Arbitrary<T>): fc.Arbitrary<T[]> {
  return fc
    .integer({ min: 1, max: 8 })
    .chain((count) => fc.tuple(...Array.from({ length: count }, (_, index) => make(index))));
}

// Shopify ---------------------------------------------------------------------------------------

const ORDER_ID = '820982911946154508';
const SHOP_TIMES = ['2022-01-01T00:00:00Z', '2022-01-01T00:01:00Z', '2022-01-01T00:02:00Z'];

interface OrderEvent {
  kind: 'orders/create' | 'orders/updated' | 'orders/delete';
  envelope: Envelope;
  financialStatus: string;
}

const orderEvent = (index: number): fc.Arbitrary<OrderEvent> =>
  fc
    .record({
      kind: fc.constantFrom('orders/create' as const, 'orders/updated' as const, 'orders/delete' as const),
      at: fc.constantFrom(...SHOP_TIMES),
      financialStatus: fc.constantFrom('pending', 'paid', 'refunded', 'voided'),
      totalPrice: fc.integer({ min: 0, max: 99999 }).map((cents) => (cents / 100).toFixed(2)),
      webhookId: deliveryId(index),
    })
    .map(({ kind, at, financialStatus, totalPrice, webhookId }) => ({
      kind,
      financialStatus,
      envelope:
        kind === 'orders/delete'
          ? // A deletion carries the id only; its time is X-Shopify-Triggered-At.
            shopifyEvent({ id: ORDER_ID }, { topic: kind, webhookId, triggeredAt: at })
          : shopifyEvent(
              {
                id: ORDER_ID,
                name: '#1001',
                updated_at: at,
                financial_status: financialStatus,
                total_price: totalPrice,
              },
              { topic: kind, webhookId },
            ),
    }));

// HubSpot ---------------------------------------------------------------------------------------

const CONTACT = 123;
const SURVIVOR = 777;
const HUBSPOT_TIMES = [1764410000000, 1764410001000, 1764410002000];
const PROPERTIES = ['email', 'firstname', 'lastname', 'hs_lead_status'];

interface ContactEvent {
  kind: 'creation' | 'propertyChange' | 'deletion' | 'restore' | 'merge';
  envelope: Envelope;
  property?: string;
  value?: string;
}

const contactEvent = (index: number): fc.Arbitrary<ContactEvent> =>
  fc
    .record({
      kind: fc.constantFrom(
        'creation' as const,
        'propertyChange' as const,
        'propertyChange' as const,
        'deletion' as const,
        'restore' as const,
        'merge' as const,
      ),
      occurredAt: fc.constantFrom(...HUBSPOT_TIMES),
      eventId: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
      property: fc.constantFrom(...PROPERTIES),
      value: fc.stringMatching(/^[a-z]{1,6}$/),
    })
    .map(({ kind, occurredAt, eventId, property, value }) => {
      const base = {
        eventId: eventId * 10 + index,
        subscriptionId: 2102,
        portalId: 62515,
        appId: 54321,
        occurredAt,
        objectId: CONTACT,
        subscriptionType: `contact.${kind}`,
      };
      if (kind === 'propertyChange') {
        return {
          kind,
          property,
          value,
          envelope: hubspotEvent({ ...base, propertyName: property, propertyValue: value }),
        };
      }
      if (kind === 'merge') {
        const merge = { objectId: SURVIVOR, primaryObjectId: SURVIVOR, mergedObjectIds: [CONTACT] };
        return { kind, envelope: hubspotEvent({ ...base, ...merge, newObjectId: SURVIVOR }) };
      }
      return { kind, envelope: hubspotEvent(base) };
    });

// Salesforce ------------------------------------------------------------------------------------

const OPPORTUNITY_ID = '0065g00000XyZ12AAB';
const SALESFORCE_TIMES = [1764410000000, 1764410001000];
const FIELDS = {
  StageName: fc.constantFrom('Prospecting', 'Negotiation/Review', 'Closed Won', 'Closed Lost'),
  Amount: fc.integer({ min: 0, max: 1_000_000 }),
  Name: fc.stringMatching(/^[A-Z][a-z]{1,8}$/),
  CloseDate: fc.constantFrom('2025-12-01', '2025-12-31', '2026-01-15'),
  Description: fc.option(fc.stringMatching(/^[a-z ]{1,12}$/), { nil: null }),
};

type ChangeType = 'CREATE' | 'UPDATE' | 'DELETE' | 'UNDELETE' | 'GAP_UPDATE' | 'GAP_DELETE';

interface OpportunityEvent {
  changeType: ChangeType;
  envelope: Envelope;
  fields: Record<string, unknown>;
}

const opportunityEvent = (index: number): fc.Arbitrary<OpportunityEvent> =>
  fc
    .record({
      changeType: fc.constantFrom<ChangeType>(
        'CREATE',
        'UPDATE',
        'UPDATE',
        'DELETE',
        'UNDELETE',
        'GAP_UPDATE',
        'GAP_DELETE',
      ),
      commitTimestamp: fc.constantFrom(...SALESFORCE_TIMES),
      sequenceNumber: fc.integer({ min: 1, max: 2 }),
      transactionKey: deliveryId(index),
      fields: fc.record(FIELDS, { requiredKeys: [] }),
    })
    .map(({ changeType, commitTimestamp, sequenceNumber, transactionKey, fields }) => {
      // CREATE and UNDELETE carry the fields that have a value; DELETE carries none.
      const sent =
        changeType === 'DELETE'
          ? {}
          : changeType === 'CREATE' || changeType === 'UNDELETE'
            ? Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== null))
            : fields;
      const envelope = salesforceEvent({
        ChangeEventHeader: {
          entityName: 'Opportunity',
          recordIds: [OPPORTUNITY_ID],
          changeType,
          transactionKey,
          sequenceNumber,
          commitTimestamp,
          changedFields: changeType === 'UPDATE' ? Object.keys(sent) : [],
        },
        ...sent,
      });
      return { changeType, envelope, fields: changeType.startsWith('GAP_') ? {} : sent };
    });

// -----------------------------------------------------------------------------------------------

describe(`convergence (${RUNS} random histories per provider)`, () => {
  it('Shopify: any arrival order with duplicates ends in the in-order state of the newest snapshot', async () => {
    const orders = async () =>
      withoutWriteTimes(await db.select().from(syncedOrders).orderBy(asc(syncedOrders.id)));

    await fc.assert(
      fc.asyncProperty(withArrivals(indexed(orderEvent)), async ({ events, arrivals }) => {
        await database.truncate(['synced_orders']);
        await applyEach(events.map((e) => e.envelope).sort(byVersion));
        const inOrder = await orders();
        await database.truncate(['synced_orders']);
        await applyEach(arrivals.map((e) => e.envelope));
        const shuffled = await orders();

        expect(shuffled).toEqual(inOrder);
        const winner = newest(events);
        const snapshot = newest(events.filter((e) => e.kind !== 'orders/delete'));
        expect(shuffled).toHaveLength(1);
        expect(shuffled[0]).toMatchObject({
          sourceEventId: winner?.envelope.dedupKey,
          deletedAt: winner?.kind === 'orders/delete' ? new Date(winner.envelope.occurredAt) : null,
          financialStatus: snapshot?.financialStatus ?? null,
          payload: snapshot ? snapshot.envelope.payload : null,
        });
      }),
      { numRuns: RUNS },
    );
  });

  it('HubSpot: rows converge, and each property holds its newest change', async () => {
    const contacts = async () =>
      withoutWriteTimes(await db.select().from(syncedContacts).orderBy(asc(syncedContacts.id)));

    await fc.assert(
      fc.asyncProperty(withArrivals(indexed(contactEvent)), async ({ events, arrivals }) => {
        await database.truncate(['synced_contacts']);
        await applyEach(events.map((e) => e.envelope).sort(byVersion));
        const inOrder = await contacts();
        await database.truncate(['synced_contacts']);
        await applyEach(arrivals.map((e) => e.envelope));
        const shuffled = await contacts();

        expect(shuffled).toEqual(inOrder);
        const properties: Record<string, unknown> = {};
        for (const property of PROPERTIES) {
          const change = newest(events.filter((e) => e.property === property));
          if (change) properties[property] = change.value;
        }
        const winner = newest(events);
        const contact = shuffled.find((row) => row.id === String(CONTACT));
        expect(contact?.properties).toEqual(properties);
        expect(contact?.email).toBe(properties.email ?? null);
        if (winner?.kind === 'merge') {
          expect(contact).toMatchObject({ mergedInto: String(SURVIVOR), deletedAt: expect.any(Date) });
        } else {
          expect(contact).toMatchObject({ mergedInto: null, sourceEventId: winner?.envelope.dedupKey });
          expect(contact?.deletedAt !== null).toBe(winner?.kind === 'deletion');
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('Salesforce: the record converges, each field holds its newest change and gaps stay marked', async () => {
    const opportunities = async () => withoutWriteTimes(await db.select().from(syncedOpportunities));

    await fc.assert(
      fc.asyncProperty(withArrivals(indexed(opportunityEvent)), async ({ events, arrivals }) => {
        await database.truncate(['synced_opportunities']);
        await applyEach(events.map((e) => e.envelope).sort(byVersion));
        const inOrder = await opportunities();
        await database.truncate(['synced_opportunities']);
        await applyEach(arrivals.map((e) => e.envelope));
        const shuffled = await opportunities();

        expect(shuffled).toEqual(inOrder);
        const payload: Record<string, unknown> = {};
        for (const field of Object.keys(FIELDS)) {
          const change = newest(events.filter((e) => field in e.fields));
          if (change) payload[field] = change.fields[field];
        }
        const winner = newest(events);
        expect(shuffled[0]).toMatchObject({
          payload,
          stageName: payload.StageName ?? null,
          needsRefetch: events.some((e) => e.changeType.startsWith('GAP_')),
          deletedAt:
            winner && ['DELETE', 'GAP_DELETE'].includes(winner.changeType)
              ? new Date(winner.envelope.occurredAt)
              : null,
          sourceSequence: Number(winner?.envelope.meta.sequence),
          sourceEventId: winner?.envelope.dedupKey,
        });
      }),
      { numRuns: RUNS },
    );
  });
});
