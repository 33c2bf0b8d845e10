import type { WebSocketEvent } from '../../../functions/ws/event';

export function webSocketEvent(
  routeKey: string,
  options: { connectionId?: string; query?: Record<string, string>; body?: string | null } = {},
): WebSocketEvent {
  return {
    requestContext: { connectionId: options.connectionId ?? 'L0SM9cOFvHcCIhw=', routeKey },
    queryStringParameters: options.query ?? null,
    body: options.body ?? null,
  };
}

/** The environment the WebSocket Lambdas read when their module is loaded. */
export const WS_ENV = {
  AWS_REGION: 'eu-west-1',
  CONNECTIONS_TABLE: 'webhooks-connections',
  WEBSOCKET_ENDPOINT: 'https://ws123.execute-api.eu-west-1.amazonaws.com/prod',
  DEV_TOKEN_SECRET: 'dev-token-secret-for-unit-tests-0123456789',
  AUTH_JWKS_URL: '',
};
