import { vi } from 'vitest';

export interface RecordedRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: unknown;
}

/** A scripted reply: a status with a JSON or text body, a thrown error, a hang (until aborted), or a function of the request. */
export type Reply =
  | { status?: number; json?: unknown; text?: string }
  | { throws: unknown }
  | { hang: true }
  | ((request: RecordedRequest) => Reply);

/**
 * A `fetch` double that records every request (headers lower-cased, JSON body parsed) and
 * answers with the replies in order. Running out of replies fails the test loudly.
 */
export function fakeFetch(...replies: Reply[]) {
  const requests: RecordedRequest[] = [];
  const queue = [...replies];
  const fetch = vi.fn(async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const headers = Object.fromEntries(new Headers(init?.headers).entries());
    const raw = typeof init?.body === 'string' ? init.body : undefined;
    const request: RecordedRequest = {
      url: String(input),
      method: init?.method ?? 'GET',
      headers,
      body: raw === undefined ? undefined : JSON.parse(raw),
    };
    requests.push(request);
    const next = queue.shift();
    if (next === undefined) throw new Error(`unexpected request ${request.method} ${request.url}`);
    const reply = typeof next === 'function' ? next(request) : next;
    if (typeof reply === 'function') throw new Error('a scripted reply function must return a reply');
    if ('throws' in reply) throw reply.throws;
    if ('hang' in reply) {
      // Like a real fetch: never answers, but honours the abort signal.
      return new Promise<Response>((_, reject) => {
        const signal = init?.signal;
        signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
    }
    const status = typeof reply.status === 'number' ? reply.status : 200;
    const body = reply.text ?? (reply.json === undefined ? null : JSON.stringify(reply.json));
    return new Response(status === 204 ? null : body, {
      status,
      headers: { 'content-type': 'application/json' },
    });
  });
  return {
    fetch: fetch as unknown as typeof globalThis.fetch,
    requests,
    mock: fetch,
    remaining: () => queue.length,
  };
}

/** The GraphQL document and variables of a recorded request. */
export function graphql(request: RecordedRequest | undefined): { query: string; variables: unknown } {
  const body = request?.body as { query?: unknown; variables?: unknown } | undefined;
  return { query: String(body?.query), variables: body?.variables };
}
