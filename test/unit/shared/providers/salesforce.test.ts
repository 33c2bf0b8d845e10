import { XMLValidator } from 'fast-xml-parser';
import { type CryptoKey, exportSPKI, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { BadRequestError, UnauthorizedError } from '../../../../shared/errors';
import { salesforce } from '../../../../shared/providers/salesforce';
import type { ProviderEvent, VerifySettings } from '../../../../shared/providers/types';
import {
  changeEventFixture,
  ORG_ID,
  outboundMessageRequest,
  salesforceFixture,
  salesforceJsonRequest,
  WEBHOOK_URL,
} from '../../support/salesforce';

const NOW = new Date('2025-11-29T10:00:00.000Z');
const NOW_SECONDS = NOW.getTime() / 1000;
const RECEIVED_AT = new Date('2025-11-29T10:00:30.000Z');
const SECRET = 'sf-webhook-secret-current-4f1b9c2e7d';
const PREVIOUS_SECRET = 'sf-webhook-secret-previous-8a3d6e0b5c';
const SEED_BODY =
  '{"header":{"recordId":"opp123","changeType":"UPDATE"},"data":{"StageName":"Closed Won","Amount":50000}}';
const OPPORTUNITY_TX = '0002f7b1-3c1e-4f5d-9a7b-8c6d5e4f3a2b';

/** Claims of a token minted just now, valid for 5 minutes; tests override what they are about. */
function claims(overrides: JWTPayload = {}): JWTPayload {
  return {
    iss: 'salesforce-flow',
    sub: '0055g00000AbCdEAAV',
    iat: NOW_SECONDS,
    exp: NOW_SECONDS + 300,
    ...overrides,
  };
}

function hs256(payload: JWTPayload, secret: string | Uint8Array = SECRET): Promise<string> {
  const key = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret;
  return new SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(key);
}

function bearer(token: string) {
  return salesforceJsonRequest(SEED_BODY, {
    authorization: `Bearer ${token}`,
    'x-salesforce-event-type': 'OpportunityChangeEvent',
  });
}

function settings(overrides: Partial<VerifySettings> = {}): VerifySettings {
  return { secrets: [SECRET], ...overrides };
}

function base64UrlJson(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

describe('Salesforce bearer JWT', () => {
  let publicKeyPem: string;
  let privateKey: CryptoKey;
  let otherPrivateKey: CryptoKey;

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256', { extractable: true });
    publicKeyPem = await exportSPKI(pair.publicKey);
    privateKey = pair.privateKey;
    otherPrivateKey = (await generateKeyPair('RS256')).privateKey;
  });

  function rs256(payload: JWTPayload, key: CryptoKey = privateKey): Promise<string> {
    return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', typ: 'JWT' }).sign(key);
  }

  it('accepts an HS256 token signed with the configured secret', async () => {
    const request = bearer(await hs256(claims()));

    await expect(salesforce.verify(request, settings(), NOW)).resolves.toBeUndefined();
  });

  it("records a bearer token's signature part only: the whole token is a credential while it is valid", async () => {
    const token = await hs256(claims());

    expect(salesforce.signatureOf(bearer(token))).toBe(token.split('.')[2]);
    expect(salesforce.signatureOf(bearer(token))).not.toContain(token.split('.')[1] as string);
  });

  it('accepts a token signed with the previous secret during a rotation', async () => {
    const request = bearer(await hs256(claims(), PREVIOUS_SECRET));

    await expect(
      salesforce.verify(request, settings({ secrets: [SECRET, PREVIOUS_SECRET] }), NOW),
    ).resolves.toBeUndefined();
  });

  it('rejects a token signed with a secret that is not configured, with a 401', async () => {
    const request = bearer(await hs256(claims(), 'someone-elses-secret'));

    const error = await Promise.resolve(salesforce.verify(request, settings(), NOW)).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(UnauthorizedError);
    expect(error).toMatchObject({ statusCode: 401 });
  });

  it.each([
    ['no Authorization header', () => undefined],
    ['a Basic credential', () => 'Basic c2FsZXNmb3JjZTpzZWNyZXQ='],
    ['the token without the Bearer scheme', (token: string) => token],
    ['another scheme with the token', (token: string) => `Token ${token}`],
    ['Bearer without a token', () => 'Bearer '],
  ])('rejects a request with %s', async (_case, authorization: (token: string) => string | undefined) => {
    const token = await hs256(claims());
    const header = authorization(token);
    const request = salesforceJsonRequest(SEED_BODY, header === undefined ? {} : { authorization: header });

    await expect(salesforce.verify(request, settings(), NOW)).rejects.toBeInstanceOf(UnauthorizedError);
  });

  it('rejects a token that expired more than 60 seconds ago', async () => {
    const request = bearer(await hs256(claims({ iat: NOW_SECONDS - 361, exp: NOW_SECONDS - 61 })));

    await expect(salesforce.verify(request, settings(), NOW)).rejects.toBeInstanceOf(UnauthorizedError);
  });

  it('accepts a token that expired 30 seconds ago (clock skew)', async () => {
    const request = bearer(await hs256(claims({ iat: NOW_SECONDS - 330, exp: NOW_SECONDS - 30 })));

    await expect(salesforce.verify(request, settings(), NOW)).resolves.toBeUndefined();
  });

  it('rejects a token that is not valid before 2 minutes from now', async () => {
    const request = bearer(await hs256(claims({ nbf: NOW_SECONDS + 120 })));

    await expect(salesforce.verify(request, settings(), NOW)).rejects.toBeInstanceOf(UnauthorizedError);
  });

  it('accepts a token whose nbf is 30 seconds ahead (clock skew)', async () => {
    const request = bearer(await hs256(claims({ nbf: NOW_SECONDS + 30 })));

    await expect(salesforce.verify(request, settings(), NOW)).resolves.toBeUndefined();
  });

  it('rejects a token without an exp claim', async () => {
    const { exp: _omitted, ...withoutExp } = claims();
    const request = bearer(await hs256(withoutExp));

    await expect(salesforce.verify(request, settings(), NOW)).rejects.toBeInstanceOf(UnauthorizedError);
  });

  it('rejects an unsigned alg "none" token even when a secret and a public key are configured', async () => {
    const token = `${base64UrlJson({ alg: 'none', typ: 'JWT' })}.${base64UrlJson(claims())}.`;

    await expect(
      salesforce.verify(bearer(token), settings({ publicKey: publicKeyPem }), NOW),
    ).rejects.toBeInstanceOf(UnauthorizedError);
  });

  it('rejects an HS256 token keyed with the RS256 public key text (algorithm confusion)', async () => {
    const token = await hs256(claims(), new TextEncoder().encode(publicKeyPem));

    await expect(
      salesforce.verify(bearer(token), { secrets: [], publicKey: publicKeyPem }, NOW),
    ).rejects.toBeInstanceOf(UnauthorizedError);
  });

  it('accepts an RS256 token signed with the private key of the configured public key', async () => {
    const request = bearer(await rs256(claims()));

    await expect(
      salesforce.verify(request, { secrets: [], publicKey: publicKeyPem }, NOW),
    ).resolves.toBeUndefined();
  });

  it('rejects an RS256 token signed by another key', async () => {
    const request = bearer(await rs256(claims(), otherPrivateKey));

    await expect(
      salesforce.verify(request, { secrets: [SECRET], publicKey: publicKeyPem }, NOW),
    ).rejects.toBeInstanceOf(UnauthorizedError);
  });

  it('rejects an RS256 token when no public key is configured', async () => {
    const request = bearer(await rs256(claims()));

    await expect(salesforce.verify(request, settings(), NOW)).rejects.toBeInstanceOf(UnauthorizedError);
  });

  describe('with an audience configured', () => {
    const withAudience = settings({ audience: WEBHOOK_URL });

    it('accepts a token for that audience', async () => {
      const request = bearer(await hs256(claims({ aud: WEBHOOK_URL })));

      await expect(salesforce.verify(request, withAudience, NOW)).resolves.toBeUndefined();
    });

    it.each([
      ['another audience', { aud: 'https://other.example.com/hooks' }],
      ['no audience', {}],
    ])('rejects a token for %s', async (_case, aud: JWTPayload) => {
      const request = bearer(await hs256(claims(aud)));

      await expect(salesforce.verify(request, withAudience, NOW)).rejects.toBeInstanceOf(UnauthorizedError);
    });
  });

  describe('with an org id configured', () => {
    it.each([
      ['the 15-character id in the token, 18 configured', ORG_ID.slice(0, 15), ORG_ID],
      ['the 18-character id in the token, 15 configured', ORG_ID, ORG_ID.slice(0, 15)],
      ['the same 18-character id', ORG_ID, ORG_ID],
    ])('accepts %s', async (_case, tokenOrg, configuredOrg) => {
      const request = bearer(await hs256(claims({ organization_id: tokenOrg })));

      await expect(
        salesforce.verify(request, settings({ orgId: configuredOrg }), NOW),
      ).resolves.toBeUndefined();
    });

    it.each([
      ['another org', { organization_id: '00D5g000009ZyXwEAA' }],
      [
        'the org id in another letter case (15-character ids are case-sensitive)',
        { organization_id: ORG_ID.toLowerCase() },
      ],
      ['no org claim', {}],
    ])('rejects a token from %s', async (_case, org: JWTPayload) => {
      const request = bearer(await hs256(claims(org)));

      await expect(salesforce.verify(request, settings({ orgId: ORG_ID }), NOW)).rejects.toBeInstanceOf(
        UnauthorizedError,
      );
    });
  });
});

