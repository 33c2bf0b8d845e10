/**
 * `npm run soak`: the processing suite's workload (test/e2e/processing.test.ts) at scale, on one
 * local stack with injected failures: by default SOAK_SCALE=15, about 2,500 distinct deliveries
 * across the three providers and every entity kind, most objects receiving their versions out of
 * order, one object in four getting a delivery sent twice, CHAOS_FAILURE_RATE=0.2 (SOAK_CHAOS) of
 * processing attempts failing before they write anything, and CHAOS_CRASH_RATE=0.05 (SOAK_CRASH) of
 * processor invocations dying after their batch's work, before answering SQS: every message of
 * such a batch comes back after its visibility timeout, processed ones included.
 *
 * Asserted, as in the fast suite and for the same reasons (a failed attempt writes nothing, so a
 * delivery can be applied, and its domain event published, at most once):
 *  - accepted = processed + dead: every accepted delivery ends in exactly one of the two, a dead one
 *    after its 5 receives and in the DLQ; and no queue holds anything at the end (nothing lost);
 *  - no record applied twice: one domain event per delivery logged `applied`, none for the others;
 *  - final state equals in-order application: every Shopify order row is its newest processed
 *    version, and every Salesforce opportunity's source time is that of its newest processed version.
 *
 * CHAOS_KILL_RATE=0.01 (SOAK_KILL) of records kill their processor mid-batch, after their rows and
 * domain event are written but before they are marked processed: the invocation never answers,
 * times out, and its batch comes back with that record half done. Its retry re-applies the same
 * version (the rows do not change) and may publish its domain event again: domain events are at
 * least once, deduplicated on eventId, so a killed record may have one more event per kill, all with
 * its own eventId, and no other record may have any extra.
 *
 * SOAK_SCALE, SOAK_CHAOS, SOAK_CRASH and SOAK_CONCURRENCY (objects sent in parallel, 64) tune the run.
 */
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../local/stack';
import type { ProviderName } from '../shared/envelope';
import { type E2eStack, messagesInMainQueues, startE2eStack } from '../test/support/e2e-stack';
import {
  type DlqMessage,
  dlqMessages,
  eventLog,
  expectedOrderRow,
  type LogItem,
  percentile,
  sendAll,
  settled,
  storedOrders,
  type TrackedObject,
  trackedObjects,
} from '../test/support/processing-run';

const SCALE = Number(process.env.SOAK_SCALE ?? 15);
const CHAOS = process.env.SOAK_CHAOS ?? '0.2';
const CRASH = process.env.SOAK_CRASH ?? '0.05';
const KILL = process.env.SOAK_KILL ?? '0.01';
const CONCURRENCY = Number(process.env.SOAK_CONCURRENCY ?? 64);
const SETTLE_TIMEOUT_MS = 600_000;
const SECRETS: Record<ProviderName, string> = {
  hubspot: 'soak-hubspot-secret',
  shopify: 'soak-shopify-secret',
  salesforce: 'soak-salesforce-secret',
};
const ORG_ID = '00D5g000004XyZ1EAK';

let e2e: E2eStack;
let stack: LocalStack;
let db: pg.Client;
let objects: TrackedObject[];
let log: Map<string, LogItem>;
let dlq: DlqMessage[];

beforeAll(async () => {
  e2e = await startE2eStack({
    secrets: SECRETS,
    env: {
      SALESFORCE_ORG_ID: ORG_ID,
      CHAOS_FAILURE_RATE: CHAOS,
      CHAOS_CRASH_RATE: CRASH,
      CHAOS_KILL_RATE: KILL,
      RETRY_BASE_DELAY_MS: '200',
      POWERTOOLS_LOG_LEVEL: 'CRITICAL',
    },
  });
  ({ stack, db } = e2e);

  const started = performance.now();
  objects = await trackedObjects({
    baseUrl: stack.httpUrl,
    secrets: SECRETS,
    orgId: ORG_ID,
    baseTime: Date.now() - 24 * 3600_000,
    scale: SCALE,
  });
  const keys = objects.flatMap((object) => object.versions.map((version) => version.dedupKey));
  const sent = await sendAll(objects, CONCURRENCY);
  const sentIn = performance.now() - started;
  await settled(
    stack,
    async () => {
      const current = await eventLog();
      return keys.every((key) => ['processed', 'dead'].includes(String(current.get(key)?.status)));
    },
    SETTLE_TIMEOUT_MS,
    2000,
  );
  log = await eventLog();
  dlq = await dlqMessages(stack);

  const items = [...log.values()];
  const processed = items.filter((item) => item.status === 'processed');
  const times = processed.map((item) => Number(item.processingTimeMs)).sort((a, b) => a - b);
  const attempts = processed.reduce<Record<number, number>>((histogram, item) => {
    histogram[item.attempts] = (histogram[item.attempts] ?? 0) + 1;
    return histogram;
  }, {});
  console.log(
    `soak: ${keys.length} deliveries in ${sent} requests (scale ${SCALE}, chaos ${CHAOS}); sent in ` +
      `${Math.round(sentIn / 1000)} s, settled after ${Math.round((performance.now() - started) / 1000)} s; ` +
      `processed ${processed.length}, dead ${items.filter((item) => item.status === 'dead').length}; ` +
      `processingTimeMs p50=${percentile(times, 50)} p99=${percentile(times, 99)}; attempts ${JSON.stringify(attempts)}`,
  );
}, SETTLE_TIMEOUT_MS + 300_000);

