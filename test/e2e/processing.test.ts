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
 * applied twice. A delivery may end `dead` only by exhausting its 5 receives (0.3^5, about 0.24%
 * per delivery), and then it must be in the DLQ.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SignedRequest, signedSample } from '../../bin/samples';
import type { LocalStack } from '../../local/stack';
import { type ProviderName, toSqsId } from '../../shared/envelope';
import { providers } from '../../shared/providers/registry';
import { type E2eStack, messagesInMainQueues, startE2eStack } from '../support/e2e-stack';

const SECRETS: Record<ProviderName, string> = {
  hubspot: 'e2e-hubspot-secret',
  shopify: 'e2e-shopify-secret',
  salesforce: 'e2e-salesforce-secret',
};
const ORG_ID = '00D5g000004XyZ1EAK';
const SETTLE_TIMEOUT_MS = 30_000;

let e2e: E2eStack;
let stack: LocalStack;
let db: pg.Client;

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

// --- What is sent ------------------------------------------------------------------------------

interface Delivery {
  provider: ProviderName;
  eventType: string;
  /** The object's id as the sample builder takes it. */
  objectId: string;
  at: Date;
  request: SignedRequest;
  dedupKey: string;
}

interface TrackedObject {
  provider: ProviderName;
  kind: string;
  /** Versions in source-time order. */
  versions: Delivery[];
  /** The order they are sent in (indexes into versions). */
  sendOrder: number[];
  /** A version sent a second time, exactly as before. */
  resend?: number;
}

/** Out-of-order patterns, picked per object: later versions often arrive before earlier ones. */
const ORDERS: Record<number, number[][]> = {
  1: [[0]],
  2: [
    [1, 0],
    [0, 1],
  ],
  3: [
    [2, 0, 1],
    [0, 1, 2],
    [1, 2, 0],
  ],
  4: [
    [2, 0, 3, 1],
    [0, 1, 2, 3],
    [3, 2, 1, 0],
    [1, 3, 0, 2],
  ],
};

const BASE_TIME = Date.now() - 10 * 60_000;

function salesforceId(prefix: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let id = prefix;
  while (id.length < 18) id += alphabet[randomInt(alphabet.length)];
  return id;
}

const bigId = () =>
  `${randomInt(100_000, 999_999)}${randomInt(100_000, 999_999)}${randomInt(100_000, 999_999)}`;

/** The dedup key ingest will give the request, computed by the same provider module. */
function dedupKeyOf(provider: ProviderName, request: SignedRequest): string {
  const headers = Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k.toLowerCase(), v]));
  const events = providers[provider].parse(
    { method: 'POST', url: request.url, headers, body: Buffer.from(request.body), sourceIp: '127.0.0.1' },
    new Date(),
  );
  if (events.length !== 1 || !events[0]) throw new Error(`expected one event from ${provider}`);
  return events[0].dedupKey;
}