describe('Salesforce Change Data Capture parsing', () => {
  function parse(body: Buffer | string | object, headers: Record<string, string> = {}): ProviderEvent[] {
    return salesforce.parse(salesforceJsonRequest(body, headers), RECEIVED_AT);
  }

  it('fans a change event out into one event per record id, sharing the delivery id', () => {
    const events = parse(salesforceFixture('opportunity-change.json'));

    expect(events.map((e) => e.objectId)).toEqual(['0065g00000XyZ12AAB', '0065g00000XyZ34AAB']);
    expect(events.map((e) => e.dedupKey)).toEqual([
      `salesforce:${OPPORTUNITY_TX}:1:0065g00000XyZ12AAB`,
      `salesforce:${OPPORTUNITY_TX}:1:0065g00000XyZ34AAB`,
    ]);
    expect(events[0]?.deliveryId).toBeTruthy();
    expect(events[1]?.deliveryId).toBe(events[0]?.deliveryId);
    expect(events.map((e) => e.orderingKey)).toEqual([
      'salesforce:opportunity:0065g00000XyZ12AAB',
      'salesforce:opportunity:0065g00000XyZ34AAB',
    ]);
  });

  it.each([
    {
      file: 'opportunity-change.json',
      eventType: 'OpportunityChangeEvent',
      objectType: 'opportunity',
      objectId: '0065g00000XyZ12AAB',
      occurredAt: '2025-11-29T09:53:20.000Z',
      meta: { changeType: 'UPDATE', sequence: '1', transactionKey: OPPORTUNITY_TX },
    },
    {
      file: 'lead-change.json',
      eventType: 'LeadChangeEvent',
      objectType: 'lead',
      objectId: '00Q5g00000LmNoPEAV',
      occurredAt: '2025-11-29T09:55:00.000Z',
      meta: { changeType: 'CREATE', sequence: '1', transactionKey: '00051c2c-8bd7-d3b7-b1c0-1ab4cb8bd7a3' },
    },
    {
      file: 'account-change.json',
      eventType: 'AccountChangeEvent',
      objectType: 'account',
      objectId: '0015g00000QrStUAAZ',
      occurredAt: '2025-11-29T09:56:40.000Z',
      meta: { changeType: 'UPDATE', sequence: '2', transactionKey: '0003a9e2-77c4-4e0b-8d2f-5b1c9e8a7d6f' },
    },
    {
      file: 'task-change.json',
      eventType: 'TaskChangeEvent',
      objectType: 'task',
      objectId: '00T5g00000VwXyZEAV',
      occurredAt: '2025-11-29T09:58:20.000Z',
      meta: { changeType: 'CREATE', sequence: '1', transactionKey: '0004b8d1-1f2e-4a3b-9c4d-6e5f7a8b9c0d' },
    },
    {
      file: 'case-change.json',
      eventType: 'CaseChangeEvent',
      objectType: 'case',
      objectId: '5005g00000AaBbCAAR',
      occurredAt: '2025-11-29T10:00:00.000Z',
      meta: { changeType: 'UPDATE', sequence: '3', transactionKey: '0005c7e0-2a3b-4c5d-8e9f-0a1b2c3d4e5f' },
    },
  ])(
    'parses $file as $eventType on $objectType $objectId',
    ({ file, eventType, objectType, objectId, occurredAt, meta }) => {
      const [event] = parse(salesforceFixture(file));

      expect(event).toMatchObject({
        eventType,
        objectType,
        objectId,
        occurredAt,
        dedupKey: `salesforce:${meta.transactionKey}:${meta.sequence}:${objectId}`,
        meta,
        payload: changeEventFixture(file),
      });
      expect(event?.meta.refetch).toBeUndefined();
    },
  );

  it.each([
    ['a {payload} wrapper', (event: object) => ({ payload: event })],
    [
      'an Event Relay {detail:{payload}} envelope',
      (event: object) => ({
        version: '0',
        id: '5f1c2a8e-0b9d-4c3e-a1f2-7d6e5c4b3a21',
        'detail-type': 'OpportunityChangeEvent',
        source: 'aws.partner/salesforce.com/00D5g000004AbCdEAA/0YLHs0000000001',
        account: '123456789012',
        time: '2025-11-29T09:53:20Z',
        region: 'eu-west-1',
        resources: [],
        detail: { payload: event, schemaId: '7iFPUz-2nWFd2BpLzqLDXQ', id: '3142589' },
      }),
    ],
  ])('parses a change event inside %s like the bare event', (_case, wrap) => {
    const bare = parse(salesforceFixture('opportunity-change.json'));

    const wrapped = parse(wrap(changeEventFixture('opportunity-change.json')));

    expect(wrapped).toEqual(bare);
  });

  it('marks every record of a GAP_ change event for re-fetch', () => {
    const fixture = changeEventFixture('opportunity-change.json');
    const gap = {
      ...fixture,
      ChangeEventHeader: { ...(fixture.ChangeEventHeader as object), changeType: 'GAP_UPDATE' },
    };

    const events = parse(gap);

    expect(events).toHaveLength(2);
    expect(events.map((e) => [e.meta.changeType, e.meta.refetch])).toEqual([
      ['GAP_UPDATE', 'true'],
      ['GAP_UPDATE', 'true'],
    ]);
  });

  it('parses an array of change events in order', () => {
    const body = [changeEventFixture('opportunity-change.json'), changeEventFixture('lead-change.json')];

    const events = parse(body);

    expect(events.map((e) => [e.eventType, e.objectId])).toEqual([
      ['OpportunityChangeEvent', '0065g00000XyZ12AAB'],
      ['OpportunityChangeEvent', '0065g00000XyZ34AAB'],
      ['LeadChangeEvent', '00Q5g00000LmNoPEAV'],
    ]);
  });

  it('accepts 100 events in one request', () => {
    const lead = changeEventFixture('lead-change.json');

    expect(parse(Array.from({ length: 100 }, () => lead))).toHaveLength(100);
  });

  it('rejects more than 100 events in one request', () => {
    const lead = changeEventFixture('lead-change.json');

    expect(() => parse(Array.from({ length: 101 }, () => lead))).toThrow(BadRequestError);
  });

  it.each([
    ['no recordIds', { recordIds: undefined }],
    ['an empty recordIds', { recordIds: [] }],
    ['a record id that is not a Salesforce id', { recordIds: ["006'; DROP TABLE x"] }],
    ['no entityName', { entityName: undefined }],
  ])('rejects a ChangeEventHeader with %s', (_case, change) => {
    const fixture = changeEventFixture('opportunity-change.json');
    const body = { ...fixture, ChangeEventHeader: { ...(fixture.ChangeEventHeader as object), ...change } };

    expect(() => parse(body)).toThrow(BadRequestError);
  });

  it.each([
    ['invalid JSON', '{"ChangeEventHeader":'],
    ['an empty array', '[]'],
    ['a non-object event', '[42]'],
  ])('rejects %s', (_case, text) => {
    expect(() => parse(text)).toThrow(BadRequestError);
  });
});