afterAll(async () => {
  await e2e?.stop();
});

describe(`soak: processing at scale ${SCALE} under ${CHAOS} injected failures`, () => {
  it('accepts thousands of deliveries from the three providers', () => {
    const deliveries = objects.flatMap((object) => object.versions);
    expect(deliveries.length).toBeGreaterThanOrEqual(Math.min(2000, 150 * SCALE));
    expect(new Set(deliveries.map((d) => d.provider))).toEqual(new Set(['shopify', 'hubspot', 'salesforce']));
  });

  it('ends every accepted delivery processed or dead (accepted = processed + dead), and loses none', async () => {
    const dlqKeys = new Set(dlq.map((message) => String(JSON.parse(message.body).dedupKey)));
    const deliveries = objects.flatMap((object) => object.versions);
    let processed = 0;
    let dead = 0;
    for (const delivery of deliveries) {
      const item = log.get(delivery.dedupKey);
      expect(item, `accepted ${delivery.dedupKey} is not in the event log`).toBeDefined();
      if (item?.status === 'received') {
        // Killed on its last receive: SQS moved it to the DLQ, and nothing was left to mark it dead.
        dead++;
        expect(stack.killedRecords, `${delivery.dedupKey} stuck in 'received'`).toContain(delivery.dedupKey);
        expect(dlqKeys.has(delivery.dedupKey), `${delivery.dedupKey} is stuck but not in the DLQ`).toBe(true);
      } else if (item?.status === 'dead') {
        dead++;
        expect(item).toMatchObject({ attempts: 5, errorCategory: 'processing' });
        expect(dlqKeys.has(delivery.dedupKey), `${delivery.dedupKey} is dead but not in the DLQ`).toBe(true);
      } else {
        processed++;
        expect(item).toMatchObject({ status: 'processed', provider: delivery.provider });
      }
    }
    expect(processed + dead).toBe(deliveries.length);
    // Nothing but the accepted deliveries in the log, nothing left behind in a queue.
    expect(log.size).toBe(deliveries.length);
    // The DLQ holds the dead deliveries, and may hold processed ones too: a batch that crashed on a
    // message's last receive leaves it to SQS's redrive policy, processed or not (redriving such a
    // message is a duplicate, a no-op).
    const deadInDlq = dlq.filter(
      (message) => log.get(String(JSON.parse(message.body).dedupKey))?.status === 'dead',
    );
    expect(deadInDlq).toHaveLength(dead);
    for (const message of dlq) {
      const key = String(JSON.parse(message.body).dedupKey);
      expect(['dead', 'received', 'processed'], key).toContain(log.get(key)?.status);
    }
    expect(await messagesInMainQueues(stack)).toBe(0);
    // The injected failures did happen and were retried.
    expect([...log.values()].some((item) => item.status === 'processed' && item.attempts > 1)).toBe(true);
  });

  it('applies no delivery twice: one domain event per applied delivery, none otherwise', () => {
    const published = new Map<string, number>();
    for (const event of stack.domainEvents) {
      const id = String(event.detail.eventId);
      published.set(id, (published.get(id) ?? 0) + 1);
    }
    const kills = new Map<string, number>();
    for (const key of stack.killedRecords) kills.set(key, (kills.get(key) ?? 0) + 1);
    let applied = 0;
    for (const item of log.values()) {
      const expected = item.status === 'processed' && item.outcome === 'applied' ? 1 : 0;
      applied += expected;
      const count = published.get(item.pk) ?? 0;
      const killed = kills.get(item.pk) ?? 0;
      const what = `${item.pk} (${item.status}, ${item.outcome}, killed ${killed}x)`;
      // A killed attempt may have published before it died; nothing else publishes twice.
      expect(count, what).toBeGreaterThanOrEqual(expected);
      expect(count, what).toBeLessThanOrEqual(expected + killed);
    }
    expect(stack.domainEvents.length).toBeGreaterThanOrEqual(applied);
    expect(stack.domainEvents.length).toBeLessThanOrEqual(applied + stack.killedRecords.length);
    console.log(`soak: ${stack.killedRecords.length} records killed their processor mid-batch`);
  });

  it('leaves every Shopify order as if its processed versions had been applied in source order', async () => {
    const orders = objects.filter((object) => object.kind === 'order');
    const byId = await storedOrders(db, orders);
    let checked = 0;
    for (const order of orders) {
      const newest = order.versions.filter((v) => log.get(v.dedupKey)?.status === 'processed').at(-1);
      if (!newest) continue;
      expect(byId.get(newest.objectId), newest.objectId).toEqual(expectedOrderRow(newest));
      checked++;
    }
    expect(checked).toBeGreaterThan(orders.length * 0.9);
  });

  it('leaves every Salesforce opportunity at the source time of its newest processed version', async () => {
    const opportunities = objects.filter((object) => object.kind === 'opportunity');
    const { rows } = await db.query(
      'SELECT id, source_updated_at FROM synced_opportunities WHERE id = ANY($1)',
      [opportunities.map((o) => o.versions[0]?.objectId)],
    );
    const byId = new Map(rows.map((row) => [row.id, row.source_updated_at]));
    for (const opportunity of opportunities) {
      const newest = opportunity.versions.filter((v) => log.get(v.dedupKey)?.status === 'processed').at(-1);
      if (newest) expect(byId.get(newest.objectId), newest.objectId).toEqual(newest.at);
    }
  });
});
