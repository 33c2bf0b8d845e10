import { beforeAll, describe, expect, it } from 'vitest';
import type * as z from 'zod';
import { type ManagementDeps, makeManagementHandler } from '../../../../shared/api/handlers';
import { responseSchemas } from '../../../../shared/api/openapi';
import { MANAGEMENT_ROUTES } from '../../../../shared/api/routes';
import { OPERATORS_GROUP, tokenVerifierFromEnv } from '../../../../shared/auth/tokens';
import type { StoredEvent } from '../../../../shared/stores/event-log';
import { fakeFetch } from '../../support/fake-fetch';
import {
  FakeConfigs,
  type FakeCounters,
  type FakeEventLog,
  type FakeHistory,
  type FakeRedrive,
  fakePorts,
  managementCaller,
  type RecordingPublisher,
} from '../../support/management-fakes';
import { shopifyFixture, shopifyRequest } from '../../support/shopify';
import { webhookConfig } from '../../support/webhook-config';

const TOKEN_SECRET = 'unit-test-token-secret';
const NOW = new Date('2026-03-01T10:30:00.000Z');
const BASE_URL = 'https://api.example.com/prod';
const ALICE_CONFIG = '6f1c2d9e-0b7a-4c1e-9a51-3d2e8f7a6b5c';
const ALICE_OTHER = '0a0b0c0d-1111-4222-8333-444455556666';
const BOB_CONFIG = '9e9e9e9e-2222-4333-8444-555566667777';

beforeAll(() => {
  process.env.DEV_TOKEN_SECRET = TOKEN_SECRET;
});

function setup(overrides: Partial<ManagementDeps> = {}) {
  const configs = new FakeConfigs().put(
    webhookConfig({ id: ALICE_CONFIG }),
    webhookConfig({ id: ALICE_OTHER, provider: 'hubspot', active: false }),
    webhookConfig({ id: BOB_CONFIG, userId: 'bob' }),
  );
  const ports = fakePorts();
  let now = NOW;
  const deps: ManagementDeps = {
    configs,
    verifier: tokenVerifierFromEnv(),
    webhookBaseUrl: BASE_URL,
    secretGraceHours: 24,
    now: () => now,
    ...ports,
    ...overrides,
  };
  const handler = makeManagementHandler(deps);
  const call = managementCaller(handler, TOKEN_SECRET);
  return { ...ports, ...deps, configs, call, advance: (ms: number) => (now = new Date(now.getTime() + ms)) };
}

/** setup(), with the publisher typed as the recording fake it is. */
function setupRecorded(overrides: Partial<ManagementDeps> = {}) {
  const context = setup(overrides);
  return { ...context, publisher: context.publisher as RecordingPublisher };
}

function storedEvent(pk: string, overrides: Partial<StoredEvent> = {}): StoredEvent {
  return {
    pk,
    status: 'processed',
    attempts: 1,
    provider: 'shopify',
    eventType: 'orders/create',
    objectType: 'order',
    objectId: '820982911946154508',
    deliveryId: pk.split(':')[1] ?? pk,
    orderingKey: 'shopify:shop.myshopify.com:order:820982911946154508',
    priority: 'high',
    meta: { shopDomain: 'shop.myshopify.com' },
    configId: ALICE_CONFIG,
    userId: 'alice',
    occurredAt: '2026-03-01T10:00:00.000Z',
    receivedAt: '2026-03-01T10:00:01.000Z',
    processedAt: '2026-03-01T10:00:01.050Z',
    processingTimeMs: 42,
    outcome: 'applied',
    // Ingest keeps integers beyond 2^53 as strings (shared/json.ts), so the log holds them so.
    payload: '{"id":"820982911946154508","total_price":"10.00"}',
    payloadBytes: 47,
    ...overrides,
  };
}

/** Parses a response with its documented schema: the OpenAPI document and the API agree. */
function documented<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  return schema.parse(body);
}