describe("Salesforce's simplified {header, data} form", () => {
  const typeHeader = { 'x-salesforce-event-type': 'OpportunityChangeEvent' };

  it("takes the event type from X-Salesforce-Event-Type for the seed's body", () => {
    const events = salesforce.parse(salesforceJsonRequest(SEED_BODY, typeHeader), RECEIVED_AT);

    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      eventType: 'OpportunityChangeEvent',
      objectType: 'opportunity',
      objectId: 'opp123',
      occurredAt: RECEIVED_AT.toISOString(),
      orderingKey: 'salesforce:opportunity:opp123',
      meta: { changeType: 'UPDATE' },
      payload: JSON.parse(SEED_BODY),
    });
  });

  it('prefers the eventType field of the body over the header', () => {
    const body = { eventType: 'LeadChangeEvent', ...JSON.parse(SEED_BODY) };

    const [event] = salesforce.parse(salesforceJsonRequest(body, typeHeader), RECEIVED_AT);

    expect(event).toMatchObject({ eventType: 'LeadChangeEvent', objectType: 'lead', objectId: 'opp123' });
  });

  it('rejects a body without an event type when the header is absent too', () => {
    expect(() => salesforce.parse(salesforceJsonRequest(SEED_BODY), RECEIVED_AT)).toThrow(BadRequestError);
  });

  it('rejects a header without a recordId', () => {
    const body = '{"header":{"changeType":"UPDATE"},"data":{"StageName":"Closed Won"}}';

    expect(() => salesforce.parse(salesforceJsonRequest(body, typeHeader), RECEIVED_AT)).toThrow(
      BadRequestError,
    );
  });

  it('derives the same dedup key from the same body whenever it is delivered', () => {
    const first = salesforce.parse(salesforceJsonRequest(SEED_BODY, typeHeader), RECEIVED_AT);

    const retried = salesforce.parse(
      salesforceJsonRequest(SEED_BODY, typeHeader),
      new Date(RECEIVED_AT.getTime() + 3_600_000),
    );

    expect(retried[0]?.dedupKey).toBe(first[0]?.dedupKey);
    expect(first[0]?.dedupKey).toMatch(/^salesforce:.*opp123$/);
  });

  it('keys two events of one transaction apart when they carry no sequenceNumber', () => {
    const change = (data: Record<string, unknown>) => ({
      eventType: 'OpportunityChangeEvent',
      header: { recordId: 'opp123', changeType: 'UPDATE', transactionKey: 'tx-1' },
      data,
    });

    const [stage] = salesforce.parse(salesforceJsonRequest(change({ StageName: 'Won' })), RECEIVED_AT);
    const [amount] = salesforce.parse(salesforceJsonRequest(change({ Amount: 5 })), RECEIVED_AT);

    expect(amount?.dedupKey).not.toBe(stage?.dedupKey);
  });

  it('keys a change event by its content: the same event in another batch, formatted otherwise, keeps its key', () => {
    const other = '{"header":{"recordId":"opp999","changeType":"UPDATE"},"data":{}}';
    const spaced = SEED_BODY.replaceAll(',', ', ');

    const [alone] = salesforce.parse(salesforceJsonRequest(SEED_BODY, typeHeader), RECEIVED_AT);
    const batched = salesforce.parse(salesforceJsonRequest(`[${other},${spaced}]`, typeHeader), RECEIVED_AT);

    expect(batched[1]?.dedupKey).toBe(alone?.dedupKey);
    expect(batched[0]?.dedupKey).not.toBe(alone?.dedupKey);
  });

  it('derives a different dedup key from a different body', () => {
    const other = SEED_BODY.replace('50000', '60000');

    const [a] = salesforce.parse(salesforceJsonRequest(SEED_BODY, typeHeader), RECEIVED_AT);
    const [b] = salesforce.parse(salesforceJsonRequest(other, typeHeader), RECEIVED_AT);

    expect(b?.dedupKey).not.toBe(a?.dedupKey);
  });
});

