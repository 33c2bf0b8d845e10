import {
  ApiGatewayManagementApiClient,
  ForbiddenException,
  GoneException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { Broadcaster } from '../../../../shared/realtime/broadcaster';
import { serverMessage } from '../../../../shared/realtime/messages';
import { ConnectionStore } from '../../../../shared/stores/connections';

const ddbMock = mockClient(DynamoDBDocumentClient);
const apiMock = mockClient(ApiGatewayManagementApiClient);

afterEach(() => {
  ddbMock.reset();
  apiMock.reset();
});

function broadcaster() {
  const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' }));
  const api = new ApiGatewayManagementApiClient({
    region: 'eu-west-1',
    endpoint: 'https://ws123.execute-api.eu-west-1.amazonaws.com/prod',
  });
  return new Broadcaster(new ConnectionStore(ddb, 'connections'), api);
}

function subscribed(...connectionIds: string[]) {
  ddbMock.on(ScanCommand).resolves({
    Items: connectionIds.map((connectionId) => ({
      connectionId,
      userId: 'user-1',
      events: ['webhook-event'],
    })),
  });
}

const gone = () => new GoneException({ message: 'Gone', $metadata: { httpStatusCode: 410 } });
const message = serverMessage(
  'webhook-event',
  { objectId: '820982911946154508' },
  new Date('2022-01-01T00:00:00Z'),
);

describe('Broadcaster', () => {
  it('sends only to the connections the subscription scan returns', async () => {
    subscribed('conn-a', 'conn-b');
    apiMock.on(PostToConnectionCommand).resolves({});

    const result = await broadcaster().broadcast(message);

    expect(result).toEqual({ sent: 2, gone: 0, failed: 0 });
    const targets = apiMock.commandCalls(PostToConnectionCommand).map((c) => c.args[0].input.ConnectionId);
    expect(targets.sort()).toEqual(['conn-a', 'conn-b']);
    const scan = ddbMock.commandCalls(ScanCommand)[0]?.args[0].input;
    expect(scan).toMatchObject({
      TableName: 'connections',
      FilterExpression: 'contains(events, :type)',
      ExpressionAttributeValues: { ':type': 'webhook-event' },
    });
  });

  it('posts the message as JSON', async () => {
    subscribed('conn-a');
    apiMock.on(PostToConnectionCommand).resolves({});

    await broadcaster().broadcast(message);

    const data = apiMock.commandCalls(PostToConnectionCommand)[0]?.args[0].input.Data as Uint8Array;
    expect(JSON.parse(Buffer.from(data).toString('utf8'))).toEqual(message);
  });

  it('follows scan pages until the last one', async () => {
    ddbMock
      .on(ScanCommand)
      .resolvesOnce({
        Items: [{ connectionId: 'conn-a', userId: 'u', events: ['webhook-event'] }],
        LastEvaluatedKey: { connectionId: 'conn-a' },
      })
      .resolvesOnce({ Items: [{ connectionId: 'conn-b', userId: 'u', events: ['webhook-event'] }] });
    apiMock.on(PostToConnectionCommand).resolves({});

    const result = await broadcaster().broadcast(message);

    expect(result.sent).toBe(2);
    expect(ddbMock.commandCalls(ScanCommand)[1]?.args[0].input.ExclusiveStartKey).toEqual({
      connectionId: 'conn-a',
    });
  });

  it('sends nothing when no connection is subscribed', async () => {
    subscribed();

    const result = await broadcaster().broadcast(message);

    expect(result).toEqual({ sent: 0, gone: 0, failed: 0 });
    expect(apiMock.commandCalls(PostToConnectionCommand)).toHaveLength(0);
  });

  it('forgets a connection that is gone (410) and counts it as gone', async () => {
    subscribed('conn-live', 'conn-gone');
    ddbMock.on(DeleteCommand).resolves({});
    apiMock.on(PostToConnectionCommand).resolves({});
    apiMock.on(PostToConnectionCommand, { ConnectionId: 'conn-gone' }).rejects(gone());

    const result = await broadcaster().broadcast(message);

    expect(result).toEqual({ sent: 1, gone: 1, failed: 0 });
    const deletes = ddbMock.commandCalls(DeleteCommand).map((c) => c.args[0].input);
    expect(deletes).toEqual([{ TableName: 'connections', Key: { connectionId: 'conn-gone' } }]);
  });

  it('counts other errors as failed and keeps the connection', async () => {
    subscribed('conn-live', 'conn-forbidden', 'conn-throttled');
    apiMock.on(PostToConnectionCommand).resolves({});
    apiMock
      .on(PostToConnectionCommand, { ConnectionId: 'conn-forbidden' })
      .rejects(new ForbiddenException({ message: 'Forbidden', $metadata: { httpStatusCode: 403 } }));
    apiMock.on(PostToConnectionCommand, { ConnectionId: 'conn-throttled' }).rejects(new Error('Throttling'));

    const result = await broadcaster().broadcast(message);

    expect(result).toEqual({ sent: 1, gone: 0, failed: 2 });
    expect(ddbMock.commandCalls(DeleteCommand)).toHaveLength(0);
  });

  it('reports send() to a gone connection as false after removing it', async () => {
    ddbMock.on(DeleteCommand).resolves({});
    apiMock.on(PostToConnectionCommand).rejects(gone());

    const delivered = await broadcaster().send('conn-gone', message);

    expect(delivered).toBe(false);
    expect(ddbMock.commandCalls(DeleteCommand)[0]?.args[0].input.Key).toEqual({ connectionId: 'conn-gone' });
  });

  it('rethrows from send() an error other than gone', async () => {
    apiMock.on(PostToConnectionCommand).rejects(new Error('Throttling'));

    await expect(broadcaster().send('conn-a', message)).rejects.toThrow('Throttling');
    expect(ddbMock.commandCalls(DeleteCommand)).toHaveLength(0);
  });
});