describe('GET /api/webhooks/events', () => {
  function withEvents() {
    const context = setup();
    (context.events as FakeEventLog).put(
      storedEvent('shopify:a', { receivedAt: '2026-03-01T10:10:00.000Z' }),
      storedEvent('shopify:b', {
        receivedAt: '2026-03-01T10:20:00.000Z',
        status: 'dead',
        attempts: 6,
        failedAttempts: 6,
        errorCategory: 'processing',
        errorMessage: 'database unavailable',
        receipts: new Set(['r1', 'r2']),
      }),
      storedEvent('hubspot:c', {
        receivedAt: '2026-03-01T10:25:00.000Z',
        provider: 'hubspot',
        eventType: 'contact.creation',
        configId: ALICE_OTHER,
      }),
      storedEvent('shopify:old', { receivedAt: '2026-02-27T09:00:00.000Z' }),
      storedEvent('shopify:bobs', {
        receivedAt: '2026-03-01T10:15:00.000Z',
        userId: 'bob',
        configId: BOB_CONFIG,
      }),
      // A provider-wide delivery: the system owner's, listed to operators.
      storedEvent('system:shopify:wide', {
        receivedAt: '2026-03-01T10:16:00.000Z',
        userId: 'system',
        configId: undefined,
      }),
    );
    return context;
  }

  it("lists the caller's deliveries newest first in the seed's snake_case, without payloads", async () => {
    const { call } = withEvents();
    const response = await call('GET', '/api/webhooks/events');
    expect(response.statusCode).toBe(200);
    const body = documented(responseSchemas.events, response.json);
    expect(body.events.map((event) => event.id)).toEqual([
      'hubspot:c',
      'shopify:b',
      'shopify:a',
      'shopify:old',
    ]);
    expect(body.events[1]).toEqual({
      id: 'shopify:b',
      owner_id: 'alice',
      provider: 'shopify',
      event_type: 'orders/create',
      object_type: 'order',
      object_id: '820982911946154508',
      delivery_id: 'b',
      config_id: ALICE_CONFIG,
      status: 'dead',
      attempts: 6,
      priority: 'high',
      outcome: 'applied',
      error_category: 'processing',
      error_message: 'database unavailable',
      occurred_at: '2026-03-01T10:00:00.000Z',
      received_at: '2026-03-01T10:20:00.000Z',
      last_attempt_at: null,
      processed_at: '2026-03-01T10:00:01.050Z',
      processing_time_ms: 42,
      payload_bytes: 47,
      replay_count: 0,
      failed_attempts: 6,
      dependency_failures: 0,
      receipts: 2,
    });
    expect(body.next_cursor).toBeNull();
  });

  it('shows another user none of them, and no user the provider-wide deliveries', async () => {
    const { call } = withEvents();
    const bob = documented(
      responseSchemas.events,
      (await call('GET', '/api/webhooks/events', { user: 'bob' })).json,
    );
    expect(bob.events.map((event) => event.id)).toEqual(['shopify:bobs']);
    const carol = await call('GET', '/api/webhooks/events', { user: 'carol' });
    expect(carol.json.events).toEqual([]);
  });

  it("shows an operator every owner's deliveries, the provider-wide ones included, or one owner's", async () => {
    const { call } = withEvents();
    const operator = { user: 'oncall', groups: [OPERATORS_GROUP] };
    const all = documented(
      responseSchemas.events,
      (await call('GET', '/api/webhooks/events', operator)).json,
    );
    expect(all.events.map((event) => [event.id, event.owner_id])).toEqual([
      ['hubspot:c', 'alice'],
      ['shopify:b', 'alice'],
      ['system:shopify:wide', 'system'],
      ['shopify:bobs', 'bob'],
      ['shopify:a', 'alice'],
      ['shopify:old', 'alice'],
    ]);
    const system = await call('GET', '/api/webhooks/events', { ...operator, query: { owner: 'system' } });
    expect(system.json.events.map((event: { id: string }) => event.id)).toEqual(['system:shopify:wide']);
    const bobs = await call('GET', '/api/webhooks/events', {
      ...operator,
      query: { owner: 'bob', status: 'processed' },
    });
    expect(bobs.json.events.map((event: { id: string }) => event.id)).toEqual(['shopify:bobs']);
  });

  it("answers 403 to a user asking for another owner's deliveries", async () => {
    const { call } = withEvents();
    const response = await call('GET', '/api/webhooks/events', { query: { owner: 'system' } });
    expect(response.statusCode).toBe(403);
    expect((await call('GET', '/api/webhooks/events', { query: { owner: 'alice' } })).statusCode).toBe(200);
  });

  it("pages an operator's every-owner listing with its own cursors, which a user cannot use", async () => {
    const { call } = withEvents();
    const operator = { user: 'oncall', groups: [OPERATORS_GROUP] };
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: Record<string, string> = { limit: '4', ...(cursor ? { cursor } : {}) };
      const body = documented(
        responseSchemas.events,
        (await call('GET', '/api/webhooks/events', { ...operator, query })).json,
      );
      seen.push(...body.events.map((event) => event.id));
      cursor = body.next_cursor;
      if (cursor) {
        const asUser = await call('GET', '/api/webhooks/events', { query: { cursor } });
        expect(asUser.statusCode).toBe(400);
      }
    } while (cursor);
    expect(seen).toHaveLength(6);
  });

  it.each([
    [{ provider: 'hubspot' }, ['hubspot:c']],
    [{ status: 'dead' }, ['shopify:b']],
    [{ event_type: 'orders/create', provider: 'shopify' }, ['shopify:b', 'shopify:a', 'shopify:old']],
    [{ time_range: '1h' }, ['hubspot:c', 'shopify:b', 'shopify:a']],
    [{ since: '2026-03-01T10:15:00Z', until: '2026-03-01T10:22:00Z' }, ['shopify:b']],
  ])('filters by %j', async (query, expected) => {
    const { call } = withEvents();
    const response = await call('GET', '/api/webhooks/events', { query });
    expect(response.statusCode).toBe(200);
    expect(response.json.events.map((event: { id: string }) => event.id)).toEqual(expected);
  });

  it('pages with an opaque cursor until the last page', async () => {
    const { call } = withEvents();
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: Record<string, string> = { limit: '2', ...(cursor ? { cursor } : {}) };
      const body = documented(
        responseSchemas.events,
        (await call('GET', '/api/webhooks/events', { query })).json,
      );
      seen.push(...body.events.map((event) => event.id));
      cursor = body.next_cursor;
      pages++;
    } while (cursor && pages < 10);
    expect(seen).toEqual(['hubspot:c', 'shopify:b', 'shopify:a', 'shopify:old']);
    expect(pages).toBe(2);
  });

  it("refuses a forged cursor, or one from another user's list, with 400", async () => {
    const { call } = withEvents();
    const bobsPage = await call('GET', '/api/webhooks/events', { user: 'bob', query: { limit: '1' } });
    const forged = Buffer.from(
      JSON.stringify({ pk: 'shopify:bobs', userId: 'bob', receivedAt: 'x' }),
    ).toString('base64url');
    for (const cursor of ['not-base64-json', forged, bobsPage.json.next_cursor ?? forged]) {
      const response = await call('GET', '/api/webhooks/events', { query: { cursor } });
      expect(response.statusCode, cursor).toBe(400);
      expect(response.json.error.fields).toEqual({ cursor: 'Invalid cursor' });
      expect(response.json.error.message).toBe('Invalid query parameter: cursor');
    }
  });

  it('answers 400 with field errors to invalid or unknown query parameters', async () => {
    const { call } = withEvents();
    const response = await call('GET', '/api/webhooks/events', {
      query: { status: 'lost', limit: '0', colour: 'red', time_range: '2d' },
    });
    expect(response.statusCode).toBe(400);
    const body = documented(errorBody, response.json);
    expect(Object.keys(body.error.fields ?? {}).sort()).toEqual(['colour', 'limit', 'status', 'time_range']);
    // The message names the query, not the body (a GET has none).
    expect(body.error.message).toBe('Invalid query parameters: status, time_range, limit, colour');
  });
});

