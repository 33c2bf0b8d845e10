/**
 * Processing semantics on the local stack, under injected failures.
 *
 * CHAOS_FAILURE_RATE=0.3 makes 30% of processing attempts fail before they write anything, and
 * RETRY_BASE_DELAY_MS=200 makes the backoff 1, 1, 1, 2 s. About 170 distinct deliveries across the
 * three providers go through the real ingest routes, most objects receiving several versions out of
 * order, some deliveries sent twice; then a poison message goes straight to a queue, and some
 * processed deliveries are enqueued again (a provider redelivering after SQS's dedup window).
 *
 * Why the checks are sound: a failed attempt writes nothing (chaos strikes before the event log's
 * begin), and the stand-ins do not fail otherwise, so every delivery is applied, and its domain
 * event published, at most once. Hence for each delivery: exactly one domain event if the log says
 * it was processed as `applied`, none otherwise; a second event for one eventId would mean it was
 * applied twice. A delivery may end `dead` only by failing all its 6 attempts (0.3^6, about 0.07%
 * per delivery), and then it must be in the DLQ.
 */
import { randomUUID } from 'node:crypto';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack';
import { type ProviderName, toSqsId } from '../../shared/envelope';
import { type E2eStack, startE2eStack } from '../support/e2e-stack';
import {
  type DlqMessage,
  dlqMessages,
  envelopeFromLog,
  eventLog,
  expectedOrderRow,
  type LogItem as Item,
  percentile,
  scanTable,
  sendAll,
  settled as settledOn,
  storedOrders,
  type TrackedObject,
  trackedObjects,
} from '../support/processing-run';

const SECRETS: Record<ProviderName, string> = {
  hubspot: 'e2e-hubspot-secret',
  shopify: 'e2e-shopify-secret',
  salesforce: 'e2e-salesforce-secret',
};
const ORG_ID = '00D5g000004XyZ1EAK';
const SETTLE_TIMEOUT_MS = 30_000;
const BASE_TIME = Date.now() - 10 * 60_000;

let e2e: E2eStack;
let stack: LocalStack;
let db: pg.Pool;

beforeAll(async () => {
  e2e = await startE2eStack({
    secrets: SECRETS,
    env: {
      SALESFORCE_ORG_ID: ORG_ID,
      CHAOS_FAILURE_RATE: '0.3',
      RETRY_BASE_DELAY_MS: '200',
      // Every injected failure is logged as an error; the assertions below say what went wrong.
      POWERTOOLS_LOG_LEVEL: 'CRITICAL',
    },
  });
  ({ stack, db } = e2e);
});

afterAll(async () => {
  await e2e?.stop();
});

// The workload (objects with out-of-order versions, some sent twice) and the state readers are
// shared with the soak (bench/soak.test.ts): test/support/processing-run.ts.
const settled = (until: () => Promise<boolean>) => settledOn(stack, until, SETTLE_TIMEOUT_MS);

// --- The run ------------------------------------------------------------------------------------

