// Sign-in through Cognito managed login: the OAuth 2.0 authorization code flow with PKCE (RFC 7636)
// for a public client. The page uses it (config.json `signIn`: the managed login URL and the client
// id); `npm run oncall -- login` uses the same functions. Locally there is no `signIn` and the page
// keeps its token field.

const SCOPES = 'openid email profile';
/** Renew an ID token this long before it expires. */
const EXPIRY_MARGIN_MS = 60_000;
const STORE = { state: 'signIn.state', verifier: 'signIn.verifier', tokens: 'signIn.tokens' };

function base64url(bytes) {
  return btoa(String.fromCharCode(...bytes))
    .replaceAll('+', '-')
    .replaceAll('/', '_')
    .replace(/=+$/, '');
}

/** A random string of 32 bytes, base64url: PKCE verifiers and OAuth states. */
export function randomToken(crypto = globalThis.crypto) {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

/** A PKCE verifier and its S256 challenge. */
export async function pkcePair(crypto = globalThis.crypto) {
  const verifier = randomToken(crypto);
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return { verifier, challenge: base64url(new Uint8Array(digest)) };
}

/** Managed login's authorize URL, which redirects back to `redirectUri` with `?code=&state=`. */
export function authorizeUrl(signIn, { redirectUri, state, challenge }) {
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: signIn.clientId,
    redirect_uri: redirectUri,
    scope: SCOPES,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  return `${signIn.url}/oauth2/authorize?${query}`;
}

/** POSTs to the token endpoint; answers `{idToken, refreshToken, expiresAt}` (epoch ms). */
async function tokenRequest(signIn, form, fetchFn, now) {
  const response = await fetchFn(`${signIn.url}/oauth2/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: signIn.clientId, ...form }).toString(),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok || typeof body.id_token !== 'string') {
    throw new Error(`Sign-in refused: ${body.error ?? `HTTP ${response.status}`}`);
  }
  return {
    idToken: body.id_token,
    // A refresh answer carries no new refresh token: the caller keeps its own.
    refreshToken: body.refresh_token ?? form.refresh_token,
    expiresAt: now() + Number(body.expires_in ?? 3600) * 1000,
  };
}

/** Trades the code managed login redirected back with (and the PKCE verifier) for tokens. */
export function exchangeCode(signIn, { code, verifier, redirectUri }, fetchFn = fetch, now = Date.now) {
  const form = { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: redirectUri };
  return tokenRequest(signIn, form, fetchFn, now);
}

/** A new ID token from a refresh token (valid for an on-call shift, see lib/constructs/auth.ts). */
export function refreshTokens(signIn, refreshToken, fetchFn = fetch, now = Date.now) {
  return tokenRequest(signIn, { grant_type: 'refresh_token', refresh_token: refreshToken }, fetchFn, now);
}

/** Whether tokens still hold an ID token good for more than a minute. */
export function isFresh(tokens, now = Date.now) {
  return Boolean(tokens?.idToken) && tokens.expiresAt - EXPIRY_MARGIN_MS > now();
}

// --- The dashboard page -------------------------------------------------------------------------

/** The page's own address: the redirect URI registered for it (lib/constructs/auth.ts). */
const pageRedirect = (env) => `${env.location.origin}/`;

/**
 * The ID token the page signs in with: the one managed login just redirected back with (the code
 * is exchanged and taken out of the address bar), else a stored one, renewed if it expires soon.
 * Undefined without managed login (the local stack) or without a session.
 */
export async function currentToken(config, env = globalThis) {
  const { signIn } = config;
  if (!signIn) return undefined;
  const storage = env.sessionStorage;
  const url = new URL(env.location.href);
  const code = url.searchParams.get('code');
  if (code) {
    const expected = storage.getItem(STORE.state);
    const verifier = storage.getItem(STORE.verifier);
    storage.removeItem(STORE.state);
    storage.removeItem(STORE.verifier);
    env.history.replaceState(null, '', url.pathname);
    if (!expected || url.searchParams.get('state') !== expected || !verifier) {
      throw new Error('Sign-in answer does not match this browser session: sign in again.');
    }
    const tokens = await exchangeCode(signIn, { code, verifier, redirectUri: pageRedirect(env) }, env.fetch);
    storage.setItem(STORE.tokens, JSON.stringify(tokens));
    return tokens.idToken;
  }
  const stored = JSON.parse(storage.getItem(STORE.tokens) ?? 'null');
  if (isFresh(stored)) return stored.idToken;
  if (!stored?.refreshToken) return undefined;
  try {
    const renewed = await refreshTokens(signIn, stored.refreshToken, env.fetch);
    storage.setItem(STORE.tokens, JSON.stringify(renewed));
    return renewed.idToken;
  } catch {
    storage.removeItem(STORE.tokens);
    return undefined;
  }
}

/** Leaves for managed login (password, then the TOTP code), which redirects back to the page. */
export async function startSignIn(config, env = globalThis) {
  const { verifier, challenge } = await pkcePair(env.crypto);
  const state = randomToken(env.crypto);
  env.sessionStorage.setItem(STORE.state, state);
  env.sessionStorage.setItem(STORE.verifier, verifier);
  env.location.assign(authorizeUrl(config.signIn, { redirectUri: pageRedirect(env), state, challenge }));
}

/** Shows the way in: the managed login button when the stack has one, else the token field. */
export function renderSignIn(config, env = globalThis) {
  const managed = Boolean(config.signIn);
  const button = env.document.getElementById('managed-sign-in');
  env.document.getElementById('token-sign-in').hidden = managed;
  button.hidden = !managed;
  if (managed) {
    env.sessionStorage.removeItem(STORE.tokens);
    button.onclick = () => startSignIn(config, env);
    button.focus();
  }
}
