import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BadRequestError, UnauthorizedError } from '../../../../shared/errors';
import {
  hubspot,
  hubspotLegacySignature,
  hubspotV3Signature,
  hubspotV3Uri,
} from '../../../../shared/providers/hubspot';
import type { WebhookRequest } from '../../../../shared/providers/types';

const SECRET = 'yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy';
const URL_CALLED = 'https://hooks.example.com/prod/api/webhooks/hubspot';
const NOW = new Date('2026-11-29T12:00:00.000Z');
const batch = readFileSync(new URL('../../../fixtures/hubspot/batch.json', import.meta.url));

function v3Request(
  overrides: Partial<WebhookRequest> & { timestamp?: string; secret?: string } = {},
): WebhookRequest {
  const body = overrides.body ?? batch;
  const url = overrides.url ?? URL_CALLED;
  const method = overrides.method ?? 'POST';
  const timestamp = overrides.timestamp ?? String(NOW.getTime() - 1000);
  return {
    method,
    url,
    body,
    sourceIp: '54.174.62.10',
    headers: {
      'content-type': 'application/json',
      'x-hubspot-signature-v3': hubspotV3Signature(overrides.secret ?? SECRET, method, url, body, timestamp),
      'x-hubspot-request-timestamp': timestamp,
      ...overrides.headers,
    },
  };
}