const errorBody = (await import('../../../../shared/api/openapi')).errorBodySchema;

describe('GET /api/webhooks/events/{id}', () => {
  it('returns one delivery with its payload and meta; the id is URL-encoded in the path', async () => {
    const { call, events } = setup();
    (events as FakeEventLog).put(storedEvent('shopify:a'));
    const response = await call('GET', `/api/webhooks/events/${encodeURIComponent('shopify:a')}`);
    expect(response.statusCode).toBe(200);
    const { event } = documented(responseSchemas.event, response.json);
    expect(event).toMatchObject({
      id: 'shopify:a',
      meta: { shopDomain: 'shop.myshopify.com' },
      payload_storage: 'log',
      payload: { id: '820982911946154508', total_price: '10.00' },
    });
  });

  it("answers 404 to another user's delivery, a provider-wide one and an unknown id", async () => {
    const { call, events } = setup();
    (events as FakeEventLog).put(
      storedEvent('shopify:a'),
      storedEvent('system:shopify:wide', { userId: 'system', configId: undefined }),
      // Logged before owners were recorded: a provider-wide delivery, the system's.
      storedEvent('shopify:old-wide', { userId: undefined, configId: undefined }),
    );
    expect((await call('GET', '/api/webhooks/events/shopify:a', { user: 'bob' })).statusCode).toBe(404);
    expect((await call('GET', '/api/webhooks/events/system:shopify:wide')).statusCode).toBe(404);
    expect((await call('GET', '/api/webhooks/events/shopify:old-wide')).statusCode).toBe(404);
    expect((await call('GET', '/api/webhooks/events/shopify:none')).statusCode).toBe(404);
  });

  it("shows an operator any owner's delivery", async () => {
    const { call, events } = setup();
    (events as FakeEventLog).put(
      storedEvent('shopify:a'),
      storedEvent('shopify:old-wide', { userId: undefined, configId: undefined }),
    );
    const operator = { user: 'oncall', groups: [OPERATORS_GROUP] };
    const alices = await call('GET', '/api/webhooks/events/shopify:a', operator);
    expect(alices.json.event).toMatchObject({ id: 'shopify:a', owner_id: 'alice' });
    const wide = await call('GET', '/api/webhooks/events/shopify:old-wide', operator);
    expect(wide.json.event).toMatchObject({ owner_id: 'system' });
  });
});

describe('POST /api/webhooks/events/{id}/replay', () => {
  it('re-enqueues the stored delivery with a replay id and notes it in the log', async () => {
    const { call, events, publisher } = setupRecorded({ newId: () => 'replay-1' });
    (events as FakeEventLog).put(storedEvent('shopify:a'));
    const response = await call('POST', '/api/webhooks/events/shopify:a/replay');
    expect(response.statusCode).toBe(202);
    expect(documented(responseSchemas.replay, response.json).replay).toEqual({
      replay_id: 'replay-1',
      event_id: 'shopify:a',
      status: 'queued',
      requested_at: NOW.toISOString(),
    });
    expect(publisher.published).toEqual([
      {
        version: 1,
        provider: 'shopify',
        eventType: 'orders/create',
        objectType: 'order',
        objectId: '820982911946154508',
        occurredAt: '2026-03-01T10:00:00.000Z',
        deliveryId: 'a',
        dedupKey: 'shopify:a',
        orderingKey: 'shopify:shop.myshopify.com:order:820982911946154508',
        priority: 'high',
        receivedAt: '2026-03-01T10:00:01.000Z',
        meta: { shopDomain: 'shop.myshopify.com' },
        payload: { id: '820982911946154508', total_price: '10.00' },
        configId: ALICE_CONFIG,
        ownerId: 'alice',
        replay: { id: 'replay-1', requestedAt: NOW.toISOString() },
      },
    ]);
    expect((events as FakeEventLog).replays).toEqual(['shopify:a']);
  });

  it('replays a claim-checked delivery by its S3 pointer', async () => {
    const { call, events, publisher } = setupRecorded();
    const payloadRef = { bucket: 'payloads', key: 'shopify/2026/03/01/a.json' };
    (events as FakeEventLog).put(storedEvent('shopify:a', { payload: undefined, payloadRef }));
    expect((await call('POST', '/api/webhooks/events/shopify:a/replay')).statusCode).toBe(202);
    expect(publisher.published[0]).toMatchObject({ payloadRef });
    expect(publisher.published[0]?.payload).toBeUndefined();
  });

  it.each([
    ['still being processed', { status: 'received' as const }, 409, 'in_progress'],
    ['whose payload was not kept', { payload: undefined }, 409, 'payload_not_retained'],
  ])('refuses a delivery %s', async (_case, overrides, status, code) => {
    const { call, events, publisher } = setupRecorded();
    (events as FakeEventLog).put(storedEvent('shopify:a', overrides));
    const response = await call('POST', '/api/webhooks/events/shopify:a/replay');
    expect(response.statusCode).toBe(status);
    expect(response.json.error.code).toBe(code);
    expect(publisher.published).toEqual([]);
  });

  it("answers 404 to another user's delivery and enqueues nothing", async () => {
    const { call, events, publisher } = setupRecorded();
    (events as FakeEventLog).put(storedEvent('shopify:a'));
    expect((await call('POST', '/api/webhooks/events/shopify:a/replay', { user: 'bob' })).statusCode).toBe(
      404,
    );
    expect(publisher.published).toEqual([]);
  });

  it("lets an operator replay a provider-wide delivery, which stays the system owner's", async () => {
    const { call, events, publisher } = setupRecorded();
    (events as FakeEventLog).put(
      storedEvent('system:shopify:wide', { userId: 'system', configId: undefined, status: 'dead' }),
    );
    const path = '/api/webhooks/events/system:shopify:wide/replay';
    expect((await call('POST', path)).statusCode).toBe(404);
    expect((await call('POST', path, { user: 'oncall', groups: [OPERATORS_GROUP] })).statusCode).toBe(202);
    expect(publisher.published).toEqual([
      expect.objectContaining({ dedupKey: 'system:shopify:wide', ownerId: 'system' }),
    ]);
  });
});