describe('Salesforce Outbound Messages', () => {
  const outboundMessage = salesforceFixture('outbound-message.xml');

  /** The fixture with only its first Notification. */
  const singleNotification = outboundMessage
    .toString('utf8')
    .replace(/<Notification>(?:(?!<Notification>)[\s\S])*?<\/Notification>\s*(?=<\/notifications>)/, '');

  it.each([
    ['the 18-character org id', ORG_ID],
    ['the 15-character org id', ORG_ID.slice(0, 15)],
  ])('verifies a message from %s configured', async (_case, orgId) => {
    await expect(
      salesforce.verify(outboundMessageRequest(), { secrets: [], orgId }, NOW),
    ).resolves.toBeUndefined();
  });

  it.each([
    ['another org', '00D5g000009ZyXwEAA'],
    ['the org id in another letter case', ORG_ID.toLowerCase()],
  ])('rejects a message when %s is configured', async (_case, orgId) => {
    await expect(
      salesforce.verify(outboundMessageRequest(), { secrets: [SECRET], orgId }, NOW),
    ).rejects.toBeInstanceOf(UnauthorizedError);
  });

  it('rejects every message while no org id is configured', async () => {
    await expect(
      salesforce.verify(outboundMessageRequest(), { secrets: [SECRET] }, NOW),
    ).rejects.toBeInstanceOf(UnauthorizedError);
  });

  it('parses one event per Notification, deduplicated on the Notification id', () => {
    const events = salesforce.parse(outboundMessageRequest(), RECEIVED_AT);

    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({
      eventType: 'OpportunityOutboundMessage',
      objectType: 'opportunity',
      objectId: '0065g00000XyZ12AAB',
      occurredAt: '2025-11-29T10:00:00.000Z',
      dedupKey: 'salesforce:om:04l5g00000AbCdEAAV',
      orderingKey: 'salesforce:opportunity:0065g00000XyZ12AAB',
      meta: { organizationId: ORG_ID, actionId: '04k5g0000008OJvAAM' },
    });
    expect(events[1]).toMatchObject({
      eventType: 'OpportunityOutboundMessage',
      objectId: '0065g00000XyZ34AAB',
      occurredAt: '2025-11-29T10:00:05.000Z',
      dedupKey: 'salesforce:om:04l5g00000AbCdFAAV',
    });
  });

  it('keeps the sObject fields as the payload, without XML attributes', () => {
    const [event] = salesforce.parse(outboundMessageRequest(), RECEIVED_AT);

    expect(event?.payload).toEqual({
      Id: '0065g00000XyZ12AAB',
      Amount: '50000.0',
      LastModifiedDate: '2025-11-29T10:00:00.000Z',
      StageName: 'Closed Won',
    });
  });

  it('parses a message with a single Notification', () => {
    const events = salesforce.parse(outboundMessageRequest(singleNotification), RECEIVED_AT);

    expect(events.map((e) => e.dedupKey)).toEqual(['salesforce:om:04l5g00000AbCdEAAV']);
  });

  it('acknowledges an Outbound Message with the SOAP Ack envelope as text/xml', () => {
    const ack = salesforce.acknowledge?.(outboundMessageRequest());

    expect(ack?.contentType).toMatch(/^text\/xml\b/);
    expect(ack?.body).toContain('<Ack>true</Ack>');
    expect(ack?.body).toMatch(/<soapenv:Envelope[\s\S]*<notificationsResponse[\s\S]*<\/soapenv:Envelope>$/);
    expect(XMLValidator.validate(ack?.body ?? '')).toBe(true);
  });

  it('has no special acknowledgement for a JSON delivery', () => {
    expect(salesforce.acknowledge?.(salesforceJsonRequest(SEED_BODY))).toBeUndefined();
  });

  it('rejects malformed XML with a 400, in verify and in parse', async () => {
    const truncated = outboundMessage.subarray(0, outboundMessage.length - 40);

    await expect(
      salesforce.verify(outboundMessageRequest(truncated), { secrets: [], orgId: ORG_ID }, NOW),
    ).rejects.toBeInstanceOf(BadRequestError);
    expect(() => salesforce.parse(outboundMessageRequest(truncated), RECEIVED_AT)).toThrow(BadRequestError);
  });

  it('rejects a SOAP body without notifications with a 400', () => {
    const body =
      '<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">' +
      '<soapenv:Body><other/></soapenv:Body></soapenv:Envelope>';

    expect(() => salesforce.parse(outboundMessageRequest(body), RECEIVED_AT)).toThrow(BadRequestError);
  });

  it('decodes escaped characters in field values (Johnson &amp; Johnson)', () => {
    const xml = outboundMessage
      .toString('utf8')
      .replace('Closed Won', 'Johnson &amp; Johnson &lt;EMEA&gt; &#39;26');

    const [event] = salesforce.parse(outboundMessageRequest(xml), RECEIVED_AT);

    expect(event?.payload).toMatchObject({ StageName: "Johnson & Johnson <EMEA> '26" });
  });

  it('refuses a document type declaration, which SOAP forbids', () => {
    const xml = outboundMessage.toString('utf8').replace('?>', '?><!DOCTYPE notifications>');

    expect(() => salesforce.parse(outboundMessageRequest(xml), RECEIVED_AT)).toThrow(BadRequestError);
  });

  it('never expands a billion-laughs entity declaration, and answers quickly', async () => {
    const levels = Array.from(
      { length: 9 },
      (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i === 0 ? '' : i};`.repeat(10)}">`,
    ).join('');
    const bomb = outboundMessage
      .toString('utf8')
      .replace('?>', `?><!DOCTYPE lolz [<!ENTITY lol "lol">${levels}]>`)
      .replace('Closed Won', '&lol9;');
    const request = outboundMessageRequest(bomb);
    const started = performance.now();

    const outcome = await Promise.resolve(salesforce.verify(request, { secrets: [], orgId: ORG_ID }, NOW))
      .then(() => salesforce.parse(request, RECEIVED_AT))
      .catch((error: unknown) => error);

    expect(performance.now() - started).toBeLessThan(1000);
    const rejected = outcome instanceof BadRequestError;
    const unexpanded = Array.isArray(outcome) && !JSON.stringify(outcome).includes('lollol');
    expect(rejected || unexpanded).toBe(true);
  });
});
