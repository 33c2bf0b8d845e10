import {
  ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetObjectCommand, type GetObjectCommandOutput, NoSuchKey, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { eq, sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Db } from '../../../../shared/db/client';
import { loadMigrations, migrate } from '../../../../shared/db/migrate';
import { syncedOrders } from '../../../../shared/db/schema';
import type { Envelope } from '../../../../shared/envelope';
import { ValidationError } from '../../../../shared/errors';
import { EventBridgePublisher } from '../../../../shared/events/publisher';
import { logger } from '../../../../shared/observability';
import { type ProcessorDeps, processEnvelope } from '../../../../shared/process/processor';
import { Broadcaster } from '../../../../shared/realtime/broadcaster';
import { ConnectionStore } from '../../../../shared/stores/connections';
import { EventLog } from '../../../../shared/stores/event-log';
import { PayloadStore } from '../../../../shared/stores/payload-store';
import { shopifyEnvelope } from '../../support/envelopes';
import { type InMemoryDb, inMemoryDb } from '../../support/pglite';

const ORDER_ID = '820982911946154508';
const PROCESSED_AT = new Date('2022-01-01T00:00:09.000Z');

const ddbMock = mockClient(DynamoDBDocumentClient);
const apiMock = mockClient(ApiGatewayManagementApiClient);
const s3Mock = mockClient(S3Client);
const eventBridgeMock = mockClient(EventBridgeClient);

let db: Db;
let rows: InMemoryDb['rows'];
let closeDb: () => Promise<void>;
let deps: ProcessorDeps;
let firstMigration: string[];

beforeAll(async () => {
  logger.setLogLevel('SILENT');
  // One PGlite per run: starting it costs seconds, and vitest runs files one at a time on 2-CPU machines,
  // so the migrator's database tests share this instance too.
  ({ db, rows, close: closeDb } = await inMemoryDb());
  firstMigration = await migrate(db, await loadMigrations());
  const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' }));
  const connections = new ConnectionStore(ddb, 'connections');
  deps = {
    eventLog: new EventLog(ddb, 'event-log', 30),
    db,
    events: new EventBridgePublisher(new EventBridgeClient({ region: 'eu-west-1' }), 'domain-events'),
    broadcaster: new Broadcaster(
      connections,
      new ApiGatewayManagementApiClient({
        region: 'eu-west-1',
        endpoint: 'https://ws123.execute-api.eu-west-1.amazonaws.com/prod',
      }),
    ),
    now: () => PROCESSED_AT,
  };
});

afterAll(async () => {
  await closeDb();
});

beforeEach(async () => {
  await db.execute(sql`TRUNCATE synced_orders`);
  ddbMock.on(UpdateCommand).resolves({});
  // Operators' connections: a provider-wide delivery's push is theirs.
  ddbMock.on(QueryCommand, { IndexName: 'byRole' }).resolves({
    Items: [
      { connectionId: 'conn-a', userId: 'user-1', role: 'operator', events: ['webhook-event'] },
      {
        connectionId: 'conn-b',
        userId: 'user-2',
        role: 'operator',
        events: ['webhook-event', 'webhook-alert'],
      },
    ],
  });
  apiMock.on(PostToConnectionCommand).resolves({});
  eventBridgeMock.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
});

afterEach(() => {
  ddbMock.reset();
  apiMock.reset();
  s3Mock.reset();
  eventBridgeMock.reset();
});

/** The fixture order; a later `occurredAt` arrives (receivedAt) seven seconds after it, as deliveries do. */
function orderEnvelope(overrides: { occurredAt?: string; payload?: Record<string, unknown> } = {}): Envelope {
  const base = shopifyEnvelope('orders-create.json');
  const received = overrides.occurredAt && new Date(Date.parse(overrides.occurredAt) + 7000).toISOString();
  return {
    ...base,
    ...(overrides.occurredAt && received && received > base.receivedAt
      ? { occurredAt: overrides.occurredAt, receivedAt: received }
      : overrides.occurredAt
        ? { occurredAt: overrides.occurredAt }
        : {}),
    ...(overrides.payload ? { payload: { ...(base.payload as object), ...overrides.payload } } : {}),
  };
}

async function storedOrders() {
  return db.select().from(syncedOrders);
}

async function storedOrder(id = ORDER_ID) {
  const [row] = await db.select().from(syncedOrders).where(eq(syncedOrders.id, id));
  return row;
}

function withoutUpdatedAt(row: Awaited<ReturnType<typeof storedOrder>>) {
  const { updatedAt: _updatedAt, ...rest } = row ?? ({} as NonNullable<typeof row>);
  return rest;
}

function postedMessages() {
  return apiMock.commandCalls(PostToConnectionCommand).map((call) => ({
    connectionId: call.args[0].input.ConnectionId,
    message: JSON.parse(Buffer.from(call.args[0].input.Data as Uint8Array).toString('utf8')),
  }));
}

describe('processEnvelope', () => {
  it('upserts a Shopify order with its exact id and fields', async () => {
    const envelope = orderEnvelope();

    const outcome = await processEnvelope(deps, envelope);

    expect(outcome).toBe('applied');
    const row = await storedOrder();
    expect(row).toMatchObject({
      id: ORDER_ID,
      shopDomain: 'jsmith.myshopify.com',
      orderNumber: '1234',
      totalPrice: '403.00',
      currency: 'USD',
      financialStatus: 'paid',
      fulfillmentStatus: null,
      customerEmail: 'jon@example.com',
      sourceEventType: 'orders/create',
      sourceUpdatedAt: new Date('2022-01-01T00:00:00.000Z'),
      deletedAt: null,
    });
    expect(row?.payload).toMatchObject({
      id: ORDER_ID,
      name: '#9999',
      customer: { id: '706405506930370084', email: 'john@example.com' },
      line_items: [{ id: '866550311766439020' }, { id: '141249953214522974' }],
    });
  });

  it("falls back to the customer's email when the order has none", async () => {
    const envelope = orderEnvelope({ payload: { email: null, contact_email: null } });

    await processEnvelope(deps, envelope);

    expect((await storedOrder())?.customerEmail).toBe('john@example.com');
  });

  it('stores a null total_price rather than a value that is not a decimal', async () => {
    const envelope = orderEnvelope({ payload: { total_price: '403.00; drop table synced_orders' } });

    await processEnvelope(deps, envelope);

    expect((await storedOrder())?.totalPrice).toBeNull();
  });

  it('leaves the row unchanged and returns stale for an event older than the stored one', async () => {
    const newer = orderEnvelope({
      occurredAt: '2022-01-01T01:00:00.000Z',
      payload: { financial_status: 'refunded' },
    });
    const older = orderEnvelope({ occurredAt: '2022-01-01T00:00:00.000Z' });
    await processEnvelope(deps, newer);
    const before = await storedOrder();

    const outcome = await processEnvelope(deps, older);

    expect(outcome).toBe('stale');
    expect(await storedOrder()).toEqual(before);
    expect(before?.financialStatus).toBe('refunded');
  });

  it('applies a newer event over an older one', async () => {
    await processEnvelope(deps, orderEnvelope({ occurredAt: '2022-01-01T00:00:00.000Z' }));

    const outcome = await processEnvelope(
      deps,
      orderEnvelope({ occurredAt: '2022-01-01T01:00:00.000Z', payload: { financial_status: 'refunded' } }),
    );

    expect(outcome).toBe('applied');
    expect(await storedOrder()).toMatchObject({
      financialStatus: 'refunded',
      sourceUpdatedAt: new Date('2022-01-01T01:00:00.000Z'),
    });
  });

  it('returns applied and keeps the same state when the same event is replayed', async () => {
    const envelope = orderEnvelope();
    await processEnvelope(deps, envelope);
    const before = await storedOrder();

    const outcome = await processEnvelope(deps, envelope);

    expect(outcome).toBe('applied');
    expect(withoutUpdatedAt(await storedOrder())).toEqual(withoutUpdatedAt(before));
    expect(await storedOrders()).toHaveLength(1);
  });

  it('returns duplicate and writes nothing when the event log already has the delivery', async () => {
    ddbMock
      .on(UpdateCommand)
      .rejects(
        new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }),
      );

    const outcome = await processEnvelope(deps, orderEnvelope());

    expect(outcome).toBe('duplicate');
    expect(await storedOrders()).toEqual([]);
    expect(ddbMock.commandCalls(UpdateCommand)).toHaveLength(1);
    expect(apiMock.commandCalls(PostToConnectionCommand)).toHaveLength(0);
  });

  it('records the attempt before and the completion after applying the event', async () => {
    const envelope = orderEnvelope();

    await processEnvelope(deps, envelope);

    const updates = ddbMock.commandCalls(UpdateCommand).map((call) => call.args[0].input);
    expect(updates).toHaveLength(2);
    expect(updates[0]).toMatchObject({
      TableName: 'event-log',
      Key: { pk: envelope.dedupKey },
      ExpressionAttributeValues: { ':a_attempts': 1, ':s_objectId': ORDER_ID },
    });
    expect(updates[1]).toMatchObject({
      Key: { pk: envelope.dedupKey },
      ExpressionAttributeValues: {
        ':s_status': 'processed',
        ':s_processedAt': PROCESSED_AT.toISOString(),
        ':s_outcome': 'applied',
      },
    });
  });

  it('throws, writing nothing, when the event log is unavailable so the record is retried', async () => {
    ddbMock.on(UpdateCommand).rejects(new Error('ProvisionedThroughputExceededException'));

    await expect(processEnvelope(deps, orderEnvelope())).rejects.toThrow();

    expect(await storedOrders()).toEqual([]);
  });

  it("posts a provider-wide delivery's webhook-event message to every subscribed operator connection", async () => {
    const envelope = orderEnvelope();

    await processEnvelope(deps, envelope);

    const query = ddbMock.commandCalls(QueryCommand)[0]?.args[0].input;
    expect(query?.ExpressionAttributeValues).toEqual({ ':role': 'operator', ':type': 'webhook-event' });
    const posted = postedMessages();
    expect(posted.map((p) => p.connectionId).sort()).toEqual(['conn-a', 'conn-b']);
    expect(posted[0]?.message).toEqual({
      type: 'webhook-event',
      timestamp: PROCESSED_AT.toISOString(),
      data: {
        id: envelope.dedupKey,
        ownerId: 'system',
        provider: 'shopify',
        eventType: 'orders/create',
        objectType: 'order',
        objectId: ORDER_ID,
        deliveryId: envelope.deliveryId,
        status: 'processed',
        outcome: 'applied',
        occurredAt: '2022-01-01T00:00:00.000Z',
        receivedAt: envelope.receivedAt,
        processedAt: PROCESSED_AT.toISOString(),
        processingTimeMs: expect.any(Number),
      },
    });
  });

  it('still succeeds when the connections cannot be read for the live push', async () => {
    ddbMock.on(QueryCommand).rejects(new Error('connections table unavailable'));

    const outcome = await processEnvelope(deps, orderEnvelope());

    expect(outcome).toBe('applied');
    expect(await storedOrder()).toBeDefined();
    expect(ddbMock.commandCalls(UpdateCommand)).toHaveLength(2);
  });

  it('still succeeds when posting to a connection fails', async () => {
    apiMock.on(PostToConnectionCommand).rejects(new Error('ThrottlingException'));

    await expect(processEnvelope(deps, orderEnvelope())).resolves.toBe('applied');
  });

  it('returns ignored for an object type without a table, and still reports it', async () => {
    // No table holds Shopify order risks.
    const risk = { ...orderEnvelope(), objectType: 'order_risk', eventType: 'order_risks/create' };

    const outcome = await processEnvelope(deps, risk);

    expect(outcome).toBe('ignored');
    expect(await storedOrders()).toEqual([]);
    expect(ddbMock.commandCalls(UpdateCommand)).toHaveLength(2);
    expect(postedMessages()[0]?.message.data).toMatchObject({
      objectType: 'order_risk',
      objectId: ORDER_ID,
      outcome: 'ignored',
    });
  });

  it('marks an order deleted by orders/delete', async () => {
    await processEnvelope(deps, orderEnvelope());
    const deletion = {
      ...orderEnvelope({ occurredAt: '2022-01-02T00:00:00.000Z' }),
      eventType: 'orders/delete',
      payload: { id: ORDER_ID },
    };

    const outcome = await processEnvelope(deps, deletion);

    expect(outcome).toBe('applied');
    expect((await storedOrder())?.deletedAt).toEqual(new Date('2022-01-02T00:00:00.000Z'));
  });

  it('keeps the last known fields of an order marked deleted', async () => {
    await processEnvelope(deps, orderEnvelope());
    const before = await storedOrder();
    const deletion = {
      ...orderEnvelope({ occurredAt: '2022-01-02T00:00:00.000Z' }),
      eventType: 'orders/delete',
      payload: { id: ORDER_ID },
    };

    await processEnvelope(deps, deletion);

    const after = await storedOrder();
    expect(after?.orderNumber).toBe(before?.orderNumber);
    expect(after?.totalPrice).toBe(before?.totalPrice);
    expect(after?.customerEmail).toBe(before?.customerEmail);
    expect(after?.payload).toEqual(before?.payload);
  });

  it('does not resurrect an order with an update older than its deletion', async () => {
    await processEnvelope(deps, orderEnvelope({ occurredAt: '2022-01-01T00:00:00.000Z' }));
    const deletion = {
      ...orderEnvelope({ occurredAt: '2022-01-03T00:00:00.000Z' }),
      eventType: 'orders/delete',
      payload: { id: ORDER_ID },
    };
    await processEnvelope(deps, deletion);
    const lateUpdate = {
      ...orderEnvelope({ occurredAt: '2022-01-02T00:00:00.000Z' }),
      dedupKey: 'shopify:late-update',
    };

    const outcome = await processEnvelope(deps, lateUpdate);

    expect(outcome).toBe('stale');
    expect((await storedOrder())?.deletedAt).toEqual(new Date('2022-01-03T00:00:00.000Z'));
  });
});

