import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GoneException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { WebSocketAuthorizerResult } from '../../../functions/ws/event';
import {
  isLoopback,
  LOCAL_CONNECT_METHOD_ARN,
  type WebSocketAuthorizer,
  withRequestAuthorizer,
} from '../../../local/websocket-api';
import type { TokenVerifier } from '../../../shared/auth/tokens';
import { UnauthorizedError } from '../../../shared/errors';
import { WS_ENV, webSocketEvent } from '../support/websocket';

let makeAuthorizer: typeof import('../../../functions/ws/authorize').makeAuthorizer;

beforeAll(async () => {
  // The module builds its deployed handler from the environment when it is loaded.
  for (const [name, value] of Object.entries(WS_ENV)) vi.stubEnv(name, value);
  ({ makeAuthorizer } = await import('../../../functions/ws/authorize'));
});

afterAll(() => {
  vi.unstubAllEnvs();
});

/** Accepts exactly the token `good-<user>`. */
const verifier: TokenVerifier = {
  verify: async (token) => {
    if (!token.startsWith('good-')) throw new UnauthorizedError('Invalid or expired token');
    return { userId: token.slice('good-'.length), groups: [] };
  },
};

function gate(authorizer: WebSocketAuthorizer = makeAuthorizer(verifier)) {
  const connect = vi.fn(async () => ({ statusCode: 200 }));
  const handler = withRequestAuthorizer(authorizer, connect, { queryParameter: 'token' });
  return { connect, handler };
}

const policy = (effect: 'Allow' | 'Deny', resource: string): WebSocketAuthorizerResult => ({
  principalId: 'user-1',
  policyDocument: {
    Version: '2012-10-17',
    Statement: [{ Action: 'execute-api:Invoke', Effect: effect, Resource: resource }],
  },
  context: { userId: 'user-1' },
});

describe('local $connect authorizer (API Gateway REQUEST authorizer semantics)', () => {
  it('runs $connect with the principal and context the authorizer returned', async () => {
    const { connect, handler } = gate();

    const result = await handler(
      webSocketEvent('$connect', { connectionId: 'c1', query: { token: 'good-alice' } }),
    );

    expect(result.statusCode).toBe(200);
    expect(connect).toHaveBeenCalledWith(
      expect.objectContaining({
        requestContext: {
          connectionId: 'c1',
          routeKey: '$connect',
          authorizer: { principalId: 'alice', userId: 'alice', operator: 'false' },
        },
      }),
    );
  });

  it('refuses with 401 without calling the authorizer when the identity source is missing', async () => {
    const authorizer = vi.fn(makeAuthorizer(verifier));
    const { connect, handler } = gate(authorizer);

    expect((await handler(webSocketEvent('$connect', { query: { userId: 'alice' } }))).statusCode).toBe(401);
    expect((await handler(webSocketEvent('$connect', { query: { token: '' } }))).statusCode).toBe(401);
    expect(authorizer).not.toHaveBeenCalled();
    expect(connect).not.toHaveBeenCalled();
  });

  it('refuses with 401 when the authorizer fails with Unauthorized', async () => {
    const { connect, handler } = gate();

    expect((await handler(webSocketEvent('$connect', { query: { token: 'forged' } }))).statusCode).toBe(401);
    expect(connect).not.toHaveBeenCalled();
  });

  it('refuses with 500 when the authorizer fails otherwise', async () => {
    const { handler } = gate(async () => {
      throw new Error('JWKS endpoint unreachable');
    });

    expect((await handler(webSocketEvent('$connect', { query: { token: 'x' } }))).statusCode).toBe(500);
  });

  it.each<[string, WebSocketAuthorizerResult]>([
    ['denies the route', policy('Deny', LOCAL_CONNECT_METHOD_ARN)],
    [
      'allows another resource only',
      policy('Allow', 'arn:aws:execute-api:local:000000000000:other/local/$connect'),
    ],
    [
      'allows and denies the route',
      {
        ...policy('Allow', '*'),
        policyDocument: {
          Version: '2012-10-17',
          Statement: [
            { Action: 'execute-api:Invoke', Effect: 'Allow', Resource: '*' },
            {
              Action: 'execute-api:*',
              Effect: 'Deny',
              Resource: 'arn:aws:execute-api:*:*:local-websocket-api/*',
            },
          ],
        },
      },
    ],
  ])('refuses with 403 when the policy %s', async (_case, result) => {
    const { connect, handler } = gate(async () => result);

    expect((await handler(webSocketEvent('$connect', { query: { token: 'x' } }))).statusCode).toBe(403);
    expect(connect).not.toHaveBeenCalled();
  });

  it('accepts a wildcard Allow on the route', async () => {
    const { handler } = gate(async () =>
      policy('Allow', 'arn:aws:execute-api:*:*:local-websocket-api/local/*'),
    );

    expect((await handler(webSocketEvent('$connect', { query: { token: 'x' } }))).statusCode).toBe(200);
  });
});

/** A local WebSocket API on a free loopback port, the SDK client of its @connections, and the ids it connected. */
async function localApi() {
  const { createWebSocketApi } = await import('../../../local/websocket-api');
  const connected: string[] = [];
  const server = createWebSocketApi({
    $connect: async (event) => {
      connected.push(event.requestContext.connectionId);
      return { statusCode: 200 };
    },
    $disconnect: async () => ({ statusCode: 200 }),
    $default: async () => ({ statusCode: 200 }),
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as import('node:net').AddressInfo;
  const client = new ApiGatewayManagementApiClient({
    endpoint: `http://127.0.0.1:${port}`,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const close = () => new Promise((resolve) => server.close(resolve));
  return { port, client, connected, close };
}

describe('local @connections (API Gateway management API semantics)', () => {
  it('answers a post to a connection that is gone with the GoneException the SDK recognises', async () => {
    const { client, close } = await localApi();
    try {
      await expect(
        client.send(
          new PostToConnectionCommand({ ConnectionId: 'never-connected', Data: Buffer.from('{}') }),
        ),
      ).rejects.toBeInstanceOf(GoneException);
    } finally {
      await close();
    }
  });

  it('closes a connection on DELETE, as API Gateway does for a connection whose token expired (issue 16)', async () => {
    const { port, client, connected, close } = await localApi();
    const { WebSocket } = await import('ws');
    const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    try {
      await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
      const closed = new Promise<number>((resolve) => socket.once('close', resolve));

      await client.send(new DeleteConnectionCommand({ ConnectionId: connected[0] }));

      expect(await closed).toBe(1000);
    } finally {
      socket.terminate();
      await close();
    }
  });

  it('answers only callers on this machine: the endpoint is unauthenticated, whatever HOST the server listens on', () => {
    expect(['127.0.0.1', '127.0.0.53', '::1', '::ffff:127.0.0.1'].map(isLoopback)).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect(['192.0.2.2', '::ffff:192.0.2.2', 'fd00::2', '', undefined].map(isLoopback)).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
  });
});
