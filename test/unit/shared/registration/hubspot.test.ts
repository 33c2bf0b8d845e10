import { describe, expect, it } from 'vitest';
import {
  parseHubspotEvent,
  registerWithProvider,
  unregisterWithProvider,
} from '../../../../shared/registration';
import type { ProviderCredentials, RegistrationResult } from '../../../../shared/registration/types';
import { fakeFetch, type Reply } from '../../support/fake-fetch';

const ENDPOINT = 'https://hooks.example.com/api/webhooks/hubspot/cfg_01HZX';
const KEY = 'f3c1a2b4-5d6e-4f70-8a9b-0c1d2e3f4a5b';
const CREDENTIALS: ProviderCredentials = { provider: 'hubspot', app_id: '123456', developer_api_key: KEY };
const BASE = 'https://api.hubapi.com/webhooks/v3/123456';
const SETTINGS = {
  json: { targetUrl: ENDPOINT, throttling: { maxConcurrentRequests: 10, period: 'SECONDLY' } },
};

function subscription(id: string | number): Reply {
  return { status: 201, json: { id, active: true, createdAt: '2019-10-30T03:30:17.883Z' } };
}

function register(events: string[], replies: Reply[], timeoutMs?: number) {
  const fake = fakeFetch(...replies);
  const result = registerWithProvider(
    { provider: 'hubspot', events, endpointUrl: ENDPOINT, credentials: CREDENTIALS },
    { fetch: fake.fetch, timeoutMs },
  );
  return { fake, result };
}

function failedReason(result: RegistrationResult): string {
  if (result.status !== 'failed') throw new Error(`expected failed, got ${result.status}`);
  expect(result.reason).not.toContain(KEY);
  return result.reason;
}

describe('parseHubspotEvent', () => {
  it.each([
    ['contact.creation', { eventType: 'contact.creation' }],
    ['deal.deletion', { eventType: 'deal.deletion' }],
    ['line_item.merge', { eventType: 'line_item.merge' }],
    ['contact.propertyChange:email', { eventType: 'contact.propertyChange', propertyName: 'email' }],
    ['deal.propertyChange:dealstage', { eventType: 'deal.propertyChange', propertyName: 'dealstage' }],
  ])('reads %s', (event, value) => {
    expect(parseHubspotEvent(event)).toEqual({ ok: true, value });
  });

  it.each([
    [
      'contact.propertyChange',
      'contact.propertyChange needs a property: use contact.propertyChange:<property name>',
    ],
    ['contact.creation:email', 'Only propertyChange events take a property (contact.creation:email)'],
    ['contact.propertyChange:e mail', '"e mail" is not a HubSpot property name'],
    ['contact', '"contact" is not a HubSpot event type (e.g. contact.creation)'],
    ['a.b:c:d', '"a.b:c:d" is not a HubSpot event type (e.g. contact.creation)'],
  ])('refuses %s', (event, reason) => {
    expect(parseHubspotEvent(event)).toEqual({ ok: false, reason });
  });
});

