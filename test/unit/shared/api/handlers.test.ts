import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeManagementHandler } from '../../../../shared/api/handlers';
import { signDevToken, tokenVerifierFromEnv } from '../../../../shared/auth/tokens';
import { type WebhookConfig, WebhookConfigStore } from '../../../../shared/stores/webhook-configs';
import { fakeCipher } from '../../support/fake-cipher';
import { fakePorts } from '../../support/management-fakes';
import { webhookConfig } from '../../support/webhook-config';

const TOKEN_SECRET = 'unit-test-token-secret';
const ID = '6f1c2d9e-0b7a-4c1e-9a51-3d2e8f7a6b5c';
const NOW = new Date('2026-03-01T10:00:00.000Z');

const ddbMock = mockClient(DynamoDBDocumentClient);

beforeAll(() => {
  process.env.DEV_TOKEN_SECRET = TOKEN_SECRET;
});

afterEach(() => {
  ddbMock.reset();
});

function stored(overrides: Partial<WebhookConfig> = {}): WebhookConfig {
  return webhookConfig({ id: ID, secret: 'alice-secret-0123456789abcdef', ...overrides });
}

/** DynamoDB as far as ownership goes: alice's config exists; conditional writes check the owner. */
function aliceOwnsTheConfig() {
  const conditionFailed = () => new ConditionalCheckFailedException({ message: 'failed', $metadata: {} });
  ddbMock
    .on(GetCommand)
    .callsFake((input) => (input.Key.id === ID ? { Item: stored() } : {}))
    .on(UpdateCommand)
    .callsFake((input) => {
      const values = input.ExpressionAttributeValues;
      if (input.Key.id !== ID || values[':owner'] !== 'alice') throw conditionFailed();
      // The registration outcome is the only update a new config gets: merge what it sets.
      if (values[':registrationStatus'])
        return {
          Attributes: {
            ...lastPut(),
            registrationStatus: values[':registrationStatus'],
            registrationInstructions: values[':registrationInstructions'],
          },
        };
      return { Attributes: { ...stored(), active: values[':active'] ?? true } };
    })
    .on(DeleteCommand)
    .callsFake((input) => {
      if (input.Key.id !== ID || input.ExpressionAttributeValues[':userId'] !== 'alice')
        throw conditionFailed();
      return {};
    })
    .on(QueryCommand)
    .callsFake((input) => ({
      Items: input.ExpressionAttributeValues[':userId'] === 'alice' ? [stored()] : [],
    }))
    .on(PutCommand)
    .resolves({});
}

/** The config the last PutCommand stored (a registration), or alice's stored one. */
function lastPut(): WebhookConfig {
  return (ddbMock.commandCalls(PutCommand).at(-1)?.args[0].input.Item as WebhookConfig) ?? stored();
}

function handler(overrides: { newSecret?: () => string } = {}) {
  return makeManagementHandler({
    ...fakePorts(),
    configs: new WebhookConfigStore(
      DynamoDBDocumentClient.from(new DynamoDBClient({})),
      'configs',
      fakeCipher,
    ),
    verifier: tokenVerifierFromEnv(),
    webhookBaseUrl: 'https://abc.execute-api.eu-west-1.amazonaws.com/prod/',
    secretGraceHours: 24,
    now: () => NOW,
    newId: () => ID,
    ...overrides,
  });
}

async function request(
  method: string,
  path: string,
  options: { user?: string | null; body?: unknown; token?: string } = {},
) {
  const user = options.user === undefined ? 'alice' : options.user;
  const token = options.token ?? (user ? await signDevToken(TOKEN_SECRET, user) : undefined);
  const event = {
    httpMethod: method,
    path,
    resource: path,
    headers: token ? { Authorization: `Bearer ${token}` } : {},
    body: options.body === undefined ? null : JSON.stringify(options.body),
    isBase64Encoded: false,
    pathParameters: null,
    requestContext: { identity: { sourceIp: '203.0.113.5' } },
  } as unknown as APIGatewayProxyEvent;
  const result = await handler()(event);
  return { ...result, json: result.body ? JSON.parse(result.body) : undefined };
}

