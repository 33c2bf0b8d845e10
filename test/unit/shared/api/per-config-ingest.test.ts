import type { APIGatewayProxyEvent } from 'aws-lambda';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { makeIngestHandler } from '../../../../functions/ingest/handler';
import type { Envelope } from '../../../../shared/envelope';
import { type IngestDeps, ingest } from '../../../../shared/ingest';
import { logger } from '../../../../shared/observability';
import { hubspot } from '../../../../shared/providers/hubspot';
import {
  outboundMessageToken,
  PROVIDER_WIDE_SCOPE,
} from '../../../../shared/providers/outbound-message-token';
import { salesforce } from '../../../../shared/providers/salesforce';
import { shopify } from '../../../../shared/providers/shopify';
import type { EnvelopePublisher } from '../../../../shared/queue/publisher';
import type { RateLimiter } from '../../../../shared/stores/rate-limiter';
import type { WebhookConfig } from '../../../../shared/stores/webhook-configs';
import { handMadeJwt, hubspotV3 } from '../../../support/signing';
import {
  ORG_ID,
  outboundMessageRequest,
  salesforceFixture,
  salesforceJsonRequest,
} from '../../support/salesforce';
import { SECRET, shopifyFixture, shopifyRequest } from '../../support/shopify';
import { webhookConfig } from '../../support/webhook-config';

const NOW = new Date('2026-03-01T10:00:00.000Z');
const ID = '6f1c2d9e-0b7a-4c1e-9a51-3d2e8f7a6b5c';
const CONFIG_SECRET = 'config-secret-0123456789abcdef';

beforeAll(() => {
  logger.setLogLevel('SILENT');
});

class FakePublisher implements EnvelopePublisher {
  readonly published: Envelope[] = [];
  async publish(envelopes: readonly Envelope[]): Promise<void> {
    this.published.push(...envelopes);
  }
}

function config(overrides: Partial<WebhookConfig> = {}): WebhookConfig {
  return webhookConfig({ id: ID, secret: CONFIG_SECRET, ...overrides });
}

/**
 * `null`: no config with that id. The binding of a config to its source account is kept as the
 * store keeps it: the first account wins, later calls get the bound one back.
 */
function setup(stored: WebhookConfig | null = config(), allowed = true) {
  const publisher = new FakePublisher();
  const rateLimiter: RateLimiter & { consume: ReturnType<typeof vi.fn> } = {
    consume: vi.fn(async () => (allowed ? { allowed: true } : { allowed: false, retryAfterSeconds: 17 })),
  };
  const lookup = vi.fn(async (id: string) => (id === ID ? (stored ?? undefined) : undefined));
  const bindSourceAccount = vi.fn(async (id: string, account: string) => {
    if (id !== ID || !stored) return undefined;
    stored.sourceAccount ??= account;
    return stored.sourceAccount;
  });
  const deps: IngestDeps = {
    provider: shopify,
    secrets: async () => [SECRET],
    publisher,
    maxBodyBytes: 200 * 1024,
    now: () => NOW,
    tenants: { configs: lookup, rateLimiter, bindSourceAccount },
  };
  return { deps, publisher, rateLimiter, lookup, bindSourceAccount };
}

const order = () => shopifyFixture('orders-create.json');
const signed = (options: { secret?: string; topic?: string; sourceIp?: string } = {}) => ({
  ...shopifyRequest(order(), { secret: options.secret ?? CONFIG_SECRET, topic: options.topic }),
  ...(options.sourceIp ? { sourceIp: options.sourceIp } : {}),
});

