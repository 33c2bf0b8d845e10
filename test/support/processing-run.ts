/**
 * The workload and the state readers of the processing suites on the local stack: the fast one in
 * `npm test` (test/e2e/processing.test.ts) and the soak (`npm run soak`, bench/soak.test.ts).
 *
 * A workload is a set of tracked objects, each with several versions (source times 100 s apart)
 * sent out of order, some sent twice; every delivery's dedup key is computed by the same provider
 * module ingest uses, so the event log can be checked delivery by delivery.
 */
import { randomInt } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteMessageBatchCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { expect } from 'vitest';
import { type SignedRequest, signedSample } from '../../bin/samples';
import type { LocalStack } from '../../local/stack';
import { envelopeFields } from '../../shared/api/events';
import type { ProviderName } from '../../shared/envelope';
import { ownedKey, SYSTEM_OWNER } from '../../shared/owner';
import { providers } from '../../shared/providers/registry';
import type { StoredEvent } from '../../shared/stores/event-log';
import { messagesInMainQueues } from './e2e-stack';

export interface Delivery {
  provider: ProviderName;
  eventType: string;
  /** The object's id as the sample builder takes it. */
  objectId: string;
  at: Date;
  request: SignedRequest;
  dedupKey: string;
}

export interface TrackedObject {
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

function salesforceId(prefix: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let id = prefix;
  while (id.length < 18) id += alphabet[randomInt(alphabet.length)];
  return id;
}

const bigId = () =>
  `${randomInt(100_000, 999_999)}${randomInt(100_000, 999_999)}${randomInt(100_000, 999_999)}`;

/**
 * The dedup key ingest will give the request at a provider-wide endpoint: the provider module's,
 * scoped to the system owner as ingest scopes it.
 */
export function dedupKeyOf(provider: ProviderName, request: SignedRequest): string {
  const headers = Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k.toLowerCase(), v]));
  const events = providers[provider].parse(
    { method: 'POST', url: request.url, headers, body: Buffer.from(request.body), sourceIp: '127.0.0.1' },
    new Date(),
  );
  if (events.length !== 1 || !events[0]) throw new Error(`expected one event from ${provider}`);
  return ownedKey(SYSTEM_OWNER, events[0].dedupKey);
}

export interface WorkloadOptions {
  /** The stack's public base URL (http://localhost:PORT). */
  baseUrl: string;
  secrets: Record<ProviderName, string>;
  orgId: string;
  /** Source time of the first object's first version, epoch ms. */
  baseTime: number;
  /** Multiplies every object count of the plan (1: about 170 deliveries). */
  scale?: number;
}

