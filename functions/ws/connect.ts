import { dynamoDb } from '../../shared/aws';
import { requireEnv } from '../../shared/env';
import { logger } from '../../shared/observability';
import { ConnectionStore } from '../../shared/stores/connections';
import type { WebSocketEvent, WebSocketResult } from './event';

/**
 * `$connect`: runs only after the REQUEST authorizer (functions/ws/authorize.ts) accepted the
 * token, and stores the connection under the user id (and role) the authorizer put in the request
 * context.
 * A non-2xx answer refuses the upgrade.
 */
export function makeConnectHandler(connections: ConnectionStore, now: () => Date = () => new Date()) {
  return async (event: WebSocketEvent): Promise<WebSocketResult> => {
    const userId = event.requestContext.authorizer?.userId;
    if (!userId) {
      // Only a route deployed without its authorizer gets here.
      logger.error('$connect without an authorizer context');
      return { statusCode: 401, body: 'Unauthorized' };
    }
    try {
      const operator = event.requestContext.authorizer?.operator === 'true';
      const expiresAt = Number(event.requestContext.authorizer?.expiresAt);
      await connections.add(event.requestContext.connectionId, userId, now(), operator, {
        ...(Number.isFinite(expiresAt) && { tokenExpiresAt: expiresAt }),
      });
      return { statusCode: 200 };
    } catch (error) {
      logger.error('connect failed', { error: error as Error });
      return { statusCode: 500, body: 'Internal error' };
    }
  };
}

export const handler = makeConnectHandler(new ConnectionStore(dynamoDb, requireEnv('CONNECTIONS_TABLE')));