describe('ingest on a per-config endpoint', () => {
  it('verifies with the config secret and stamps the envelopes with the config and its owner', async () => {
    const { deps, publisher } = setup();

    const result = await ingest(deps, signed(), ID);

    expect(result).toMatchObject({ accepted: 1, ignored: 0 });
    expect(publisher.published[0]).toMatchObject({
      configId: ID,
      ownerId: 'alice',
      // The provider's dedup and ordering keys, scoped to the owner.
      dedupKey: 'alice:shopify:b54557e4-bdd9-4b37-8a5f-bf7d70bcd043',
      orderingKey: expect.stringMatching(/^alice:shopify:jsmith\.myshopify\.com:order:/),
    });
  });

  it("gives two owners' configs receiving the same provider delivery two distinct keys", async () => {
    const alice = setup(config({ userId: 'alice' }));
    const bob = setup(config({ userId: 'bob' }));

    await ingest(alice.deps, signed(), ID);
    await ingest(bob.deps, signed(), ID);

    const [fromAlice] = alice.publisher.published;
    const [fromBob] = bob.publisher.published;
    expect(fromAlice?.dedupKey).not.toBe(fromBob?.dedupKey);
    expect(fromAlice?.orderingKey).not.toBe(fromBob?.orderingKey);
    expect([fromAlice?.ownerId, fromBob?.ownerId]).toEqual(['alice', 'bob']);
  });

  it("refuses the provider's global secret there (401)", async () => {
    const { deps, publisher } = setup();
    await expect(ingest(deps, signed({ secret: SECRET }), ID)).rejects.toMatchObject({ statusCode: 401 });
    expect(publisher.published).toHaveLength(0);
  });

  it('accepts the previous secret during its grace period and not after', async () => {
    const rotated = config({
      secret: 'rotated-secret-0123456789abcdef',
      previousSecret: CONFIG_SECRET,
      previousSecretExpiresAt: '2026-03-01T10:00:00.001Z',
    });
    const during = setup(rotated);
    await expect(ingest(during.deps, signed(), ID)).resolves.toMatchObject({ accepted: 1 });

    const after = setup({ ...rotated, previousSecretExpiresAt: NOW.toISOString() });
    await expect(ingest(after.deps, signed(), ID)).rejects.toMatchObject({ statusCode: 401 });
    await expect(
      ingest(after.deps, signed({ secret: 'rotated-secret-0123456789abcdef' }), ID),
    ).resolves.toMatchObject({ accepted: 1 });
  });

  it.each([
    ['an unknown config', null, ID],
    ["another provider's config", config({ provider: 'hubspot' }), ID],
    ['an inactive config', config({ active: false }), ID],
    ['an id that is not a UUID', config(), 'not-a-uuid'],
  ])('answers 404 for %s before verifying anything', async (_case, stored, id) => {
    const { deps, rateLimiter } = setup(stored);
    await expect(ingest(deps, signed(), id)).rejects.toMatchObject({ statusCode: 404 });
    expect(rateLimiter.consume).not.toHaveBeenCalled();
  });

  it('answers 404 when no configs table is configured', async () => {
    const { deps } = setup();
    await expect(ingest({ ...deps, tenants: undefined }, signed(), ID)).rejects.toMatchObject({
      statusCode: 404,
    });
  });

  it('answers 403 to a source outside the allowlist, before the signature and the rate limit', async () => {
    const { deps, rateLimiter } = setup(config({ ipWhitelist: ['198.51.100.0/24', '2001:db8::/32'] }));
    await expect(ingest(deps, signed({ sourceIp: '203.0.113.1' }), ID)).rejects.toMatchObject({
      statusCode: 403,
    });
    await expect(
      ingest(deps, signed({ secret: 'wrong', sourceIp: '203.0.113.1' }), ID),
    ).rejects.toMatchObject({
      statusCode: 403,
    });
    expect(rateLimiter.consume).not.toHaveBeenCalled();
    await expect(ingest(deps, signed({ sourceIp: '198.51.100.20' }), ID)).resolves.toMatchObject({
      accepted: 1,
    });
    await expect(ingest(deps, signed({ sourceIp: '::ffff:198.51.100.21' }), ID)).resolves.toMatchObject({
      accepted: 1,
    });
    await expect(ingest(deps, signed({ sourceIp: '2001:db8::7' }), ID)).resolves.toMatchObject({
      accepted: 1,
    });
  });

  it('does not let unsigned requests consume the rate limit', async () => {
    const { deps, rateLimiter } = setup();
    await expect(ingest(deps, signed({ secret: 'forged' }), ID)).rejects.toMatchObject({ statusCode: 401 });
    expect(rateLimiter.consume).not.toHaveBeenCalled();
  });

  it("counts signed requests against the config's rate_limit and refuses with 429 and Retry-After", async () => {
    const { deps, publisher, rateLimiter } = setup(config({ rateLimit: 2 }), false);
    await expect(ingest(deps, signed(), ID)).rejects.toMatchObject({
      statusCode: 429,
      code: 'rate_limited',
      headers: { 'Retry-After': '17' },
    });
    expect(rateLimiter.consume).toHaveBeenCalledWith(`config#${ID}`, 2, NOW, 1);
    expect(publisher.published).toHaveLength(0);
  });

  it('acknowledges events the config does not subscribe to without enqueueing them', async () => {
    const { deps, publisher } = setup(config({ events: ['customers/create'] }));
    await expect(ingest(deps, signed(), ID)).resolves.toEqual({ accepted: 0, ignored: 1, deliveryIds: [] });
    expect(publisher.published).toHaveLength(0);
  });

  it('re-reads a cached config once a signature fails, so a fresh rotation verifies at once', async () => {
    const { deps, publisher, rateLimiter } = setup();
    const rotated = config({ secret: 'rotated-secret-0123456789abcdef', previousSecret: CONFIG_SECRET });
    const lookup = vi.fn(async (_id: string, options?: { refresh?: boolean }) =>
      options?.refresh ? rotated : config(),
    );
    const request = signed({ secret: 'rotated-secret-0123456789abcdef' });

    await expect(
      ingest(
        { ...deps, tenants: { ...deps.tenants, rateLimiter, configs: lookup } } as IngestDeps,
        request,
        ID,
      ),
    ).resolves.toMatchObject({
      accepted: 1,
    });

    expect(lookup).toHaveBeenLastCalledWith(ID, { refresh: true });
    expect(publisher.published).toHaveLength(1);
  });

  it('still answers 401 when the re-read config has the same secrets', async () => {
    const { deps, lookup } = setup();
    await expect(ingest(deps, signed({ secret: 'forged' }), ID)).rejects.toMatchObject({ statusCode: 401 });
    expect(lookup).toHaveBeenCalledTimes(2);
  });

  it('reads the config through the lookup once per request', async () => {
    const { deps, lookup } = setup();
    await ingest(deps, signed(), ID.toUpperCase());
    expect(lookup).toHaveBeenCalledWith(ID);
  });
});

