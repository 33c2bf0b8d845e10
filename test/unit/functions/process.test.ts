import { Metrics } from '@aws-lambda-powertools/metrics';
import {
  ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  ProvisionedThroughputExceededException,
} from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { DatabaseErrorException, ExecuteStatementCommand, RDSDataClient } from '@aws-sdk/client-rds-data';
import { GetObjectCommand, NoSuchKey, S3Client } from '@aws-sdk/client-s3';
import {
  ChangeMessageVisibilityBatchCommand,
  GetQueueUrlCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Context, SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { sql } from 'drizzle-orm';
import { drizzle as drizzleDataApi } from 'drizzle-orm/aws-data-api/pg';
import {
  afterAll,
  afterEach,
  beforeAll,
  beforeEach,
  describe,
  expect,
  it,
  type MockInstance,
  vi,
} from 'vitest';
import { handler, makeProcessHandler } from '../../../functions/process';
import type { Db } from '../../../shared/db/client';
import { loadMigrations, migrate } from '../../../shared/db/migrate';
import { schema } from '../../../shared/db/schema';
import type { Envelope } from '../../../shared/envelope';
import { EventBridgePublisher } from '../../../shared/events/publisher';
import { logger } from '../../../shared/observability';
import type { BatchDeps } from '../../../shared/process/batch';
import { Broadcaster } from '../../../shared/realtime/broadcaster';
import { ConnectionStore } from '../../../shared/stores/connections';
import { EventLog } from '../../../shared/stores/event-log';
import { MetricCounters } from '../../../shared/stores/metric-counters';
import { PayloadStore } from '../../../shared/stores/payload-store';
import { RECEIVED_AT, shopifyEnvelope } from '../support/envelopes';
import { inMemoryDb } from '../support/pglite';

const REGION = 'eu-west-1';
const QUEUE_ARN = 'arn:aws:sqs:eu-west-1:123456789012:webhooks-high.fifo';
const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/webhooks-high.fifo';
const DLQ_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/webhooks-high-dlq.fifo';
const NOW = new Date('2022-01-01T00:00:09.000Z');

const ddbMock = mockClient(DynamoDBDocumentClient);
const sqsMock = mockClient(SQSClient);
const s3Mock = mockClient(S3Client);
const eventBridgeMock = mockClient(EventBridgeClient);
const apiMock = mockClient(ApiGatewayManagementApiClient);
const rdsMock = mockClient(RDSDataClient);

let db: Db;
let closeDb: () => Promise<void>;
let stdout: MockInstance<typeof process.stdout.write>;
let emf: Record<string, unknown>[];

beforeAll(async () => {
  logger.setLogLevel('SILENT');
  ({ db, close: closeDb } = await inMemoryDb());
  await migrate(db, await loadMigrations());
});

afterAll(async () => {
  await closeDb();
});

beforeEach(async () => {
  await db.execute(sql`TRUNCATE synced_orders`);
  ddbMock.on(UpdateCommand).resolves({});
  ddbMock.on(ScanCommand).resolves({ Items: [] });
  sqsMock.on(GetQueueUrlCommand).resolves({ QueueUrl: QUEUE_URL });
  sqsMock.on(ChangeMessageVisibilityBatchCommand).resolves({ Successful: [], Failed: [] });
  sqsMock.on(SendMessageCommand).resolves({ MessageId: 'dlq-message' });
  eventBridgeMock.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
  apiMock.on(PostToConnectionCommand).resolves({});
  // Powertools writes EMF documents straight to stdout: keep them for the assertions.
  emf = [];
  stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    const text = String(chunk);
    if (text.includes('"_aws"')) emf.push(JSON.parse(text));
    return true;
  });
});

afterEach(() => {
  stdout.mockRestore();
  ddbMock.reset();
  sqsMock.reset();
  s3Mock.reset();
  eventBridgeMock.reset();
  apiMock.reset();
  rdsMock.reset();
});

