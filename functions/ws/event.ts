import type { APIGatewayAuthorizerResult } from 'aws-lambda';

/**
 * The parts of an API Gateway WebSocket event the handlers use: `$connect` also carries the query
 * and what the REQUEST authorizer returned (`principalId` and its context, flattened).
 */
export interface WebSocketEvent {
  requestContext: {
    connectionId: string;
    routeKey: string;
    /**
     * The authorizer's context: `operator` is `'true'` for a member of the operators group;
     * `expiresAt` the token's `exp` (epoch seconds).
     */
    authorizer?: { principalId?: string; userId?: string; operator?: string; expiresAt?: string } | null;
  };
  queryStringParameters?: Record<string, string | undefined> | null;
  body?: string | null;
}

export interface WebSocketResult {
  statusCode: number;
  body?: string;
}

/** The REQUEST authorizer event API Gateway sends before `$connect` (the parts the authorizer uses). */
export interface WebSocketAuthorizerEvent {
  type: 'REQUEST';
  /** `arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/$connect` */
  methodArn: string;
  queryStringParameters?: Record<string, string | undefined> | null;
  requestContext?: { connectionId?: string; routeKey?: string; eventType?: string };
}

export type WebSocketAuthorizerResult = APIGatewayAuthorizerResult;
