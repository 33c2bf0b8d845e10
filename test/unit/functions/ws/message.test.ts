import {
  ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
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

beforeEach(() => {
  ddbMock.on(UpdateCommand).resolves({});
  apiMock.on(PostToConnectionCommand).resolves({});
});

afterEach(() => {
  ddbMock.reset();
  apiMock.reset();
});

const CONNECTION = 'conn-1';

function onMessage(body: string | null) {
  const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' }));
  const connections = new ConnectionStore(ddb, 'connections');
  const api = new ApiGatewayManagementApiClient({ region: 'eu-west-1', endpoint: WS_ENV.WEBSOCKET_ENDPOINT });
  const handler = messageModule.makeMessageHandler(connections, new Broadcaster(connections, api));
  return handler(webSocketEvent('$default', { connectionId: CONNECTION, body }));
}

function replies() {
  return apiMock.commandCalls(PostToConnectionCommand).map((call) => ({
    connectionId: call.args[0].input.ConnectionId,
    ...JSON.parse(Buffer.from(call.args[0].input.Data as Uint8Array).toString('utf8')),
  }));
}

describe('WebSocket message handler', () => {
  it('stores the subscribed events and replies subscribed', async () => {
    const body = JSON.stringify({ type: 'subscribe', data: { events: ['webhook-event', 'webhook-alert'] } });

    const result = await onMessage(body);

    expect(result.statusCode).toBe(200);
    const updates = ddbMock.commandCalls(UpdateCommand).map((c) => c.args[0].input);
    expect(updates).toEqual([
      expect.objectContaining({
        TableName: 'connections',
        Key: { connectionId: CONNECTION },
        ExpressionAttributeValues: { ':events': ['webhook-event', 'webhook-alert'] },
      }),
    ]);
    expect(replies()).toEqual([
      {
        connectionId: CONNECTION,
        type: 'subscribed',
        data: { events: ['webhook-event', 'webhook-alert'] },
        timestamp: expect.any(String),
      },
    ]);
  });

  it('answers ping with pong', async () => {
    const result = await onMessage('{"type":"ping"}');

    expect(result.statusCode).toBe(200);
    expect(replies()).toMatchObject([{ connectionId: CONNECTION, type: 'pong' }]);
    expect(ddbMock.commandCalls(UpdateCommand)).toHaveLength(0);
  });

  it.each([
    ['malformed JSON', '{"type":"subscribe",'],
    ['an unknown type', '{"type":"unsubscribe","data":{"events":["webhook-event"]}}'],
    ['an empty event list', '{"type":"subscribe","data":{"events":[]}}'],
    ['an unknown event name', '{"type":"subscribe","data":{"events":["everything"]}}'],
    ['a JSON array', '[{"type":"ping"}]'],
    ['no body', null],
  ])('replies with an error message to %s and keeps the connection', async (_label, body) => {
    const result = await onMessage(body);

    expect(result.statusCode).toBe(200);
    expect(replies()).toMatchObject([{ connectionId: CONNECTION, type: 'error' }]);
    expect(ddbMock.commandCalls(UpdateCommand)).toHaveLength(0);
  });

  it('answers 410 without a reply when the connection closed before the subscription was stored', async () => {
    ddbMock
      .on(UpdateCommand)
      .rejects(
        new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }),
      );

    const result = await onMessage('{"type":"subscribe","data":{"events":["webhook-event"]}}');

    expect(result.statusCode).toBe(410);
    expect(replies()).toEqual([]);
  });

  it('replies with a generic error when the subscription cannot be stored', async () => {
    ddbMock.on(UpdateCommand).rejects(new Error('ProvisionedThroughputExceededException'));

    const result = await onMessage('{"type":"subscribe","data":{"events":["webhook-event"]}}');

    expect(result.statusCode).toBe(200);
    expect(replies()).toMatchObject([{ type: 'error', data: { message: 'Internal error' } }]);
  });
});