describe('HubSpot signatures', () => {
  it.each([
    ['15000000', 'HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw='],
    ['1693657560000', 'K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y='],
  ])('matches the published v3 test vector for timestamp %s', (timestamp, expected) => {
    const body = Buffer.from("{'example_field':'example_value'}");
    expect(hubspotV3Signature(SECRET, 'POST', 'https://www.example.com/webhook_uri', body, timestamp)).toBe(
      expected,
    );
  });

  it('accepts a fresh v3 signature and one made with the previous secret', () => {
    expect(() => hubspot.verify(v3Request(), { secrets: [SECRET] }, NOW)).not.toThrow();
    expect(() =>
      hubspot.verify(v3Request({ secret: 'old-secret' }), { secrets: [SECRET, 'old-secret'] }, NOW),
    ).not.toThrow();
  });

  it('rejects a v3 signature older than 5 minutes', () => {
    const stale = v3Request({ timestamp: String(NOW.getTime() - 5 * 60 * 1000 - 1) });
    expect(() => hubspot.verify(stale, { secrets: [SECRET] }, NOW)).toThrow(/older than 5 minutes/);
  });

  it('rejects a v3 timestamp from the future', () => {
    const future = v3Request({ timestamp: String(NOW.getTime() + 2 * 60 * 1000) });
    expect(() => hubspot.verify(future, { secrets: [SECRET] }, NOW)).toThrow(/future/);
  });

  it('rejects a v3 request without a timestamp', () => {
    const request = v3Request();
    const { 'x-hubspot-request-timestamp': _omitted, ...headers } = request.headers;
    expect(() => hubspot.verify({ ...request, headers }, { secrets: [SECRET] }, NOW)).toThrow(
      UnauthorizedError,
    );
  });

  it('decodes only the escapes HubSpot decodes before signing the URI', () => {
    expect(hubspotV3Uri('https://x.io/a%3Ab%2Fc%3Fd%40e%21%24%27%28%29%2A%2C%3B?q=%20%26')).toBe(
      "https://x.io/a:b/c?d@e!$'()*,;?q=%20%26",
    );
  });

  it('signs the query string as part of the URI', () => {
    const request = v3Request({ url: `${URL_CALLED}?tenant=a%3Ab` });
    expect(() => hubspot.verify(request, { secrets: [SECRET] }, NOW)).not.toThrow();
    expect(() =>
      hubspot.verify({ ...request, url: `${URL_CALLED}?tenant=other` }, { secrets: [SECRET] }, NOW),
    ).toThrow(UnauthorizedError);
  });

  it('prefers v3 when both v3 and a valid v1 header are present', () => {
    const request = v3Request({ headers: { 'x-hubspot-signature-v3': 'AAAA' } });
    const v1 = hubspotLegacySignature('v1', SECRET, 'POST', URL_CALLED, request.body);
    expect(() =>
      hubspot.verify(
        { ...request, headers: { ...request.headers, 'x-hubspot-signature': v1 } },
        { secrets: [SECRET] },
        NOW,
      ),
    ).toThrow(/v3/);
  });

  it.each(['v1', 'v2'] as const)(
    'accepts %s signatures (plain SHA-256 hex) and the seed\'s "sha256=" form',
    (version) => {
      const body = Buffer.from('[{"eventId":"test","objectId":"123","eventType":"contact.propertyChange"}]');
      const signature = hubspotLegacySignature(version, SECRET, 'POST', URL_CALLED, body);
      for (const header of [signature, `sha256=${signature}`]) {
        const request: WebhookRequest = {
          method: 'POST',
          url: URL_CALLED,
          body,
          sourceIp: '',
          headers: { 'x-hubspot-signature': header, 'x-hubspot-signature-version': version },
        };
        expect(() => hubspot.verify(request, { secrets: [SECRET] }, NOW)).not.toThrow();
        expect(() => hubspot.verify(request, { secrets: ['another-secret'] }, NOW)).toThrow(
          UnauthorizedError,
        );
      }
    },
  );

  it('rejects a request with no signature header at all', () => {
    const request: WebhookRequest = {
      method: 'POST',
      url: URL_CALLED,
      body: batch,
      sourceIp: '',
      headers: {},
    };
    expect(() => hubspot.verify(request, { secrets: [SECRET] }, NOW)).toThrow(UnauthorizedError);
  });

  it('fails v3 verification when any one byte of body, URI, method or timestamp changes', () => {
    const base = v3Request();
    fc.assert(
      fc.property(
        fc.constantFrom('body', 'url', 'method', 'timestamp'),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (part, position, delta) => {
          const request = { ...base, headers: { ...base.headers } };
          if (part === 'body') {
            const body = Buffer.from(base.body);
            const index = position % body.length;
            body[index] = ((body[index] ?? 0) + delta) % 256;
            request.body = body;
          } else if (part === 'url') {
            const index = position % base.url.length;
            request.url =
              base.url.slice(0, index) +
              String.fromCharCode(((base.url.charCodeAt(index) + delta) % 94) + 33) +
              base.url.slice(index + 1);
            if (hubspotV3Uri(request.url) === hubspotV3Uri(base.url)) return;
          } else if (part === 'method') {
            request.method = ['PUT', 'GET', 'PATCH', 'post'][position % 4] as string;
          } else {
            const timestamp = Number(base.headers['x-hubspot-request-timestamp']) - 1 - (position % 1000);
            request.headers['x-hubspot-request-timestamp'] = String(timestamp);
          }
          expect(() => hubspot.verify(request, { secrets: [SECRET] }, NOW)).toThrow(UnauthorizedError);
        },
      ),
    );
  });

  it('always verifies a correctly signed request', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2000 }),
        fc.webPath(),
        fc.integer({ min: 0, max: 299_000 }),
        (bytes, path, age) => {
          const request = v3Request({
            body: Buffer.from(bytes),
            url: `https://hooks.example.com${path}`,
            timestamp: String(NOW.getTime() - age),
          });
          expect(() => hubspot.verify(request, { secrets: [SECRET] }, NOW)).not.toThrow();
        },
      ),
    );
  });
});