function deps(overrides: Partial<BatchDeps> = {}): BatchDeps {
  const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: REGION }));
  const metrics = new Metrics({ namespace: 'Webhooks' });
  metrics.clearDefaultDimensions();
  return {
    eventLog: new EventLog(ddb, 'event-log', { retentionDays: 30 }),
    db,
    broadcaster: new Broadcaster(
      new ConnectionStore(ddb, 'connections'),
      new ApiGatewayManagementApiClient({ region: REGION, endpoint: 'https://ws.example.com/prod' }),
    ),
    events: new EventBridgePublisher(new EventBridgeClient({ region: REGION }), 'domain-events'),
    sqs: new SQSClient({ region: REGION }),
    dlqUrl: DLQ_URL,
    counters: new MetricCounters(ddb, 'metric-counters'),
    metrics,
    maxReceiveCount: 5,
    retryBaseDelayMs: 5000,
    now: () => NOW,
    ...overrides,
  };
}

function context(remainingMs: () => number = () => 60_000): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'processor',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:processor',
    memoryLimitInMB: '512',
    awsRequestId: 'request-1',
    logGroupName: 'group',
    logStreamName: 'stream',
    getRemainingTimeInMillis: remainingMs,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** A Shopify order envelope of its own delivery and object. */
function order(id: string, overrides: Partial<Envelope> = {}): Envelope {
  const base = shopifyEnvelope('orders-create.json', { webhookId: `delivery-${id}` });
  return {
    ...base,
    objectId: id,
    orderingKey: `shopify:jsmith.myshopify.com:order:${id}`,
    payload: { ...(base.payload as object), id },
    ...overrides,
  };
}

let sequence = 0;

