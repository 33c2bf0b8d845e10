import {
  ApiGatewayManagementApiClient,
  GoneException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { logger } from '../../../../shared/observability';
import { Broadcaster } from '../../../../shared/realtime/broadcaster';
import { ConnectionStore } from '../../../../shared/stores/connections';
import { WS_ENV, webSocketEvent } from '../../support/websocket';

type MessageModule = typeof import('../../../../functions/ws/message');

const ddbMock = mockClient(DynamoDBDocumentClient);
const apiMock = mockClient(ApiGatewayManagementApiClient);
let messageModule: MessageModule;

beforeAll(async () => {
  for (const [name, value] of Object.entries(WS_ENV)) vi.stubEnv(name, value);
  logger.setLogLevel('SILENT');
  // The module builds its handler from the environment when it is loaded.
  messageModule = await import('../../../../functions/ws/message');
});

afterAll(() => {
  vi.unstubAllEnvs();
});

const CONNECTION = 'conn-1';

/** The stored connection the handler reads before changing its subscription. */
function stored(item: Record<string, unknown> = { events: [], filters: {}, rev: 0 }) {
  ddbMock.on(GetCommand).resolves({ Item: { connectionId: CONNECTION, userId: 'user-1', ...item } });
}

beforeEach(() => {
  stored();
  ddbMock.on(UpdateCommand).resolves({});
  apiMock.on(PostToConnectionCommand).resolves({});
});

afterEach(() => {
  ddbMock.reset();
  apiMock.reset();
});

function onMessage(body: string | null, routeKey = '$default') {
  const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' }));
  const connections = new ConnectionStore(ddb, 'connections');
  const api = new ApiGatewayManagementApiClient({ region: 'eu-west-1', endpoint: WS_ENV.WEBSOCKET_ENDPOINT });
  const handler = messageModule.makeMessageHandler(connections, new Broadcaster(connections, api));
  return handler(webSocketEvent(routeKey, { connectionId: CONNECTION, body }));
}

function replies() {
  return apiMock.commandCalls(PostToConnectionCommand).map((call) => ({
    connectionId: call.args[0].input.ConnectionId,
    ...JSON.parse(Buffer.from(call.args[0].input.Data as Uint8Array).toString('utf8')),
  }));
}

function updates() {
  return ddbMock.commandCalls(UpdateCommand).map((c) => c.args[0].input);
}

const json = (value: unknown) => JSON.stringify(value);

describe('WebSocket message handler', () => {
  it("subscribes to the seed's event list and replies with the resulting subscription", async () => {
    const body = json({
      type: 'subscribe',
      data: { events: ['webhook-event', 'webhook-alert', 'webhook-metrics-update'] },
    });

    const result = await onMessage(body, 'subscribe');

    expect(result.statusCode).toBe(200);
    expect(updates()).toEqual([
      expect.objectContaining({
        TableName: 'connections',
        Key: { connectionId: CONNECTION },
        ConditionExpression: 'attribute_exists(connectionId) AND (rev = :rev OR attribute_not_exists(rev))',
        ExpressionAttributeValues: {
          ':events': ['webhook-event', 'webhook-alert', 'webhook-metrics-update'],
          ':filters': {},
          ':batched': false,
          ':rev': 0,
          ':next': 1,
        },
      }),
    ]);
    expect(replies()).toEqual([
      {
        connectionId: CONNECTION,
        type: 'subscribed',
        data: { events: ['webhook-event', 'webhook-alert', 'webhook-metrics-update'], filters: {} },
        timestamp: expect.any(String),
      },
    ]);
  });

  it('adds to the existing subscription and stores a provider filter for the named types', async () => {
    stored({ events: ['webhook-alert'], filters: {}, rev: 3 });

    await onMessage(json({ type: 'subscribe', data: { events: ['webhook-event'], providers: ['shopify'] } }));

    expect(updates()[0]?.ExpressionAttributeValues).toEqual({
      ':events': ['webhook-alert', 'webhook-event'],
      ':filters': { 'webhook-event': { providers: ['shopify'] } },
      ':batched': false,
      ':rev': 3,
      ':next': 4,
    });
    expect(replies()[0]).toMatchObject({
      type: 'subscribed',
      data: {
        events: ['webhook-alert', 'webhook-event'],
        filters: { 'webhook-event': { providers: ['shopify'] } },
      },
    });
  });

  it('stores batch: true for the connection, replies with it, and keeps it through a later subscribe', async () => {
    await onMessage(json({ type: 'subscribe', data: { events: ['webhook-event'], batch: true } }));
    stored({ events: ['webhook-event'], filters: {}, batched: true, rev: 1 });
    await onMessage(json({ type: 'subscribe', data: { events: ['webhook-alert'] } }));

    expect(updates().map((update) => update.ExpressionAttributeValues?.[':batched'])).toEqual([true, true]);
    expect(replies().map((reply) => reply.data)).toEqual([
      { events: ['webhook-event'], filters: {}, batched: true },
      { events: ['webhook-event', 'webhook-alert'], filters: {}, batched: true },
    ]);
  });

  it('unsubscribes from the named types and replies unsubscribed', async () => {
    stored({ events: ['webhook-event', 'webhook-alert'], filters: {}, rev: 1 });

    const result = await onMessage(json({ type: 'unsubscribe', data: { events: ['webhook-event'] } }));

    expect(result.statusCode).toBe(200);
    expect(updates()[0]?.ExpressionAttributeValues).toMatchObject({
      ':events': ['webhook-alert'],
      ':filters': {},
    });
    expect(replies()).toMatchObject([
      { type: 'unsubscribed', data: { events: ['webhook-alert'], filters: {} } },
    ]);
  });

  it('unsubscribes from some providers only, keeping the others', async () => {
    stored({ events: ['webhook-event'], filters: {}, rev: 0 });

    await onMessage(
      json({ type: 'unsubscribe', data: { events: ['webhook-event'], providers: ['hubspot'] } }),
    );

    expect(updates()[0]?.ExpressionAttributeValues).toMatchObject({
      ':events': ['webhook-event'],
      ':filters': { 'webhook-event': { providers: ['shopify', 'salesforce'] } },
    });
  });

  it('reads again and retries when another message changed the subscription in between', async () => {
    ddbMock
      .on(GetCommand)
      .resolvesOnce({ Item: { connectionId: CONNECTION, events: [], filters: {}, rev: 0 } })
      .resolves({ Item: { connectionId: CONNECTION, events: ['webhook-alert'], filters: {}, rev: 1 } });
    ddbMock
      .on(UpdateCommand)
      .rejectsOnce(
        new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }),
      )
      .resolves({});

    await onMessage(json({ type: 'subscribe', data: { events: ['webhook-event'] } }));

    expect(updates().map((u) => u.ExpressionAttributeValues)).toEqual([
      { ':events': ['webhook-event'], ':filters': {}, ':batched': false, ':rev': 0, ':next': 1 },
      {
        ':events': ['webhook-alert', 'webhook-event'],
        ':filters': {},
        ':batched': false,
        ':rev': 1,
        ':next': 2,
      },
    ]);
    expect(ddbMock.commandCalls(GetCommand)[0]?.args[0].input.ConsistentRead).toBe(true);
    expect(replies()).toMatchObject([
      { type: 'subscribed', data: { events: ['webhook-alert', 'webhook-event'] } },
    ]);
  });

  it('answers ping with pong without touching the table', async () => {
    const result = await onMessage('{"type":"ping"}');

    expect(result.statusCode).toBe(200);
    expect(replies()).toEqual([
      { connectionId: CONNECTION, type: 'pong', data: {}, timestamp: expect.any(String) },
    ]);
    expect(ddbMock.calls()).toHaveLength(0);
  });

  it.each([
    ['malformed JSON', '{"type":"subscribe",', /JSON/],
    ['no body', null, /JSON/],
    ['an unknown type', json({ type: 'subscribe-all' }), /Unknown message type "subscribe-all"/],
    ['a message without a type', json({ data: { events: ['webhook-event'] } }), /Unknown message type null/],
    ['a JSON array', '[{"type":"ping"}]', /Unknown message type/],
    ['an empty event list', json({ type: 'subscribe', data: { events: [] } }), /Invalid subscribe message/],
    [
      'an unknown event name',
      json({ type: 'subscribe', data: { events: ['everything'] } }),
      /Invalid subscribe/,
    ],
    ['no data', json({ type: 'subscribe' }), /Invalid subscribe message/],
    [
      'an unknown provider',
      json({ type: 'subscribe', data: { events: ['webhook-event'], providers: ['stripe'] } }),
      /Invalid subscribe message/,
    ],
    [
      'events that are not a list',
      json({ type: 'unsubscribe', data: { events: 'webhook-event' } }),
      /Invalid unsubscribe/,
    ],
  ])('replies with an error message to %s and keeps the connection', async (_case, body, message) => {
    const result = await onMessage(body);

    expect(result.statusCode).toBe(200);
    expect(replies()).toEqual([
      {
        connectionId: CONNECTION,
        type: 'error',
        data: expect.objectContaining({ message: expect.stringMatching(message) }),
        timestamp: expect.any(String),
      },
    ]);
    expect(updates()).toHaveLength(0);
  });

  it('says which field of a malformed subscribe is wrong', async () => {
    await onMessage(json({ type: 'subscribe', data: { events: ['webhook-event', 'nope'] } }));

    expect(replies()[0]?.data).toEqual({
      message: 'Invalid subscribe message',
      issues: [expect.objectContaining({ path: 'data.events.1' })],
    });
  });

  it('answers 410 without a reply when the connection is gone before its subscription is stored', async () => {
    ddbMock.on(GetCommand).resolves({});

    const result = await onMessage(json({ type: 'subscribe', data: { events: ['webhook-event'] } }));

    expect(result.statusCode).toBe(410);
    expect(updates()).toHaveLength(0);
    expect(replies()).toEqual([]);
  });

  it('replies with a generic error when the subscription cannot be stored', async () => {
    ddbMock.on(UpdateCommand).rejects(new Error('ProvisionedThroughputExceededException'));

    const result = await onMessage(json({ type: 'subscribe', data: { events: ['webhook-event'] } }));

    expect(result.statusCode).toBe(200);
    expect(replies()).toMatchObject([{ type: 'error', data: { message: 'Internal error' } }]);
  });

  it('forgets the connection when its reply finds it gone (410)', async () => {
    apiMock.on(PostToConnectionCommand).rejects(new GoneException({ message: 'Gone', $metadata: {} }));
    ddbMock.on(DeleteCommand).resolves({});

    const result = await onMessage('{"type":"ping"}');

    expect(result.statusCode).toBe(200);
    expect(ddbMock.commandCalls(DeleteCommand)[0]?.args[0].input.Key).toEqual({ connectionId: CONNECTION });
  });
});
