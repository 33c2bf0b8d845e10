import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { runOncall } from '../../../bin/oncall';
import type { CachedSession, TokenStore } from '../../../bin/oncall-login';
import { fakeCognito } from '../support/fake-cognito';
import { fakeFetch } from '../support/fake-fetch';

function io(fetch: typeof globalThis.fetch, env: Record<string, string> = {}) {
  const lines: string[] = [];
  return {
    lines,
    io: { fetch, out: (line: string) => lines.push(line), env, devToken: async () => 'dev-token' },
  };
}

describe('npm run oncall', () => {
  it('asks a deployed API for a real token instead of minting a dev one', async () => {
    const fake = fakeFetch();
    const { lines, io: context } = io(fake.fetch);
    expect(await runOncall(['dead', '--url', 'https://api.example.com/prod'], context)).toBe(2);
    expect(lines[0]).toMatch(/Not signed in to https:\/\/api.example.com\/prod: npm run oncall -- login/);
    expect(fake.requests).toEqual([]);
  });

  it('lists dead events with the token and filters it is given', async () => {
    const fake = fakeFetch({ json: { success: true, events: [] } });
    const { lines, io: context } = io(fake.fetch, { WEBHOOKS_TOKEN: 'real-token' });
    const code = await runOncall(
      ['dead', '--url', 'https://api.example.com/prod/', '--provider', 'hubspot'],
      context,
    );
    expect(code).toBe(0);
    expect(fake.requests[0]).toMatchObject({
      url: 'https://api.example.com/prod/api/webhooks/events?status=dead&provider=hubspot',
      method: 'GET',
      headers: { authorization: 'Bearer real-token' },
    });
    expect(lines).toEqual(['No dead events.']);
  });

  it("lists one owner's dead events, naming each event's owner", async () => {
    const fake = fakeFetch({
      json: {
        success: true,
        events: [
          {
            id: 'system:shopify:w1',
            owner_id: 'system',
            received_at: '2026-03-01T10:00:00.000Z',
            status: 'dead',
            attempts: 5,
            provider: 'shopify',
            event_type: 'orders/create',
            object_type: 'order',
            object_id: '1',
            error_category: 'processing',
            error_message: 'boom',
          },
        ],
      },
    });
    const { lines, io: context } = io(fake.fetch);
    expect(await runOncall(['dead', '--owner', 'system'], context)).toBe(0);
    expect(fake.requests[0]?.url).toBe('http://localhost:3000/api/webhooks/events?owner=system&status=dead');
    expect(lines).toEqual([
      '2026-03-01T10:00:00.000Z  dead  x5  shopify  orders/create  order/1  owner system  system:shopify:w1  processing: boom',
    ]);
  });

  it('prints the ledger of a window and owner, and says whether it balances', async () => {
    const ledger = {
      success: true,
      owner: 'alice',
      since: '2026-03-01T09:00:00.000Z',
      until: '2026-03-01T10:00:00.000Z',
      received: 12,
      processed: 8,
      duplicate: 2,
      quarantined: 1,
      dead: 1,
      in_flight: 0,
      processed_outcomes: { applied: 6, stale: 1, ignored: 1 },
      balanced: true,
      unreceipted: 0,
      oldest_in_flight_at: null,
    };
    const fake = fakeFetch({ json: ledger });
    const { lines, io: context } = io(fake.fetch);
    expect(await runOncall(['ledger', '--owner', 'alice', '--range', '1h'], context)).toBe(0);
    expect(fake.requests[0]?.url).toBe('http://localhost:3000/api/webhooks/ledger?owner=alice&time_range=1h');
    expect(lines).toEqual([
      'Ledger 2026-03-01T09:00:00.000Z .. 2026-03-01T10:00:00.000Z (owner alice)',
      'received          12',
      'processed          8  applied 6, stale 1, ignored 1',
      'duplicate          2',
      'quarantined        1  npm run oncall -- quarantined',
      'dead               1  npm run oncall -- dead',
      'in flight          0',
      'Balanced: received = processed + duplicate + quarantined + dead + in flight.',
    ]);
  });

  it('lists quarantined events', async () => {
    const fake = fakeFetch({ json: { success: true, events: [] } });
    const { lines, io: context } = io(fake.fetch);
    expect(await runOncall(['quarantined'], context)).toBe(0);
    expect(fake.requests[0]?.url).toBe('http://localhost:3000/api/webhooks/events?status=quarantined');
    expect(lines).toEqual(['No quarantined events.']);
  });

  it('URL-encodes the event id of a replay and reports API errors with exit code 1', async () => {
    const fake = fakeFetch({
      status: 404,
      json: { success: false, error: { code: 'not_found', message: 'No such event' } },
    });
    const { lines, io: context } = io(fake.fetch);
    expect(await runOncall(['replay', 'salesforce:a/b'], context)).toBe(1);
    expect(fake.requests[0]?.url).toBe('http://localhost:3000/api/webhooks/events/salesforce%3Aa%2Fb/replay');
    expect(fake.requests[0]?.headers.authorization).toBe('Bearer dev-token');
    expect(lines).toEqual(['HTTP 404 not_found: No such event']);
  });

  it('sends the redrive rate and prints usage for an unknown command', async () => {
    const fake = fakeFetch({
      status: 202,
      json: { success: true, task: { status: 'RUNNING', task_handle: 't1' } },
    });
    const { lines, io: context } = io(fake.fetch);
    expect(await runOncall(['redrive', 'low', '--rate', '5'], context)).toBe(0);
    expect(fake.requests[0]?.body).toEqual({ priority: 'low', max_messages_per_second: 5 });
    expect(lines[0]).toBe('Redrive of the low DLQ: RUNNING (task t1)');
    expect(await runOncall(['explode'], context)).toBe(2);
    expect(lines.at(-1)).toMatch(/^Usage: npm run oncall/);
  });
});

