import { describe, expect, it } from 'vitest';
import { registerWithProvider, shopifyTopic, unregisterWithProvider } from '../../../../shared/registration';
import type { ProviderCredentials, RegistrationResult } from '../../../../shared/registration/types';
import { fakeFetch, graphql, type Reply } from '../../support/fake-fetch';

const ENDPOINT = 'https://hooks.example.com/api/webhooks/shopify/cfg_01HZX';
const TOKEN = 'shpat_0123456789abcdef0123456789abcdef';
const CREDENTIALS: ProviderCredentials = {
  provider: 'shopify',
  shop_domain: 'jsmith.myshopify.com',
  access_token: TOKEN,
};
const GRAPHQL_URL = 'https://jsmith.myshopify.com/admin/api/2025-10/graphql.json';
const GID_1 = 'gid://shopify/WebhookSubscription/1001';
const GID_2 = 'gid://shopify/WebhookSubscription/1002';

function created(id: string): Reply {
  return { json: { data: { webhookSubscriptionCreate: { webhookSubscription: { id }, userErrors: [] } } } };
}

function deleted(id: string): Reply {
  return {
    json: { data: { webhookSubscriptionDelete: { deletedWebhookSubscriptionId: id, userErrors: [] } } },
  };
}

function register(
  events: string[],
  replies: Reply[],
  options: { timeoutMs?: number; credentials?: ProviderCredentials } = {},
) {
  const fake = fakeFetch(...replies);
  const result = registerWithProvider(
    { provider: 'shopify', events, endpointUrl: ENDPOINT, credentials: options.credentials ?? CREDENTIALS },
    { fetch: fake.fetch, timeoutMs: options.timeoutMs },
  );
  return { fake, result };
}

function failedReason(result: RegistrationResult): string {
  if (result.status !== 'failed') throw new Error(`expected failed, got ${result.status}`);
  expect(result.reason).not.toContain(TOKEN);
  return result.reason;
}

describe('shopifyTopic', () => {
  it.each([
    ['orders/create', 'ORDERS_CREATE'],
    ['app/uninstalled', 'APP_UNINSTALLED'],
    ['inventory_levels/update', 'INVENTORY_LEVELS_UPDATE'],
    ['customers_marketing_consent/update', 'CUSTOMERS_MARKETING_CONSENT_UPDATE'],
    ['ORDERS_PAID', 'ORDERS_PAID'],
  ])('maps %s to %s', (event, topic) => {
    expect(shopifyTopic(event)).toBe(topic);
  });

  it.each(['orders create', 'orders/', '/create', 'orders/cre-ate', ''])('refuses %j', (event) => {
    expect(shopifyTopic(event)).toBeUndefined();
  });
});

