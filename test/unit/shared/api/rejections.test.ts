import { beforeAll, describe, expect, it } from 'vitest';
import { makeManagementHandler } from '../../../../shared/api/handlers';
import { openApiDocument, responseSchemas } from '../../../../shared/api/openapi';
import { MANAGEMENT_ROUTES } from '../../../../shared/api/routes';
import { OPERATORS_GROUP, tokenVerifierFromEnv } from '../../../../shared/auth/tokens';
import type { StoredRejection } from '../../../../shared/stores/rejections';
import { FakeConfigs, FakeRejections, fakePorts, managementCaller } from '../../support/management-fakes';

const TOKEN_SECRET = 'unit-test-token-secret';
const NOW = new Date('2026-03-01T10:30:00.000Z');
const CONFIG = '6f1c2d9e-0b7a-4c1e-9a51-3d2e8f7a6b5c';

beforeAll(() => {
  process.env.DEV_TOKEN_SECRET = TOKEN_SECRET;
});

function rejection(id: string, overrides: Partial<StoredRejection> = {}): StoredRejection {
  return {
    id,
    ownerId: 'alice',
    provider: 'shopify',
    configId: CONFIG,
    status: 401,
    cause: 'signature_mismatch',
    message: 'Invalid X-Shopify-Hmac-Sha256 signature',
    sourceIp: '203.0.113.9',
    bodyBytes: 812,
    receivedAt: '2026-03-01T10:20:00.000Z',
    ...overrides,
  };
}

function setup() {
  const rejections = new FakeRejections().add(
    rejection('a1'),
    rejection('a2', {
      cause: 'stale_timestamp',
      detail: { skew_seconds: 420 },
      receivedAt: '2026-03-01T10:25:00.000Z',
    }),
    rejection('b1', { ownerId: 'bob', configId: undefined }),
    rejection('s1', { ownerId: 'system', configId: undefined, provider: 'hubspot', cause: 'unknown_secret' }),
  );
  const handler = makeManagementHandler({
    ...fakePorts({ rejections }),
    configs: new FakeConfigs(),
    verifier: tokenVerifierFromEnv(),
    webhookBaseUrl: 'https://api.example.com/prod',
    secretGraceHours: 24,
    now: () => NOW,
  });
  return { rejections, call: managementCaller(handler, TOKEN_SECRET) };
}

describe('GET /api/webhooks/rejections', () => {
  it("lists a user's own rejections, newest first, with counts per cause and the documented shape", async () => {
    const { call } = setup();

    const response = await call('GET', '/api/webhooks/rejections', { user: 'alice' });

    expect(response.statusCode).toBe(200);
    const body = responseSchemas.rejections.parse(response.json);
    expect(body.rejections.map((r) => [r.id, r.cause])).toEqual([
      ['a2', 'stale_timestamp'],
      ['a1', 'signature_mismatch'],
    ]);
    expect(body.rejections[0]).toMatchObject({
      owner_id: 'alice',
      detail: { skew_seconds: 420 },
      config_id: CONFIG,
    });
    expect(body.counts).toEqual({
      total: 2,
      by_cause: { signature_mismatch: 1, stale_timestamp: 1 },
      by_provider: { shopify: { signature_mismatch: 1, stale_timestamp: 1 } },
    });
  });

  it("refuses a user asking for another owner's rejections", async () => {
    const { call } = setup();

    const response = await call('GET', '/api/webhooks/rejections', {
      user: 'alice',
      query: { owner: 'bob' },
    });
    expect(response.statusCode).toBe(403);
  });

  it("shows operators every owner's, or one owner's (system: the provider-wide endpoints)", async () => {
    const { call } = setup();
    const operator = { user: 'oncall', groups: [OPERATORS_GROUP] };

    const all = await call('GET', '/api/webhooks/rejections', operator);
    const system = await call('GET', '/api/webhooks/rejections', { ...operator, query: { owner: 'system' } });

    expect(all.json.rejections).toHaveLength(4);
    expect(all.json.counts.total).toBe(4);
    expect(system.json.rejections.map((r: { id: string }) => r.id)).toEqual(['s1']);
    expect(system.json.counts.by_cause).toEqual({ unknown_secret: 1 });
  });

  it('filters by cause and provider, and validates its query', async () => {
    const { call, rejections } = setup();

    const filtered = await call('GET', '/api/webhooks/rejections', {
      query: { cause: 'stale_timestamp', time_range: '1h', provider: 'shopify' },
    });
    const invalid = await call('GET', '/api/webhooks/rejections', { query: { cause: 'bad_vibes' } });
    const badCursor = await call('GET', '/api/webhooks/rejections', { query: { cursor: 'bm9wZQ' } });

    expect(filtered.json.rejections.map((r: { id: string }) => r.id)).toEqual(['a2']);
    expect(rejections.queries[0]).toMatchObject({
      ownerId: 'alice',
      cause: 'stale_timestamp',
      provider: 'shopify',
    });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.json.error.fields).toHaveProperty('cause');
    expect(badCursor.statusCode).toBe(400);
  });

  it('needs a token, and is a management route documented in the OpenAPI document', async () => {
    const { call } = setup();

    expect((await call('GET', '/api/webhooks/rejections', { user: null })).statusCode).toBe(401);
    expect(MANAGEMENT_ROUTES).toContainEqual(['GET', 'rejections', 'token']);
    const document = openApiDocument('https://api.example.com/prod') as { paths: Record<string, unknown> };
    expect(document.paths).toHaveProperty(['/api/webhooks/rejections', 'get']);
  });
});
