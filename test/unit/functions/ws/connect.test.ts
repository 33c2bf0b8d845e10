import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { DEV_TOKEN_ISSUER, signDevToken, tokenVerifierFromEnv } from '../../../../shared/auth/tokens';
import { logger } from '../../../../shared/observability';
import { ConnectionStore } from '../../../../shared/stores/connections';
import { WS_ENV, webSocketEvent } from '../../support/websocket';

type ConnectModule = typeof import('../../../../functions/ws/connect');

const ddbMock = mockClient(DynamoDBDocumentClient);
let connectModule: ConnectModule;

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
  return connectModule.makeConnectHandler(tokenVerifierFromEnv(), new ConnectionStore(ddb, 'connections'));
}

const secret = () => new TextEncoder().encode(WS_ENV.DEV_TOKEN_SECRET);
const base64url = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('$connect handler', () => {
  it('opens the connection for a valid dev token and stores its user id', async () => {
    const token = await signDevToken(WS_ENV.DEV_TOKEN_SECRET, 'user-42');

    const result = await connect()(webSocketEvent('$connect', { connectionId: 'conn-1', query: { token } }));

    expect(result.statusCode).toBe(200);
    const puts = ddbMock.commandCalls(PutCommand).map((c) => c.args[0].input);
    expect(puts).toHaveLength(1);
    expect(puts[0]).toMatchObject({
      TableName: 'connections',
      Item: { connectionId: 'conn-1', userId: 'user-42', events: [] },
    });
  });

  it('refuses a connection without a token', async () => {
    const result = await connect()(webSocketEvent('$connect'));

    expect(result.statusCode).toBe(401);
    expect(ddbMock.commandCalls(PutCommand)).toHaveLength(0);
  });

  it('refuses a bare ?userId= without a token', async () => {
    const result = await connect()(webSocketEvent('$connect', { query: { userId: 'admin' } }));

    expect(result.statusCode).toBe(401);
    expect(ddbMock.commandCalls(PutCommand)).toHaveLength(0);
  });

  it('refuses a token signed with another secret', async () => {
    const forged = await signDevToken('an-attackers-secret-0123456789abcdef', 'admin');

    const result = await connect()(webSocketEvent('$connect', { query: { token: forged } }));

    expect(result.statusCode).toBe(401);
    expect(ddbMock.commandCalls(PutCommand)).toHaveLength(0);
  });

  it('refuses a token that expired more than the allowed clock skew ago', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('user-42')
      .setIssuer(DEV_TOKEN_ISSUER)
      .setIssuedAt(now - 7200)
      .setExpirationTime(now - 120)
      .sign(secret());

    const result = await connect()(webSocketEvent('$connect', { query: { token: expired } }));

    expect(result.statusCode).toBe(401);
    expect(ddbMock.commandCalls(PutCommand)).toHaveLength(0);
  });

  it("refuses an unsigned token with alg 'none'", async () => {
    const now = Math.floor(Date.now() / 1000);
    const unsigned = `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({
      sub: 'admin',
      iss: DEV_TOKEN_ISSUER,
      iat: now,
      exp: now + 3600,
    })}.`;

    const result = await connect()(webSocketEvent('$connect', { query: { token: unsigned } }));

    expect(result.statusCode).toBe(401);
    expect(ddbMock.commandCalls(PutCommand)).toHaveLength(0);
  });

  it('refuses a token from another issuer', async () => {
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('user-42')
      .setIssuer('someone-else')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(secret());

    const result = await connect()(webSocketEvent('$connect', { query: { token } }));

    expect(result.statusCode).toBe(401);
  });

  it('refuses a token without an expiry', async () => {
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('user-42')
      .setIssuer(DEV_TOKEN_ISSUER)
      .setIssuedAt()
      .sign(secret());

    const result = await connect()(webSocketEvent('$connect', { query: { token } }));

    expect(result.statusCode).toBe(401);
  });

  it('answers 500 without details when the connection cannot be stored', async () => {
    ddbMock.on(PutCommand).rejects(new Error('ResourceNotFoundException: table webhooks-connections'));
    const token = await signDevToken(WS_ENV.DEV_TOKEN_SECRET, 'user-42');

    const result = await connect()(webSocketEvent('$connect', { query: { token } }));

    expect(result).toEqual({ statusCode: 500, body: 'Internal error' });
  });

  it('wires the deployed handler to CONNECTIONS_TABLE and DEV_TOKEN_SECRET', async () => {
    const token = await signDevToken(WS_ENV.DEV_TOKEN_SECRET, 'user-7');

    const result = await connectModule.handler(
      webSocketEvent('$connect', { connectionId: 'conn-7', query: { token } }),
    );

    expect(result.statusCode).toBe(200);
    expect(ddbMock.commandCalls(PutCommand)[0]?.args[0].input).toMatchObject({
      TableName: WS_ENV.CONNECTIONS_TABLE,
      Item: { connectionId: 'conn-7', userId: 'user-7' },
    });
  });
});