describe('registerWithProvider (hubspot)', () => {
  it('sets the target URL, then creates one active subscription per event, with the hapikey', async () => {
    const { fake, result } = register(
      ['contact.creation', 'contact.propertyChange:email', 'deal.propertyChange:dealstage'],
      [SETTINGS, subscription('12'), subscription(13), subscription('14')],
    );

    expect(await result).toEqual({ status: 'registered', externalWebhookId: '12,13,14' });
    expect(fake.requests.map(({ method, url, body }) => ({ method, url, body }))).toEqual([
      {
        method: 'PUT',
        url: `${BASE}/settings?hapikey=${KEY}`,
        body: { targetUrl: ENDPOINT, throttling: { maxConcurrentRequests: 10, period: 'SECONDLY' } },
      },
      {
        method: 'POST',
        url: `${BASE}/subscriptions?hapikey=${KEY}`,
        body: { eventType: 'contact.creation', active: true },
      },
      {
        method: 'POST',
        url: `${BASE}/subscriptions?hapikey=${KEY}`,
        body: { eventType: 'contact.propertyChange', propertyName: 'email', active: true },
      },
      {
        method: 'POST',
        url: `${BASE}/subscriptions?hapikey=${KEY}`,
        body: { eventType: 'deal.propertyChange', propertyName: 'dealstage', active: true },
      },
    ]);
    for (const request of fake.requests) {
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers.authorization).toBeUndefined();
    }
  });

  it('refuses a propertyChange without a property before calling HubSpot', async () => {
    const { fake, result } = register(['contact.creation', 'contact.propertyChange'], []);

    expect(failedReason(await result)).toBe(
      'contact.propertyChange needs a property: use contact.propertyChange:<property name>',
    );
    expect(fake.requests).toHaveLength(0);
  });

  it('fails on HTTP 401 from the settings call without creating anything', async () => {
    const { fake, result } = register(
      ['contact.creation'],
      [
        {
          status: 401,
          json: {
            status: 'error',
            message: 'The API key provided is invalid.',
            correlationId: '4a7c9f0e',
            category: 'INVALID_AUTHENTICATION',
          },
        },
      ],
    );

    expect(failedReason(await result)).toBe(
      'HubSpot could not set the webhook target URL: HTTP 401: The API key provided is invalid.',
    );
    expect(fake.requests).toHaveLength(1);
  });

  it('fails on a rejected subscription and deletes the ones already created', async () => {
    const { fake, result } = register(
      ['contact.creation', 'deal.creation', 'company.creation'],
      [
        SETTINGS,
        subscription('12'),
        {
          status: 400,
          json: { status: 'error', message: 'Subscription already exists', category: 'VALIDATION_ERROR' },
        },
        { status: 204 },
      ],
    );

    expect(failedReason(await result)).toBe(
      'HubSpot could not subscribe to deal.creation: HTTP 400: Subscription already exists',
    );
    expect(fake.requests).toHaveLength(4);
    expect(fake.requests[3]).toMatchObject({
      method: 'DELETE',
      url: `${BASE}/subscriptions/12?hapikey=${KEY}`,
    });
  });

  it('fails on HTTP 500 and on a timeout, rolling back each time', async () => {
    const server = register(
      ['contact.creation', 'deal.creation'],
      [SETTINGS, subscription('12'), { status: 500 }, { status: 204 }],
    );
    expect(failedReason(await server.result)).toBe('HubSpot could not subscribe to deal.creation: HTTP 500');
    expect(server.fake.requests.at(-1)?.method).toBe('DELETE');

    const slow = register(
      ['contact.creation', 'deal.creation'],
      [SETTINGS, subscription('12'), { hang: true }, { status: 204 }],
      20,
    );
    expect(failedReason(await slow.result)).toBe(
      'HubSpot could not subscribe to deal.creation: timed out after 20 ms',
    );
    expect(slow.fake.requests.at(-1)?.method).toBe('DELETE');
  });

  it('names the subscriptions it could not roll back', async () => {
    const { result } = register(
      ['contact.creation', 'deal.creation'],
      [SETTINGS, subscription('12'), { status: 500 }, { throws: new TypeError('fetch failed') }],
    );

    expect(failedReason(await result)).toBe(
      'HubSpot could not subscribe to deal.creation: HTTP 500 (could not remove already created subscription 12)',
    );
  });

  it('never lets the developer API key into a reason, even inside an echoed URL', async () => {
    const { result } = register(
      ['contact.creation'],
      [{ status: 403, json: { message: `Forbidden: ${BASE}/settings?hapikey=${KEY}&x=1 (key ${KEY})` } }],
    );

    const reason = failedReason(await result);
    expect(reason).toBe(
      `HubSpot could not set the webhook target URL: HTTP 403: Forbidden: ${BASE}/settings?hapikey=[redacted]&x=1 (key [redacted])`,
    );
  });
});

describe('unregisterWithProvider (hubspot)', () => {
  it('deletes every subscription; already deleted ones count as done', async () => {
    const fake = fakeFetch({ status: 204 }, { status: 404, json: { message: 'not found' } });

    expect(await unregisterWithProvider('hubspot', '12,13', CREDENTIALS, { fetch: fake.fetch })).toEqual({
      ok: true,
    });
    expect(fake.requests.map(({ method, url }) => `${method} ${url}`)).toEqual([
      `DELETE ${BASE}/subscriptions/12?hapikey=${KEY}`,
      `DELETE ${BASE}/subscriptions/13?hapikey=${KEY}`,
    ]);
  });

  it('reports the ids it could not delete, without the key', async () => {
    const fake = fakeFetch({ status: 204 }, { status: 500, json: { message: `boom hapikey=${KEY}` } });

    const result = await unregisterWithProvider('hubspot', '12,13', CREDENTIALS, { fetch: fake.fetch });
    expect(result).toEqual({
      ok: false,
      reason: 'HubSpot could not delete subscription 13: HTTP 500: boom hapikey=[redacted]',
    });
  });

  it('never sends a malformed id into the URL', async () => {
    const fake = fakeFetch();

    const result = await unregisterWithProvider('hubspot', '../settings', CREDENTIALS, { fetch: fake.fetch });
    expect(result).toEqual({
      ok: false,
      reason: 'HubSpot could not delete subscription ../settings: not a HubSpot subscription id',
    });
    expect(fake.requests).toHaveLength(0);
  });
});
