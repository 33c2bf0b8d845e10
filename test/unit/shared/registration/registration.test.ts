import { describe, expect, it } from 'vitest';
import { ValidationFailedError } from '../../../../shared/api/errors';
import {
  type ProviderCredentials,
  providerCredentialsSchema,
  registerWithProvider,
  unregisterWithProvider,
} from '../../../../shared/registration';
import { fakeFetch } from '../../support/fake-fetch';

const ENDPOINT = 'https://hooks.example.com/api/webhooks/cfg_01HZX';
const TOKEN = 'shpat_0123456789abcdef0123456789abcdef';
const KEY = 'f3c1a2b4-5d6e-4f70-8a9b-0c1d2e3f4a5b';

function fieldErrors(body: unknown) {
  const result = providerCredentialsSchema.safeParse(body);
  if (result.success) throw new Error('expected a validation failure');
  return ValidationFailedError.fromZod(result.error).fields;
}

describe('providerCredentialsSchema', () => {
  it('accepts Shopify credentials and normalizes the shop domain', () => {
    expect(
      providerCredentialsSchema.parse({
        provider: 'shopify',
        shop_domain: ' JSmith.myshopify.com ',
        access_token: TOKEN,
        api_version: '2025-10',
      }),
    ).toEqual({
      provider: 'shopify',
      shop_domain: 'jsmith.myshopify.com',
      access_token: TOKEN,
      api_version: '2025-10',
    });
    expect(
      providerCredentialsSchema.parse({
        provider: 'shopify',
        shop_domain: 'my-shop-2.myshopify.com',
        access_token: TOKEN,
      }),
    ).toEqual({ provider: 'shopify', shop_domain: 'my-shop-2.myshopify.com', access_token: TOKEN });
  });

  it('accepts HubSpot credentials', () => {
    const credentials = { provider: 'hubspot', app_id: '123456', developer_api_key: KEY };
    expect(providerCredentialsSchema.parse(credentials)).toEqual(credentials);
  });

  it.each([
    'evil.com',
    'jsmith.myshopify.com.evil.com',
    'https://jsmith.myshopify.com',
    'jsmith.myshopify.com/admin',
    'jsmith.myshopify.com:8443',
    '-jsmith.myshopify.com',
    'myshopify.com',
    '169.254.169.254',
  ])('refuses the shop domain %j', (shopDomain) => {
    expect(
      Object.keys(fieldErrors({ provider: 'shopify', shop_domain: shopDomain, access_token: TOKEN })),
    ).toEqual(['shop_domain']);
  });

  it('names every invalid field without echoing the values', () => {
    const shopify = fieldErrors({
      provider: 'shopify',
      shop_domain: 'jsmith.myshopify.com',
      access_token: 'shpat_with space',
      api_version: 'latest',
      webhook_secret: 'x',
    });
    expect(Object.keys(shopify).sort()).toEqual(['access_token', 'api_version', 'webhook_secret']);
    expect(JSON.stringify(shopify)).not.toContain('shpat_with space');

    const hubspot = fieldErrors({ provider: 'hubspot', app_id: 'app-1', developer_api_key: 'k&hapikey=x' });
    expect(Object.keys(hubspot).sort()).toEqual(['app_id', 'developer_api_key']);
    expect(JSON.stringify(hubspot)).not.toContain('k&hapikey=x');
  });

  it('refuses missing fields and unknown providers', () => {
    expect(Object.keys(fieldErrors({ provider: 'hubspot', app_id: '1' }))).toEqual(['developer_api_key']);
    expect(Object.keys(fieldErrors({ provider: 'salesforce' }))).toEqual(['provider']);
    expect(Object.keys(fieldErrors('shopify'))).toEqual(['(root)']);
  });
});

