import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { dynamoDb, managementApi } from '../../shared/aws';
import { requireEnv } from '../../shared/env';
import { logger } from '../../shared/observability';
import { Broadcaster } from '../../shared/realtime/broadcaster';
import { clientMessageSchema, serverMessage } from '../../shared/realtime/messages';
import { ConnectionStore } from '../../shared/stores/connections';
import type { WebSocketEvent, WebSocketResult } from './event';

/**
 * Every client message (`subscribe`, `ping`, anything else). Malformed or unknown messages get an
 * `error` message back; the connection stays open.
 */
export function makeMessageHandler(connections: ConnectionStore, broadcaster: Broadcaster) {
  return async (event: WebSocketEvent): Promise<WebSocketResult> => {
    const { connectionId } = event.requestContext;
    const reply = (type: string, data: unknown) => broadcaster.send(connectionId, serverMessage(type, data));
    const parsed = clientMessageSchema.safeParse(safeJson(event.body));
    if (!parsed.success) {
      await reply('error', {
        message: 'Expected {"type":"subscribe","data":{"events":[...]}} or {"type":"ping"}',
      });
      return { statusCode: 200 };
    }
    const message = parsed.data;
    try {
      if (message.type === 'ping') {
        await reply('pong', {});
      } else {
        await connections.subscribe(connectionId, message.data.events);
        await reply('subscribed', { events: message.data.events });
      }
    } catch (error) {
      // The connection closed while we were handling its message: nothing to answer.
      if (error instanceof ConditionalCheckFailedException) return { statusCode: 410 };
      logger.error('message handling failed', { error: error as Error });
      await reply('error', { message: 'Internal error' }).catch(() => undefined);
    }
    return { statusCode: 200 };
  };
}

function safeJson(text: string | null | undefined): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

const connections = new ConnectionStore(dynamoDb, requireEnv('CONNECTIONS_TABLE'));
export const handler = makeMessageHandler(
  connections,
  new Broadcaster(connections, managementApi(requireEnv('WEBSOCKET_ENDPOINT'))),
);