function publishedEvents() {
  return eventBridgeMock
    .commandCalls(PutEventsCommand)
    .flatMap((call) => call.args[0].input.Entries ?? [])
    .map((entry) => ({ ...entry, Detail: JSON.parse(entry.Detail ?? 'null') }));
}

describe('processEnvelope publishes domain events', () => {
  it('puts one normalized event on the bus for an applied change', async () => {
    const envelope = orderEnvelope();

    await processEnvelope(deps, envelope);

    expect(publishedEvents()).toEqual([
      {
        EventBusName: 'domain-events',
        Source: 'webhooks.shopify',
        DetailType: 'order.created',
        Detail: {
          eventId: envelope.dedupKey,
          ownerId: 'system',
          provider: 'shopify',
          eventType: 'orders/create',
          objectType: 'order',
          objectId: ORDER_ID,
          occurredAt: '2022-01-01T00:00:00.000Z',
          receivedAt: envelope.receivedAt,
          processedAt: PROCESSED_AT.toISOString(),
          changeType: 'created',
          data: envelope.payload,
        },
      },
    ]);
  });

  it('publishes nothing for a stale event', async () => {
    await processEnvelope(deps, orderEnvelope({ occurredAt: '2022-01-01T01:00:00.000Z' }));
    eventBridgeMock.resetHistory();

    const outcome = await processEnvelope(deps, orderEnvelope({ occurredAt: '2022-01-01T00:00:00.000Z' }));

    expect(outcome).toBe('stale');
    expect(publishedEvents()).toEqual([]);
  });

  it('publishes nothing for a duplicate delivery', async () => {
    ddbMock
      .on(UpdateCommand)
      .rejects(
        new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }),
      );

    await processEnvelope(deps, orderEnvelope());

    expect(publishedEvents()).toEqual([]);
  });

  it('publishes nothing for an event without a table', async () => {
    const envelope = shopifyEnvelope('orders-create.json', { topic: 'orders/create' });
    const withoutTable = { ...envelope, objectType: 'order_risk' };

    await expect(processEnvelope(deps, withoutTable)).resolves.toBe('ignored');

    expect(publishedEvents()).toEqual([]);
  });

  it('publishes before it marks the delivery processed, and throws without marking it when PutEvents fails an entry', async () => {
    eventBridgeMock.on(PutEventsCommand).resolves({
      FailedEntryCount: 1,
      Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'try again' }],
    });

    await expect(processEnvelope(deps, orderEnvelope())).rejects.toThrow(/PutEvents failed.*InternalFailure/);

    const updates = ddbMock.commandCalls(UpdateCommand).map((call) => call.args[0].input);
    expect(updates).toHaveLength(1);
    expect(updates[0]?.ExpressionAttributeValues).toMatchObject({ ':s_status': 'received' });
    expect(apiMock.commandCalls(PostToConnectionCommand)).toHaveLength(0);
  });

  it('publishes again when the failed delivery is retried, since re-applying the same state is applied again', async () => {
    eventBridgeMock.on(PutEventsCommand).rejectsOnce(new Error('ThrottlingException'));
    await expect(processEnvelope(deps, orderEnvelope())).rejects.toThrow('ThrottlingException');
    eventBridgeMock.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-2' }] });

    await expect(processEnvelope(deps, orderEnvelope())).resolves.toBe('applied');

    expect(publishedEvents().map((event) => event.Detail.eventId)).toEqual([
      orderEnvelope().dedupKey,
      orderEnvelope().dedupKey,
    ]);
  });
});

