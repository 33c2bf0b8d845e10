import { createRemoteJWKSet, type JWTVerifyGetKey, jwtVerify, SignJWT } from 'jose';
import { optionalEnv, requireEnv } from '../env';
import { UnauthorizedError } from '../errors';
import { isReservedOwner } from '../owner';

/** Who a valid token speaks for: its subject, the Cognito groups it carries, and until when. */
export interface Identity {
  userId: string;
  groups: string[];
  /** The token's `exp` (epoch seconds): a WebSocket opened with it is closed then. */
  expiresAt?: number;
}

export interface TokenVerifier {
  /** Resolves to the token's identity or throws UnauthorizedError. */
  verify(token: string): Promise<Identity>;
}

/**
 * The Cognito group whose members operate the deployment: they see and act on every owner's data
 * (the system owner's included), the shared infrastructure (DLQs) and the team's alerts.
 */
export const OPERATORS_GROUP = 'operators';

export const isOperator = (groups: readonly string[]) => groups.includes(OPERATORS_GROUP);

/** The claim Cognito puts a user's groups in; dev tokens use the same one. */
const GROUPS_CLAIM = 'cognito:groups';

/** Issuer of the tokens that `npm run token` mints for the local stack. */
export const DEV_TOKEN_ISSUER = 'webhooks-local-dev';

/**
 * Verifies JWTs with a maintained library (jose): in AWS against the user pool's JWKS, locally
 * against the dev signing secret. Only the key source differs; the checks are the same.
 */
export function tokenVerifierFromEnv(): TokenVerifier {
  const jwksUrl = optionalEnv('AUTH_JWKS_URL');
  if (jwksUrl) {
    return jwtVerifier(
      createRemoteJWKSet(new URL(jwksUrl)),
      'RS256',
      requireEnv('AUTH_ISSUER'),
      optionalEnv('AUTH_AUDIENCE'),
    );
  }
  const secret = new TextEncoder().encode(requireEnv('DEV_TOKEN_SECRET'));
  return jwtVerifier(async () => secret, 'HS256', DEV_TOKEN_ISSUER, undefined);
}

/** One algorithm per key source, so a token can never pick how it is checked (no alg confusion). */
function jwtVerifier(
  key: JWTVerifyGetKey,
  algorithm: 'RS256' | 'HS256',
  issuer: string,
  audience: string | undefined,
): TokenVerifier {
  return {
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, key, {
          issuer,
          audience,
          algorithms: [algorithm],
          clockTolerance: 60,
          requiredClaims: ['sub', 'exp'],
        });
        // The system owner is the deployment itself: no token speaks for it (operators act for it).
        if (!payload.sub || isReservedOwner(payload.sub)) throw new Error('missing or reserved sub');
        const groups = payload[GROUPS_CLAIM];
        return {
          userId: payload.sub,
          groups: Array.isArray(groups) ? groups.filter((group) => typeof group === 'string') : [],
          ...(typeof payload.exp === 'number' && { expiresAt: payload.exp }),
        };
      } catch {
        throw new UnauthorizedError('Invalid or expired token');
      }
    },
  };
}

export async function signDevToken(
  secret: string,
  userId: string,
  ttlSeconds = 12 * 60 * 60,
  groups: string[] = [],
): Promise<string> {
  return new SignJWT(groups.length > 0 ? { [GROUPS_CLAIM]: groups } : {})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(userId)
    .setIssuer(DEV_TOKEN_ISSUER)
    .setIssuedAt()
    .setExpirationTime(`${ttlSeconds}s`)
    .sign(new TextEncoder().encode(secret));
}
