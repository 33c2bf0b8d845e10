import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { Identity, TokenVerifier } from '../auth/tokens';
import { UnauthorizedError } from '../errors';

/**
 * The caller's identity from `Authorization: Bearer <JWT>`. In AWS a Cognito authorizer has already
 * checked the token; verifying it here as well keeps the local stack identical and the function
 * safe if it is ever wired without the authorizer.
 */
export async function authenticate(event: APIGatewayProxyEvent, verifier: TokenVerifier): Promise<Identity> {
  const header = headerValue(event, 'authorization');
  const match = header?.match(/^Bearer\s+([A-Za-z0-9_.~+/=-]+)\s*$/i);
  if (!match?.[1]) throw new UnauthorizedError('Missing bearer token');
  return verifier.verify(match[1]);
}

export function headerValue(event: APIGatewayProxyEvent, name: string): string | undefined {
  for (const [key, value] of Object.entries(event.headers ?? {}))
    if (key.toLowerCase() === name && value !== undefined) return value;
  return undefined;
}