describe('registerWithProvider (shopify)', () => {
  it('creates one JSON subscription per topic through the Admin GraphQL API', async () => {
    const { fake, result } = register(['orders/create', 'products/update'], [created(GID_1), created(GID_2)]);

    expect(await result).toEqual({ status: 'registered', externalWebhookId: `${GID_1},${GID_2}` });
    expect(fake.requests).toHaveLength(2);
    for (const request of fake.requests) {
      expect(request.url).toBe(GRAPHQL_URL);
      expect(request.method).toBe('POST');
      expect(request.headers['x-shopify-access-token']).toBe(TOKEN);
      expect(request.headers['content-type']).toBe('application/json');
      expect(graphql(request).query).toContain(
        'webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription)',
      );
      expect(graphql(request).query).toMatch(/webhookSubscription \{ id \}\s+userErrors \{ field message \}/);
    }
    expect(fake.requests.map((request) => graphql(request).variables)).toEqual([
      { topic: 'ORDERS_CREATE', webhookSubscription: { uri: ENDPOINT, format: 'JSON' } },
      { topic: 'PRODUCTS_UPDATE', webhookSubscription: { uri: ENDPOINT, format: 'JSON' } },
    ]);
  });

  it('uses the requested API version, and callbackUrl before 2025-10 (where uri does not exist)', async () => {
    const { fake, result } = register(['orders/create'], [created(GID_1)], {
      credentials: { ...CREDENTIALS, api_version: '2025-07' } as ProviderCredentials,
    });

    expect(await result).toEqual({ status: 'registered', externalWebhookId: GID_1 });
    expect(fake.requests[0]?.url).toBe('https://jsmith.myshopify.com/admin/api/2025-07/graphql.json');
    expect(fake.requests[0]?.body).toMatchObject({
      variables: { topic: 'ORDERS_CREATE', webhookSubscription: { callbackUrl: ENDPOINT, format: 'JSON' } },
    });
  });

  it('subscribes once when two event names map to the same topic', async () => {
    const { fake, result } = register(['orders/create', 'ORDERS_CREATE'], [created(GID_1)]);

    expect(await result).toEqual({ status: 'registered', externalWebhookId: GID_1 });
    expect(fake.requests).toHaveLength(1);
  });

  it('fails on userErrors and deletes the subscriptions already created', async () => {
    const { fake, result } = register(
      ['orders/create', 'products/update', 'customers/create'],
      [
        created(GID_1),
        {
          json: {
            data: {
              webhookSubscriptionCreate: {
                webhookSubscription: null,
                userErrors: [
                  {
                    field: ['webhookSubscription', 'uri'],
                    message: 'Address for this topic has already been taken',
                  },
                ],
              },
            },
          },
        },
        deleted(GID_1),
      ],
    );

    expect(failedReason(await result)).toBe(
      'Shopify could not subscribe to products/update: Address for this topic has already been taken',
    );
    expect(fake.requests).toHaveLength(3);
    const rollback = fake.requests[2];
    expect(rollback?.url).toBe(GRAPHQL_URL);
    expect(rollback?.headers['x-shopify-access-token']).toBe(TOKEN);
    expect(graphql(rollback).query).toContain('webhookSubscriptionDelete(id: $id)');
    expect(graphql(rollback).variables).toEqual({ id: GID_1 });
  });

  it('fails on HTTP 401 without any rollback when nothing was created', async () => {
    const { fake, result } = register(
      ['orders/create', 'products/update'],
      [
        {
          status: 401,
          json: { errors: '[API] Invalid API key or access token (unrecognized login or wrong password)' },
        },
      ],
    );

    expect(failedReason(await result)).toBe(
      'Shopify could not subscribe to orders/create: HTTP 401: [API] Invalid API key or access token (unrecognized login or wrong password)',
    );
    expect(fake.requests).toHaveLength(1);
  });

  it('fails on HTTP 500 and rolls back', async () => {
    const { fake, result } = register(
      ['orders/create', 'products/update'],
      [created(GID_1), { status: 500, text: '<html>oops</html>' }, deleted(GID_1)],
    );

    expect(failedReason(await result)).toBe('Shopify could not subscribe to products/update: HTTP 500');
    expect(fake.requests.map((request) => graphql(request).variables)).toEqual([
      expect.objectContaining({ topic: 'ORDERS_CREATE' }),
      expect.objectContaining({ topic: 'PRODUCTS_UPDATE' }),
      { id: GID_1 },
    ]);
  });

  it('fails on top-level GraphQL errors (HTTP 200)', async () => {
    const { result } = register(
      ['orders/create'],
      [{ json: { errors: [{ message: 'Access denied for webhookSubscriptionCreate field.' }] } }],
    );

    expect(failedReason(await result)).toBe(
      'Shopify could not subscribe to orders/create: Access denied for webhookSubscriptionCreate field.',
    );
  });

  it('fails when the response has no subscription id', async () => {
    const { result } = register(['orders/create'], [{ json: { data: {} } }]);

    expect(failedReason(await result)).toBe(
      'Shopify could not subscribe to orders/create: unexpected response from Shopify',
    );
  });

  it('fails on a timeout, per call, and still rolls back', async () => {
    const { fake, result } = register(
      ['orders/create', 'products/update'],
      [created(GID_1), { hang: true }, deleted(GID_1)],
      {
        timeoutMs: 20,
      },
    );

    expect(failedReason(await result)).toBe(
      'Shopify could not subscribe to products/update: timed out after 20 ms',
    );
    expect(fake.requests).toHaveLength(3);
  });

  it('passes an abort signal to every call', async () => {
    const { fake, result } = register(['orders/create'], [created(GID_1)]);
    await result;

    const init = fake.mock.mock.calls[0]?.[1];
    expect(init?.signal).toBeInstanceOf(AbortSignal);
  });

  it('fails on an aborted request or a network error', async () => {
    const aborted = register(
      ['orders/create'],
      [{ throws: new DOMException('This operation was aborted', 'AbortError') }],
    );
    expect(failedReason(await aborted.result)).toBe(
      'Shopify could not subscribe to orders/create: request was aborted',
    );

    const refused = register(
      ['orders/create'],
      [
        {
          throws: new TypeError('fetch failed', {
            cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }),
          }),
        },
      ],
    );
    expect(failedReason(await refused.result)).toBe(
      'Shopify could not subscribe to orders/create: network error (ECONNREFUSED)',
    );
  });

  it('names the subscriptions it could not roll back', async () => {
    const { result } = register(
      ['orders/create', 'products/update'],
      [created(GID_1), { status: 502 }, { status: 502 }],
    );

    expect(failedReason(await result)).toBe(
      `Shopify could not subscribe to products/update: HTTP 502 (could not remove already created ${GID_1})`,
    );
  });

  it('never puts the access token in a reason, even when Shopify echoes it', async () => {
    const { result } = register(
      ['orders/create'],
      [{ status: 403, json: { errors: `Token ${TOKEN} lacks the read_orders scope` } }],
    );

    expect(failedReason(await result)).toBe(
      'Shopify could not subscribe to orders/create: HTTP 403: Token [redacted] lacks the read_orders scope',
    );
  });

  it('refuses an event that is not a topic without calling Shopify', async () => {
    const { fake, result } = register(['orders create'], []);

    expect(failedReason(await result)).toBe('"orders create" is not a Shopify topic (e.g. orders/create)');
    expect(fake.requests).toHaveLength(0);
  });
});

