import type { WebSocketAuthorizerEvent, WebSocketEvent } from '../../../functions/ws/event';

export function webSocketEvent(
  routeKey: string,
  options: {
    connectionId?: string;
    query?: Record<string, string>;
    body?: string | null;
    /** What the $connect authorizer put in the request context. */
    authorizer?: { principalId?: string; userId?: string; expiresAt?: string };
  } = {},
): WebSocketEvent {
  return {
    requestContext: {
      connectionId: options.connectionId ?? 'L0SM9cOFvHcCIhw=',
      routeKey,
      ...(options.authorizer && { authorizer: options.authorizer }),
    },
    queryStringParameters: options.query ?? null,
    body: options.body ?? null,
  };
}

export const CONNECT_METHOD_ARN = 'arn:aws:execute-api:eu-west-1:123456789012:ws123/prod/$connect';

/** The REQUEST authorizer event API Gateway sends before $connect. */
export function authorizerEvent(query: Record<string, string> | null): WebSocketAuthorizerEvent {
  return {
    type: 'REQUEST',
    methodArn: CONNECT_METHOD_ARN,
    queryStringParameters: query,
    requestContext: { connectionId: 'L0SM9cOFvHcCIhw=', routeKey: '$connect', eventType: 'CONNECT' },
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
