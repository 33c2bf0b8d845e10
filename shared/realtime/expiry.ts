import {
  type ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GoneException,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { mapLimited } from '../concurrency';
import type { ConnectionStore } from '../stores/connections';

/**
 * Closes a WebSocket connection (DELETE @connections/{id}) and forgets it. A connection already gone
 * (410) is forgotten all the same.
 */
export async function closeConnection(
  api: ApiGatewayManagementApiClient,
  connections: Pick<ConnectionStore, 'remove'>,
  connectionId: string,
): Promise<void> {
  try {
    await api.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
  } catch (error) {
    if (!(error instanceof GoneException)) throw error;
  }
  await connections.remove(connectionId);
}

/**
 * Closes every connection whose token has expired: a dashboard does not outlive the token that opened
 * it (API Gateway only checks the token at `$connect`). Run by the minute metrics job; pushes skip such
 * connections in between (shared/realtime/broadcaster.ts). Returns how many were closed.
 */
export async function closeExpiredConnections(
  connections: Pick<ConnectionStore, 'expired' | 'remove'>,
  api: ApiGatewayManagementApiClient,
  now: Date,
): Promise<number> {
  const expired = await connections.expired(now);
  await mapLimited(expired, 10, (connectionId) => closeConnection(api, connections, connectionId));
  return expired.length;
}