describe('HubSpot parsing', () => {
  const received = new Date('2026-11-29T12:00:00.000Z');
  const events = hubspot.parse(v3Request(), received);

  it('turns a batch into one event per item, in order', () => {
    expect(events.map((e) => [e.eventType, e.objectType, e.objectId])).toEqual([
      ['contact.propertyChange', 'contact', '123'],
      ['deal.stageChange', 'deal', '9001'],
      ['company.creation', 'company', '555'],
      ['contact.merge', 'contact', '777'],
      ['contact.associationChange', 'contact', '123'],
      ['deal.creation', 'deal', '9002'],
      ['contact.deletion', 'contact', '456'],
    ]);
  });

  it('dedups on portal, app, subscription, event id and time, and orders per portal object', () => {
    expect(events[0]).toMatchObject({
      dedupKey: 'hubspot:62515:54321:2001:1001:1764410000000',
      orderingKey: 'hubspot:62515:contact:123',
      occurredAt: new Date(1764410000000).toISOString(),
      meta: { subscriptionType: 'contact.propertyChange', propertyName: 'email', portalId: '62515' },
    });
    expect(new Set(events.map((e) => e.dedupKey)).size).toBe(events.length);
  });

  describe('events that omit eventId or occurredAt', () => {
    const event = (fields: Record<string, unknown>) => ({
      portalId: 62515,
      subscriptionId: 2001,
      subscriptionType: 'contact.propertyChange',
      objectId: 123,
      propertyName: 'email',
      attemptNumber: 0,
      ...fields,
    });
    const keysOf = (events: unknown[]) =>
      hubspot
        .parse({ ...v3Request(), body: Buffer.from(JSON.stringify(events)) }, received)
        .map((e) => e.dedupKey);

    it.each([
      ['eventId and occurredAt', {}],
      ['eventId', { occurredAt: 1764410000000 }],
      ['occurredAt', { eventId: 1001 }],
    ])('keys distinct events without %s apart, by their content', (_missing, present) => {
      const keys = keysOf(
        ['a@example.com', 'b@example.com', 'c@example.com'].map((value) =>
          event({ ...present, propertyValue: value }),
        ),
      );

      expect(new Set(keys).size).toBe(3);
      for (const key of keys) expect(key).toMatch(/^hubspot:62515:-:2001:.*:sha256-[0-9a-f]{64}$/);
    });

    it('keys a retry of such an event as the first attempt: attemptNumber and key order aside', () => {
      const [first] = keysOf([event({ propertyValue: 'a@example.com' })]);
      const retried = JSON.parse(
        `{"propertyValue":"a@example.com",${JSON.stringify(event({ attemptNumber: 3 })).slice(1)}`,
      );

      expect(keysOf([retried])).toEqual([first]);
    });
  });

  it("accepts the seed's minimal body with the eventType spelling", () => {
    const body = Buffer.from('[{"eventId":"test","objectId":"123","eventType":"contact.propertyChange"}]');
    const [event] = hubspot.parse({ ...v3Request(), body }, received);
    expect(event).toMatchObject({
      eventType: 'contact.propertyChange',
      objectType: 'contact',
      objectId: '123',
      occurredAt: received.toISOString(),
    });
  });

  it('rejects more than 100 events in one request', () => {
    const body = Buffer.from(
      JSON.stringify(
        Array.from({ length: 101 }, (_, i) => ({
          eventId: i,
          objectId: i,
          subscriptionType: 'contact.creation',
        })),
      ),
    );
    expect(() => hubspot.parse({ ...v3Request(), body }, received)).toThrow(BadRequestError);
  });

  it.each([
    ['an empty array', '[]'],
    ['invalid JSON', '[{"eventId":'],
    ['an event without a type', '[{"eventId":1,"objectId":2}]'],
    ['an event without an object id', '[{"eventId":1,"subscriptionType":"contact.creation"}]'],
    ['a type without an object part', '[{"eventId":1,"objectId":2,"subscriptionType":"creation"}]'],
    ['a non-object event', '[42]'],
  ])('rejects %s with a 400', (_case, text) => {
    expect(() => hubspot.parse({ ...v3Request(), body: Buffer.from(text) }, received)).toThrow(
      BadRequestError,
    );
  });
});