function record(
  body: Envelope | string,
  options: { attempt?: number; group?: string; dedupId?: string } = {},
): SQSRecord {
  sequence++;
  const envelope = typeof body === 'string' ? undefined : body;
  return {
    messageId: `message-${sequence}`,
    receiptHandle: `receipt-${sequence}`,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    attributes: {
      ApproximateReceiveCount: String(options.attempt ?? 1),
      SentTimestamp: String(RECEIVED_AT.getTime()),
      SenderId: 'AIDAEXAMPLE',
      ApproximateFirstReceiveTimestamp: String(RECEIVED_AT.getTime()),
      SequenceNumber: String(18_800_000_000_000_000_000 + sequence),
      MessageGroupId: options.group ?? envelope?.orderingKey ?? 'group',
      MessageDeduplicationId: options.dedupId ?? envelope?.deliveryId ?? `dedup-${sequence}`,
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: QUEUE_ARN,
    awsRegion: REGION,
  };
}

async function run(records: SQSRecord[], overrides: Partial<BatchDeps> = {}, ctx = context()) {
  return makeProcessHandler(deps(overrides))({ Records: records }, ctx);
}

type Behaviour = 'duplicate' | 'throttled';

/** The event log's `begin` for the given keys fails as told; every other write succeeds. */
function eventLogBegins(behaviour: Record<string, Behaviour>, delayMs = 0) {
  ddbMock.on(UpdateCommand).callsFake(async (input) => {
    if (input.TableName === 'event-log' && input.ExpressionAttributeValues?.[':attempt']) {
      if (delayMs) await new Promise((resolve) => setTimeout(resolve, delayMs));
      const what = behaviour[input.Key.pk];
      if (what === 'duplicate')
        throw new ConditionalCheckFailedException({
          message: 'The conditional request failed',
          $metadata: {},
        });
      if (what === 'throttled')
        throw new ProvisionedThroughputExceededException({ message: 'Rate exceeded', $metadata: {} });
    }
    return {};
  });
}

function updates(table: string) {
  return ddbMock
    .commandCalls(UpdateCommand)
    .map((call) => call.args[0].input)
    .filter((input) => input.TableName === table);
}

/** The event log writes of one kind, as {pk, values}. */
function eventLogWrites(kind: 'begin' | 'complete' | 'fail') {
  const marker = { begin: ':attempt', complete: ':outcome', fail: ':errorCategory' }[kind];
  return updates('event-log')
    .filter((input) => input.ExpressionAttributeValues?.[marker] !== undefined)
    .map((input) => ({ pk: input.Key?.pk, values: input.ExpressionAttributeValues ?? {} }));
}

function visibilityChanges() {
  return sqsMock.commandCalls(ChangeMessageVisibilityBatchCommand).flatMap((call) => {
    expect(call.args[0].input.QueueUrl).toBe(QUEUE_URL);
    return (call.args[0].input.Entries ?? []).map((entry) => ({
      receiptHandle: entry.ReceiptHandle,
      seconds: entry.VisibilityTimeout,
    }));
  });
}

function dlqMessages() {
  return sqsMock.commandCalls(SendMessageCommand).map((call) => call.args[0].input);
}

function failures(response: { batchItemFailures: { itemIdentifier: string }[] }) {
  return response.batchItemFailures.map((failure) => failure.itemIdentifier);
}

describe('transient failures are retried with backoff', () => {
  it.each([
    [1, 5],
    [2, 10],
    [3, 20],
    [4, 40],
  ])('DynamoDB throttling on attempt %i: failed, retried after %i s', async (attempt, seconds) => {
    const envelope = order('1001');
    eventLogBegins({ [envelope.dedupKey]: 'throttled' });
    const throttled = record(envelope, { attempt });

    const response = await run([throttled]);

    expect(failures(response)).toEqual([throttled.messageId]);
    expect(visibilityChanges()).toEqual([{ receiptHandle: throttled.receiptHandle, seconds }]);
    expect(eventLogWrites('fail')).toEqual([
      {
        pk: envelope.dedupKey,
        values: expect.objectContaining({
          ':status': 'failed',
          ':attempts': attempt,
          ':errorCategory': 'processing',
          ':errorMessage': 'ProvisionedThroughputExceededException: Rate exceeded',
          ':provider': 'shopify',
          ':objectId': '1001',
        }),
      },
    ]);
    expect(dlqMessages()).toEqual([]);
  });

  it('DynamoDB throttling on the last attempt: dead, left to SQS to move to the DLQ at once', async () => {
    const envelope = order('1001');
    eventLogBegins({ [envelope.dedupKey]: 'throttled' });
    const last = record(envelope, { attempt: 5 });

    const response = await run([last]);

    expect(failures(response)).toEqual([last.messageId]);
    expect(eventLogWrites('fail')).toEqual([
      {
        pk: envelope.dedupKey,
        values: expect.objectContaining({
          ':status': 'dead',
          ':attempts': 5,
          ':errorCategory': 'processing',
        }),
      },
    ]);
    expect(visibilityChanges()).toEqual([{ receiptHandle: last.receiptHandle, seconds: 0 }]);
    expect(dlqMessages()).toEqual([]);
  });

  it('follows RETRY_BASE_DELAY_MS, rounding up to whole seconds', async () => {
    const [first, fourth] = [order('1001'), order('2002')];
    eventLogBegins({ [first.dedupKey]: 'throttled', [fourth.dedupKey]: 'throttled' });

    await run([record(first, { attempt: 1 }), record(fourth, { attempt: 4 })], { retryBaseDelayMs: 200 });

    // 200 ms -> 1 s; 200 * 2^3 = 1600 ms -> 2 s.
    expect(visibilityChanges().map((change) => change.seconds)).toEqual([1, 2]);
  });

  it('retries a record whose Data API statement fails, writing no row', async () => {
    rdsMock
      .on(ExecuteStatementCommand)
      .rejects(new DatabaseErrorException({ message: 'Communications link failure', $metadata: {} }));
    const dataApi = drizzleDataApi(new RDSDataClient({ region: REGION }), {
      resourceArn: 'arn:aws:rds:eu-west-1:123456789012:cluster:webhooks',
      secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db',
      database: 'webhooks',
      schema,
    }) as unknown as Db;
    const envelope = order('1001');
    const failing = record(envelope, { attempt: 2 });

    const response = await run([failing], { db: dataApi });

    expect(rdsMock.commandCalls(ExecuteStatementCommand).length).toBeGreaterThan(0);
    expect(failures(response)).toEqual([failing.messageId]);
    expect(visibilityChanges()).toEqual([{ receiptHandle: failing.receiptHandle, seconds: 10 }]);
    expect(eventLogWrites('fail')[0]?.values).toMatchObject({
      ':status': 'failed',
      ':errorCategory': 'processing',
      ':errorMessage': expect.stringContaining('Communications link failure'),
    });
    expect(eventLogWrites('complete')).toEqual([]);
    expect(eventBridgeMock.commandCalls(PutEventsCommand)).toHaveLength(0);
  });

  it('retries a record whose domain event PutEvents refuses, and does not mark it processed', async () => {
    eventBridgeMock.on(PutEventsCommand).resolves({
      FailedEntryCount: 1,
      Entries: [{ ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' }],
    });
    const failing = record(order('1001'));

    const response = await run([failing]);

    expect(failures(response)).toEqual([failing.messageId]);
    expect(visibilityChanges()).toEqual([{ receiptHandle: failing.receiptHandle, seconds: 5 }]);
    expect(eventLogWrites('complete')).toEqual([]);
    expect(eventLogWrites('fail')[0]?.values).toMatchObject({
      ':status': 'failed',
      ':errorMessage': expect.stringContaining('PutEvents failed'),
    });
  });

  it('retries a record whose PutEvents call throws', async () => {
    eventBridgeMock.on(PutEventsCommand).rejects(new Error('socket hang up'));
    const failing = record(order('1001'));

    const response = await run([failing]);

    expect(failures(response)).toEqual([failing.messageId]);
    expect(eventLogWrites('complete')).toEqual([]);
  });
});

describe('records that can never succeed go to the DLQ at once', () => {
  it('dead-letters a claim-checked envelope whose S3 object does not exist, and reports it a success', async () => {
    s3Mock
      .on(GetObjectCommand)
      .rejects(new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} }));
    const payloads = new PayloadStore(new S3Client({ region: REGION }), 'webhook-payloads');
    const envelope = {
      ...order('1001'),
      payload: undefined,
      payloadRef: { bucket: 'webhook-payloads', key: 'shopify/2022-01-01/abc.json' },
    };
    const missing = record(envelope, { attempt: 1, dedupId: 'delivery-1001' });

    const response = await run([missing], { payloads });

    expect(failures(response)).toEqual([]);
    expect(dlqMessages()).toEqual([
      expect.objectContaining({
        QueueUrl: DLQ_URL,
        MessageBody: missing.body,
        MessageGroupId: envelope.orderingKey,
        MessageDeduplicationId: 'delivery-1001',
      }),
    ]);
    expect(eventLogWrites('fail')).toEqual([
      {
        pk: envelope.dedupKey,
        values: expect.objectContaining({
          ':status': 'dead',
          ':errorCategory': 'validation',
          ':errorMessage': expect.stringContaining('does not exist'),
          ':payloadRef': envelope.payloadRef,
        }),
      },
    ]);
    expect(visibilityChanges()).toEqual([]);
  });

  it('dead-letters a message that is not a valid envelope, keyed by the dedup key it carries', async () => {
    const body = JSON.stringify({ version: 1, provider: 'hubspot', dedupKey: 'hubspot:62515:1:2:3:4' });
    const invalid = record(body, { group: 'hubspot:62515:contact:1', dedupId: 'hubspot-delivery' });

    const response = await run([invalid]);

    expect(failures(response)).toEqual([]);
    expect(dlqMessages()).toEqual([
      expect.objectContaining({
        QueueUrl: DLQ_URL,
        MessageBody: body,
        MessageGroupId: 'hubspot:62515:contact:1',
        MessageDeduplicationId: 'hubspot-delivery',
        MessageAttributes: expect.objectContaining({
          errorCategory: { DataType: 'String', StringValue: 'validation' },
        }),
      }),
    ]);
    expect(eventLogWrites('fail')).toEqual([
      {
        pk: 'hubspot:62515:1:2:3:4',
        values: expect.objectContaining({
          ':status': 'dead',
          ':errorCategory': 'validation',
          ':errorMessage': expect.stringMatching(/^ValidationError: Invalid envelope: /),
          ':provider': 'hubspot',
        }),
      },
    ]);
  });

  it('dead-letters a body that is not JSON under a key made from its message, deduplicated by messageId when it has no id', async () => {
    const garbage = record('not json at all', { group: 'g-1' });
    delete garbage.attributes.MessageDeduplicationId;

    const response = await run([garbage]);

    expect(failures(response)).toEqual([]);
    expect(dlqMessages()[0]).toMatchObject({
      MessageGroupId: 'g-1',
      MessageDeduplicationId: garbage.messageId,
    });
    expect(eventLogWrites('fail')[0]).toMatchObject({
      pk: `sqs:${garbage.messageId}`,
      values: { ':errorMessage': 'ValidationError: Invalid envelope: the message body is not JSON' },
    });
  });

  it('reports the record a failure, to be retried, when the DLQ refuses it', async () => {
    sqsMock.on(SendMessageCommand).rejects(new Error('AWS.SimpleQueueService.NonExistentQueue'));
    const invalid = record('{"version":2}', { attempt: 1 });

    const response = await run([invalid]);

    expect(failures(response)).toEqual([invalid.messageId]);
    expect(visibilityChanges()).toEqual([{ receiptHandle: invalid.receiptHandle, seconds: 5 }]);
    expect(eventLogWrites('fail')).toEqual([
      expect.objectContaining({
        values: expect.objectContaining({ ':status': 'failed', ':errorCategory': 'validation' }),
      }),
    ]);
  });

  it('lets the rest of the group go on after an invalid record', async () => {
    const group = order('1001').orderingKey;
    const invalid = record('{"version":2}', { group });
    const next = record(order('1001', { dedupKey: 'shopify:next', deliveryId: 'next' }));

    const response = await run([invalid, next]);

    expect(failures(response)).toEqual([]);
    expect(eventLogWrites('complete').map((write) => write.pk)).toEqual(['shopify:next']);
  });
});