async function trackedObjects(): Promise<TrackedObject[]> {
  const plan: [ProviderName, string, number, string[], () => string][] = [
    ['shopify', 'order', 12, ['orders/create', 'orders/updated', 'orders/paid', 'orders/fulfilled'], bigId],
    ['shopify', 'customer', 6, ['customers/create', 'customers/update'], bigId],
    ['shopify', 'product', 4, ['products/create', 'products/update'], bigId],
    ['shopify', 'inventory_level', 4, ['inventory_levels/update', 'inventory_levels/update'], bigId],
    [
      'hubspot',
      'contact',
      8,
      ['contact.creation', 'contact.propertyChange', 'contact.propertyChange'],
      () => String(randomInt(1, 2 ** 40)),
    ],
    [
      'hubspot',
      'company',
      4,
      ['company.creation', 'company.propertyChange'],
      () => String(randomInt(1, 2 ** 40)),
    ],
    ['hubspot', 'deal', 5, ['deal.creation', 'deal.stageChange'], () => String(randomInt(1, 2 ** 40))],
    [
      'salesforce',
      'opportunity',
      8,
      ['OpportunityChangeEvent', 'OpportunityChangeEvent', 'OpportunityChangeEvent'],
      () => salesforceId('006'),
    ],
    ['salesforce', 'lead', 4, ['LeadChangeEvent', 'LeadChangeEvent'], () => salesforceId('00Q')],
    ['salesforce', 'account', 3, ['AccountChangeEvent', 'AccountChangeEvent'], () => salesforceId('001')],
    ['salesforce', 'case', 3, ['CaseChangeEvent', 'CaseChangeEvent'], () => salesforceId('500')],
    ['salesforce', 'task', 2, ['TaskChangeEvent', 'TaskChangeEvent'], () => salesforceId('00T')],
    ['salesforce', 'opportunity-om', 3, ['OpportunityOutboundMessage'], () => salesforceId('006')],
  ];
  const objects: TrackedObject[] = [];
  let index = 0;
  for (const [provider, kind, count, eventTypes, newId] of plan) {
    for (let n = 0; n < count; n++, index++) {
      const objectId = newId();
      const url = `${stack.httpUrl}/api/webhooks/${provider}`;
      const versions = await Promise.all(
        eventTypes.map(async (eventType, version) => {
          const at = new Date(BASE_TIME + index * 1000 + version * 100_000);
          const request = await signedSample(provider, eventType, {
            url,
            secret: SECRETS[provider],
            objectId,
            at,
            orgId: ORG_ID,
          });
          return { provider, eventType, objectId, at, request, dedupKey: dedupKeyOf(provider, request) };
        }),
      );
      const patterns = ORDERS[versions.length] ?? [versions.map((_, i) => i)];
      const sendOrder = patterns[index % patterns.length] ?? [];
      objects.push({
        provider,
        kind,
        versions,
        sendOrder,
        resend: index % 4 === 0 ? sendOrder[0] : undefined,
      });
    }
  }
  return objects;
}

async function post(delivery: Delivery): Promise<void> {
  const response = await fetch(delivery.request.url, {
    method: 'POST',
    headers: delivery.request.headers,
    body: delivery.request.body,
  });
  expect(response.status, await response.clone().text()).toBe(200);
  await response.body?.cancel();
}

/** Objects in parallel; the versions of one object one after the other, so their queue order is known. */
async function sendAll(objects: TrackedObject[]): Promise<number> {
  let sent = 0;
  await Promise.all(
    objects.map(async (object) => {
      for (const index of object.sendOrder) {
        const delivery = object.versions[index];
        if (delivery) await post(delivery);
        sent++;
      }
      const again = object.resend === undefined ? undefined : object.versions[object.resend];
      if (again) {
        await post(again);
        sent++;
      }
    }),
  );
  return sent;
}

// --- Reading the stack's state ------------------------------------------------------------------

type Item = Record<string, unknown> & { pk: string; status: string; attempts: number };

async function scanTable(table: string): Promise<Record<string, unknown>[]> {
  const ddb = DynamoDBDocumentClient.from(
    new DynamoDBClient({ endpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB, region: process.env.AWS_REGION }),
  );
  try {
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await ddb.send(new ScanCommand({ TableName: table, ExclusiveStartKey: start }));
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    return items;
  } finally {
    ddb.destroy();
  }
}

async function eventLog(): Promise<Map<string, Item>> {
  const items = (await scanTable(process.env.EVENT_LOG_TABLE ?? '')) as Item[];
  return new Map(items.map((item) => [item.pk, item]));
}

async function settled(until: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if ((await messagesInMainQueues(stack)) === 0 && (await until())) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`the queues did not drain within ${SETTLE_TIMEOUT_MS} ms`);
}

/** Every message in the DLQs (received once, with a long visibility timeout so none repeats). */
async function dlqMessages(): Promise<{ body: string; attributes: Record<string, string> }[]> {
  const found: { body: string; attributes: Record<string, string> }[] = [];
  for (const queue of Object.values(stack.queues)) {
    for (;;) {
      const { Messages } = await stack.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queue.dlqUrl,
          MaxNumberOfMessages: 10,
          VisibilityTimeout: 300,
          WaitTimeSeconds: 0,
          MessageAttributeNames: ['All'],
        }),
      );
      if (!Messages?.length) break;
      for (const message of Messages)
        found.push({
          body: message.Body ?? '',
          attributes: Object.fromEntries(
            Object.entries(message.MessageAttributes ?? {}).map(([k, v]) => [k, v.StringValue ?? '']),
          ),
        });
    }
  }
  return found;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

