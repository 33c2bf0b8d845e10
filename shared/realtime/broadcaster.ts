import {
  type ApiGatewayManagementApiClient,
  GoneException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import type { ConnectionStore } from '../stores/connections';
import type { PushType, ServerMessage } from './messages';

export interface BroadcastResult {
  sent: number;
  gone: number;
  failed: number;
}

/** Posts server messages to WebSocket connections through the API Gateway management API. */
export class Broadcaster {
  constructor(
    private readonly connections: ConnectionStore,
    private readonly api: ApiGatewayManagementApiClient,
  ) {}

  /** Sends to one connection; a connection that is gone (410) is forgotten. Returns false if gone. */
  async send(connectionId: string, message: ServerMessage): Promise<boolean> {
    try {
      await this.api.send(
        new PostToConnectionCommand({
          ConnectionId: connectionId,
          Data: Buffer.from(JSON.stringify(message)),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof GoneException) {
        await this.connections.remove(connectionId);
        return false;
      }
      throw error;
    }
  }

  /** Sends to every connection subscribed to the message's type. */
  async broadcast(message: ServerMessage<PushType>): Promise<BroadcastResult> {
    const targets = await this.connections.subscribedTo(message.type);
    const outcomes = await Promise.allSettled(targets.map((c) => this.send(c.connectionId, message)));
    const result: BroadcastResult = { sent: 0, gone: 0, failed: 0 };
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') result.failed++;
      else if (outcome.value) result.sent++;
      else result.gone++;
    }
    return result;
  }
}