describe('quarantined deliveries', () => {
  const RAW_REF = { bucket: 'payloads', key: 'quarantine/shopify/2026-03-01/q.json' };
  const QUARANTINED = 'alice:shopify:quarantine:config:abc';

  /** A kept request (shared/quarantine.ts) the parser takes today: a Shopify order. */
  function kept(topic = 'orders/create') {
    const request = shopifyRequest(shopifyFixture('orders-create.json'), { topic, webhookId: 'w-1' });
    return { ...request, body: request.body.toString('base64') };
  }

  function withQuarantined(document: unknown = kept()) {
    const gets: unknown[] = [];
    const context = setupRecorded({
      payloads: {
        get: async (ref) => {
          gets.push(ref);
          return document;
        },
      },
    });
    (context.events as FakeEventLog).put({
      pk: QUARANTINED,
      status: 'quarantined',
      attempts: 0,
      provider: 'shopify',
      eventType: 'orders/create',
      userId: 'alice',
      configId: ALICE_CONFIG,
      receivedAt: '2026-03-01T10:05:00.000Z',
      errorCategory: 'validation',
      errorMessage: 'Not what the shopify parser expects: Payload needs an id',
      rawRef: RAW_REF,
      receipts: new Set(['acceptance-1', 'acceptance-2']),
    });
    return { ...context, gets };
  }

  it('lists them with status=quarantined, with the reason', async () => {
    const { call } = withQuarantined();
    const response = await call('GET', '/api/webhooks/events', { query: { status: 'quarantined' } });
    expect(documented(responseSchemas.events, response.json).events).toEqual([
      expect.objectContaining({
        id: QUARANTINED,
        status: 'quarantined',
        error_message: 'Not what the shopify parser expects: Payload needs an id',
        receipts: 2,
      }),
    ]);
  });

  it('releases one on replay: its request parsed again into the deliveries ingest makes, carrying its receipts', async () => {
    const { call, events, publisher, gets } = withQuarantined();

    const response = await call('POST', `/api/webhooks/events/${encodeURIComponent(QUARANTINED)}/replay`);

    expect(response.statusCode).toBe(202);
    expect(documented(responseSchemas.replay, response.json).replay).toMatchObject({
      event_id: QUARANTINED,
      status: 'queued',
      released_events: 1,
    });
    expect(gets).toEqual([RAW_REF]);
    expect(publisher.published).toEqual([
      expect.objectContaining({
        dedupKey: 'alice:shopify:w-1',
        ownerId: 'alice',
        configId: ALICE_CONFIG,
        receivedAt: '2026-03-01T10:05:00.000Z',
        limits: { retryAttempts: 3, timeoutMs: 30_000 },
      }),
    ]);
    const log = events as FakeEventLog;
    expect(log.items.get('alice:shopify:w-1')?.receipts).toEqual(new Set(['acceptance-1', 'acceptance-2']));
    expect(log.items.get(QUARANTINED)).toMatchObject({ status: 'released', releasedEvents: 1 });
    const again = await call('POST', `/api/webhooks/events/${encodeURIComponent(QUARANTINED)}/replay`);
    expect(again.statusCode).toBe(409);
    expect(again.json.error.code).toBe('already_released');
  });

  it('enqueues only the event types its config takes, as ingest does', async () => {
    const { call, publisher, events } = withQuarantined(kept('orders/delete'));
    const response = await call('POST', `/api/webhooks/events/${encodeURIComponent(QUARANTINED)}/replay`);
    expect(response.json.replay.released_events).toBe(0);
    expect(publisher.published).toEqual([]);
    expect((events as FakeEventLog).items.get(QUARANTINED)?.status).toBe('released');
  });

  it('answers 409 with the reason, and keeps it quarantined, while the parser still refuses it', async () => {
    const { call, events, publisher } = withQuarantined({
      ...kept(),
      body: Buffer.from('{"no":"id"}').toString('base64'),
    });
    const response = await call('POST', `/api/webhooks/events/${encodeURIComponent(QUARANTINED)}/replay`);
    expect(response.statusCode).toBe(409);
    expect(response.json.error).toEqual({
      code: 'still_unparseable',
      message: 'The parser still refuses it: Payload needs an id',
    });
    expect(publisher.published).toEqual([]);
    expect((events as FakeEventLog).items.get(QUARANTINED)?.status).toBe('quarantined');
  });
});

