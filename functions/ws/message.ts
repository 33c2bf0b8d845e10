import { dynamoDb } from '../../shared/aws';
import { requireEnv } from '../../shared/env';
import { logger } from '../../shared/observability';
import { type Broadcaster, broadcasterFromEnv } from '../../shared/realtime/broadcaster';
import { type ClientMessage, clientMessageSchema } from '../../shared/realtime/client-messages';
import { serverMessage } from '../../shared/realtime/messages';
import { subscribe, unsubscribe } from '../../shared/realtime/subscriptions';
import { ConnectionGoneError, ConnectionStore } from '../../shared/stores/connections';
import type { WebSocketEvent, WebSocketResult } from './event';

const CLIENT_TYPES = clientMessageSchema.options.map((option) => option.shape.type.value);

/**
 * Every client message (`subscribe`, `unsubscribe`, `ping`, anything else). `subscribe` and
 * `unsubscribe` answer with the connection's resulting subscription, `ping` with `pong`. Malformed
 * or unknown messages get an `error` message back; the connection stays open.
 */
export function makeMessageHandler(connections: ConnectionStore, broadcaster: Broadcaster) {
  return async (event: WebSocketEvent): Promise<WebSocketResult> => {
    const { connectionId } = event.requestContext;
    const reply = (type: string, data: unknown) => broadcaster.send(connectionId, serverMessage(type, data));
    try {
      const message = parse(event.body);
      if ('error' in message) {
        await reply('error', message.error);
        return { statusCode: 200 };
      }
      if (message.type === 'ping') {
        await reply('pong', {});
      } else if (message.type === 'subscribe') {
        await reply(
          'subscribed',
          await connections.updateSubscription(connectionId, (s) => subscribe(s, message)),
        );
      } else {
        await reply(
          'unsubscribed',
          await connections.updateSubscription(connectionId, (s) => unsubscribe(s, message)),
        );
      }
    } catch (error) {
      // The connection closed while we were handling its message: nothing to answer.
      if (error instanceof ConnectionGoneError) return { statusCode: 410 };
      logger.error('message handling failed', { error: error as Error });
      await reply('error', { message: 'Internal error' }).catch(() => undefined);
    }
    return { statusCode: 200 };
  };
}

/** The client message, or the `error` message's data that explains what is wrong with it. */
function parse(
  body: string | null | undefined,
): ClientMessage | { error: { message: string; issues?: unknown } } {
  let json: unknown;
  try {
    json = JSON.parse(body ?? '');
  } catch {
    return {
      error: { message: 'Messages are JSON: {"type":"subscribe","data":{"events":["webhook-event"]}}' },
    };
  }
  const parsed = clientMessageSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  const type = (json as { type?: unknown } | null)?.type;
  if (typeof type !== 'string' || !(CLIENT_TYPES as string[]).includes(type)) {
    return {
      error: {
        message: `Unknown message type ${JSON.stringify(type ?? null)}; expected one of ${CLIENT_TYPES.join(', ')}`,
      },
    };
  }
  return {
    error: {
      message: `Invalid ${type} message`,
      issues: parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })),
    },
  };
}

const connections = new ConnectionStore(dynamoDb, requireEnv('CONNECTIONS_TABLE'));
export const handler = makeMessageHandler(connections, broadcasterFromEnv(connections));
