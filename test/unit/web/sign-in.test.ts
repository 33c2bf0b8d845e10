import { describe, expect, it } from 'vitest';
import { currentToken, type PageEnv, renderSignIn, startSignIn } from '../../../web/sign-in.js';
import { fakeCognito } from '../support/fake-cognito';

/** The page's window, as far as web/sign-in.js uses it. */
function page(cognito: ReturnType<typeof fakeCognito>, href = 'https://d1.cloudfront.net/') {
  const storage = new Map<string, string>();
  const assigned: string[] = [];
  const env: PageEnv = {
    location: {
      href,
      origin: new URL(href).origin,
      assign: (url: string) => assigned.push(url),
    },
    history: {
      replaceState: (_: unknown, __: string, url: string) => (env.location.href = new URL(url, href).href),
    },
    sessionStorage: {
      getItem: (key: string) => storage.get(key) ?? null,
      setItem: (key: string, value: string) => storage.set(key, value),
      removeItem: (key: string) => storage.delete(key),
    },
    fetch: cognito.fetch,
    crypto: globalThis.crypto,
  };
  return { env, storage, assigned };
}

describe('dashboard sign-in through managed login', () => {
  it('signs in with the authorization code and PKCE, and takes the code out of the address bar', async () => {
    const cognito = fakeCognito();
    const config = { signIn: cognito.signIn };
    const { env, assigned } = page(cognito);
    expect(await currentToken(config, env)).toBeUndefined();

    await startSignIn(config, env);
    const [authorize] = assigned;
    expect(new URL(authorize as string).searchParams.get('redirect_uri')).toBe('https://d1.cloudfront.net/');
    // The user signs in (password and TOTP) and managed login redirects back with a code.
    env.location.href = cognito.authorize(authorize as string);

    expect(await currentToken(config, env)).toBe('id-1');
    expect(env.location.href).toBe('https://d1.cloudfront.net/');
    expect(cognito.requests[0]).toMatchObject({ grant_type: 'authorization_code', client_id: 'client-1' });
    // Reloaded: the stored token, no new request.
    expect(await currentToken(config, env)).toBe('id-1');
    expect(cognito.requests).toHaveLength(1);
  });

  it('refuses a redirect this browser session did not start', async () => {
    const cognito = fakeCognito();
    const { env } = page(cognito);
    await startSignIn({ signIn: cognito.signIn }, env);
    const other = page(cognito);
    await startSignIn({ signIn: cognito.signIn }, other.env);
    env.location.href = cognito.authorize(other.assigned[0] as string);
    await expect(currentToken({ signIn: cognito.signIn }, env)).rejects.toThrow(/does not match/);
    expect(cognito.requests).toEqual([]);
  });

  it('renews an expiring ID token with the refresh token, and forgets a refused one', async () => {
    const cognito = fakeCognito();
    const { env, storage } = page(cognito);
    storage.set(
      'signIn.tokens',
      JSON.stringify({ idToken: 'old', refreshToken: 'refresh-1', expiresAt: Date.now() + 1000 }),
    );
    expect(await currentToken({ signIn: cognito.signIn }, env)).toBe('id-1');
    expect(cognito.requests[0]).toMatchObject({ grant_type: 'refresh_token', refresh_token: 'refresh-1' });

    storage.set('signIn.tokens', JSON.stringify({ idToken: 'old', refreshToken: 'revoked', expiresAt: 0 }));
    expect(await currentToken({ signIn: cognito.signIn }, env)).toBeUndefined();
    expect(storage.has('signIn.tokens')).toBe(false);
  });

  it('stays out of the way on the local stack (no managed login)', async () => {
    const { env } = page(fakeCognito(), 'http://localhost:3000/?code=x&state=y');
    expect(await currentToken({}, env)).toBeUndefined();
  });

  it('offers the managed login button instead of the token field when the stack has one', async () => {
    const cognito = fakeCognito();
    const elements = {
      'managed-sign-in': {
        hidden: true,
        onclick: undefined as undefined | (() => unknown),
        focused: false,
        focus() {
          this.focused = true;
        },
      },
      'token-sign-in': { hidden: false },
    };
    const { env, assigned, storage } = page(cognito);
    storage.set('signIn.tokens', JSON.stringify({ idToken: 'refused', expiresAt: Date.now() + 3_600_000 }));
    const withDocument = {
      ...env,
      document: { getElementById: (id: keyof typeof elements) => elements[id] },
    };

    renderSignIn({ signIn: cognito.signIn }, withDocument);
    expect(elements['token-sign-in'].hidden).toBe(true);
    expect(elements['managed-sign-in']).toMatchObject({ hidden: false, focused: true });
    // Shown because the token was refused: it is not offered again on the next load.
    expect(storage.has('signIn.tokens')).toBe(false);
    await elements['managed-sign-in'].onclick?.();
    expect(assigned[0]).toMatch(/^https:\/\/hooks\.auth\.eu-west-1\.amazoncognito\.com\/oauth2\/authorize\?/);

    renderSignIn({}, withDocument);
    expect(elements['token-sign-in'].hidden).toBe(false);
    expect(elements['managed-sign-in'].hidden).toBe(true);
  });
});