describe('GET /api/webhooks/ledger', () => {
  function withLedger() {
    const context = setup();
    const receipts = (...ids: string[]) => new Set(ids);
    (context.events as FakeEventLog).put(
      storedEvent('alice:shopify:a', {
        receipts: receipts('r1', 'r2'),
        receivedAt: '2026-03-01T10:00:00.000Z',
      }),
      storedEvent('alice:shopify:b', {
        receipts: receipts('r3'),
        outcome: 'stale',
        receivedAt: '2026-03-01T10:01:00.000Z',
      }),
      storedEvent('alice:shopify:c', {
        receipts: receipts('r4'),
        status: 'failed',
        outcome: undefined,
        receivedAt: '2026-03-01T10:02:00.000Z',
      }),
      storedEvent('alice:shopify:d', {
        receipts: receipts('r5'),
        status: 'dead',
        outcome: undefined,
        receivedAt: '2026-03-01T10:03:00.000Z',
      }),
      storedEvent('alice:shopify:quarantine:q', {
        receipts: receipts('r6'),
        status: 'quarantined',
        outcome: undefined,
        receivedAt: '2026-03-01T10:04:00.000Z',
      }),
      storedEvent('bob:shopify:e', {
        userId: 'bob',
        receipts: receipts('r7'),
        receivedAt: '2026-03-01T10:05:00.000Z',
      }),
      storedEvent('alice:shopify:old', { receipts: receipts('r8'), receivedAt: '2026-02-20T10:00:00.000Z' }),
    );
    return context;
  }

  it("answers a user's own ledger of the last 24 hours, balanced, as snake_case numbers", async () => {
    const { call } = withLedger();
    const response = await call('GET', '/api/webhooks/ledger');
    expect(response.statusCode).toBe(200);
    expect(documented(responseSchemas.ledger, response.json)).toEqual({
      success: true,
      owner: 'alice',
      since: '2026-02-28T10:30:00.000Z',
      until: NOW.toISOString(),
      received: 6,
      processed: 2,
      duplicate: 1,
      quarantined: 1,
      dead: 1,
      in_flight: 1,
      processed_outcomes: { applied: 1, stale: 1, ignored: 0 },
      balanced: true,
      unreceipted: 0,
      oldest_in_flight_at: '2026-03-01T10:02:00.000Z',
    });
  });

  it("answers an operator every owner's, or one owner's, and refuses a user another's", async () => {
    const { call } = withLedger();
    const operator = { user: 'oncall', groups: [OPERATORS_GROUP] };
    expect((await call('GET', '/api/webhooks/ledger', operator)).json).toMatchObject({
      owner: null,
      received: 7,
    });
    expect(
      (await call('GET', '/api/webhooks/ledger', { ...operator, query: { owner: 'bob' } })).json,
    ).toMatchObject({ owner: 'bob', received: 1, processed: 1 });
    expect((await call('GET', '/api/webhooks/ledger', { query: { owner: 'bob' } })).statusCode).toBe(403);
  });

  it('says when it does not balance: an entry ingest has no receipt for', async () => {
    const { call, events } = withLedger();
    (events as FakeEventLog).put(
      storedEvent('alice:shopify:unreceipted', { receivedAt: '2026-03-01T10:06:00.000Z' }),
    );
    expect((await call('GET', '/api/webhooks/ledger')).json).toMatchObject({
      received: 6,
      processed: 3,
      balanced: false,
      unreceipted: 1,
    });
  });

  it('takes a time range or since/until, and refuses a reversed or over-long window with 400', async () => {
    const { call, events } = withLedger();
    const hour = await call('GET', '/api/webhooks/ledger', { query: { time_range: '1h' } });
    expect(hour.json).toMatchObject({ since: '2026-03-01T09:30:00.000Z', received: 6 });
    const window = await call('GET', '/api/webhooks/ledger', {
      query: { since: '2026-03-01T10:00:30Z', until: '2026-03-01T10:02:30Z' },
    });
    expect(window.json).toMatchObject({ received: 2, processed: 1, in_flight: 1 });
    expect((events as FakeEventLog).ledgerQueries.at(-1)).toEqual({
      ownerId: 'alice',
      since: '2026-03-01T10:00:30.000Z',
      until: '2026-03-01T10:02:30.000Z',
    });
    for (const query of <Record<string, string>[]>[
      { since: '2026-03-01T10:00:00Z', until: '2026-03-01T09:00:00Z' },
      { since: '2026-02-01T00:00:00Z' },
      { time_range: '1h', since: '2026-03-01T10:00:00Z' },
      { window: '1h' },
    ]) {
      const response = await call('GET', '/api/webhooks/ledger', { query });
      expect(response.statusCode, JSON.stringify(query)).toBe(400);
      expect(response.json.error.code).toBe('validation_failed');
    }
  });
});

