import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GoneException,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { closeExpiredConnections } from '../../../../shared/realtime/expiry';
import { ConnectionStore } from '../../../../shared/stores/connections';

const ddbMock = mockClient(DynamoDBDocumentClient);
const apiMock = mockClient(ApiGatewayManagementApiClient);
const NOW = new Date('2026-03-01T12:00:00.000Z');

afterEach(() => {
  ddbMock.reset();
  apiMock.reset();
});

function store() {
  return new ConnectionStore(
    DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' })),
    'connections',
  );
}

const api = () => new ApiGatewayManagementApiClient({ region: 'eu-west-1', endpoint: 'https://ws.example' });

describe('closing connections whose token expired (issue 16)', () => {
  it('finds the connections whose token expired by now, closes each (DeleteConnection) and forgets it', async () => {
    ddbMock.on(ScanCommand).resolves({ Items: [{ connectionId: 'conn-a' }, { connectionId: 'conn-b' }] });
    ddbMock.on(DeleteCommand).resolves({});
    apiMock.on(DeleteConnectionCommand).resolves({});

    const closed = await closeExpiredConnections(store(), api(), NOW);

    expect(closed).toBe(2);
    expect(ddbMock.commandCalls(ScanCommand)[0]?.args[0].input).toMatchObject({
      TableName: 'connections',
      FilterExpression: 'tokenExpiresAt <= :now',
      ExpressionAttributeValues: { ':now': NOW.getTime() / 1000 },
    });
    const closedIds = apiMock.commandCalls(DeleteConnectionCommand).map((c) => c.args[0].input.ConnectionId);
    expect(closedIds.sort()).toEqual(['conn-a', 'conn-b']);
    const forgotten = ddbMock.commandCalls(DeleteCommand).map((c) => c.args[0].input.Key?.connectionId);
    expect(forgotten.sort()).toEqual(['conn-a', 'conn-b']);
  });

  it('forgets a connection already gone (410) all the same', async () => {
    ddbMock.on(ScanCommand).resolves({ Items: [{ connectionId: 'conn-gone' }] });
    ddbMock.on(DeleteCommand).resolves({});
    apiMock
      .on(DeleteConnectionCommand)
      .rejects(new GoneException({ message: 'Gone', $metadata: { httpStatusCode: 410 } }));

    expect(await closeExpiredConnections(store(), api(), NOW)).toBe(1);
    expect(ddbMock.commandCalls(DeleteCommand)[0]?.args[0].input.Key).toEqual({ connectionId: 'conn-gone' });
  });

  it('keeps a connection it could not close, for the next run', async () => {
    ddbMock.on(ScanCommand).resolves({ Items: [{ connectionId: 'conn-a' }] });
    apiMock.on(DeleteConnectionCommand).rejects(new Error('Throttling'));

    await expect(closeExpiredConnections(store(), api(), NOW)).rejects.toThrow('Throttling');
    expect(ddbMock.commandCalls(DeleteCommand)).toHaveLength(0);
  });
});