describe('a config bound to its source account', () => {
  it('learns its shop from the first verified delivery', async () => {
    const stored = config();
    const { deps, bindSourceAccount } = setup(stored);

    await expect(ingest(deps, signed(), ID)).resolves.toMatchObject({ accepted: 1 });

    expect(bindSourceAccount).toHaveBeenCalledWith(ID, 'jsmith.myshopify.com');
    expect(stored.sourceAccount).toBe('jsmith.myshopify.com');
  });

  it('answers 403 to a verified delivery from another shop, naming both, and enqueues nothing', async () => {
    const { deps, publisher } = setup(config({ sourceAccount: 'other-shop.myshopify.com' }));

    const error = await ingest(deps, signed(), ID).catch((e: unknown) => e);

    expect(error).toMatchObject({
      statusCode: 403,
      message:
        'Delivery from shop jsmith.myshopify.com; this webhook takes deliveries from shop other-shop.myshopify.com only',
    });
    expect(publisher.published).toHaveLength(0);
  });

  it('answers 403 to a delivery that names no shop once the config is bound', async () => {
    const { deps } = setup(config({ sourceAccount: 'jsmith.myshopify.com' }));
    const request = signed();
    const { 'x-shopify-shop-domain': _shop, ...headers } = request.headers;

    await expect(ingest(deps, { ...request, headers }, ID)).rejects.toMatchObject({ statusCode: 403 });
  });

  it('compares shop domains without regard to case', async () => {
    const { deps } = setup(config({ sourceAccount: 'jsmith.myshopify.com' }));
    const request = signed();

    await expect(
      ingest(
        deps,
        { ...request, headers: { ...request.headers, 'x-shopify-shop-domain': 'JSmith.MyShopify.com' } },
        ID,
      ),
    ).resolves.toMatchObject({ accepted: 1 });
  });

  it('refuses when another delivery bound the config to another shop first', async () => {
    const { deps } = setup(config());
    deps.tenants = {
      ...(deps.tenants as NonNullable<IngestDeps['tenants']>),
      bindSourceAccount: async () => 'first-shop.myshopify.com',
    };

    await expect(ingest(deps, signed(), ID)).rejects.toMatchObject({ statusCode: 403 });
  });

  it("takes a bound HubSpot portal's events from a batch mixing portals and ignores the others'", async () => {
    const { deps, publisher } = setup(
      config({ provider: 'hubspot', events: ['contact.creation'], sourceAccount: '62515' }),
    );
    const body = JSON.stringify(
      ['62515', '99999'].map((portalId, index) => ({
        eventId: 100 + index,
        subscriptionId: 7,
        portalId: Number(portalId),
        occurredAt: NOW.getTime() - 1000,
        subscriptionType: 'contact.creation',
        objectId: 500 + index,
      })),
    );
    const url = `https://hooks.example.com/api/webhooks/hubspot/${ID}`;
    const timestamp = String(NOW.getTime());
    const request = {
      method: 'POST',
      url,
      headers: {
        'content-type': 'application/json',
        'x-hubspot-signature-v3': hubspotV3(CONFIG_SECRET, 'POST', url, body, timestamp),
        'x-hubspot-request-timestamp': timestamp,
      },
      body: Buffer.from(body),
      sourceIp: '54.174.52.1',
    };

    await expect(ingest({ ...deps, provider: hubspot }, request, ID)).resolves.toMatchObject({
      accepted: 1,
      ignored: 1,
    });
    expect(publisher.published.map((envelope) => envelope.meta.portalId)).toEqual(['62515']);
  });

  it("does not bind the provider-wide endpoint's deliveries to anything", async () => {
    const { deps, bindSourceAccount } = setup();
    await expect(ingest(deps, shopifyRequest(order()))).resolves.toMatchObject({ accepted: 1 });
    expect(bindSourceAccount).not.toHaveBeenCalled();
  });
});