describe('processEnvelope with a claim-checked payload', () => {
  const PAYLOAD_REF = { bucket: 'webhook-payloads', key: 'shopify/2022-01-01/4f2a.json' };

  /** A GetObject body as the SDK returns it; the store only reads it with transformToString. */
  function objectBody(text: string): GetObjectCommandOutput['Body'] {
    return { transformToString: async () => text } as unknown as GetObjectCommandOutput['Body'];
  }

  function claimChecked(): Envelope {
    return { ...orderEnvelope(), payload: undefined, payloadRef: PAYLOAD_REF };
  }

  it('applies the payload read back from S3', async () => {
    const payload = { ...(orderEnvelope().payload as object), financial_status: 'refunded' };
    s3Mock.on(GetObjectCommand).resolves({ Body: objectBody(JSON.stringify(payload)) });
    const payloads = new PayloadStore(new S3Client({ region: 'eu-west-1' }), PAYLOAD_REF.bucket);

    const outcome = await processEnvelope({ ...deps, payloads }, claimChecked());

    expect(outcome).toBe('applied');
    expect(s3Mock.commandCalls(GetObjectCommand).map((call) => call.args[0].input)).toEqual([
      { Bucket: PAYLOAD_REF.bucket, Key: PAYLOAD_REF.key },
    ]);
    expect(await storedOrder()).toMatchObject({
      id: ORDER_ID,
      totalPrice: '403.00',
      financialStatus: 'refunded',
      customerEmail: 'jon@example.com',
    });
    expect((await storedOrder())?.payload).toEqual(payload);
  });

  it('throws, writing nothing, when no payload store is configured so the record is retried', async () => {
    await expect(processEnvelope(deps, claimChecked())).rejects.toThrow(/payload store/);

    expect(await storedOrders()).toEqual([]);
    expect(apiMock.commandCalls(PostToConnectionCommand)).toHaveLength(0);
  });

  it('throws, writing nothing, when S3 fails so the record is retried', async () => {
    s3Mock
      .on(GetObjectCommand)
      .rejects(Object.assign(new Error('Please reduce your request rate.'), { name: 'SlowDown' }));
    const payloads = new PayloadStore(new S3Client({ region: 'eu-west-1' }), PAYLOAD_REF.bucket);

    const failure = processEnvelope({ ...deps, payloads }, claimChecked());

    await expect(failure).rejects.toThrow('reduce your request rate');
    await expect(failure).rejects.not.toBeInstanceOf(ValidationError);
    expect(await storedOrders()).toEqual([]);
  });

  it('throws a ValidationError, writing nothing, when the claim-check object does not exist', async () => {
    s3Mock
      .on(GetObjectCommand)
      .rejects(new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} }));
    const payloads = new PayloadStore(new S3Client({ region: 'eu-west-1' }), PAYLOAD_REF.bucket);

    const failure = processEnvelope({ ...deps, payloads }, claimChecked());

    await expect(failure).rejects.toBeInstanceOf(ValidationError);
    await expect(failure).rejects.toThrow(PAYLOAD_REF.key);
    expect(await storedOrders()).toEqual([]);
    expect(eventBridgeMock.commandCalls(PutEventsCommand)).toHaveLength(0);
  });
});

describe('migrate (on the same PGlite database)', () => {
  it('applied every migration to the empty database and applies nothing when run again', async () => {
    const migrations = await loadMigrations();

    const again = await migrate(db, migrations);

    expect(firstMigration[0]).toBe('0001_init');
    expect(firstMigration).toEqual(migrations.map((migration) => migration.id));
    expect(again).toEqual([]);
    const tables = await rows(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
    );
    expect(tables).toEqual(
      expect.arrayContaining([{ table_name: 'schema_migrations' }, { table_name: 'synced_orders' }]),
    );
  });

  it('rolls back a failing migration and does not record it', async () => {
    const broken = {
      id: '0999_broken',
      statements: ['CREATE TABLE half_done (id int)', 'SELECT * FROM missing'],
    };

    await expect(migrate(db, [broken])).rejects.toThrow();

    expect(await rows("SELECT to_regclass('half_done') AS found")).toEqual([{ found: null }]);
    expect(await rows("SELECT id FROM schema_migrations WHERE id = '0999_broken'")).toEqual([]);
  });
});
