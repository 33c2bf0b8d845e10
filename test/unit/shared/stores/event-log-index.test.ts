import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import dynalite from 'dynalite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTables, TABLES } from '../../../../local/resources';
import type { Envelope } from '../../../../shared/envelope';
import { EventLog, UNFINISHED_ATTEMPT } from '../../../../shared/stores/event-log';
import { envelope } from '../../support/envelopes';

/*
 * The event log against dynalite (DynamoDB's wire protocol and expression semantics), with the
 * tables the local stack creates: the conditional writes of a replay, and listing through the
 * byUser (one owner) and byDay (every owner) indexes with filters and pagination.
 */

let server: Server;
let log: EventLog;

beforeAll(async () => {
  server = dynalite({ createTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new DynamoDBClient({
    region: 'eu-west-1',
    endpoint,
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
  await createTables(client);
  const ddb = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  log = new EventLog(ddb, TABLES.eventLog, { retentionDays: 30 });
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const T0 = Date.parse('2026-03-01T10:00:00.000Z');
const at = (minutes: number) => new Date(T0 + minutes * 60_000);

function owned(n: number, overrides: Partial<Envelope> = {}): Envelope {
  return envelope({
    deliveryId: `d${n}`,
    dedupKey: `shopify:idx-${n}`,
    receivedAt: at(n).toISOString(),
    configId: 'config-1',
    ownerId: 'alice',
    ...overrides,
  });
}

async function processed(delivery: Envelope, minute: number): Promise<void> {
  expect(await log.begin(delivery, at(minute))).toMatchObject({ duplicate: false });
  await log.complete(delivery, { outcome: 'applied', processingTimeMs: 5, processedAt: at(minute) });
}

describe('replays', () => {
  it('applies a replay of a processed delivery once, and its duplicate not at all', async () => {
    const original = owned(1, { dedupKey: 'shopify:replayed' });
    await processed(original, 1);
    expect(await log.begin(original, at(2))).toEqual({ duplicate: true });

    const replay = { ...original, replay: { id: 'r1', requestedAt: at(3).toISOString() } };
    expect(await log.begin(replay, at(3))).toMatchObject({ duplicate: false });
    await log.complete(replay, { outcome: 'stale', processingTimeMs: 3, processedAt: at(3) });
    // SQS delivered the replay twice, or the original was retried: both are duplicates now.
    expect(await log.begin(replay, at(4))).toEqual({ duplicate: true });
    expect(await log.begin(original, at(4))).toEqual({ duplicate: true });
    // A second replay request is applied again.
    expect(
      await log.begin({ ...original, replay: { id: 'r2', requestedAt: at(5).toISOString() } }, at(5)),
    ).toMatchObject({ duplicate: false });
  });

  it('counts replay requests on the item', async () => {
    const delivery = owned(2, { dedupKey: 'shopify:counted' });
    await processed(delivery, 2);
    await log.noteReplay(delivery.dedupKey, at(10));
    await log.noteReplay(delivery.dedupKey, at(11));
    expect(await log.get(delivery.dedupKey)).toMatchObject({
      replayCount: 2,
      replayedAt: at(11).toISOString(),
      userId: 'alice',
      configId: 'config-1',
    });
    await expect(log.noteReplay('shopify:missing', at(12))).rejects.toThrow();
  });
});

describe("listing an owner's deliveries", () => {
  beforeAll(async () => {
    for (let n = 100; n < 112; n++)
      await processed(owned(n, { eventType: n % 3 === 0 ? 'orders/updated' : 'orders/create' }), n);
    await log.fail(
      { key: 'shopify:idx-112', envelope: owned(112) },
      { status: 'dead', counts: 'own', begun: false, category: 'processing', message: 'boom', now: at(112) },
    );
    // Someone else's, and a provider-wide one (the system owner's).
    await processed(owned(113, { ownerId: 'bob' }), 113);
    await processed(owned(114, { ownerId: 'system', configId: undefined }), 114);
  });

  it('lists newest first, only the projected list attributes, never the payload', async () => {
    const page = await log.list({ ownerId: 'alice', limit: 3, since: at(100).toISOString() });
    expect(page.items.map((item) => item.pk)).toEqual([
      'shopify:idx-112',
      'shopify:idx-111',
      'shopify:idx-110',
    ]);
    expect(page.items[0]).toMatchObject({
      status: 'dead',
      attempts: 1,
      failedAttempts: 1,
      errorMessage: 'boom',
      provider: 'shopify',
    });
    expect(page.items[0]?.payload).toBeUndefined();
    expect(page.items[0]?.meta).toBeUndefined();
    expect(page.next).toBeDefined();
  });

  it('pages through everything exactly once', async () => {
    const seen: string[] = [];
    let after: Record<string, unknown> | undefined;
    do {
      const page = await log.list({ ownerId: 'alice', limit: 5, since: at(100).toISOString(), after });
      seen.push(...page.items.map((item) => item.pk));
      after = page.next;
    } while (after);
    expect(seen).toEqual(Array.from({ length: 13 }, (_, i) => `shopify:idx-${112 - i}`));
  });

  it('filters by status, event type and time, filling pages past the filtered-out items', async () => {
    const updated = await log.list({
      ownerId: 'alice',
      limit: 10,
      eventType: 'orders/updated',
      since: at(100).toISOString(),
    });
    expect(updated.items.map((item) => item.pk)).toEqual([
      'shopify:idx-111',
      'shopify:idx-108',
      'shopify:idx-105',
      'shopify:idx-102',
    ]);
    const dead = await log.list({
      ownerId: 'alice',
      limit: 10,
      status: 'dead',
      since: at(100).toISOString(),
    });
    expect(dead.items.map((item) => item.pk)).toEqual(['shopify:idx-112']);
    const window = await log.list({
      ownerId: 'alice',
      limit: 10,
      since: at(104).toISOString(),
      until: at(106).toISOString(),
    });
    expect(window.items.map((item) => item.pk)).toEqual([
      'shopify:idx-106',
      'shopify:idx-105',
      'shopify:idx-104',
    ]);
  });

  it("shows bob only bob's, and the system owner only the provider-wide deliveries", async () => {
    const page = await log.list({ ownerId: 'bob', limit: 50 });
    expect(page.items.map((item) => item.pk)).toEqual(['shopify:idx-113']);
    const system = await log.list({ ownerId: 'system', limit: 50 });
    expect(system.items.map((item) => item.pk)).toEqual(['shopify:idx-114']);
  });
});

describe("listing every owner's deliveries (operators)", () => {
  const DAY = 24 * 60;

  beforeAll(async () => {
    // Three days: two deliveries the first day, none the second, three the third (two owners each).
    const minutes = [5000, 5001, 5000 + 2 * DAY, 5001 + 2 * DAY, 5002 + 2 * DAY];
    for (const [index, minute] of minutes.entries())
      await processed(owned(minute, { ownerId: index % 2 === 0 ? 'carol' : 'system' }), minute);
  });

  it('lists every owner newest first across days, skipping an empty day', async () => {
    const page = await log.list({ limit: 10, since: at(5000).toISOString(), now: at(5002 + 2 * DAY) });
    expect(page.items.map((item) => [item.pk, item.userId])).toEqual([
      [`shopify:idx-${5002 + 2 * DAY}`, 'carol'],
      [`shopify:idx-${5001 + 2 * DAY}`, 'system'],
      [`shopify:idx-${5000 + 2 * DAY}`, 'carol'],
      ['shopify:idx-5001', 'system'],
      ['shopify:idx-5000', 'carol'],
    ]);
    expect(page.next).toBeUndefined();
  });

  it('pages through every owner exactly once, within a day and across days', async () => {
    const seen: string[] = [];
    let after: Record<string, unknown> | undefined;
    let pages = 0;
    do {
      const page = await log.list({
        limit: 2,
        since: at(5000).toISOString(),
        now: at(5002 + 2 * DAY),
        after,
      });
      seen.push(...page.items.map((item) => item.pk));
      after = page.next;
      pages++;
    } while (after && pages < 10);
    expect(seen).toEqual([
      `shopify:idx-${5002 + 2 * DAY}`,
      `shopify:idx-${5001 + 2 * DAY}`,
      `shopify:idx-${5000 + 2 * DAY}`,
      'shopify:idx-5001',
      'shopify:idx-5000',
    ]);
  });

  it('filters every owner by status within the time bounds', async () => {
    const page = await log.list({
      limit: 10,
      status: 'processed',
      since: at(5001).toISOString(),
      until: at(5001 + 2 * DAY).toISOString(),
      now: at(5002 + 2 * DAY),
    });
    expect(page.items.map((item) => item.pk)).toEqual([
      `shopify:idx-${5001 + 2 * DAY}`,
      `shopify:idx-${5000 + 2 * DAY}`,
      'shopify:idx-5001',
    ]);
  });
});

describe('a filter that matches few of many deliveries', () => {
  const MANY = 240;

  beforeAll(async () => {
    // One dead delivery under many processed ones, for one owner and for every owner (one day).
    await log.fail(
      {
        key: 'shopify:rare-dead',
        envelope: owned(20_000, { dedupKey: 'shopify:rare-dead', ownerId: 'erin' }),
      },
      {
        status: 'dead',
        counts: 'own',
        begun: false,
        category: 'processing',
        message: 'boom',
        now: at(20_000),
      },
    );
    for (let n = 1; n <= MANY; n++)
      await processed(owned(20_000 + n, { dedupKey: `shopify:many-${n}`, ownerId: 'erin' }), 20_000 + n);
  });

  it('finds it in one request, however many deliveries it skips', async () => {
    const own = await log.list({ ownerId: 'erin', status: 'dead', limit: 10 });
    expect(own.items.map((item) => item.pk)).toEqual(['shopify:rare-dead']);
    const every = await log.list({
      status: 'dead',
      limit: 10,
      since: at(20_000).toISOString(),
      now: at(20_000 + MANY),
    });
    expect(every.items.map((item) => item.pk)).toEqual(['shopify:rare-dead']);
  });

  it('pages a filtered list exactly once each, with a cursor where a page filled up mid-read', async () => {
    for (const ownerId of ['erin', undefined]) {
      const seen: string[] = [];
      let after: Record<string, unknown> | undefined;
      for (let pages = 0; pages < 100; pages++) {
        const page = await log.list({
          ownerId,
          status: 'processed',
          limit: 7,
          since: at(20_000).toISOString(),
          now: at(20_000 + MANY),
          after,
        });
        seen.push(...page.items.map((item) => item.pk));
        after = page.next;
        if (!after) break;
      }
      expect(seen).toEqual(Array.from({ length: MANY }, (_, i) => `shopify:many-${MANY - i}`));
    }
  });
});

describe('a message that is not an envelope', () => {
  it('is logged under the owner it names, or the system owner, so operators list it', async () => {
    await log.fail(
      { key: 'sqs:garbled-1', raw: { provider: 'shopify', ownerId: 'dave' } },
      { status: 'dead', counts: 'own', begun: false, category: 'validation', message: 'bad', now: at(9000) },
    );
    await log.fail(
      { key: 'sqs:garbled-2', raw: {} },
      { status: 'dead', counts: 'own', begun: false, category: 'validation', message: 'bad', now: at(9001) },
    );
    const dave = await log.list({ ownerId: 'dave', limit: 10 });
    expect(dave.items.map((item) => item.pk)).toEqual(['sqs:garbled-1']);
    const all = await log.list({ limit: 10, since: at(9000).toISOString(), now: at(9001) });
    expect(all.items.map((item) => [item.pk, item.userId])).toEqual([
      ['sqs:garbled-2', 'system'],
      ['sqs:garbled-1', 'dave'],
    ]);
  });
});

describe('counting attempts', () => {
  it("charges the delivery's own failures and not a dependency's, and counts every attempt", async () => {
    const delivery = owned(7000, { dedupKey: 'shopify:counted-attempts' });
    const failure = { status: 'failed', category: 'processing', message: 'boom', now: at(7000) } as const;
    expect(await log.begin(delivery, at(7000))).toEqual({
      duplicate: false,
      failedAttempts: 0,
      unfinished: false,
    });
    expect(
      await log.fail(
        { key: delivery.dedupKey, envelope: delivery },
        { ...failure, counts: 'own', begun: true },
      ),
    ).toEqual({ attempts: 1, failedAttempts: 1, dependencyFailures: 0 });
    // Failed before its begin (the log was down): the attempt is counted here.
    expect(
      await log.fail(
        { key: delivery.dedupKey, envelope: delivery },
        { ...failure, category: 'dependency', counts: 'dependency', begun: false },
      ),
    ).toEqual({ attempts: 2, failedAttempts: 1, dependencyFailures: 1 });
    expect(await log.begin(delivery, at(7001))).toEqual({
      duplicate: false,
      failedAttempts: 1,
      unfinished: false,
    });
    await log.complete(delivery, { outcome: 'applied', processingTimeMs: 5, processedAt: at(7001) });
    expect(await log.get(delivery.dedupKey)).toMatchObject({
      status: 'processed',
      attempts: 3,
      failedAttempts: 1,
      dependencyFailures: 1,
    });
    expect(await log.get(delivery.dedupKey)).not.toHaveProperty('inAttempt');
    // A failure after it was processed (an attempt cut short that finished after all) changes nothing.
    expect(
      await log.fail(
        { key: delivery.dedupKey, envelope: delivery },
        { ...failure, counts: 'own', begun: true },
      ),
    ).toBeUndefined();
  });

  it('charges an attempt the invocation died on to the delivery at its next begin', async () => {
    const delivery = owned(7010, { dedupKey: 'shopify:unfinished' });
    await log.begin(delivery, at(7010));
    expect(await log.begin(delivery, at(7011))).toEqual({
      duplicate: false,
      failedAttempts: 1,
      unfinished: true,
    });
    expect(await log.get(delivery.dedupKey)).toMatchObject({
      attempts: 2,
      failedAttempts: 1,
      errorCategory: 'timeout',
      errorMessage: UNFINISHED_ATTEMPT,
      inAttempt: true,
    });
  });

  it('keeps the first receipt time when a later delivery of the same event is attempted', async () => {
    const first = owned(7020, { dedupKey: 'shopify:received-once' });
    await log.begin(first, at(7020));
    await log.fail(
      { key: first.dedupKey, envelope: first },
      {
        status: 'failed',
        counts: 'own',
        begun: true,
        category: 'processing',
        message: 'boom',
        now: at(7020),
      },
    );
    await log.begin({ ...first, receivedAt: at(7025).toISOString() }, at(7025));
    expect(await log.get(first.dedupKey)).toMatchObject({ receivedAt: at(7020).toISOString() });
  });
});

describe('receipts, quarantine and the ledger', () => {
  const since = at(8000).toISOString();
  const until = at(8100).toISOString();

  beforeAll(async () => {
    // e1: received twice (a provider redelivery), processed; e2: received, processed stale; e3:
    // received, never processed (in flight); e4: received, dead; q1: quarantined, delivered twice;
    // q2: quarantined then released into e5 (which carries its receipts); x: processed without a
    // receipt (enqueued by something else). Everything erin's; one of frank's.
    const e = (n: number, owner = 'erin') =>
      owned(8000 + n, { dedupKey: `shopify:ledger-${n}`, ownerId: owner, configId: undefined });
    await log.receive(e(1), 'acceptance-1', at(8001));
    await log.receive(e(1), 'acceptance-1', at(8001));
    await log.receive(e(1), 'acceptance-1b', at(8004));
    await processed(e(1), 8002);
    await processed(e(2), 8002);
    await log.receive(e(2), 'acceptance-2', at(8003));
    await log.complete(e(2), { outcome: 'stale', processingTimeMs: 5, processedAt: at(8003) });
    await log.receive(e(3), 'acceptance-3', at(8003));
    await log.receive(e(4), 'acceptance-4', at(8004));
    await log.fail(
      { key: e(4).dedupKey, envelope: e(4) },
      { status: 'dead', counts: 'own', begun: false, category: 'processing', message: 'boom', now: at(8005) },
    );
    const quarantined = (n: number, acceptanceId: string) =>
      log.quarantine({
        key: `erin:shopify:quarantine:${n}`,
        provider: 'shopify',
        ownerId: 'erin',
        eventType: 'orders/create',
        reason: 'BadRequestError: Payload needs an id',
        rawRef: { bucket: 'webhook-payloads', key: `quarantine/shopify/${n}.json` },
        bodyBytes: 12,
        receivedAt: at(8006),
        acceptanceId,
      });
    await quarantined(1, 'q-1');
    await quarantined(1, 'q-1b');
    await quarantined(2, 'q-2');
    expect(await log.release('erin:shopify:quarantine:2', 1, at(8010))).toBe(true);
    expect(await log.release('erin:shopify:quarantine:2', 1, at(8011))).toBe(false);
    await log.receive(
      { ...e(5), receivedAt: at(8006).toISOString() },
      'erin:shopify:quarantine:2#q-2',
      at(8010),
    );
    await processed(e(6), 8007);
    await log.receive(e(7, 'frank'), 'acceptance-7', at(8007));
  });

  it('keeps every acceptance once, and what a quarantined delivery is', async () => {
    expect((await log.get('shopify:ledger-1'))?.receipts).toEqual(new Set(['acceptance-1', 'acceptance-1b']));
    expect(await log.get('shopify:ledger-3')).toMatchObject({
      status: 'received',
      userId: 'erin',
      provider: 'shopify',
      receivedAt: at(8003).toISOString(),
      payload: expect.any(String),
    });
    expect(await log.get('erin:shopify:quarantine:1')).toMatchObject({
      status: 'quarantined',
      userId: 'erin',
      errorCategory: 'validation',
      errorMessage: 'BadRequestError: Payload needs an id',
      rawRef: { bucket: 'webhook-payloads', key: 'quarantine/shopify/1.json' },
      receipts: new Set(['q-1', 'q-1b']),
    });
    expect(await log.get('erin:shopify:quarantine:2')).toMatchObject({
      status: 'released',
      releasedEvents: 1,
    });
  });

  it("answers how one owner's deliveries ended, with duplicates, and says which have no receipt", async () => {
    expect(await log.ledger({ ownerId: 'erin', since, until })).toEqual({
      received: 8,
      processed: 3,
      duplicate: 2,
      quarantined: 1,
      dead: 1,
      in_flight: 2,
      processed_outcomes: { applied: 2, stale: 1, ignored: 0 },
      unreceipted: 1,
      oldest_in_flight_at: at(8003).toISOString(),
    });
  });

  it("counts every owner's for operators, and nothing outside the window", async () => {
    expect(await log.ledger({ since, until })).toMatchObject({ received: 9, in_flight: 3 });
    expect(
      await log.ledger({ ownerId: 'erin', since: at(8002).toISOString(), until: at(8003).toISOString() }),
    ).toMatchObject({ received: 2, processed: 1, in_flight: 1 });
  });
});
