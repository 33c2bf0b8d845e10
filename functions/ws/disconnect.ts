import { dynamoDb } from '../../shared/aws';
import { requireEnv } from '../../shared/env';
import { ConnectionStore } from '../../shared/stores/connections';
import type { WebSocketEvent, WebSocketResult } from './event';

export function makeDisconnectHandler(connections: ConnectionStore) {
  return async (event: WebSocketEvent): Promise<WebSocketResult> => {
    await connections.remove(event.requestContext.connectionId);
    return { statusCode: 200 };
  };
}

export const handler = makeDisconnectHandler(new ConnectionStore(dynamoDb, requireEnv('CONNECTIONS_TABLE')));