describe('message groups and time', () => {
  it("holds back only the failed record's group", async () => {
    const a1 = order('1001');
    const a2 = order('1001', { dedupKey: 'shopify:a2', deliveryId: 'a2' });
    const b1 = order('2002');
    eventLogBegins({ [a1.dedupKey]: 'throttled' });
    const [ra1, rb1, ra2] = [record(a1, { attempt: 2 }), record(b1), record(a2)];

    const response = await run([ra1, rb1, ra2]);

    expect(failures(response)).toEqual([ra1.messageId, ra2.messageId]);
    expect(eventLogWrites('begin').map((write) => write.pk)).toEqual([a1.dedupKey, b1.dedupKey]);
    expect(eventLogWrites('complete').map((write) => write.pk)).toEqual([b1.dedupKey]);
    // The skipped record comes back with the failed one, in order; it was not attempted, so no log entry.
    expect(visibilityChanges()).toEqual([
      { receiptHandle: ra1.receiptHandle, seconds: 10 },
      { receiptHandle: ra2.receiptHandle, seconds: 10 },
    ]);
    expect(eventLogWrites('fail').map((write) => write.pk)).toEqual([a1.dedupKey]);
  });

  it('marks a skipped record dead on its last receive, since SQS will dead-letter it', async () => {
    const a1 = order('1001');
    const a2 = order('1001', { dedupKey: 'shopify:a2', deliveryId: 'a2' });
    eventLogBegins({ [a1.dedupKey]: 'throttled' });

    await run([record(a1, { attempt: 3 }), record(a2, { attempt: 5 })]);

    expect(eventLogWrites('fail')).toEqual([
      expect.objectContaining({ pk: a1.dedupKey, values: expect.objectContaining({ ':status': 'failed' }) }),
      {
        pk: 'shopify:a2',
        values: expect.objectContaining({
          ':status': 'dead',
          ':attempts': 5,
          ':errorMessage': 'Not attempted: an earlier message of its group failed in the same batch',
        }),
      },
    ]);
  });

  it('stops taking records when the remaining time falls under the margin, failing the rest with timeout', async () => {
    const remaining = [60_000, 2_500, 2_400];
    const records = [record(order('1001')), record(order('2002')), record(order('3003'), { attempt: 5 })];

    const response = await run(
      records,
      {},
      context(() => remaining.shift() ?? 0),
    );

    expect(failures(response)).toEqual([records[1]?.messageId, records[2]?.messageId]);
    expect(eventLogWrites('begin').map((write) => write.pk)).toEqual([order('1001').dedupKey]);
    expect(eventLogWrites('fail')).toEqual([
      {
        pk: order('2002').dedupKey,
        values: expect.objectContaining({
          ':status': 'failed',
          ':errorCategory': 'timeout',
          ':errorMessage': expect.stringMatching(/^TimeoutError: Not started: 2500 ms left/),
        }),
      },
      {
        pk: order('3003').dedupKey,
        values: expect.objectContaining({ ':status': 'dead', ':errorCategory': 'timeout' }),
      },
    ]);
    expect(visibilityChanges().map((change) => change.seconds)).toEqual([5, 0]);
  });

  it('keeps three times the slowest record in reserve', async () => {
    eventLogBegins({}, 150);
    const records = [record(order('1001')), record(order('2002'))];

    // 400 ms left is above the 100 ms floor, but not above 3 x a record of >= 150 ms.
    const response = await run(
      records,
      { minSafetyMarginMs: 100 },
      context(() => 400),
    );

    expect(failures(response)).toEqual([records[1]?.messageId]);
    expect(eventLogWrites('fail')[0]?.values).toMatchObject({ ':errorCategory': 'timeout' });
  });
});

