/**
 * `npm run oncall -- login --url <DashboardUrl>`: signs in through Cognito managed login in the
 * browser (authorization code with PKCE, redirected to a one-shot server on localhost) and caches
 * the tokens per dashboard in ~/.config/webhooks/tokens.json (mode 600). The other commands then
 * use the cached ID token, renewed with the refresh token while it lasts (12 hours).
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { homedir } from 'node:os';
import * as path from 'node:path';
import { CLI_CALLBACK_URL } from '../lib/constructs/auth';
import {
  authorizeUrl,
  exchangeCode,
  isFresh,
  pkcePair,
  randomToken,
  refreshTokens,
  type SignInConfig,
  type Tokens,
} from '../web/sign-in.js';

export interface CachedSession extends Tokens {
  signIn: SignInConfig;
}

/** Sessions per dashboard origin. */
export interface TokenStore {
  get(origin: string): CachedSession | undefined;
  set(origin: string, session: CachedSession): void;
}

export function fileTokenStore(
  file = path.join(process.env.XDG_CONFIG_HOME ?? path.join(homedir(), '.config'), 'webhooks', 'tokens.json'),
): TokenStore {
  const read = (): Record<string, CachedSession> => {
    try {
      return JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      return {};
    }
  };
  return {
    get: (origin) => read()[origin],
    set: (origin, session) => {
      mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      writeFileSync(file, JSON.stringify({ ...read(), [origin]: session }, null, 2), { mode: 0o600 });
      chmodSync(file, 0o600);
    },
  };
}

export interface LoginIo {
  fetch: typeof fetch;
  out: (line: string) => void;
  store: TokenStore;
  /** Where the redirect lands (the client's registered CLI callback; tests use a free port). */
  callbackUrl?: string;
}

/** The stack's sign-in settings, from the config.json the dashboard serves. */
async function signInOf(dashboard: string, fetchFn: typeof fetch): Promise<SignInConfig> {
  const response = await fetchFn(`${dashboard}/config.json`);
  const config = (await response.json().catch(() => ({}))) as { signIn?: SignInConfig };
  if (!response.ok || !config.signIn) {
    throw new Error(`${dashboard} serves no managed login settings: --url must be the stack's DashboardUrl`);
  }
  return config.signIn;
}

/** Waits for managed login to redirect the browser back with `?code=&state=`. */
function awaitCode(callbackUrl: string, state: string): Promise<string> {
  const { port, hostname, pathname } = new URL(callbackUrl);
  return new Promise((resolve, reject) => {
    const server = createServer((request, response) => {
      const url = new URL(request.url ?? '/', callbackUrl);
      if (url.pathname !== pathname) {
        response.writeHead(404).end();
        return;
      }
      const code = url.searchParams.get('code');
      const ok = code !== null && url.searchParams.get('state') === state;
      response
        .writeHead(ok ? 200 : 400, { 'Content-Type': 'text/plain; charset=utf-8' })
        .end(ok ? 'Signed in: back to the terminal.' : 'Sign-in failed: run the login command again.');
      server.close();
      if (ok) resolve(code);
      else
        reject(new Error(`Sign-in failed: ${url.searchParams.get('error_description') ?? 'state mismatch'}`));
    });
    server.on('error', reject);
    server.listen(Number(port), hostname);
  });
}

export async function login(dashboard: string, io: LoginIo): Promise<CachedSession> {
  const signIn = await signInOf(dashboard, io.fetch);
  const redirectUri = io.callbackUrl ?? CLI_CALLBACK_URL;
  const { verifier, challenge } = await pkcePair();
  const state = randomToken();
  const code = awaitCode(redirectUri, state);
  io.out('Open this address in a browser and sign in (password, then your authenticator code):');
  io.out(authorizeUrl(signIn, { redirectUri, state, challenge }));
  const tokens = await exchangeCode(signIn, { code: await code, verifier, redirectUri }, io.fetch);
  const session = { ...tokens, signIn };
  io.store.set(new URL(dashboard).origin, session);
  return session;
}

/** The cached ID token for a dashboard, renewed when it expires soon; undefined when none is left. */
export async function cachedToken(
  dashboard: string,
  io: Pick<LoginIo, 'fetch' | 'store'>,
): Promise<string | undefined> {
  const origin = new URL(dashboard).origin;
  const session = io.store.get(origin);
  if (!session) return undefined;
  if (isFresh(session)) return session.idToken;
  if (!session.refreshToken) return undefined;
  try {
    const renewed = {
      ...(await refreshTokens(session.signIn, session.refreshToken, io.fetch)),
      signIn: session.signIn,
    };
    io.store.set(origin, renewed);
    return renewed.idToken;
  } catch {
    return undefined;
  }
}