describe('a per-config Salesforce endpoint', () => {
  function salesforceSetup(overrides: Partial<WebhookConfig> = {}) {
    const events = ['OpportunityChangeEvent', 'OpportunityOutboundMessage'];
    const stored = config({ provider: 'salesforce', events, ...overrides });
    const { deps, publisher, bindSourceAccount } = setup(stored);
    return {
      deps: { ...deps, provider: salesforce, settings: { orgId: ORG_ID, acceptOutboundMessages: true } },
      publisher,
      stored,
      bindSourceAccount,
    };
  }
  const configUrl = (token?: string) =>
    `https://hooks.example.com/api/webhooks/salesforce/${ID}${token === undefined ? '' : `?token=${token}`}`;
  const omTo = (url: string) => ({ ...outboundMessageRequest(undefined, null), url });

  it('takes a bearer token signed with the config secret', async () => {
    const { deps } = salesforceSetup();
    const token = handMadeJwt(
      { alg: 'HS256', typ: 'JWT' },
      { iat: NOW.getTime() / 1000, exp: NOW.getTime() / 1000 + 300 },
      CONFIG_SECRET,
    );
    const request = salesforceJsonRequest(salesforceFixture('opportunity-change.json'), {
      authorization: `Bearer ${token}`,
    });
    await expect(ingest(deps, request, ID)).resolves.toMatchObject({ accepted: 2 });
  });

  it("takes Outbound Messages carrying the token of the config's secret, and binds the config to their org", async () => {
    const { deps, stored } = salesforceSetup();
    const request = omTo(configUrl(outboundMessageToken(CONFIG_SECRET, ID)));

    await expect(ingest(deps, request, ID)).resolves.toMatchObject({ accepted: 2 });
    expect(stored.sourceAccount).toBe(ORG_ID.slice(0, 15));
  });

  it('refuses Outbound Messages without the token, or with the provider-wide one, before parsing them', async () => {
    const { deps, publisher, bindSourceAccount } = setup(
      config({ provider: 'salesforce', events: ['OpportunityOutboundMessage'] }),
    );
    const sfDeps = {
      ...deps,
      provider: salesforce,
      settings: { orgId: ORG_ID, acceptOutboundMessages: true },
    };
    for (const url of [configUrl(), configUrl(outboundMessageToken(SECRET, PROVIDER_WIDE_SCOPE))]) {
      await expect(ingest(sfDeps, omTo(url), ID)).rejects.toMatchObject({
        statusCode: 401,
        reason: { cause: 'outbound_message_token_invalid' },
      });
    }
    expect(bindSourceAccount).not.toHaveBeenCalled();
    expect(publisher.published).toHaveLength(0);
  });

  it('refuses Outbound Messages with the right token from another org than the one the config is bound to', async () => {
    const { deps, publisher } = salesforceSetup({ sourceAccount: '00D5g000009ZyXw' });

    await expect(
      ingest(deps, omTo(configUrl(outboundMessageToken(CONFIG_SECRET, ID))), ID),
    ).rejects.toMatchObject({ statusCode: 403, reason: { cause: 'source_account_mismatch' } });
    expect(publisher.published).toHaveLength(0);
  });
});