describe('registerWithProvider', () => {
  it('returns Salesforce setup instructions naming the endpoint, and calls nothing', async () => {
    const fake = fakeFetch();

    const result = await registerWithProvider(
      { provider: 'salesforce', events: ['opportunity.updated'], endpointUrl: ENDPOINT },
      { fetch: fake.fetch },
    );

    expect(result.status).toBe('manual');
    const instructions = result.status === 'manual' ? result.instructions : '';
    expect(instructions).toContain(ENDPOINT);
    expect(instructions).toMatch(/Change Data Capture/);
    expect(instructions).toMatch(/Outbound Message/);
    expect(instructions).toMatch(/Flow HTTP callout/);
    expect(instructions).toMatch(/Bearer <JWT>/);
    expect(fake.requests).toHaveLength(0);
  });

  it.each(['shopify', 'hubspot'] as const)(
    'returns manual instructions for %s without credentials',
    async (provider) => {
      const fake = fakeFetch();

      const result = await registerWithProvider(
        { provider, events: ['orders/create', 'contact.creation'], endpointUrl: ENDPOINT },
        { fetch: fake.fetch },
      );

      expect(result.status).toBe('manual');
      const instructions = result.status === 'manual' ? result.instructions : '';
      expect(instructions).toContain(ENDPOINT);
      expect(instructions).toContain('orders/create, contact.creation');
      expect(instructions).toContain('provider_credentials');
      expect(fake.requests).toHaveLength(0);
    },
  );

  it('fails, naming only the field, when credentials bypassed the schema and are invalid', async () => {
    const fake = fakeFetch();
    const credentials = {
      provider: 'shopify',
      shop_domain: 'attacker.example/x?',
      access_token: TOKEN,
    } as ProviderCredentials;

    const result = await registerWithProvider(
      { provider: 'shopify', events: ['orders/create'], endpointUrl: ENDPOINT, credentials },
      { fetch: fake.fetch },
    );

    expect(result).toEqual({ status: 'failed', reason: 'Invalid provider_credentials: check shop_domain' });
    expect(fake.requests).toHaveLength(0);
  });

  it('fails when the credentials are for another provider', async () => {
    const fake = fakeFetch();

    const result = await registerWithProvider(
      {
        provider: 'shopify',
        events: ['orders/create'],
        endpointUrl: ENDPOINT,
        credentials: { provider: 'hubspot', app_id: '1', developer_api_key: KEY },
      },
      { fetch: fake.fetch },
    );

    expect(result).toEqual({ status: 'failed', reason: 'provider_credentials are for hubspot, not shopify' });
    expect(fake.requests).toHaveLength(0);
  });

  it('fails when there is no event to subscribe to', async () => {
    const fake = fakeFetch();

    const result = await registerWithProvider(
      {
        provider: 'hubspot',
        events: [],
        endpointUrl: ENDPOINT,
        credentials: { provider: 'hubspot', app_id: '1', developer_api_key: KEY },
      },
      { fetch: fake.fetch },
    );

    expect(result).toEqual({ status: 'failed', reason: 'No events to subscribe to' });
  });

  it('never throws, even when the fetch port itself throws synchronously', async () => {
    const fetch = (() => {
      throw new Error(`boom ${TOKEN}`);
    }) as unknown as typeof globalThis.fetch;

    const result = await registerWithProvider(
      {
        provider: 'shopify',
        events: ['orders/create'],
        endpointUrl: ENDPOINT,
        credentials: { provider: 'shopify', shop_domain: 'jsmith.myshopify.com', access_token: TOKEN },
      },
      { fetch },
    );

    expect(result).toEqual({
      status: 'failed',
      reason: 'Shopify could not subscribe to orders/create: network error',
    });
  });
});

describe('unregisterWithProvider', () => {
  it('cannot remove Salesforce subscriptions', async () => {
    const fake = fakeFetch();

    expect(
      await unregisterWithProvider(
        'salesforce',
        'x',
        { provider: 'hubspot', app_id: '1', developer_api_key: KEY },
        {
          fetch: fake.fetch,
        },
      ),
    ).toEqual({ ok: false, reason: 'Salesforce subscriptions are removed by hand' });
  });

  it('succeeds without calls when there is nothing to delete', async () => {
    const fake = fakeFetch();

    expect(
      await unregisterWithProvider(
        'hubspot',
        '',
        { provider: 'hubspot', app_id: '1', developer_api_key: KEY },
        {
          fetch: fake.fetch,
        },
      ),
    ).toEqual({ ok: true });
    expect(fake.requests).toHaveLength(0);
  });
});