describe('domain events', () => {
  it('publishes one event per applied record and none for stale or duplicate ones', async () => {
    const newer = order('1001', { occurredAt: '2022-01-01T05:00:00.000Z' });
    const older = order('1001', { dedupKey: 'shopify:older', deliveryId: 'older' });
    const duplicate = order('2002');
    eventLogBegins({ [duplicate.dedupKey]: 'duplicate' });

    const response = await run([record(newer), record(older), record(duplicate)]);

    expect(failures(response)).toEqual([]);
    const entries = eventBridgeMock
      .commandCalls(PutEventsCommand)
      .flatMap((call) => call.args[0].input.Entries ?? []);
    expect(entries.map((entry) => [entry.DetailType, JSON.parse(entry.Detail ?? '{}').eventId])).toEqual([
      ['order.created', newer.dedupKey],
    ]);
    expect(eventLogWrites('complete').map((write) => write.values[':outcome'])).toEqual(['applied', 'stale']);
  });
});

describe('per-minute counters and metrics', () => {
  it('writes one counter update per provider and per owner for the batch, with the sums of its records', async () => {
    const applied = order('1001');
    const duplicate = order('2002');
    const throttled = order('3003');
    eventLogBegins({ [duplicate.dedupKey]: 'duplicate', [throttled.dedupKey]: 'throttled' });
    const invalidHubSpot = JSON.stringify({ version: 1, provider: 'hubspot', dedupKey: 'hubspot:x' });

    await run([record(applied), record(duplicate), record(throttled), record(invalidHubSpot)]);

    const processingTimeMs = eventLogWrites('complete')[0]?.values[':ms'];
    expect(typeof processingTimeMs).toBe('number');
    const counters = updates('metric-counters').map((input) => ({
      key: input.Key,
      values: input.ExpressionAttributeValues,
      expression: input.UpdateExpression,
    }));
    const expiresAt = Date.parse('2022-01-01T00:00:00Z') / 1000 + 8 * 86_400;
    const shopifyCounts = {
      ':total': 3,
      ':succeeded': 1,
      ':duplicates': 1,
      ':failed': 1,
      ':dead': 0,
      ':processingMsSum': processingTimeMs,
      ':latencyMsSum': NOW.getTime() - RECEIVED_AT.getTime(),
    };
    const hubspotCounts = expect.objectContaining({ ':total': 1, ':dead': 1, ':succeeded': 0 });
    expect(counters).toEqual([
      {
        key: { pk: 'provider#shopify', minute: '2022-01-01T00:00' },
        values: { ...shopifyCounts, ':expiresAt': expiresAt, ':lastEventAt': NOW.toISOString() },
        expression: expect.stringMatching(
          /^ADD .*#total :total.* SET expiresAt = :expiresAt, lastEventAt = :lastEventAt$/,
        ),
      },
      // The same records under their owner (provider-wide deliveries: the system), by minute and hour.
      {
        key: { pk: 'owner#system#shopify', minute: '2022-01-01T00:00' },
        values: { ...shopifyCounts, ':expiresAt': expiresAt, ':lastEventAt': NOW.toISOString() },
        expression: expect.any(String),
      },
      {
        key: { pk: 'owner#system#shopify#hour', minute: '2022-01-01T00' },
        values: { ...shopifyCounts, ':expiresAt': expiresAt, ':lastEventAt': NOW.toISOString() },
        expression: expect.any(String),
      },
      {
        key: { pk: 'provider#hubspot', minute: '2022-01-01T00:00' },
        values: hubspotCounts,
        expression: expect.any(String),
      },
      {
        key: { pk: 'owner#system#hubspot', minute: '2022-01-01T00:00' },
        values: hubspotCounts,
        expression: expect.any(String),
      },
      {
        key: { pk: 'owner#system#hubspot#hour', minute: '2022-01-01T00' },
        values: hubspotCounts,
        expression: expect.any(String),
      },
    ]);
  });

  it('answers the batch normally when the counters cannot be written', async () => {
    ddbMock.on(UpdateCommand, { TableName: 'metric-counters' }).rejects(new Error('ThrottlingException'));
    const applied = record(order('1001'));

    const response = await run([applied]);

    expect(failures(response)).toEqual([]);
    expect(eventLogWrites('complete')).toHaveLength(1);
    expect(updates('metric-counters')).toHaveLength(3);
  });

  it('emits one EMF document per provider, with provider as the only dimension', async () => {
    const invalidHubSpot = JSON.stringify({ version: 1, provider: 'hubspot', dedupKey: 'hubspot:x' });

    await run([record(order('1001')), record(order('2002')), record(invalidHubSpot)]);

    expect(emf).toHaveLength(2);
    const [shopifyDoc, hubspotDoc] = emf as Record<string, unknown>[];
    type EmfMeta = { CloudWatchMetrics: { Namespace: string; Dimensions: string[][] }[] };
    const awsMeta = (shopifyDoc?._aws as EmfMeta | undefined)?.CloudWatchMetrics[0];
    expect(awsMeta?.Namespace).toBe('Webhooks');
    expect(awsMeta?.Dimensions).toEqual([['provider']]);
    expect(shopifyDoc).toMatchObject({
      provider: 'shopify',
      EventsProcessed: 2,
      EventsFailed: 0,
      EventsDead: 0,
      EventsDuplicate: 0,
      EndToEndLatency: [2000, 2000],
    });
    expect(shopifyDoc?.ProcessingTime).toHaveLength(2);
    expect(shopifyDoc).not.toHaveProperty('service');
    expect(hubspotDoc).toMatchObject({ provider: 'hubspot', EventsDead: 1, EventsProcessed: 0 });
  });
});

