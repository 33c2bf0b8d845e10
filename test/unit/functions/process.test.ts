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
import {
  BatchGetCommand,
  DynamoDBDocumentClient,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
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
import { handler, makeProcessHandler, retryPolicyFromEnv } from '../../../functions/process';
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
    retry: {
      schedule: { baseDelayMs: 5000, maxDelayMs: 900_000 },
      retryAttempts: 5,
      timeoutMs: 30_000,
      windowMs: 86_400_000,
      maxReceiveCount: 1000,
    },
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
  options: { attempt?: number; group?: string; dedupId?: string; sentAt?: Date } = {},
): SQSRecord {
  sequence++;
  const envelope = typeof body === 'string' ? undefined : body;
  return {
    messageId: `message-${sequence}`,
    receiptHandle: `receipt-${sequence}`,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    attributes: {
      ApproximateReceiveCount: String(options.attempt ?? 1),
      SentTimestamp: String((options.sentAt ?? RECEIVED_AT).getTime()),
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

type Behaviour = 'duplicate' | 'throttled' | 'failing' | 'log-down';

interface LogState {
  attempts: number;
  failedAttempts: number;
  dependencyFailures: number;
  inAttempt?: boolean;
  inAttemptWith?: number;
  status?: string;
}

let logState: Map<string, LogState>;
let behaviours: Record<string, Behaviour>;
let beginDelayMs: number;

/**
 * The event log as a small fake that counts as the real one does (test/unit/shared/stores covers
 * the real one): `begin` of the keys in `behaviour` is a duplicate, throttled (a dependency),
 * fails by the delivery's own fault, or every write of the key fails (the log is down for it).
 */
function eventLogBegins(behaviour: Record<string, Behaviour>, delayMs = 0) {
  behaviours = behaviour;
  beginDelayMs = delayMs;
}

/** The counts a delivery's entry starts with (earlier attempts). */
function logged(dedupKey: string, state: Partial<LogState>) {
  logState.set(dedupKey, { attempts: 0, failedAttempts: 0, dependencyFailures: 0, ...state });
}

function installFakeEventLog() {
  logState = new Map();
  behaviours = {};
  beginDelayMs = 0;
  ddbMock.on(UpdateCommand).callsFake(async (input) => {
    if (!String(input.TableName).endsWith('event-log')) return {};
    const pk = String(input.Key.pk);
    const values = input.ExpressionAttributeValues ?? {};
    const state = logState.get(pk) ?? { attempts: 0, failedAttempts: 0, dependencyFailures: 0 };
    logState.set(pk, state);
    const what = behaviours[pk];
    if (what === 'log-down')
      throw new ProvisionedThroughputExceededException({ message: 'Rate exceeded', $metadata: {} });
    if (values[':s_inAttempt'] === true) {
      if (beginDelayMs) await new Promise((resolve) => setTimeout(resolve, beginDelayMs));
      if (what === 'duplicate')
        throw new ConditionalCheckFailedException({
          message: 'The conditional request failed',
          $metadata: {},
        });
      if (what === 'throttled')
        throw new ProvisionedThroughputExceededException({ message: 'Rate exceeded', $metadata: {} });
      if (what === 'failing') throw new Error('boom: the entity handler refused');
      const before = { ...state };
      state.attempts++;
      state.inAttempt = true;
      return { Attributes: before };
    }
    for (const count of ['attempts', 'failedAttempts', 'dependencyFailures'] as const)
      state[count] += Number(values[`:a_${count}`] ?? 0);
    if (
      String(input.UpdateExpression).includes('REMOVE') &&
      String(input.UpdateExpression).includes('#inAttempt')
    )
      delete state.inAttempt;
    if (values[':s_status']) state.status = String(values[':s_status']);
    return input.ReturnValues === 'ALL_NEW' ? { Attributes: { ...state } } : {};
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
  const isKind = (values: Record<string, unknown>) =>
    kind === 'begin'
      ? values[':s_inAttempt'] === true
      : kind === 'complete'
        ? values[':s_outcome'] !== undefined
        : values[':s_status'] === 'failed' || values[':s_status'] === 'dead';
  return updates('event-log')
    .filter((input) => isKind(input.ExpressionAttributeValues ?? {}))
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

/** The webhook-event pushes posted to the one subscribed operator connection, in order. */
function pushes() {
  return apiMock
    .commandCalls(PostToConnectionCommand)
    .map((call) => JSON.parse(Buffer.from(call.args[0].input.Data as Uint8Array).toString()).data);
}

beforeEach(() => {
  installFakeEventLog();
});

describe('the retry schedule', () => {
  it.each([
    [0, 0],
    [1, 5],
    [2, 10],
    [3, 20],
    [4, 40],
    [5, 80],
    [8, 640],
    [9, 900],
    [40, 900],
  ])('after %i earlier failures, a failing attempt comes back after %i s', async (earlier, seconds) => {
    const envelope = order('1001');
    logged(envelope.dedupKey, { dependencyFailures: earlier });
    eventLogBegins({ [envelope.dedupKey]: 'throttled' });
    const throttled = record(envelope, { attempt: earlier + 1 });

    const response = await run([throttled]);

    expect(failures(response)).toEqual([throttled.messageId]);
    expect(visibilityChanges()).toEqual([{ receiptHandle: throttled.receiptHandle, seconds }]);
    expect(dlqMessages()).toEqual([]);
  });

  it('follows RETRY_BASE_DELAY_MS, rounding up to whole seconds', async () => {
    const [first, fourth] = [order('1001'), order('2002')];
    logged(first.dedupKey, { dependencyFailures: 1 });
    logged(fourth.dedupKey, { dependencyFailures: 4 });
    eventLogBegins({ [first.dedupKey]: 'throttled', [fourth.dedupKey]: 'throttled' });
    const base = deps().retry;

    await run([record(first), record(fourth)], {
      retry: { ...base, schedule: { baseDelayMs: 200, maxDelayMs: 900_000 } },
    });

    // 200 ms -> 1 s; 200 * 2^3 = 1600 ms -> 2 s.
    expect(visibilityChanges().map((change) => change.seconds)).toEqual([1, 2]);
  });
});

describe('failures of a dependency and failures of the delivery', () => {
  it('charges a throttled, unreachable or resuming dependency to the dependency, never dead-lettering for it', async () => {
    const envelope = order('1001');
    logged(envelope.dedupKey, { dependencyFailures: 60 });
    eventLogBegins({ [envelope.dedupKey]: 'throttled' });
    const throttled = record(envelope, { attempt: 61 });

    const response = await run([throttled]);

    expect(failures(response)).toEqual([throttled.messageId]);
    expect(dlqMessages()).toEqual([]);
    expect(eventLogWrites('fail')).toEqual([
      {
        pk: envelope.dedupKey,
        values: expect.objectContaining({
          ':s_status': 'failed',
          ':a_dependencyFailures': 1,
          ':a_attempts': 1,
          ':s_errorCategory': 'dependency',
          ':s_errorMessage': 'ProvisionedThroughputExceededException: Rate exceeded',
          ':s_provider': 'shopify',
        }),
      },
    ]);
    expect(logState.get(envelope.dedupKey)).toMatchObject({ failedAttempts: 0, dependencyFailures: 61 });
  });

  it('charges a Data API link failure to the dependency, writing no row', async () => {
    rdsMock.on(ExecuteStatementCommand).rejects(
      new DatabaseErrorException({
        message: 'Communications link failure; SQLState: 08S01',
        $metadata: {},
      }),
    );
    const dataApi = drizzleDataApi(new RDSDataClient({ region: REGION }), {
      resourceArn: 'arn:aws:rds:eu-west-1:123456789012:cluster:webhooks',
      secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db',
      database: 'webhooks',
      schema,
    }) as unknown as Db;
    const envelope = order('1001');
    logged(envelope.dedupKey, { dependencyFailures: 1 });
    const failing = record(envelope, { attempt: 2 });

    const response = await run([failing], { db: dataApi });

    expect(rdsMock.commandCalls(ExecuteStatementCommand).length).toBeGreaterThan(0);
    expect(failures(response)).toEqual([failing.messageId]);
    expect(visibilityChanges()).toEqual([{ receiptHandle: failing.receiptHandle, seconds: 5 }]);
    expect(eventLogWrites('fail')[0]?.values).toMatchObject({
      ':s_status': 'failed',
      ':s_errorCategory': 'dependency',
      ':s_errorMessage': expect.stringContaining('Communications link failure'),
    });
    expect(eventLogWrites('complete')).toEqual([]);
    expect(eventBridgeMock.commandCalls(PutEventsCommand)).toHaveLength(0);
  });

  it.each([
    [
      'refuses an entry',
      () =>
        eventBridgeMock.on(PutEventsCommand).resolves({
          FailedEntryCount: 1,
          Entries: [{ ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' }],
        }),
    ],
    [
      'cannot be reached',
      () =>
        eventBridgeMock
          .on(PutEventsCommand)
          .rejects(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })),
    ],
  ])(
    'retries a record whose domain event bus %s, without marking it processed or charging it',
    async (_case, arrange) => {
      arrange();
      const failing = record(order('1001'));

      const response = await run([failing]);

      expect(failures(response)).toEqual([failing.messageId]);
      expect(visibilityChanges()).toEqual([{ receiptHandle: failing.receiptHandle, seconds: 0 }]);
      expect(eventLogWrites('complete')).toEqual([]);
      expect(eventLogWrites('fail')[0]?.values).toMatchObject({
        ':s_status': 'failed',
        ':s_errorCategory': 'dependency',
        ':a_dependencyFailures': 1,
      });
    },
  );

  it("dead-letters on the delivery's own sixth failure (retry_attempts 5 by default): immediate, 5, 10, 20, 40 s", async () => {
    const envelope = order('1001');
    eventLogBegins({ [envelope.dedupKey]: 'failing' });
    const seconds: (number | undefined)[] = [];
    for (let attempt = 1; attempt <= 6; attempt++) {
      sqsMock.resetHistory();
      const response = await run([record(envelope, { attempt })]);
      seconds.push(visibilityChanges()[0]?.seconds);
      if (attempt < 6) expect(failures(response)).toHaveLength(1);
      else expect(failures(response)).toEqual([]);
    }
    expect(seconds).toEqual([0, 5, 10, 20, 40, undefined]);
    expect(dlqMessages()).toEqual([
      expect.objectContaining({
        QueueUrl: DLQ_URL,
        MessageAttributes: expect.objectContaining({
          errorCategory: { DataType: 'String', StringValue: 'processing' },
          errorMessage: {
            DataType: 'String',
            StringValue: 'Error: boom: the entity handler refused (attempt 6 of 6)',
          },
        }),
      }),
    ]);
    expect(logState.get(envelope.dedupKey)).toMatchObject({ status: 'dead', failedAttempts: 6, attempts: 6 });
  });

  it("takes its config's retry_attempts", async () => {
    const envelope = order('1001', { limits: { retryAttempts: 1, timeoutMs: 30_000 } });
    logged(envelope.dedupKey, { failedAttempts: 1 });
    eventLogBegins({ [envelope.dedupKey]: 'failing' });
    const second = record(envelope, { attempt: 2 });

    const response = await run([second]);

    expect(failures(response)).toEqual([]);
    expect(dlqMessages()).toHaveLength(1);
    expect(logState.get(envelope.dedupKey)).toMatchObject({ status: 'dead', failedAttempts: 2 });
  });

  it("cuts an attempt at its config's timeout_ms and charges it to the delivery", async () => {
    const envelope = order('1001', { limits: { retryAttempts: 3, timeoutMs: 50 } });
    eventLogBegins({}, 500);
    const slow = record(envelope);

    const response = await run([slow]);

    expect(failures(response)).toEqual([slow.messageId]);
    expect(eventLogWrites('fail')[0]?.values).toMatchObject({
      ':s_status': 'failed',
      ':s_errorCategory': 'timeout',
      ':s_errorMessage': 'TimeoutError: The attempt took longer than its 50 ms (timeout_ms)',
      ':a_failedAttempts': 1,
    });
    // The work cut short still finishes on its own (its retry then finds it processed); waited for
    // here so that its calls land in this test, not in the next one.
    await vi.waitFor(() => expect(eventLogWrites('complete')).toHaveLength(1), { timeout: 5000 });
  });

  it('dead-letters without an attempt a delivery whose attempts the invocation died on used up its budget', async () => {
    const envelope = order('1001', { limits: { retryAttempts: 1, timeoutMs: 30_000 } });
    logged(envelope.dedupKey, { failedAttempts: 1, inAttempt: true });
    const poison = record(envelope, { attempt: 3 });

    const response = await run([poison]);

    expect(failures(response)).toEqual([]);
    expect(await db.select().from(schema.syncedOrders)).toEqual([]);
    expect(dlqMessages()).toHaveLength(1);
    // The begin charged the unfinished attempt; dead-lettering it charges nothing more.
    expect(logState.get(envelope.dedupKey)).toMatchObject({ status: 'dead', failedAttempts: 2 });
    expect(eventLogWrites('fail')[0]?.values).toMatchObject({
      ':s_status': 'dead',
      ':s_errorCategory': 'timeout',
      ':s_errorMessage': expect.stringMatching(/^AttemptsUsedUpError: 2 attempts did not finish/),
    });
  });

  it('dead-letters a delivery still failing at the end of the retry window, before the queue expires it', async () => {
    const envelope = order('1001');
    logged(envelope.dedupKey, { dependencyFailures: 30 });
    eventLogBegins({ [envelope.dedupKey]: 'throttled' });
    const old = record(envelope, { attempt: 31, sentAt: new Date(NOW.getTime() - 86_000_000) });

    const response = await run([old]);

    expect(failures(response)).toEqual([]);
    expect(dlqMessages()[0]?.MessageAttributes?.errorMessage?.StringValue).toMatch(
      /Rate exceeded \(still failing after 23\.9 h: the queue would expire it\)$/,
    );
    expect(logState.get(envelope.dedupKey)).toMatchObject({ status: 'dead' });
  });
});

describe('dead-lettering', () => {
  it('sends to the DLQ first and logs dead second, deduplicated per receive so no dead letter is dropped', async () => {
    const envelope = order('1001');
    logged(envelope.dedupKey, { failedAttempts: 5 });
    eventLogBegins({ [envelope.dedupKey]: 'failing' });
    const last = record(envelope, { attempt: 9 });

    await run([last]);

    expect(dlqMessages()).toEqual([
      expect.objectContaining({
        MessageBody: last.body,
        MessageGroupId: envelope.orderingKey,
        MessageDeduplicationId: `${last.messageId}#9`,
      }),
    ]);
    const [failed, dead] = eventLogWrites('fail');
    expect(failed?.values).toMatchObject({ ':s_status': 'failed' });
    expect(dead?.values).toMatchObject({ ':s_status': 'dead' });
    expect(dead?.values).not.toHaveProperty(':a_failedAttempts');
  });

  it('keeps the record in its queue when the DLQ refuses it: logged failed, retried', async () => {
    sqsMock.on(SendMessageCommand).rejects(new Error('AWS.SimpleQueueService.NonExistentQueue'));
    const envelope = order('1001');
    logged(envelope.dedupKey, { failedAttempts: 5 });
    eventLogBegins({ [envelope.dedupKey]: 'failing' });
    const last = record(envelope, { attempt: 6 });

    const response = await run([last]);

    expect(failures(response)).toEqual([last.messageId]);
    expect(logState.get(envelope.dedupKey)?.status).toBe('failed');
    expect(visibilityChanges()).toHaveLength(1);
  });

  it('keeps the record in its queue when the log cannot say dead: a delivery the log calls dead is always in a DLQ', async () => {
    const envelope = order('1001');
    eventLogBegins({ [envelope.dedupKey]: 'log-down' });
    const old = record(envelope, { attempt: 40, sentAt: new Date(NOW.getTime() - 86_000_000) });

    const response = await run([old]);

    // The DLQ has a copy (the queue must not expire it); the record stays until the log says dead.
    expect(dlqMessages()).toHaveLength(1);
    expect(failures(response)).toEqual([old.messageId]);
  });

  it('pushes failed and dead deliveries to their dashboards, as webhook-event with that status', async () => {
    ddbMock.on(QueryCommand).resolves({
      Items: [
        {
          connectionId: 'c-1',
          userId: 'oncall',
          role: 'operator',
          events: ['webhook-event'],
        },
      ],
    });
    const [failing, dying] = [order('1001'), order('2002')];
    logged(dying.dedupKey, { failedAttempts: 5 });
    eventLogBegins({ [failing.dedupKey]: 'failing', [dying.dedupKey]: 'failing' });

    await run([record(failing), record(dying, { attempt: 6 })]);

    expect(pushes()).toEqual([
      expect.objectContaining({
        id: failing.dedupKey,
        status: 'failed',
        errorCategory: 'processing',
        errorMessage: 'Error: boom: the entity handler refused',
        ownerId: 'system',
      }),
      expect.objectContaining({
        id: dying.dedupKey,
        status: 'dead',
        errorCategory: 'processing',
        ownerId: 'system',
      }),
    ]);
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
        MessageDeduplicationId: `${missing.messageId}#1`,
      }),
    ]);
    expect(eventLogWrites('fail')).toEqual([
      {
        pk: envelope.dedupKey,
        values: expect.objectContaining({
          ':s_status': 'dead',
          ':s_errorCategory': 'validation',
          ':s_errorMessage': expect.stringContaining('does not exist'),
          ':s_payloadRef': envelope.payloadRef,
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
        MessageAttributes: expect.objectContaining({
          errorCategory: { DataType: 'String', StringValue: 'validation' },
        }),
      }),
    ]);
    expect(eventLogWrites('fail')).toEqual([
      {
        pk: 'hubspot:62515:1:2:3:4',
        values: expect.objectContaining({
          ':s_status': 'dead',
          ':s_errorCategory': 'validation',
          ':s_errorMessage': expect.stringMatching(/^ValidationError: Invalid envelope: /),
          ':s_provider': 'hubspot',
        }),
      },
    ]);
  });

  it('dead-letters a body that is not JSON under a key made from its message', async () => {
    const garbage = record('not json at all', { group: 'g-1' });
    delete garbage.attributes.MessageDeduplicationId;

    const response = await run([garbage]);

    expect(failures(response)).toEqual([]);
    expect(dlqMessages()[0]).toMatchObject({ MessageGroupId: 'g-1' });
    expect(eventLogWrites('fail')[0]).toMatchObject({
      pk: `sqs:${garbage.messageId}`,
      values: { ':s_errorMessage': 'ValidationError: Invalid envelope: the message body is not JSON' },
    });
  });

  it('reports the record a failure, to be retried, when the DLQ refuses it', async () => {
    sqsMock.on(SendMessageCommand).rejects(new Error('AWS.SimpleQueueService.NonExistentQueue'));
    const invalid = record('{"version":2}', { attempt: 1 });

    const response = await run([invalid]);

    expect(failures(response)).toEqual([invalid.messageId]);
    expect(visibilityChanges()).toEqual([{ receiptHandle: invalid.receiptHandle, seconds: 0 }]);
    expect(eventLogWrites('fail')).toEqual([]);
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
  it("holds back only the failed record's group, charging the held-back records nothing", async () => {
    const a1 = order('1001');
    const a2 = order('1001', { dedupKey: 'shopify:a2', deliveryId: 'a2' });
    const b1 = order('2002');
    logged(a1.dedupKey, { dependencyFailures: 1 });
    eventLogBegins({ [a1.dedupKey]: 'throttled' });
    // a2 has been received (and held back) many times already: that uses up nothing.
    const [ra1, rb1, ra2] = [record(a1, { attempt: 2 }), record(b1), record(a2, { attempt: 50 })];

    const response = await run([ra1, rb1, ra2]);

    expect(failures(response)).toEqual([ra1.messageId, ra2.messageId]);
    expect(eventLogWrites('begin').map((write) => write.pk)).toEqual([a1.dedupKey, b1.dedupKey]);
    expect(eventLogWrites('complete').map((write) => write.pk)).toEqual([b1.dedupKey]);
    // The skipped record comes back with the failed one, in order; it was not attempted, so no log entry.
    expect(visibilityChanges()).toEqual([
      { receiptHandle: ra1.receiptHandle, seconds: 5 },
      { receiptHandle: ra2.receiptHandle, seconds: 5 },
    ]);
    expect(eventLogWrites('fail').map((write) => write.pk)).toEqual([a1.dedupKey]);
    expect(dlqMessages()).toEqual([]);
  });

  it("dead-letters a held-back record on SQS's last receive, before SQS's redrive moves it unlogged", async () => {
    const a1 = order('1001');
    const a2 = order('1001', { dedupKey: 'shopify:a2', deliveryId: 'a2' });
    eventLogBegins({ [a1.dedupKey]: 'throttled' });
    const held = record(a2, { attempt: 1000 });

    const response = await run([record(a1, { attempt: 3 }), held]);

    expect(failures(response)).not.toContain(held.messageId);
    expect(dlqMessages()).toEqual([expect.objectContaining({ MessageBody: held.body })]);
    expect(eventLogWrites('fail')).toEqual([
      expect.objectContaining({
        pk: a1.dedupKey,
        values: expect.objectContaining({ ':s_status': 'failed' }),
      }),
      {
        pk: 'shopify:a2',
        values: expect.objectContaining({
          ':s_status': 'dead',
          ':s_errorMessage': expect.stringMatching(
            /^Held back behind a failing message of its group for 1000 receives/,
          ),
        }),
      },
    ]);
  });

  it('leaves the records it has no time for untouched and uncharged, back after the first backoff', async () => {
    const remaining = [60_000, 2_500, 2_400];
    // One group: its records are taken one round after another, each round checking the time.
    const records = [
      record(order('1001')),
      record(order('1001', { dedupKey: 'shopify:a2', deliveryId: 'a2' })),
      record(order('1001', { dedupKey: 'shopify:a3', deliveryId: 'a3' }), { attempt: 5 }),
    ];

    const response = await run(
      records,
      {},
      context(() => remaining.shift() ?? 0),
    );

    expect(failures(response)).toEqual([records[1]?.messageId, records[2]?.messageId]);
    expect(eventLogWrites('begin').map((write) => write.pk)).toEqual([order('1001').dedupKey]);
    expect(eventLogWrites('fail')).toEqual([]);
    expect(visibilityChanges().map((change) => change.seconds)).toEqual([5, 5]);
  });

  it('keeps three times the slowest record in reserve', async () => {
    eventLogBegins({}, 150);
    const records = [
      record(order('1001')),
      record(order('1001', { dedupKey: 'shopify:a2', deliveryId: 'a2' })),
    ];

    // 400 ms left is above the 100 ms floor, but not above 3 x a record of >= 150 ms.
    const response = await run(
      records,
      { minSafetyMarginMs: 100 },
      context(() => 400),
    );

    expect(failures(response)).toEqual([records[1]?.messageId]);
    expect(eventLogWrites('fail')).toEqual([]);
  });
});

describe('a batch is processed per batch, not per record', () => {
  /** Aurora through the Data API, answering each upsert with the rows of `envelopes` it names. */
  function dataApiFor(envelopes: readonly Envelope[]): Db {
    rdsMock
      .on(ExecuteStatementCommand)
      .callsFake(async (input: { parameters?: { value?: { stringValue?: string } }[] }) => {
        const named = new Set((input.parameters ?? []).map((parameter) => parameter.value?.stringValue));
        return {
          records: envelopes
            .filter((envelope) => named.has(envelope.dedupKey))
            .map((envelope) => [
              { stringValue: envelope.ownerId },
              { stringValue: envelope.meta.shopDomain ?? '' },
              { stringValue: envelope.objectId },
              { stringValue: envelope.dedupKey },
              { booleanValue: true },
            ]),
        };
      });
    return drizzleDataApi(new RDSDataClient({ region: REGION }), {
      resourceArn: 'arn:aws:rds:eu-west-1:123456789012:cluster:webhooks',
      secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db',
      database: 'webhooks',
      schema,
    }) as unknown as Db;
  }

  /** An operator's dashboard; `batched`: subscribed with batch: true, as the dashboard page does. */
  function dashboardConnected(batched: boolean) {
    ddbMock.on(QueryCommand).resolves({
      Items: [
        { connectionId: 'c-1', userId: 'oncall', role: 'operator', events: ['webhook-event'], batched },
      ],
    });
  }

  /** Every call to AWS the handler made, by command. */
  function callsByCommand(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const mock of [ddbMock, sqsMock, s3Mock, eventBridgeMock, apiMock, rdsMock] as const)
      for (const call of mock.calls()) {
        const name = (call.args[0] as object).constructor.name;
        counts[name] = (counts[name] ?? 0) + 1;
      }
    return counts;
  }

  it('applies ten records of ten groups with one statement, one PutEvents, one read of the log, one lookup of the dashboards and one post to a batched dashboard', async () => {
    dashboardConnected(true);
    const envelopes = Array.from({ length: 10 }, (_, i) => order(String(1001 + i)));

    const response = await run(
      envelopes.map((envelope) => record(envelope)),
      { db: dataApiFor(envelopes) },
    );

    expect(failures(response)).toEqual([]);
    expect(eventLogWrites('complete')).toHaveLength(10);
    const counts = callsByCommand();
    expect(counts).toMatchObject({
      ExecuteStatementCommand: 1,
      PutEventsCommand: 1,
      BatchGetCommand: 1,
      QueryCommand: 1,
      // The log's conditional begin and its completion stay per delivery (issued together).
      UpdateCommand: 20 + updates('metric-counters').length,
      PostToConnectionCommand: 1,
    });
    const posted = JSON.parse(
      Buffer.from(
        apiMock.commandCalls(PostToConnectionCommand)[0]?.args[0].input.Data as Uint8Array,
      ).toString(),
    );
    expect(posted.type).toBe('batch');
    expect(posted.data.map((push: { data: { objectId: string } }) => push.data.objectId)).toEqual(
      envelopes.map((envelope) => envelope.objectId),
    );
    const perEvent = Object.values(counts).reduce((sum, n) => sum + n, 0) / 10;
    expect(perEvent).toBeLessThanOrEqual(3);
  });

  it("posts each push on its own to a seed client's connection (no batch option)", async () => {
    dashboardConnected(false);
    const envelopes = Array.from({ length: 10 }, (_, i) => order(String(1001 + i)));

    await run(
      envelopes.map((envelope) => record(envelope)),
      { db: dataApiFor(envelopes) },
    );

    expect(apiMock.commandCalls(PostToConnectionCommand)).toHaveLength(10);
  });

  it('runs the groups of a batch concurrently, each group strictly in order', async () => {
    const a1 = order('1001');
    const a2 = order('1001', {
      dedupKey: 'shopify:a2',
      deliveryId: 'a2',
      occurredAt: '2022-01-01T00:00:05.000Z',
    });
    const b1 = order('2002');

    const response = await run([record(a1), record(a2), record(b1)]);

    expect(failures(response)).toEqual([]);
    const writes = updates('event-log').map((input) => {
      const values = input.ExpressionAttributeValues ?? {};
      return `${values[':s_inAttempt'] === true ? 'begin' : 'complete'} ${input.Key?.pk}`;
    });
    // b1 goes with a1 (begun together), a2 only once a1 is complete.
    expect(writes).toEqual([
      `begin ${a1.dedupKey}`,
      `begin ${b1.dedupKey}`,
      `complete ${a1.dedupKey}`,
      `complete ${b1.dedupKey}`,
      'begin shopify:a2',
      'complete shopify:a2',
    ]);
    const [stored] = await db
      .execute(sql`SELECT source_event_id FROM synced_orders WHERE id = '1001'`)
      .then((result) => (result as unknown as { rows: { source_event_id: string }[] }).rows);
    expect(stored?.source_event_id).toBe('shopify:a2');
  });

  it('tries alone, uncharged, a record whose last attempt died along with others', async () => {
    const suspect = order('1001');
    const other = order('2002');
    logged(suspect.dedupKey, { inAttempt: true, inAttemptWith: 2 });
    ddbMock.on(BatchGetCommand).resolves({
      Responses: {
        'event-log': [{ pk: suspect.dedupKey, status: 'received', inAttempt: true, inAttemptWith: 2 }],
      },
    });

    const response = await run([record(suspect, { attempt: 2 }), record(other)]);

    expect(failures(response)).toEqual([]);
    expect(logState.get(suspect.dedupKey)?.failedAttempts).toBe(0);
    // The other first, then the suspect in a round of its own: begun alone.
    expect(eventLogWrites('begin').map((write) => [write.pk, write.values[':s_inAttemptWith']])).toEqual([
      [other.dedupKey, undefined],
      [suspect.dedupKey, undefined],
    ]);
  });

  it('says how many records were begun together, so that a death is charged to none of them', async () => {
    const response = await run([record(order('1001')), record(order('2002')), record(order('3003'))]);

    expect(failures(response)).toEqual([]);
    expect(eventLogWrites('begin').map((write) => write.values[':s_inAttemptWith'])).toEqual([3, 3, 3]);
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
    expect(eventLogWrites('complete').map((write) => write.values[':s_outcome'])).toEqual([
      'applied',
      'stale',
    ]);
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

    const processingTimeMs = eventLogWrites('complete')[0]?.values[':s_processingTimeMs'];
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
    MAX_RECEIVE_COUNT: '7',
    RETRY_BASE_DELAY_MS: '1000',
    MAX_RETRY_DELAY_MS: '60000',
    RETRY_ATTEMPTS: '2',
    ATTEMPT_TIMEOUT_MS: '20000',
    RETRY_WINDOW_SECONDS: '7200',
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
    expect(retryPolicyFromEnv()).toEqual({
      schedule: { baseDelayMs: 1000, maxDelayMs: 60_000 },
      retryAttempts: 2,
      timeoutMs: 20_000,
      windowMs: 7_200_000,
      maxReceiveCount: 7,
    });
    const envelope = order('1001');
    logged(envelope.dedupKey, { failedAttempts: 2 });
    eventLogBegins({ [envelope.dedupKey]: 'failing' });

    const response = await handler(
      { Records: [record('not json'), record(envelope, { attempt: 3 })] },
      context(),
    );

    // The unreadable record is dead at once; the third own failure of RETRY_ATTEMPTS=2 is the last.
    expect(response.batchItemFailures).toHaveLength(0);
    expect(dlqMessages().map((message) => message.QueueUrl)).toEqual([DLQ_URL, DLQ_URL]);
    expect(eventLogWritesIn('env-event-log').map((values) => values[':s_status'])).toEqual([
      'dead',
      'failed',
      'dead',
    ]);
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
    .filter((values) => values[':s_errorCategory'] !== undefined);
}
