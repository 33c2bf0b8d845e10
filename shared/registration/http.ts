import { DEFAULT_TIMEOUT_MS, type RegistrationDeps } from './types';

export interface JsonRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  body?: unknown;
}

/** Either the parsed (or `undefined`) 2xx body, or why the call failed, safe to show to the user. */
export type JsonOutcome =
  | { ok: true; status: number; body: unknown }
  | { ok: false; status?: number; reason: string };

const MAX_MESSAGE = 200;

/**
 * One HTTP call to a provider. Never throws: network errors, timeouts and non-2xx become a reason.
 * The reason carries no URL (HubSpot's key sits in the query string) and goes through `redact`.
 */
export async function sendJson(
  deps: RegistrationDeps,
  request: JsonRequest,
  secrets: readonly string[],
): Promise<JsonOutcome> {
  const timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  try {
    const response = await deps.fetch(request.url, {
      method: request.method,
      headers: {
        accept: 'application/json',
        ...(request.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...request.headers,
      },
      body: request.body === undefined ? undefined : JSON.stringify(request.body),
      // Bounds the body read too: the signal stays attached to the response stream.
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'error',
    });
    const body = parseJson(await response.text());
    if (response.ok) return { ok: true, status: response.status, body };
    const message = providerMessage(body);
    return {
      ok: false,
      status: response.status,
      reason: redact(`HTTP ${response.status}${message ? `: ${message}` : ''}`, secrets),
    };
  } catch (error) {
    return { ok: false, reason: redact(describeError(error, timeoutMs), secrets) };
  }
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Shopify: `{errors: "..."}` or GraphQL `{errors: [{message}]}`; HubSpot: `{message, category}`. */
export function providerMessage(body: unknown): string | undefined {
  const record = asRecord(body);
  if (!record) return undefined;
  if (typeof record.message === 'string') return truncate(record.message);
  if (typeof record.errors === 'string') return truncate(record.errors);
  if (Array.isArray(record.errors)) {
    const messages = record.errors
      .map((entry) =>
        typeof entry === 'object' && entry !== null ? (entry as { message?: unknown }).message : entry,
      )
      .filter((message): message is string => typeof message === 'string');
    if (messages.length > 0) return truncate(messages.join('; '));
  }
  if (typeof record.error === 'string') return truncate(record.error);
  return undefined;
}

function describeError(error: unknown, timeoutMs: number): string {
  // DOMException (TimeoutError/AbortError) is an Error on Node 22 but not necessarily elsewhere: read the name.
  const name = typeof error === 'object' && error !== null ? (error as { name?: unknown }).name : undefined;
  if (name === 'TimeoutError') return `timed out after ${timeoutMs} ms`;
  if (name === 'AbortError') return 'request was aborted';
  // undici puts the system error code (ECONNREFUSED, ENOTFOUND...) on `cause`; its message may hold more than we want.
  const code = (error as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  return typeof code === 'string' && /^[A-Z_]{2,40}$/.test(code)
    ? `network error (${code})`
    : 'network error';
}

export function truncate(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > MAX_MESSAGE ? `${oneLine.slice(0, MAX_MESSAGE - 1)}…` : oneLine;
}

/** Removes the given secrets, any `hapikey=` value and Shopify token-shaped strings from `text`. */
export function redact(text: string, secrets: readonly string[]): string {
  let result = text;
  for (const secret of secrets) {
    if (secret.length < 4) continue;
    result = result.replaceAll(secret, '[redacted]');
    const encoded = encodeURIComponent(secret);
    if (encoded !== secret) result = result.replaceAll(encoded, '[redacted]');
  }
  return result
    .replace(/(hapikey=)[^&\s"'#]*/gi, '$1[redacted]')
    .replace(/\bshp(at|ca|pa|ss|ua)_[A-Za-z0-9]+/g, '[redacted]');
}

export function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** `externalWebhookId` holds one provider id per subscription, joined with ','. */
export function splitIds(externalWebhookId: string): string[] {
  return externalWebhookId
    .split(',')
    .map((id) => id.trim())
    .filter((id) => id !== '');
}