describe('the Lambda entry point', () => {
  const ENV = {
    AWS_REGION: REGION,
    EVENT_LOG_TABLE: 'env-event-log',
    CONNECTIONS_TABLE: 'env-connections',
    METRICS_TABLE: 'env-metric-counters',
    EVENT_BUS_NAME: 'env-bus',
    WEBSOCKET_ENDPOINT: 'https://ws.example.com/prod',
    // The Data API, as in Lambda; never called: the record below is invalid and reaches no database.
    DB_CLUSTER_ARN: 'arn:aws:rds:eu-west-1:123456789012:cluster:none',
    DB_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:none',
    DB_NAME: 'none',
    MAX_RECEIVE_COUNT: '3',
    RETRY_BASE_DELAY_MS: '1000',
  };
  let saved: NodeJS.ProcessEnv;

  beforeEach(() => {
    saved = { ...process.env };
    Object.assign(process.env, ENV);
  });

  afterEach(() => {
    process.env = saved;
  });

  it('refuses to run without DLQ_URL', async () => {
    delete process.env.DLQ_URL;

    await expect(handler({ Records: [record('{}')] }, context())).rejects.toThrow('DLQ_URL');
  });

  it('takes its tables, queue, bus and retry settings from the environment', async () => {
    process.env.DLQ_URL = DLQ_URL;
    const envelope = order('1001');
    ddbMock.on(UpdateCommand).callsFake(async (input) => {
      if (input.ExpressionAttributeValues?.[':attempt'])
        throw new ProvisionedThroughputExceededException({ message: 'Rate exceeded', $metadata: {} });
      return {};
    });

    const response = await handler(
      { Records: [record('not json'), record(envelope, { attempt: 3 })] },
      context(),
    );

    expect(response.batchItemFailures).toHaveLength(1);
    expect(dlqMessages().map((message) => message.QueueUrl)).toEqual([DLQ_URL]);
    // Attempt 3 of MAX_RECEIVE_COUNT=3 is the last one: begun dead (the event log has the setting
    // too) and failed dead; the unreadable record is dead at once.
    expect(eventLogWritesIn('env-event-log').map((values) => values[':status'])).toEqual([
      'dead',
      'dead',
      'dead',
    ]);
    expect(visibilityChanges()).toEqual([expect.objectContaining({ seconds: 0 })]);
    expect(updates('env-metric-counters').map((input) => input.Key?.pk)).toEqual([
      'provider#unknown',
      'owner#system#unknown',
      'owner#system#unknown#hour',
      'provider#shopify',
      'owner#system#shopify',
      'owner#system#shopify#hour',
    ]);
  });
});

function eventLogWritesIn(table: string) {
  return updates(table)
    .map((input) => input.ExpressionAttributeValues ?? {})
    .filter((values) => values[':errorCategory'] !== undefined);
}