describe('GET /api/webhooks/status', () => {
  function withCounters() {
    const context = setup();
    const counters = context.counters as FakeCounters;
    // Alice's shopify config: 98 processed and 2 dead over the day, the last hour all good.
    counters.add(`config#${ALICE_CONFIG}#hour`, '2026-03-01T08', {
      succeeded: 48,
      dead: 2,
      processingMsSum: 48 * 50,
    });
    counters.add(`config#${ALICE_CONFIG}#hour`, '2026-03-01T10', { succeeded: 50, processingMsSum: 50 * 40 });
    counters.add(`config#${ALICE_CONFIG}`, '2026-03-01T10:29', {
      succeeded: 50,
      failed: 3,
      processingMsSum: 50 * 40,
    });
    // Alice's hubspot config: failing now.
    counters.add(`config#${ALICE_OTHER}#hour`, '2026-03-01T09', { succeeded: 10, processingMsSum: 100 });
    counters.add(`config#${ALICE_OTHER}#hour`, '2026-03-01T10', { dead: 1 });
    // Older than a day: outside 24h, inside 7d.
    counters.add(`config#${ALICE_CONFIG}#hour`, '2026-02-27T10', { dead: 20 });
    return context;
  }

  it("returns exactly the seed's shape for the caller's webhooks over 24 hours by default", async () => {
    const { call } = withCounters();
    const response = await call('GET', '/api/webhooks/status');
    expect(response.statusCode).toBe(200);
    expect(documented(responseSchemas.status, response.json)).toEqual({
      success: true,
      webhooks: [
        {
          id: ALICE_CONFIG,
          provider: 'shopify',
          owner_id: 'alice',
          health_status: 'degraded',
          statistics: {
            total_events: 100,
            successful_events: 98,
            failed_events: 2,
            success_rate: 98,
            average_processing_time_ms: 45,
          },
        },
        {
          id: ALICE_OTHER,
          provider: 'hubspot',
          owner_id: 'alice',
          health_status: 'unhealthy',
          statistics: {
            total_events: 11,
            successful_events: 10,
            failed_events: 1,
            success_rate: 90.9,
            average_processing_time_ms: 10,
          },
        },
      ],
      overall_stats: {
        total_webhooks: 2,
        active_webhooks: 1,
        success_rate: 97.3,
        average_processing_time_ms: 42,
      },
    });
  });

  it('reads minute counters for 1h and hour counters for 24h and 7d, and filters by provider', async () => {
    const { call, counters } = withCounters();
    const hour = await call('GET', '/api/webhooks/status', {
      query: { time_range: '1h', provider: 'shopify' },
    });
    expect(hour.json.webhooks).toEqual([
      expect.objectContaining({
        id: ALICE_CONFIG,
        health_status: 'healthy',
        statistics: expect.objectContaining({ total_events: 50 }),
      }),
    ]);
    const week = await call('GET', '/api/webhooks/status', {
      query: { time_range: '7d', provider: 'shopify' },
    });
    expect(week.json.webhooks[0].statistics).toMatchObject({ total_events: 120, failed_events: 22 });
    expect((counters as FakeCounters).reads).toEqual([
      [`config#${ALICE_CONFIG}`, '2026-03-01T09:31', '2026-03-01T10:30'],
      [`config#${ALICE_CONFIG}#hour`, '2026-02-22T11', '2026-03-01T10'],
    ]);
  });

  it('serves the same answer for 60 s, then reads the counters again', async () => {
    const { call, counters, advance } = withCounters();
    await call('GET', '/api/webhooks/status');
    await call('GET', '/api/webhooks/status');
    expect((counters as FakeCounters).reads).toHaveLength(2);
    advance(61_000);
    await call('GET', '/api/webhooks/status');
    expect((counters as FakeCounters).reads).toHaveLength(4);
  });

  it('shows each user only their own webhooks', async () => {
    const { call } = withCounters();
    const bob = documented(
      responseSchemas.status,
      (await call('GET', '/api/webhooks/status', { user: 'bob' })).json,
    );
    expect(bob.webhooks.map((webhook) => webhook.id)).toEqual([BOB_CONFIG]);
    expect(bob.webhooks[0]).toMatchObject({
      health_status: 'healthy',
      statistics: { total_events: 0, success_rate: 100 },
    });
  });

  it("shows an operator every config and the provider-wide endpoints, or one owner's", async () => {
    const { call, counters } = withCounters();
    (counters as FakeCounters).add('owner#system#shopify#hour', '2026-03-01T10', {
      succeeded: 7,
      processingMsSum: 70,
    });
    const operator = { user: 'oncall', groups: [OPERATORS_GROUP] };
    const all = documented(
      responseSchemas.status,
      (await call('GET', '/api/webhooks/status', operator)).json,
    );
    expect(all.webhooks.map((webhook) => [webhook.id, webhook.owner_id])).toEqual([
      ['hubspot', 'system'],
      ['shopify', 'system'],
      ['salesforce', 'system'],
      [ALICE_CONFIG, 'alice'],
      [ALICE_OTHER, 'alice'],
      [BOB_CONFIG, 'bob'],
    ]);
    expect(all.webhooks[1]?.statistics).toMatchObject({ total_events: 7, successful_events: 7 });
    expect(all.overall_stats.total_webhooks).toBe(6);

    const system = await call('GET', '/api/webhooks/status', { ...operator, query: { owner: 'system' } });
    expect(system.json.webhooks.map((webhook: { id: string }) => webhook.id)).toEqual([
      'hubspot',
      'shopify',
      'salesforce',
    ]);
    const bobs = await call('GET', '/api/webhooks/status', { ...operator, query: { owner: 'bob' } });
    expect(bobs.json.webhooks.map((webhook: { id: string }) => webhook.id)).toEqual([BOB_CONFIG]);
  });

  it("answers 403 to a user asking for another owner's status", async () => {
    const { call } = withCounters();
    expect((await call('GET', '/api/webhooks/status', { query: { owner: 'bob' } })).statusCode).toBe(403);
  });

  it('reads the last 30 days from the minute history (webhook_metrics), the counters keeping 8 days', async () => {
    const { call, history } = withCounters();
    const row = (series: string, minute: string, successful: number, failed: number) => ({
      series,
      provider: 'shopify',
      ownerId: 'alice',
      configId: ALICE_CONFIG,
      minute,
      totalEvents: successful + failed,
      successfulEvents: successful,
      failedEvents: failed,
      successRate: 0,
      averageProcessingTime: 10,
      eventsPerMinute: successful + failed,
      errorRate: 0,
      lastEventAt: minute,
    });
    (history as FakeHistory).put(
      row(`config:${ALICE_CONFIG}`, '2026-02-05T10:00:00.000Z', 90, 0),
      row(`config:${ALICE_CONFIG}`, '2026-03-01T10:00:00.000Z', 10, 0),
      // Older than 30 days: outside.
      row(`config:${ALICE_CONFIG}`, '2026-01-20T10:00:00.000Z', 0, 500),
    );

    const response = await call('GET', '/api/webhooks/status', { query: { time_range: '30d' } });

    const [shopify, hubspot] = documented(responseSchemas.status, response.json).webhooks;
    expect(shopify).toMatchObject({
      id: ALICE_CONFIG,
      health_status: 'healthy',
      statistics: {
        total_events: 100,
        successful_events: 100,
        failed_events: 0,
        average_processing_time_ms: 10,
      },
    });
    expect(hubspot?.statistics.total_events).toBe(0);
  });

  it('answers 400 to an unknown time range', async () => {
    const { call } = withCounters();
    expect((await call('GET', '/api/webhooks/status', { query: { time_range: '90d' } })).statusCode).toBe(
      400,
    );
  });
});