const ROUTES: [string, string, unknown?][] = [
  ['POST', '/api/webhooks/register', { provider: 'shopify', events: ['orders/create'] }],
  ['GET', '/api/webhooks/configs'],
  ['GET', `/api/webhooks/configs/${ID}`],
  ['PATCH', `/api/webhooks/configs/${ID}`, { active: false }],
  ['DELETE', `/api/webhooks/configs/${ID}`],
  ['POST', `/api/webhooks/configs/${ID}/rotate-secret`],
];

describe('management API authentication', () => {
  it.each(ROUTES)('refuses %s %s without a token with 401', async (method, path, body) => {
    aliceOwnsTheConfig();
    const response = await request(method, path, { user: null, body });
    expect(response.statusCode).toBe(401);
    expect(response.json).toEqual({
      success: false,
      error: { code: 'unauthorized', message: expect.any(String) },
    });
    expect(ddbMock.calls()).toHaveLength(0);
  });

  it.each([
    ['signed with another key', () => signDevToken('another-secret', 'alice')],
    ['expired', () => signDevToken(TOKEN_SECRET, 'alice', -3600)],
    ['not a JWT', async () => 'not-a-jwt'],
  ])('refuses a token %s with 401', async (_case, token) => {
    const response = await request('GET', '/api/webhooks/configs', { token: await token() });
    expect(response.statusCode).toBe(401);
  });
});

describe('management API ownership', () => {
  it.each(ROUTES.slice(2))(
    "answers 404 to another user's %s %s and changes nothing",
    async (method, path, body) => {
      aliceOwnsTheConfig();
      const response = await request(method, path, { user: 'mallory', body });
      expect(response.statusCode).toBe(404);
      expect(response.json).toMatchObject({ success: false, error: { code: 'not_found' } });
      const rotation = ddbMock
        .commandCalls(UpdateCommand)
        .filter((call) => call.args[0].input.ExpressionAttributeValues?.[':owner'] !== 'mallory');
      expect(rotation).toHaveLength(0);
    },
  );

  it.each(ROUTES.slice(2))('answers the owner of the config on %s %s', async (method, path, body) => {
    aliceOwnsTheConfig();
    const response = await request(method, path, { user: 'alice', body });
    expect(response.statusCode).toBeLessThan(300);
  });

  it("lists only the caller's configs, never with their secrets", async () => {
    aliceOwnsTheConfig();
    const mine = await request('GET', '/api/webhooks/configs', { user: 'alice' });
    expect(mine.json.webhooks).toHaveLength(1);
    expect(mine.body).not.toContain('alice-secret');
    expect((await request('GET', '/api/webhooks/configs', { user: 'mallory' })).json).toEqual({
      success: true,
      webhooks: [],
    });
  });

  it('answers 404 for an id that is not a UUID without reading the table', async () => {
    const response = await request('GET', '/api/webhooks/configs/not-a-uuid');
    expect(response.statusCode).toBe(404);
    expect(ddbMock.calls()).toHaveLength(0);
  });
});