/** The CLI's fetch: the management API behind the dashboard's /api, and Cognito for the rest. */
function cliFetch(cognito: ReturnType<typeof fakeCognito>, api: ReturnType<typeof fakeFetch>) {
  return (async (input: string | URL | Request, init?: RequestInit) =>
    String(input).startsWith(`${cognito.dashboardUrl}/api/`)
      ? api.fetch(input, init)
      : cognito.fetch(input, init)) as typeof globalThis.fetch;
}

function memoryStore(): TokenStore & { sessions: Map<string, CachedSession> } {
  const sessions = new Map<string, CachedSession>();
  return {
    sessions,
    get: (origin) => sessions.get(origin),
    set: (origin, session) => sessions.set(origin, session),
  };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('npm run oncall -- login', () => {
  it('signs in through managed login in the browser, caches the tokens and uses them for the next command', async () => {
    const cognito = fakeCognito();
    const api = fakeFetch({ json: { success: true, events: [] } });
    const fetch = cliFetch(cognito, api);
    const store = memoryStore();
    const lines: string[] = [];
    const context = { fetch, out: (line: string) => lines.push(line), env: {}, store };
    const callbackUrl = `http://127.0.0.1:${await freePort()}/callback`;

    const signingIn = runOncall(['login', '--url', cognito.dashboardUrl], { ...context, callbackUrl });
    await expect.poll(() => lines.find((line) => line.includes('/oauth2/authorize?'))).toBeDefined();
    // The browser: managed login redirects to the CLI's localhost server with the code.
    const redirect = await globalThis.fetch(
      cognito.authorize(lines.find((l) => l.includes('/oauth2/authorize?')) as string),
    );
    expect(await redirect.text()).toMatch(/Signed in/);
    expect(await signingIn).toBe(0);
    expect(store.sessions.get(cognito.dashboardUrl)).toMatchObject({
      idToken: 'id-1',
      refreshToken: 'refresh-1',
    });

    expect(await runOncall(['dead', '--url', cognito.dashboardUrl], context)).toBe(0);
    expect(api.requests[0]?.headers.authorization).toBe('Bearer id-1');
  });

  it('renews the cached ID token when it expires, and asks for a login when it cannot', async () => {
    const cognito = fakeCognito();
    const api = fakeFetch({ json: { success: true, queues: [] } });
    const fetch = cliFetch(cognito, api);
    const store = memoryStore();
    store.set(cognito.dashboardUrl, {
      idToken: 'old',
      refreshToken: 'refresh-1',
      expiresAt: 0,
      signIn: cognito.signIn,
    });
    const lines: string[] = [];
    const context = { fetch, out: (line: string) => lines.push(line), env: {}, store };
    expect(await runOncall(['dlq', '--url', cognito.dashboardUrl], context)).toBe(0);
    expect(api.requests[0]?.headers.authorization).toBe('Bearer id-1');

    store.set(cognito.dashboardUrl, {
      idToken: 'old',
      refreshToken: 'revoked',
      expiresAt: 0,
      signIn: cognito.signIn,
    });
    expect(await runOncall(['dlq', '--url', cognito.dashboardUrl], context)).toBe(2);
    expect(lines.at(-1)).toMatch(/Not signed in/);
  });

  it('refuses a URL that serves no managed login settings', async () => {
    const lines: string[] = [];
    const code = await runOncall(['login', '--url', 'https://api.example.com/prod'], {
      fetch: fakeFetch({ status: 403, json: {} }).fetch,
      out: (line) => lines.push(line),
      env: {},
      store: memoryStore(),
      callbackUrl: `http://127.0.0.1:${await freePort()}/callback`,
    });
    expect(code).toBe(1);
    expect(lines).toEqual([expect.stringMatching(/must be the stack's DashboardUrl/)]);
  });
});
