import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { logger } from '../../../../shared/observability';
import { CONNECTION_TTL_SECONDS, ConnectionStore } from '../../../../shared/stores/connections';
import { WS_ENV, webSocketEvent } from '../../support/websocket';

type ConnectModule = typeof import('../../../../functions/ws/connect');

const ddbMock = mockClient(DynamoDBDocumentClient);
let connectModule: ConnectModule;
const NOW = new Date('2026-03-01T12:00:00.000Z');

beforeAll(async () => {
  for (const [name, value] of Object.entries(WS_ENV)) vi.stubEnv(name, value);
  logger.setLogLevel('SILENT');
  // The module builds its handler from the environment when it is loaded.
  connectModule = await import('../../../../functions/ws/connect');
});

afterAll(() => {
  vi.unstubAllEnvs();
});

beforeEach(() => {
  ddbMock.on(PutCommand).resolves({});
});

afterEach(() => {
  ddbMock.reset();
});

function connect() {
  const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' }));
  return connectModule.makeConnectHandler(new ConnectionStore(ddb, 'connections'), () => NOW);
}

describe('$connect handler', () => {
  it('stores the connection under the user id the authorizer verified, expiring after 2 hours', async () => {
    const result = await connect()(
      webSocketEvent('$connect', {
        connectionId: 'conn-1',
        authorizer: { principalId: 'user-42', userId: 'user-42' },
      }),
    );

    expect(result.statusCode).toBe(200);
    const puts = ddbMock.commandCalls(PutCommand).map((c) => c.args[0].input);
    expect(puts).toEqual([
      {
        TableName: 'connections',
        Item: {
          connectionId: 'conn-1',
          userId: 'user-42',
          events: [],
          filters: {},
          rev: 0,
          connectedAt: NOW.toISOString(),
          expiresAt: NOW.getTime() / 1000 + CONNECTION_TTL_SECONDS,
        },
      },
    ]);
    expect(CONNECTION_TTL_SECONDS).toBe(7200);
  });

  it('stores the exp of the token that opened it, for closing the connection then (issue 16)', async () => {
    await connect()(
      webSocketEvent('$connect', { authorizer: { userId: 'user-42', expiresAt: '1772370000' } }),
    );

    expect(ddbMock.commandCalls(PutCommand)[0]?.args[0].input.Item).toMatchObject({
      userId: 'user-42',
      tokenExpiresAt: 1772370000,
    });
  });

  it('takes the user from the authorizer, never from the query string', async () => {
    await connect()(
      webSocketEvent('$connect', { query: { userId: 'admin' }, authorizer: { userId: 'user-42' } }),
    );

    expect(ddbMock.commandCalls(PutCommand)[0]?.args[0].input.Item).toMatchObject({ userId: 'user-42' });
  });

  it.each([
    ['no authorizer context', undefined],
    ['an authorizer context without a user id', { principalId: 'user-42' }],
  ])('refuses with 401 and stores nothing with %s', async (_case, authorizer) => {
    const result = await connect()(
      webSocketEvent('$connect', { query: { userId: 'admin' }, ...(authorizer && { authorizer }) }),
    );

    expect(result.statusCode).toBe(401);
    expect(ddbMock.commandCalls(PutCommand)).toHaveLength(0);
  });

  it('answers 500 without details when the connection cannot be stored', async () => {
    ddbMock.on(PutCommand).rejects(new Error('ResourceNotFoundException: table webhooks-connections'));

    const result = await connect()(webSocketEvent('$connect', { authorizer: { userId: 'user-42' } }));

    expect(result).toEqual({ statusCode: 500, body: 'Internal error' });
  });

  it('wires the deployed handler to CONNECTIONS_TABLE', async () => {
    const result = await connectModule.handler(
      webSocketEvent('$connect', { connectionId: 'conn-7', authorizer: { userId: 'user-7' } }),
    );

    expect(result.statusCode).toBe(200);
    expect(ddbMock.commandCalls(PutCommand)[0]?.args[0].input).toMatchObject({
      TableName: WS_ENV.CONNECTIONS_TABLE,
      Item: { connectionId: 'conn-7', userId: 'user-7' },
    });
  });
});
