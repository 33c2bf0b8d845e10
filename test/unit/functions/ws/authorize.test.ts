import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DEV_TOKEN_ISSUER, signDevToken, tokenVerifierFromEnv } from '../../../../shared/auth/tokens';
import { logger } from '../../../../shared/observability';
import { authorizerEvent, CONNECT_METHOD_ARN, WS_ENV } from '../../support/websocket';

type AuthorizeModule = typeof import('../../../../functions/ws/authorize');

let authorizeModule: AuthorizeModule;

beforeAll(async () => {
  for (const [name, value] of Object.entries(WS_ENV)) vi.stubEnv(name, value);
  logger.setLogLevel('SILENT');
  // The module builds its handler from the environment when it is loaded.
  authorizeModule = await import('../../../../functions/ws/authorize');
});

afterAll(() => {
  vi.unstubAllEnvs();
});

function authorize(query: Record<string, string> | null) {
  return authorizeModule.makeAuthorizer(tokenVerifierFromEnv())(authorizerEvent(query));
}

const secret = () => new TextEncoder().encode(WS_ENV.DEV_TOKEN_SECRET);
const base64url = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('$connect REQUEST authorizer', () => {
  it('allows invoking exactly this $connect as the token subject and passes the user id on', async () => {
    const token = await signDevToken(WS_ENV.DEV_TOKEN_SECRET, 'user-42');

    const result = await authorize({ token });

    expect(result).toEqual({
      principalId: 'user-42',
      policyDocument: {
        Version: '2012-10-17',
        Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: CONNECT_METHOD_ARN }],
      },
      context: { userId: 'user-42', operator: 'false', expiresAt: expect.stringMatching(/^\d+$/) },
    });
  });

  it("passes the token's exp on, so that $connect stores it and the connection is closed then (issue 16)", async () => {
    const token = await signDevToken(WS_ENV.DEV_TOKEN_SECRET, 'user-42', 600);
    const exp = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()).exp;

    const result = await authorize({ token });

    expect(result.context?.expiresAt).toBe(String(exp));
  });

  it("tells $connect whether the subject is an operator, whose connection gets every owner's pushes", async () => {
    const token = await signDevToken(WS_ENV.DEV_TOKEN_SECRET, 'oncall-1', 3600, ['operators']);

    const result = await authorize({ token });

    expect(result.context).toMatchObject({ userId: 'oncall-1', operator: 'true' });
  });

  it('refuses a token whose subject is the reserved system owner', async () => {
    const token = await signDevToken(WS_ENV.DEV_TOKEN_SECRET, 'system', 3600, ['operators']);

    await expect(authorize({ token })).rejects.toThrow(/^Unauthorized$/);
  });

  it.each([
    ['no query string at all', null],
    ['an empty token', { token: '' }],
    ['a bare ?userId=', { userId: 'admin' }],
  ])('fails with Unauthorized (401) for %s', async (_case, query) => {
    await expect(authorize(query)).rejects.toThrow(/^Unauthorized$/);
  });

  it('ignores a ?userId= next to a valid token: the token decides who connects', async () => {
    const token = await signDevToken(WS_ENV.DEV_TOKEN_SECRET, 'user-42');

    const result = await authorize({ token, userId: 'admin' });

    expect(result.principalId).toBe('user-42');
    expect(result.context).toMatchObject({ userId: 'user-42', operator: 'false' });
  });

  it('refuses a token signed with another secret', async () => {
    const forged = await signDevToken('an-attackers-secret-0123456789abcdef', 'admin');

    await expect(authorize({ token: forged })).rejects.toThrow(/^Unauthorized$/);
  });

  it('refuses a token that expired more than the allowed clock skew ago', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('user-42')
      .setIssuer(DEV_TOKEN_ISSUER)
      .setIssuedAt(now - 7200)
      .setExpirationTime(now - 120)
      .sign(secret());

    await expect(authorize({ token: expired })).rejects.toThrow(/^Unauthorized$/);
  });

  it("refuses an unsigned token with alg 'none'", async () => {
    const now = Math.floor(Date.now() / 1000);
    const unsigned = `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({
      sub: 'admin',
      iss: DEV_TOKEN_ISSUER,
      iat: now,
      exp: now + 3600,
    })}.`;

    await expect(authorize({ token: unsigned })).rejects.toThrow(/^Unauthorized$/);
  });

  it('refuses a token from another issuer', async () => {
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('user-42')
      .setIssuer('someone-else')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(secret());

    await expect(authorize({ token })).rejects.toThrow(/^Unauthorized$/);
  });

  it('refuses a token without an expiry', async () => {
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('user-42')
      .setIssuer(DEV_TOKEN_ISSUER)
      .setIssuedAt()
      .sign(secret());

    await expect(authorize({ token })).rejects.toThrow(/^Unauthorized$/);
  });

  it('fails with the original error (500, not 401) when verification itself breaks', async () => {
    const broken = authorizeModule.makeAuthorizer({
      verify: () => Promise.reject(new Error('JWKS endpoint unreachable')),
    });

    await expect(broken(authorizerEvent({ token: 'x.y.z' }))).rejects.toThrow('JWKS endpoint unreachable');
  });

  it('wires the deployed handler to DEV_TOKEN_SECRET when no JWKS URL is set', async () => {
    const token = await signDevToken(WS_ENV.DEV_TOKEN_SECRET, 'user-7');

    const result = await authorizeModule.handler(authorizerEvent({ token }));

    expect(result.context).toMatchObject({ userId: 'user-7', operator: 'false' });
  });
});