/** The envelope of a logged delivery, rebuilt from its event log item as a replay would. */
function envelopeFromLog(item: Item) {
  return {
    version: 1,
    provider: item.provider,
    eventType: item.eventType,
    objectType: item.objectType,
    objectId: item.objectId,
    occurredAt: item.occurredAt,
    deliveryId: item.deliveryId,
    dedupKey: item.pk,
    orderingKey: item.orderingKey,
    priority: item.priority,
    receivedAt: item.receivedAt,
    meta: item.meta,
    ...(typeof item.payload === 'string' ? { payload: JSON.parse(item.payload) } : {}),
    ...(item.payloadRef ? { payloadRef: item.payloadRef } : {}),
  };
}

// --- The run ------------------------------------------------------------------------------------

describe('processing under 30% injected failures', () => {
  let objects: TrackedObject[];
  let log: Map<string, Item>;
  let dlq: { body: string; attributes: Record<string, string> }[];
  let poisonKey: string;
  let poisonBody: string;
  let replayed: string[];
  let sentRequests = 0;

  beforeAll(async () => {
    const started = performance.now();
    objects = await trackedObjects();
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
    sentRequests = await sendAll(objects);
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
    dlq = await dlqMessages();

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

  it('ends every accepted delivery processed exactly once, or dead after 5 attempts and in the DLQ', () => {
    const dlqKeys = new Set(dlq.map((message) => String(JSON.parse(message.body).dedupKey)));
    const deliveries = objects.flatMap((object) => object.versions);
    expect(deliveries.length).toBeGreaterThanOrEqual(150);
    for (const delivery of deliveries) {
      const item = log.get(delivery.dedupKey);
      expect(item, delivery.dedupKey).toBeDefined();
      if (item?.status === 'dead') {
        expect(item).toMatchObject({ attempts: 5, errorCategory: 'processing' });
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
    const { rows } = await db.query(
      'SELECT id, financial_status, fulfillment_status, source_event_type, source_updated_at FROM synced_orders WHERE id = ANY($1)',
      [orders.map((order) => order.versions[0]?.objectId)],
    );
    const byId = new Map(rows.map((row) => [row.id, row]));
    for (const order of orders) {
      const newest = order.versions
        .filter((version) => log.get(version.dedupKey)?.status === 'processed')
        .at(-1);
      if (!newest) continue;
      expect(byId.get(newest.objectId), newest.objectId).toEqual({
        id: newest.objectId,
        financial_status: newest.eventType === 'orders/paid' ? 'paid' : 'pending',
        fulfillment_status: newest.eventType === 'orders/fulfilled' ? 'fulfilled' : null,
        source_event_type: newest.eventType,
        source_updated_at: newest.at,
      });
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

  it('counts every attempt once in the per-minute counters', async () => {
    const counters = await scanTable(process.env.METRICS_TABLE ?? '');
    const sum = (name: string) => counters.reduce((total, item) => total + Number(item[name] ?? 0), 0);
    const items = [...log.values()];
    const processed = items.filter((item) => item.status === 'processed');
    const exhausted = items.filter((item) => item.status === 'dead' && item.errorCategory === 'processing');
    // Redeliveries that exhausted their receives are dead in the DLQ while their log entry stays processed.
    const deadRedeliveries = dlq.filter(
      (message) => log.get(String(JSON.parse(message.body).dedupKey))?.status === 'processed',
    ).length;

    expect(counters.every((item) => /^provider#(shopify|hubspot|salesforce)$/.test(String(item.pk)))).toBe(
      true,
    );
    expect(sum('succeeded')).toBe(processed.length);
    expect(sum('duplicates')).toBe(replayed.length - deadRedeliveries);
    expect(sum('dead')).toBe(dlq.length);
    expect(sum('dead')).toBe(exhausted.length + 1 + deadRedeliveries);
    // Failed attempts of processed deliveries are in their log entry; redeliveries may add some.
    expect(sum('failed')).toBeGreaterThanOrEqual(
      processed.reduce((total, item) => total + item.attempts - 1, 0) + 4 * exhausted.length,
    );
    expect(sum('total')).toBe(sum('succeeded') + sum('duplicates') + sum('failed') + sum('dead'));
    expect(sum('processingMsSum')).toBe(
      processed.reduce((total, item) => total + Number(item.processingTimeMs), 0),
    );
  });
});
