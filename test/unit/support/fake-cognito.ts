import { createHash } from 'node:crypto';

const base64url = (bytes: Buffer) => bytes.toString('base64url');

/**
 * Cognito's managed login as far as a public client sees it: `authorize` is what happens in the
 * browser (the user signs in; the redirect carries a one-time code), and `fetch` answers the token
 * endpoint as Cognito does, checking the PKCE verifier against the S256 challenge, the client and
 * the redirect URI, and renewing ID tokens from the refresh token.
 */
export function fakeCognito(
  signIn = { url: 'https://hooks.auth.eu-west-1.amazoncognito.com', clientId: 'client-1' },
) {
  const codes = new Map<string, { challenge: string; redirectUri: string }>();
  const requests: Record<string, string>[] = [];
  let issued = 0;
  const token = (body: Record<string, unknown>, status = 200) =>
    new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

  const fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = String(input);
    if (url === `${signIn.url.replace('.auth.', '-dashboard.')}/config.json`) return token({ signIn });
    if (url !== `${signIn.url}/oauth2/token` || init?.method !== 'POST') return token({}, 404);
    const form = Object.fromEntries(new URLSearchParams(String(init.body)));
    requests.push(form);
    if (form.client_id !== signIn.clientId) return token({ error: 'invalid_client' }, 400);
    if (form.grant_type === 'refresh_token') {
      return form.refresh_token === 'refresh-1'
        ? token({ id_token: `id-${++issued}`, expires_in: 3600, token_type: 'Bearer' })
        : token({ error: 'invalid_grant' }, 400);
    }
    const grant = codes.get(form.code ?? '');
    codes.delete(form.code ?? '');
    const verified =
      grant &&
      grant.redirectUri === form.redirect_uri &&
      base64url(
        createHash('sha256')
          .update(form.code_verifier ?? '')
          .digest(),
      ) === grant.challenge;
    if (!verified) return token({ error: 'invalid_grant' }, 400);
    return token({
      id_token: `id-${++issued}`,
      refresh_token: 'refresh-1',
      expires_in: 3600,
      token_type: 'Bearer',
    });
  };

  /** The user signs in at the authorize URL: the redirect managed login answers with. */
  const authorize = (authorizeUrl: string): string => {
    const url = new URL(authorizeUrl);
    const query = url.searchParams;
    if (`${url.origin}${url.pathname}` !== `${signIn.url}/oauth2/authorize`)
      throw new Error(`not authorize: ${url}`);
    if (query.get('client_id') !== signIn.clientId || query.get('code_challenge_method') !== 'S256') {
      throw new Error('managed login refuses this request');
    }
    const code = `code-${codes.size + 1}`;
    const redirectUri = query.get('redirect_uri') as string;
    codes.set(code, { challenge: query.get('code_challenge') as string, redirectUri });
    return `${redirectUri}?code=${code}&state=${encodeURIComponent(query.get('state') ?? '')}`;
  };

  /** Where the fake serves the dashboard's config.json (for the CLI). */
  const dashboardUrl = signIn.url.replace('.auth.', '-dashboard.');
  return { signIn, fetch, authorize, requests, dashboardUrl };
}