describe('GET /api/webhooks/metrics', () => {
  function withHistory() {
    const context = setup();
    const row = (series: string, ownerId: string | null, minute: string) => ({
      series,
      provider: 'shopify',
      ownerId,
      configId: null,
      minute,
      totalEvents: 3,
      successfulEvents: 3,
      failedEvents: 0,
      successRate: 100,
      averageProcessingTime: 12,
      eventsPerMinute: 3,
      errorRate: 0,
      lastEventAt: minute,
    });
    (context.history as FakeHistory).put(
      row('all', null, '2026-03-01T10:10:00.000Z'),
      row('owner:alice', 'alice', '2026-03-01T10:11:00.000Z'),
      row('owner:alice', 'alice', '2026-03-01T10:12:00.000Z'),
      row('owner:system', 'system', '2026-03-01T10:12:00.000Z'),
      row('owner:alice', 'alice', '2026-03-01T08:00:00.000Z'),
    );
    return context;
  }

  it("answers a user's own minute history of the last hour in the seed's columns", async () => {
    const { call } = withHistory();
    const response = await call('GET', '/api/webhooks/metrics');
    const { metrics } = documented(responseSchemas.metrics, response.json);
    expect(metrics.map((m) => [m.owner_id, m.minute])).toEqual([
      ['alice', '2026-03-01T10:11:00.000Z'],
      ['alice', '2026-03-01T10:12:00.000Z'],
    ]);
    expect(metrics[0]).toEqual({
      provider: 'shopify',
      owner_id: 'alice',
      minute: '2026-03-01T10:11:00.000Z',
      total_events: 3,
      successful_events: 3,
      failed_events: 0,
      success_rate: 100,
      average_processing_time: 12,
      events_per_minute: 3,
      error_rate: 0,
      last_event_at: '2026-03-01T10:11:00.000Z',
    });
  });

  it("answers an operator every owner's figures together, or one owner's; a user another owner's with 403", async () => {
    const { call } = withHistory();
    const operator = { user: 'oncall', groups: [OPERATORS_GROUP] };
    const all = await call('GET', '/api/webhooks/metrics', operator);
    expect(all.json.metrics.map((m: { owner_id: string | null }) => m.owner_id)).toEqual([null]);
    const system = await call('GET', '/api/webhooks/metrics', { ...operator, query: { owner: 'system' } });
    expect(system.json.metrics.map((m: { owner_id: string }) => m.owner_id)).toEqual(['system']);
    const week = await call('GET', '/api/webhooks/metrics', { query: { time_range: '7d' } });
    expect(week.json.metrics).toHaveLength(3);
    expect((await call('GET', '/api/webhooks/metrics', { query: { owner: 'system' } })).statusCode).toBe(403);
  });
});