/** Objects of every entity kind of the three providers, 1 to 4 versions each. */
export async function trackedObjects(options: WorkloadOptions): Promise<TrackedObject[]> {
  const scale = options.scale ?? 1;
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
    for (let n = 0; n < count * scale; n++, index++) {
      const objectId = newId();
      const url = `${options.baseUrl}/api/webhooks/${provider}`;
      const versions = await Promise.all(
        eventTypes.map(async (eventType, version) => {
          const at = new Date(options.baseTime + index * 1000 + version * 100_000);
          const request = await signedSample(provider, eventType, {
            url,
            secret: options.secrets[provider],
            objectId,
            at,
            orgId: options.orgId,
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

export interface SendOptions {
  /** Objects sent in parallel (all of them by default). */
  concurrency?: number;
  /**
   * Deliver again after a 5xx, as providers do (the fault runs take the stand-ins down, and ingest
   * answers 5xx while SQS is unreachable). Off, any answer but 200 fails the test.
   */
  redeliverOnServerError?: boolean;
  /** Spread the objects' first sends evenly over this long (the fault runs: across their outages). */
  spreadOverMs?: number;
}

export interface Sent {
  requests: number;
  /** Requests answered 5xx and delivered again. */
  redelivered: number;
}

/**
 * How long a delivery answered 5xx (or 429) is delivered again: providers go on for hours (Shopify
 * 48), and the fault runs take stand-ins down for several seconds, ingest's SQS and DynamoDB included.
 */
const REDELIVERY_WINDOW_MS = 120_000;

/** Returns how many times the delivery was answered 5xx before its 200. */
async function post(delivery: Delivery, redeliver: boolean): Promise<number> {
  const deadline = Date.now() + REDELIVERY_WINDOW_MS;
  for (let attempt = 1; ; attempt++) {
    const response = await fetch(delivery.request.url, {
      method: 'POST',
      headers: delivery.request.headers,
      body: delivery.request.body,
    });
    // A throttled delivery (the local front's rate limits, as in AWS) is delivered again, as providers do.
    const again = response.status === 429 || (redeliver && response.status >= 500);
    if (again && Date.now() < deadline) {
      await response.body?.cancel();
      await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 200 * attempt)));
      continue;
    }
    expect(response.status, await response.clone().text()).toBe(200);
    await response.body?.cancel();
    return attempt - 1;
  }
}

/**
 * Sends every object's versions in its send order, then its resend. The versions of one object go
 * one after the other, so their queue order is known; objects go in parallel.
 */
export async function sendAll(objects: TrackedObject[], options: SendOptions = {}): Promise<Sent> {
  const sent: Sent = { requests: 0, redelivered: 0 };
  const redeliver = options.redeliverOnServerError ?? false;
  let next = 0;
  const send = async (delivery: Delivery | undefined) => {
    if (delivery) sent.redelivered += await post(delivery, redeliver);
    sent.requests++;
  };
  const sendObject = async (object: TrackedObject) => {
    for (const index of object.sendOrder) await send(object.versions[index]);
    if (object.resend !== undefined) await send(object.versions[object.resend]);
  };
  const start = Date.now();
  const worker = async () => {
    for (let index = next++, object = objects[index]; object; index = next++, object = objects[index]) {
      const due = start + ((options.spreadOverMs ?? 0) * index) / objects.length;
      if (due > Date.now()) await new Promise((resolve) => setTimeout(resolve, due - Date.now()));
      await sendObject(object);
    }
  };
  const workers = Math.max(1, Math.min(options.concurrency ?? objects.length, objects.length));
  await Promise.all(Array.from({ length: workers }, worker));
  return sent;
}

export type LogItem = Record<string, unknown> & { pk: string; status: string; attempts: number };

/** Every item of one of the stack's DynamoDB tables (endpoint from the stack's environment). */
export async function scanTable(table: string): Promise<Record<string, unknown>[]> {
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

/** The event log by dedup key. */
export async function eventLog(): Promise<Map<string, LogItem>> {
  const items = (await scanTable(process.env.EVENT_LOG_TABLE ?? '')) as LogItem[];
  return new Map(items.map((item) => [item.pk, item]));
}

/** Resolves once the main queues are empty and `until` holds; throws after `timeoutMs`. */
export async function settled(
  stack: LocalStack,
  until: () => Promise<boolean>,
  timeoutMs: number,
  pollMs = 250,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await messagesInMainQueues(stack)) === 0 && (await until())) return;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  throw new Error(`the queues did not drain within ${timeoutMs} ms`);
}

export interface DlqMessage {
  body: string;
  attributes: Record<string, string>;
}

/**
 * Every message in the DLQs, which this drains: a FIFO queue hands out nothing more of a message
 * group while one of its messages is in flight, so each one is deleted once read (leaving them in
 * flight would hide the group's later messages).
 */
export async function dlqMessages(stack: LocalStack): Promise<DlqMessage[]> {
  const found: DlqMessage[] = [];
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
      await stack.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queue.dlqUrl,
          Entries: Messages.map((message, index) => ({
            Id: String(index),
            ReceiptHandle: message.ReceiptHandle,
          })),
        }),
      );
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

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

/** The envelope of a logged delivery, rebuilt from its event log item as a replay does. */
export function envelopeFromLog(item: LogItem) {
  return envelopeFields(item as unknown as StoredEvent);
}

/** Shopify orders as stored, for comparing with the newest processed version of each. */
export async function storedOrders(
  db: { query: (text: string, values: unknown[]) => Promise<{ rows: Record<string, unknown>[] }> },
  orders: TrackedObject[],
): Promise<Map<unknown, Record<string, unknown>>> {
  const { rows } = await db.query(
    'SELECT id, financial_status, fulfillment_status, source_event_type, source_updated_at FROM synced_orders WHERE id = ANY($1)',
    [orders.map((order) => order.versions[0]?.objectId)],
  );
  return new Map(rows.map((row) => [row.id, row]));
}

/** What an order's row must be once `newest` is the latest of its versions applied in source order. */
export function expectedOrderRow(newest: Delivery) {
  return {
    id: newest.objectId,
    financial_status: newest.eventType === 'orders/paid' ? 'paid' : 'pending',
    fulfillment_status: newest.eventType === 'orders/fulfilled' ? 'fulfilled' : null,
    source_event_type: newest.eventType,
    source_updated_at: newest.at,
  };
}