describe('POST /api/webhooks/register', () => {
  it('stores the config for the caller and returns it once with a generated 32-byte secret', async () => {
    aliceOwnsTheConfig();
    const response = await request('POST', '/api/webhooks/register', {
      body: {
        provider: 'shopify',
        events: ['orders/create'],
        webhook_url: 'https://example.com/ignored',
        ip_whitelist: ['10.0.0.0/8'],
      },
    });

    expect(response.statusCode).toBe(201);
    const webhook = response.json.webhook;
    expect(webhook).toEqual({
      id: ID,
      provider: 'shopify',
      events: ['orders/create'],
      webhook_url: `https://abc.execute-api.eu-west-1.amazonaws.com/prod/api/webhooks/shopify/${ID}`,
      secret: expect.any(String),
      rate_limit: 100,
      max_events_per_request: 100,
      timeout_ms: 30_000,
      retry_attempts: 3,
      ip_whitelist: ['10.0.0.0/8'],
      active: true,
      // No shop credentials in the body: the response says how to subscribe by hand.
      registration_status: 'manual',
      external_webhook_id: null,
      registration_error: null,
      registration_instructions: expect.stringContaining(`/api/webhooks/shopify/${ID}`),
      // Learned from the first verified delivery.
      source_account: null,
      created_at: NOW.toISOString(),
      updated_at: NOW.toISOString(),
    });
    expect(webhook.secret).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(Buffer.from(webhook.secret, 'base64url').length).toBeGreaterThanOrEqual(32);
    const put = ddbMock.commandCalls(PutCommand)[0]?.args[0].input;
    expect(put).toMatchObject({
      TableName: 'configs',
      ConditionExpression: 'attribute_not_exists(id)',
      Item: {
        id: ID,
        userId: 'alice',
        secretCiphertext: `enc(${ID}/signing-secret:${webhook.secret})`,
        rateLimit: 100,
        active: true,
      },
    });
    expect(JSON.stringify(put?.Item)).not.toContain(`:${webhook.secret}"`);
    expect(put?.Item).not.toHaveProperty('secret');
  });

  it('generates a different secret for every config', async () => {
    aliceOwnsTheConfig();
    const body = { provider: 'hubspot', events: ['deal.stageChange'] };
    const first = await request('POST', '/api/webhooks/register', { body });
    const second = await request('POST', '/api/webhooks/register', { body });
    expect(first.json.webhook.secret).not.toBe(second.json.webhook.secret);
  });

  it("keeps the caller's own secret and marks Salesforce configs for manual registration", async () => {
    aliceOwnsTheConfig();
    const response = await request('POST', '/api/webhooks/register', {
      body: { provider: 'salesforce', events: ['OpportunityChangeEvent'], secret: 'my-own-secret-of-16+' },
    });
    expect(response.json.webhook).toMatchObject({
      secret: 'my-own-secret-of-16+',
      registration_status: 'manual',
    });
  });

  it('answers 400 with one message per invalid field and stores nothing', async () => {
    aliceOwnsTheConfig();
    const response = await request('POST', '/api/webhooks/register', {
      body: { provider: 'stripe', events: [], rate_limit: 0, ip_whitelist: ['10.0.0.300'] },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json).toEqual({
      success: false,
      error: {
        code: 'validation_failed',
        message: expect.any(String),
        fields: {
          provider: expect.any(String),
          events: 'At least one event is required',
          rate_limit: expect.any(String),
          'ip_whitelist.0': 'Must be an IPv4 or IPv6 address or CIDR',
        },
      },
    });
    expect(ddbMock.commandCalls(PutCommand)).toHaveLength(0);
  });

  it('binds the config to the shop, portal or org given, in its comparable form', async () => {
    aliceOwnsTheConfig();
    const response = await request('POST', '/api/webhooks/register', {
      body: { provider: 'shopify', events: ['orders/create'], source_account: 'JSmith.MyShopify.com' },
    });
    expect(response.statusCode).toBe(201);
    expect(response.json.webhook.source_account).toBe('jsmith.myshopify.com');
    expect(ddbMock.commandCalls(PutCommand)[0]?.args[0].input.Item).toMatchObject({
      sourceAccount: 'jsmith.myshopify.com',
    });
  });

  it('binds a config registered with Shopify credentials to their shop', async () => {
    aliceOwnsTheConfig();
    await request('POST', '/api/webhooks/register', {
      body: {
        provider: 'shopify',
        events: ['orders/create'],
        // The app's client secret, which Shopify signs the app's deliveries with.
        secret: 'shpss_app_client_secret_0123456789',
        provider_credentials: {
          provider: 'shopify',
          shop_domain: 'jsmith.myshopify.com',
          access_token: 'shpat_0123456789abcdef',
        },
      },
    }).catch(() => undefined);
    expect(ddbMock.commandCalls(PutCommand)[0]?.args[0].input.Item).toMatchObject({
      sourceAccount: 'jsmith.myshopify.com',
    });
  });

  it.each([
    ['shopify', 'jsmith.example.com', 'Must be a shopify shop (e.g. example.myshopify.com)'],
    ['hubspot', 'portal-1', 'Must be a hubspot portal (e.g. 62515)'],
    ['salesforce', '001000000000001', 'Must be a salesforce org (e.g. 00D5e000000AbCd)'],
  ])('refuses a %s source_account that is not one (%s) with 400', async (provider, account, message) => {
    aliceOwnsTheConfig();
    const response = await request('POST', '/api/webhooks/register', {
      body: { provider, events: ['x.y'], source_account: account },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json.error.fields).toEqual({ source_account: message });
    expect(ddbMock.commandCalls(PutCommand)).toHaveLength(0);
  });

  it('answers 400 to a body that is not JSON', async () => {
    const event = {
      httpMethod: 'POST',
      path: '/api/webhooks/register',
      headers: { authorization: `Bearer ${await signDevToken(TOKEN_SECRET, 'alice')}` },
      body: '{not json',
      isBase64Encoded: false,
    } as unknown as APIGatewayProxyEvent;
    expect((await handler()(event)).statusCode).toBe(400);
  });
});

describe('PATCH source_account', () => {
  it('rebinds the config, checked against its provider', async () => {
    aliceOwnsTheConfig();
    const bad = await request('PATCH', `/api/webhooks/configs/${ID}`, { body: { source_account: '62515' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json.error.fields).toEqual({
      source_account: 'Must be a shopify shop (e.g. example.myshopify.com)',
    });

    const good = await request('PATCH', `/api/webhooks/configs/${ID}`, {
      body: { source_account: 'other.myshopify.com' },
    });
    expect(good.statusCode).toBe(200);
    const update = ddbMock.commandCalls(UpdateCommand).at(-1)?.args[0].input;
    expect(update?.ExpressionAttributeValues).toMatchObject({ ':sourceAccount': 'other.myshopify.com' });
  });
});

describe('GET /api/webhooks/me', () => {
  it('says who the token speaks for and whether they are an operator', async () => {
    const user = await request('GET', '/api/webhooks/me', { user: 'alice' });
    expect(user.json).toEqual({ success: true, user_id: 'alice', operator: false });
    const operator = await request('GET', '/api/webhooks/me', {
      token: await signDevToken(TOKEN_SECRET, 'oncall', 3600, ['operators']),
    });
    expect(operator.json).toEqual({ success: true, user_id: 'oncall', operator: true });
    expect((await request('GET', '/api/webhooks/me', { user: null })).statusCode).toBe(401);
  });
});

describe('rotation', () => {
  it('returns the new secret once and keeps the old one valid for the grace period', async () => {
    aliceOwnsTheConfig();
    const response = await request('POST', `/api/webhooks/configs/${ID}/rotate-secret`);
    expect(response.statusCode).toBe(200);
    const update = ddbMock.commandCalls(UpdateCommand)[0]?.args[0].input;
    // The stored (here legacy plaintext) secret becomes the previous one, encrypted like the new one.
    expect(update?.ExpressionAttributeValues).toMatchObject({
      ':previous': `enc(${ID}/signing-secret:alice-secret-0123456789abcdef)`,
      ':expiresAt': '2026-03-02T10:00:00.000Z',
      ':owner': 'alice',
    });
    const newSecret = response.json.webhook.secret as string;
    expect(update?.ExpressionAttributeValues?.[':secret']).toBe(`enc(${ID}/signing-secret:${newSecret})`);
    expect(Buffer.from(newSecret, 'base64url').length).toBeGreaterThanOrEqual(32);
  });

  it('answers 409 when the config changed between the read and the rotation', async () => {
    aliceOwnsTheConfig();
    ddbMock.on(UpdateCommand).rejects(new ConditionalCheckFailedException({ message: 'x', $metadata: {} }));
    const response = await request('POST', `/api/webhooks/configs/${ID}/rotate-secret`);
    expect(response.statusCode).toBe(409);
  });
});

describe('routing', () => {
  it('answers 404 to an unknown route and 405 with Allow to a wrong method', async () => {
    expect((await request('GET', '/api/webhooks/unknown')).statusCode).toBe(404);
    const wrong = await request('PUT', `/api/webhooks/configs/${ID}`);
    expect(wrong.statusCode).toBe(405);
    expect(wrong.headers).toMatchObject({ Allow: 'GET, PATCH, DELETE' });
  });

  it('answers DELETE with 204 and no body', async () => {
    aliceOwnsTheConfig();
    const response = await request('DELETE', `/api/webhooks/configs/${ID}`);
    expect(response.statusCode).toBe(204);
    expect(response.body).toBe('');
  });

  it('routes behind a custom domain base path too', async () => {
    aliceOwnsTheConfig();
    expect((await request('GET', `/v1/api/webhooks/configs/${ID}`)).statusCode).toBe(200);
  });

  it('hides internal failures behind a generic 500', async () => {
    ddbMock.on(QueryCommand).rejects(new Error('throttled: secret details'));
    const response = await request('GET', '/api/webhooks/configs');
    expect(response.statusCode).toBe(500);
    expect(response.body).not.toContain('secret details');
  });
});
