import { type TokenVerifier, tokenVerifierFromEnv } from '../../shared/auth/tokens';
import { dynamoDb } from '../../shared/aws';
import { requireEnv } from '../../shared/env';
import { UnauthorizedError } from '../../shared/errors';
import { logger } from '../../shared/observability';
import { ConnectionStore } from '../../shared/stores/connections';
import type { WebSocketEvent, WebSocketResult } from './event';

/** `$connect`: only a valid `?token=` opens a connection; a non-2xx answer refuses the upgrade. */
export function makeConnectHandler(verifier: TokenVerifier, connections: ConnectionStore) {
  return async (event: WebSocketEvent): Promise<WebSocketResult> => {
    const token = event.queryStringParameters?.token;
    try {
      if (!token) throw new UnauthorizedError('Missing token');
      const { userId } = await verifier.verify(token);
      await connections.add(event.requestContext.connectionId, userId, new Date());
      return { statusCode: 200 };
    } catch (error) {
      if (error instanceof UnauthorizedError) return { statusCode: 401, body: error.message };
      logger.error('connect failed', { error: error as Error });
      return { statusCode: 500, body: 'Internal error' };
    }
  };
}

export const handler = makeConnectHandler(
  tokenVerifierFromEnv(),
  new ConnectionStore(dynamoDb, requireEnv('CONNECTIONS_TABLE')),
);