describe('unregisterWithProvider (shopify)', () => {
  it('deletes every subscription id', async () => {
    const fake = fakeFetch(deleted(GID_1), deleted(GID_2));

    expect(
      await unregisterWithProvider('shopify', `${GID_1},${GID_2}`, CREDENTIALS, { fetch: fake.fetch }),
    ).toEqual({
      ok: true,
    });
    expect(fake.requests.map((request) => [request.url, graphql(request).variables])).toEqual([
      [GRAPHQL_URL, { id: GID_1 }],
      [GRAPHQL_URL, { id: GID_2 }],
    ]);
  });

  it('counts a subscription that no longer exists as deleted', async () => {
    const fake = fakeFetch({
      json: {
        data: {
          webhookSubscriptionDelete: {
            deletedWebhookSubscriptionId: null,
            userErrors: [{ field: ['id'], message: 'Webhook subscription does not exist' }],
          },
        },
      },
    });

    expect(await unregisterWithProvider('shopify', GID_1, CREDENTIALS, { fetch: fake.fetch })).toEqual({
      ok: true,
    });
  });

  it('tries every id and reports the ones that failed', async () => {
    const fake = fakeFetch(
      { status: 401, json: { errors: 'Invalid API key or access token' } },
      deleted(GID_2),
    );

    expect(
      await unregisterWithProvider('shopify', `${GID_1},${GID_2}`, CREDENTIALS, { fetch: fake.fetch }),
    ).toEqual({
      ok: false,
      reason: `Shopify could not delete ${GID_1}: HTTP 401: Invalid API key or access token`,
    });
    expect(fake.requests).toHaveLength(2);
  });
});
