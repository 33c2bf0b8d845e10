import { isOperator, type TokenVerifier, tokenVerifierFromEnv } from '../../shared/auth/tokens';
import { UnauthorizedError } from '../../shared/errors';
import { logger } from '../../shared/observability';
import type { WebSocketAuthorizerEvent, WebSocketAuthorizerResult } from './event';

/** The query parameter that carries the JWT; the authorizer's identity source names it too. */
export const TOKEN_QUERY_PARAMETER = 'token';

/** API Gateway answers the upgrade with 401 when an authorizer fails with exactly this message. */
const UNAUTHORIZED = 'Unauthorized';

/**
 * The REQUEST authorizer of `$connect`: verifies the `?token=` JWT (the same verifier as the
 * management API) and allows the connection as its subject, whose id API Gateway hands to `$connect`
 * as `requestContext.authorizer.userId` (with `operator` saying whether it is in the operators group). A missing, forged or expired token fails with
 * `Unauthorized`, which refuses the upgrade with 401; anything else fails with 500.
 */
export function makeAuthorizer(verifier: TokenVerifier) {
  return async (event: WebSocketAuthorizerEvent): Promise<WebSocketAuthorizerResult> => {
    const token = event.queryStringParameters?.[TOKEN_QUERY_PARAMETER];
    if (!token) throw new Error(UNAUTHORIZED);
    let userId: string;
    let groups: string[];
    let expiresAt: number | undefined;
    try {
      ({ userId, groups, expiresAt } = await verifier.verify(token));
    } catch (error) {
      if (error instanceof UnauthorizedError) {
        logger.info('connection refused', { reason: error.message });
        throw new Error(UNAUTHORIZED);
      }
      throw error;
    }
    return {
      principalId: userId,
      policyDocument: {
        Version: '2012-10-17',
        Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: event.methodArn }],
      },
      // Context values reach $connect as strings; operators' connections get every owner's pushes,
      // and every connection is closed when the token that opened it expires.
      context: {
        userId,
        operator: String(isOperator(groups)),
        ...(expiresAt !== undefined && { expiresAt: String(expiresAt) }),
      },
    };
  };
}

export const handler = makeAuthorizer(tokenVerifierFromEnv());
