// Types of web/sign-in.js for its TypeScript users (bin/oncall-login.ts and the tests).

export interface SignInConfig {
  /** The managed login base URL, `https://<prefix>.auth.<region>.amazoncognito.com`. */
  url: string;
  clientId: string;
}

export interface Tokens {
  idToken: string;
  refreshToken?: string;
  /** Epoch ms. */
  expiresAt: number;
}

type Fetch = (
  url: string,
  init: { method: string; headers: Record<string, string>; body: string },
) => Promise<{
  ok: boolean;
  status: number;
  json(): Promise<unknown>;
}>;

export function randomToken(crypto?: Crypto): string;
export function pkcePair(crypto?: Crypto): Promise<{ verifier: string; challenge: string }>;
export function authorizeUrl(
  signIn: SignInConfig,
  options: { redirectUri: string; state: string; challenge: string },
): string;
export function exchangeCode(
  signIn: SignInConfig,
  options: { code: string; verifier: string; redirectUri: string },
  fetchFn?: Fetch,
  now?: () => number,
): Promise<Tokens>;
export function refreshTokens(
  signIn: SignInConfig,
  refreshToken: string,
  fetchFn?: Fetch,
  now?: () => number,
): Promise<Tokens>;
export function isFresh(tokens: Tokens | undefined | null, now?: () => number): boolean;

/** What the page functions use of `window` (a stand-in in tests). */
export interface PageEnv {
  location: { href: string; origin: string; assign(url: string): void };
  history: { replaceState(data: unknown, unused: string, url: string): void };
  sessionStorage: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;
  fetch: Fetch;
  crypto: Crypto;
  document?: unknown;
}

export function currentToken(config: { signIn?: SignInConfig }, env?: PageEnv): Promise<string | undefined>;
export function startSignIn(config: { signIn: SignInConfig }, env?: PageEnv): Promise<void>;
export function renderSignIn(config: { signIn?: SignInConfig }, env?: PageEnv): void;