describe('DLQ redrive', () => {
  it('is for operators only: anyone else gets 403 and starts nothing', async () => {
    const { call, redrive } = setup();
    const response = await call('POST', '/api/webhooks/dlq/redrive', { body: { priority: 'high' } });
    expect(response.statusCode).toBe(403);
    expect((await call('GET', '/api/webhooks/dlq')).statusCode).toBe(403);
    expect((redrive as unknown as FakeRedrive).started).toEqual([]);
  });

  it('starts one move task per priority, answers 409 while it runs, and reports progress', async () => {
    const { call, redrive } = setup();
    const operator = { user: 'oncall', groups: [OPERATORS_GROUP] };
    const started = await call('POST', '/api/webhooks/dlq/redrive', {
      ...operator,
      body: { priority: 'high', max_messages_per_second: 10 },
    });
    expect(started.statusCode).toBe(202);
    expect(documented(responseSchemas.redrive, started.json).task).toMatchObject({
      priority: 'high',
      status: 'RUNNING',
    });
    expect((redrive as unknown as FakeRedrive).started).toEqual([{ priority: 'high', maxPerSecond: 10 }]);

    const again = await call('POST', '/api/webhooks/dlq/redrive', {
      ...operator,
      body: { priority: 'high' },
    });
    expect(again.statusCode).toBe(409);
    expect(again.json.error.code).toBe('redrive_running');

    const progress = documented(responseSchemas.dlq, (await call('GET', '/api/webhooks/dlq', operator)).json);
    expect(progress.queues.map((queue) => [queue.priority, queue.dlq_depth, queue.tasks.length])).toEqual([
      ['high', 2, 1],
      ['medium', 0, 0],
      ['low', 0, 0],
    ]);
  });

  it('answers 400 to an unknown priority', async () => {
    const { call } = setup();
    const response = await call('POST', '/api/webhooks/dlq/redrive', {
      user: 'oncall',
      groups: [OPERATORS_GROUP],
      body: { priority: 'urgent' },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json.error.fields).toHaveProperty('priority');
  });
});

describe('OpenAPI document', () => {
  it('is served without a token and documents every management route', async () => {
    const { call } = setup();
    const response = await call('GET', '/api/webhooks/openapi.json', { user: null });
    expect(response.statusCode).toBe(200);
    const document = response.json as {
      openapi: string;
      servers: { url: string }[];
      paths: Record<string, Record<string, unknown>>;
    };
    expect(document.openapi).toBe('3.1.0');
    expect(document.servers).toEqual([{ url: BASE_URL }]);
    const documentedRoutes = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(documentedRoutes.sort()).toEqual(
      MANAGEMENT_ROUTES.map(([method, path]) => `${method} /api/webhooks/${path}`).sort(),
    );
    const register = document.paths['/api/webhooks/register']?.post as {
      requestBody: {
        content: { 'application/json': { schema: { properties: Record<string, { enum?: string[] }> } } };
      };
    };
    expect(register.requestBody.content['application/json'].schema.properties.provider?.enum).toEqual([
      'hubspot',
      'shopify',
      'salesforce',
    ]);
  });

  it('routes every declared route to a handler (none is an unknown path or a wrong method)', async () => {
    const { call } = setup();
    for (const [method, path] of MANAGEMENT_ROUTES) {
      const concrete = path.replace('{id}', ALICE_CONFIG);
      const response = await call(method, `/api/webhooks/${concrete}`, { user: null });
      expect([200, 401], `${method} ${path}`).toContain(response.statusCode);
    }
  });
});

describe('provider registration', () => {
  const credentials = {
    provider: 'shopify',
    shop_domain: 'jsmith.myshopify.com',
    access_token: 'shpat_secret_token_0123456789',
  };
  // The app's client secret: what Shopify and HubSpot sign an app's deliveries with.
  const APP_SECRET = 'shpss_app_client_secret_0123456789';
  const created = (id: string) => ({
    json: { data: { webhookSubscriptionCreate: { webhookSubscription: { id }, userErrors: [] } } },
  });

  it('creates the subscription at Shopify for the new endpoint and never returns the token', async () => {
    const fake = fakeFetch(created('gid://shopify/WebhookSubscription/1'));
    const { call, configs } = setup({
      registration: { fetch: fake.fetch },
      newId: () => ALICE_CONFIG.replace('6f', '7f'),
    });
    const response = await call('POST', '/api/webhooks/register', {
      body: {
        provider: 'shopify',
        events: ['orders/create'],
        secret: APP_SECRET,
        provider_credentials: credentials,
      },
    });
    expect(response.statusCode).toBe(201);
    const { webhook } = documented(responseSchemas.config, response.json);
    expect(webhook).toMatchObject({
      registration_status: 'registered',
      external_webhook_id: 'gid://shopify/WebhookSubscription/1',
      registration_error: null,
    });
    expect(response.body).not.toContain('shpat_secret_token');
    expect(JSON.stringify(fake.requests[0]?.body)).toContain(
      `${BASE_URL}/api/webhooks/shopify/${webhook.id}`,
    );
    const stored = await configs.getOwned(webhook.id, 'alice');
    expect(stored?.registrationStatus).toBe('registered');
    // Deliveries are verified with the app's client secret, the key the provider signs them with.
    expect(stored?.secret).toBe(APP_SECRET);
  });

  it("refuses credentials without the app's client secret with 400, saying why", async () => {
    const fake = fakeFetch();
    const { call } = setup({ registration: { fetch: fake.fetch } });
    const response = await call('POST', '/api/webhooks/register', {
      body: { provider: 'shopify', events: ['orders/create'], provider_credentials: credentials },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json.error.fields.secret).toMatch(/signs deliveries .* with the app's client secret/);
    expect(fake.requests).toEqual([]);
  });

  it('refuses to rotate the secret of a config registered with credentials: the provider keeps signing with the app secret', async () => {
    const { call, configs } = setup();
    configs.put(
      webhookConfig({
        id: ALICE_CONFIG,
        secret: APP_SECRET,
        registrationStatus: 'registered',
        providerCredentials: { ...credentials },
      }),
    );
    const response = await call('POST', `/api/webhooks/configs/${ALICE_CONFIG}/rotate-secret`);
    expect(response.statusCode).toBe(409);
    expect(response.json.error.message).toMatch(/app's client secret/);
    expect((await configs.getOwned(ALICE_CONFIG, 'alice'))?.secret).toBe(APP_SECRET);
  });

  it('keeps the config when the provider refuses, with the reason', async () => {
    const fake = fakeFetch({ status: 401, json: { errors: '[API] Invalid API key or access token' } });
    const { call } = setup({
      registration: { fetch: fake.fetch },
      newId: () => ALICE_CONFIG.replace('6f', '8f'),
    });
    const response = await call('POST', '/api/webhooks/register', {
      body: {
        provider: 'shopify',
        events: ['orders/create'],
        secret: APP_SECRET,
        provider_credentials: credentials,
      },
    });
    expect(response.statusCode).toBe(201);
    expect(response.json.webhook).toMatchObject({
      registration_status: 'failed',
      registration_error: expect.any(String),
    });
    expect(response.body).not.toContain('shpat_secret_token');
  });

  it('refuses credentials of another provider with 400', async () => {
    const { call } = setup();
    const response = await call('POST', '/api/webhooks/register', {
      body: {
        provider: 'hubspot',
        events: ['contact.creation'],
        secret: APP_SECRET,
        provider_credentials: credentials,
      },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json.error.fields).toHaveProperty(['provider_credentials.provider']);
  });

  it('removes the subscription at the provider when a registered config is deleted', async () => {
    const fake = fakeFetch({
      json: {
        data: { webhookSubscriptionDelete: { deletedWebhookSubscriptionId: 'gid://1', userErrors: [] } },
      },
    });
    const { call, configs } = setup({ registration: { fetch: fake.fetch } });
    configs.put(
      webhookConfig({
        id: ALICE_CONFIG,
        registrationStatus: 'registered',
        externalWebhookId: 'gid://1',
        providerCredentials: credentials,
      }),
    );
    expect((await call('DELETE', `/api/webhooks/configs/${ALICE_CONFIG}`)).statusCode).toBe(204);
    expect(JSON.stringify(fake.requests[0]?.body)).toContain('webhookSubscriptionDelete');
  });
});