describe('Outbound Messages on the provider-wide Salesforce endpoint', () => {
  const providerWide = (settings: IngestDeps['settings']) => {
    const { deps, publisher } = setup();
    return { deps: { ...deps, provider: salesforce, settings }, publisher };
  };
  const providerUrl = (token?: string) =>
    `https://hooks.example.com/api/webhooks/salesforce${token === undefined ? '' : `?token=${token}`}`;
  const om = (url: string) => ({ ...outboundMessageRequest(undefined, null), url });

  it('refuses a message that only names the configured org, the way an anonymous sender would', async () => {
    const { deps, publisher } = providerWide({ orgId: ORG_ID, acceptOutboundMessages: true });

    await expect(ingest(deps, om(providerUrl()))).rejects.toMatchObject({ statusCode: 401 });
    expect(publisher.published).toHaveLength(0);
  });

  it('takes one with the provider-wide token once Outbound Messages are turned on', async () => {
    const token = outboundMessageToken(SECRET, PROVIDER_WIDE_SCOPE);
    const on = providerWide({ orgId: ORG_ID, acceptOutboundMessages: true });
    const off = providerWide({ orgId: ORG_ID });

    await expect(ingest(on.deps, om(providerUrl(token)))).resolves.toMatchObject({ accepted: 2 });
    await expect(ingest(off.deps, om(providerUrl(token)))).rejects.toMatchObject({
      statusCode: 401,
      reason: { cause: 'outbound_message_token_invalid' },
    });
  });
});

describe('ingest handler on a per-config endpoint', () => {
  function event(
    request: ReturnType<typeof signed>,
    pathParameters: Record<string, string>,
  ): APIGatewayProxyEvent {
    return {
      httpMethod: 'POST',
      path: `/api/webhooks/shopify/${ID}`,
      resource: '/api/webhooks/{provider}/{configId}',
      headers: request.headers,
      body: request.body.toString('base64'),
      isBase64Encoded: true,
      pathParameters,
      requestContext: { identity: { sourceIp: request.sourceIp } },
    } as unknown as APIGatewayProxyEvent;
  }

  it('answers accepted and ignored counts', async () => {
    const { deps } = setup(config({ events: ['customers/create'] }));
    const response = await makeIngestHandler(
      deps,
      'https://hooks.example.com',
    )(event(signed(), { provider: 'shopify', configId: ID }));
    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ success: true, accepted: 0, ignored: 1 });
  });

  it('answers 429 with a Retry-After header', async () => {
    const { deps } = setup(config(), false);
    const response = await makeIngestHandler(
      deps,
      'https://hooks.example.com',
    )(event(signed(), { configId: ID }));
    expect(response.statusCode).toBe(429);
    expect(response.headers).toMatchObject({ 'Retry-After': '17' });
    expect(JSON.parse(response.body)).toMatchObject({ success: false, error: { code: 'rate_limited' } });
  });

  it("answers 404 when the path's provider is not this Lambda's", async () => {
    const { deps, lookup } = setup();
    const response = await makeIngestHandler(
      deps,
      'https://hooks.example.com',
    )(event(signed(), { provider: 'hubspot', configId: ID }));
    expect(response.statusCode).toBe(404);
    expect(lookup).not.toHaveBeenCalled();
  });
});