describe('processing under 30% injected failures', () => {
  let objects: TrackedObject[];
  let log: Map<string, Item>;
  let dlq: DlqMessage[];
  let poisonKey: string;
  let poisonBody: string;
  let replayed: string[];
  let sentRequests = 0;

  beforeAll(async () => {
    const started = performance.now();
    objects = await trackedObjects({
      baseUrl: stack.httpUrl,
      secrets: SECRETS,
      orgId: ORG_ID,
      baseTime: BASE_TIME,
    });
    const expected = objects.flatMap((object) => object.versions.map((version) => version.dedupKey));

    // A message no processor can read, straight onto a queue (it never passed ingest).
    const poisonId = `poison-${randomUUID()}`;
    poisonKey = `sqs:${poisonId}`;
    poisonBody = JSON.stringify({ version: 1, provider: 'shopify', eventType: 'orders/create' });
    await stack.sqs.send(
      new SendMessageCommand({
        QueueUrl: stack.queues.high.url,
        MessageBody: poisonBody,
        MessageGroupId: 'poison',
        MessageDeduplicationId: poisonId,
      }),
    );
    sentRequests = (await sendAll(objects)).requests;
    await settled(async () => {
      const current = await eventLog();
      return [...expected, poisonKey].every((key) =>
        ['processed', 'dead'].includes(String(current.get(key)?.status)),
      );
    });

    // Redeliveries of processed deliveries after SQS's 5-minute dedup window: new dedup ids.
    const afterFirstPass = await eventLog();
    replayed = expected.filter(
      (_, i) => i % 11 === 0 && afterFirstPass.get(expected[i] ?? '')?.status === 'processed',
    );
    for (const key of replayed) {
      const item = afterFirstPass.get(key) as Item;
      await stack.sqs.send(
        new SendMessageCommand({
          QueueUrl: stack.queues[item.priority as 'high' | 'medium' | 'low'].url,
          MessageBody: JSON.stringify(envelopeFromLog(item)),
          MessageGroupId: toSqsId(String(item.orderingKey)),
          MessageDeduplicationId: `redelivery-${randomUUID()}`,
        }),
      );
    }
    await settled(async () => true);

    log = await eventLog();
    dlq = await dlqMessages(stack);

    const processed = [...log.values()].filter((item) => item.status === 'processed');
    const times = processed.map((item) => Number(item.processingTimeMs)).sort((a, b) => a - b);
    const attempts = processed.reduce<Record<number, number>>((histogram, item) => {
      histogram[item.attempts] = (histogram[item.attempts] ?? 0) + 1;
      return histogram;
    }, {});
    console.log(
      `processing e2e: ${expected.length} deliveries (${sentRequests} requests, ${replayed.length} redeliveries) ` +
        `settled in ${Math.round(performance.now() - started)} ms; processingTimeMs p50=${percentile(times, 50)} ` +
        `p99=${percentile(times, 99)} max=${times[times.length - 1]}; attempts ${JSON.stringify(attempts)}; ` +
        `dead ${[...log.values()].filter((item) => item.status === 'dead').length} (incl. the poison)`,
    );
  }, 60_000);

  it('ends every accepted delivery processed exactly once, or dead after 6 attempts and in the DLQ', () => {
    const dlqKeys = new Set(dlq.map((message) => String(JSON.parse(message.body).dedupKey)));
    const deliveries = objects.flatMap((object) => object.versions);
    expect(deliveries.length).toBeGreaterThanOrEqual(150);
    for (const delivery of deliveries) {
      const item = log.get(delivery.dedupKey);
      expect(item, delivery.dedupKey).toBeDefined();
      if (item?.status === 'dead') {
        expect(item).toMatchObject({ attempts: 6, failedAttempts: 6, errorCategory: 'processing' });
        expect(dlqKeys.has(delivery.dedupKey), `${delivery.dedupKey} is dead but not in the DLQ`).toBe(true);
      } else {
        expect(item).toMatchObject({
          status: 'processed',
          provider: delivery.provider,
          objectId: expect.any(String),
          outcome: expect.stringMatching(/^(applied|stale|ignored)$/),
          processingTimeMs: expect.any(Number),
          processedAt: expect.any(String),
        });
        expect(item).not.toHaveProperty('errorCategory');
        expect(item?.attempts).toBeGreaterThanOrEqual(1);
      }
    }
    // The injected failures did happen, and were retried.
    expect([...log.values()].some((item) => item.status === 'processed' && item.attempts > 1)).toBe(true);
  });

  it('publishes one domain event per applied delivery and none for stale, duplicate or dead ones', () => {
    const published = new Map<string, number>();
    for (const event of stack.domainEvents) {
      const id = String(event.detail.eventId);
      published.set(id, (published.get(id) ?? 0) + 1);
      const item = log.get(id);
      expect(item, `domain event for unknown delivery ${id}`).toBeDefined();
      expect(event.source).toBe(`webhooks.${item?.provider}`);
      expect(event.detailType.startsWith(`${item?.objectType}.`)).toBe(true);
      expect(event.eventBusName).toBe(stack.eventBusName);
    }
    let applied = 0;
    for (const item of log.values()) {
      const expected = item.status === 'processed' && item.outcome === 'applied' ? 1 : 0;
      applied += expected;
      expect(published.get(item.pk) ?? 0, `${item.pk} (${item.status}, ${item.outcome})`).toBe(expected);
    }
    // Shopify orders alone apply about 27 versions (the newest-so-far of each arrival order).
    expect(applied).toBeGreaterThan(20);
    expect(stack.domainEvents).toHaveLength(applied);
  });

  it('leaves every Shopify order as if its processed versions had been applied in source order', async () => {
    const orders = objects.filter((object) => object.kind === 'order');
    const byId = await storedOrders(db, orders);
    for (const order of orders) {
      const newest = order.versions
        .filter((version) => log.get(version.dedupKey)?.status === 'processed')
        .at(-1);
      if (!newest) continue;
      expect(byId.get(newest.objectId), newest.objectId).toEqual(expectedOrderRow(newest));
    }
  });

  it('keeps a delivery sent twice to one log entry, and a redelivered processed one a no-op', () => {
    const resent = objects.filter((object) => object.resend !== undefined);
    expect(resent.length).toBeGreaterThan(10);
    expect(replayed.length).toBeGreaterThan(5);
    for (const key of replayed) {
      expect(log.get(key)?.status).toBe('processed');
    }
  });

  it('dead-letters a poison message at once: dead in the log and in the DLQ', () => {
    expect(log.get(poisonKey)).toMatchObject({
      status: 'dead',
      attempts: 1,
      errorCategory: 'validation',
      errorMessage: expect.stringMatching(/^ValidationError: Invalid envelope: /),
      provider: 'shopify',
      eventType: 'orders/create',
    });
    expect(dlq).toContainEqual({
      body: poisonBody,
      attributes: expect.objectContaining({ errorCategory: 'validation' }),
    });
  });

  it('counts every attempt once in the per-minute counters, per provider and per owner', async () => {
    const all = await scanTable(process.env.METRICS_TABLE ?? '');
    // Provider-wide deliveries: the system owner's minute and hour counters hold the same sums.
    const owners = all.filter((item) => String(item.pk).startsWith('owner#'));
    expect(new Set(owners.map((item) => String(item.pk).replace(/#hour$/, '')))).toEqual(
      new Set(['owner#system#shopify', 'owner#system#hubspot', 'owner#system#salesforce']),
    );
    const total = (items: typeof all, name: string) =>
      items.reduce((sum, item) => sum + Number(item[name] ?? 0), 0);
    const ownerMinutes = owners.filter((item) => !String(item.pk).endsWith('#hour'));
    const ownerHours = owners.filter((item) => String(item.pk).endsWith('#hour'));
    const counters = all.filter((item) => String(item.pk).startsWith('provider#'));
    for (const name of ['total', 'succeeded', 'duplicates', 'failed', 'dead']) {
      expect(total(ownerMinutes, name), name).toBe(total(counters, name));
      expect(total(ownerHours, name), name).toBe(total(counters, name));
    }
    const sum = (name: string) => counters.reduce((total, item) => total + Number(item[name] ?? 0), 0);
    const items = [...log.values()];
    const processed = items.filter((item) => item.status === 'processed');
    const exhausted = items.filter((item) => item.status === 'dead' && item.errorCategory === 'processing');
    // A redelivery of a processed delivery is a duplicate even when its attempt fails: never dead.
    expect(
      dlq.filter((message) => log.get(String(JSON.parse(message.body).dedupKey))?.status === 'processed'),
    ).toEqual([]);

    expect(
      all.every((item) =>
        /^(provider|owner#system)#(shopify|hubspot|salesforce)(#hour)?$/.test(String(item.pk)),
      ),
    ).toBe(true);
    expect(sum('succeeded')).toBe(processed.length);
    expect(sum('duplicates')).toBe(replayed.length);
    expect(sum('dead')).toBe(dlq.length);
    expect(sum('dead')).toBe(exhausted.length + 1);
    // Failed attempts are in their log entry (a dead delivery's last one is counted dead).
    expect(sum('failed')).toBe(
      processed.reduce((total, item) => total + item.attempts - 1, 0) + 5 * exhausted.length,
    );
    expect(sum('total')).toBe(sum('succeeded') + sum('duplicates') + sum('failed') + sum('dead'));
    expect(sum('processingMsSum')).toBe(
      processed.reduce((total, item) => total + Number(item.processingTimeMs), 0),
    );
  });
});
