import { createHmac } from 'node:crypto';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { Envelope } from '../../../shared/envelope';
import { type IngestDeps, ingest } from '../../../shared/ingest';
import { logger } from '../../../shared/observability';
import { hubspot } from '../../../shared/providers/hubspot';
import { salesforce } from '../../../shared/providers/salesforce';
import { shopify } from '../../../shared/providers/shopify';
import type { WebhookRequest } from '../../../shared/providers/types';
import type { EnvelopePublisher } from '../../../shared/queue/publisher';
import { DIAGNOSIS_MAX_BODY_BYTES } from '../../../shared/rejections/diagnose';
import { DynamoDbRateLimiter, type RateLimiter } from '../../../shared/stores/rate-limiter';
import type { Rejection } from '../../../shared/stores/rejections';
import type { WebhookConfig } from '../../../shared/stores/webhook-configs';
import { handMadeJwt } from '../../support/signing';
import { salesforceJsonRequest } from '../support/salesforce';
import { SECRET, shopifyFixture, shopifyRequest } from '../support/shopify';
import { webhookConfig } from '../support/webhook-config';

const NOW = new Date('2026-03-01T10:00:00.000Z');
const ID = '6f1c2d9e-0b7a-4c1e-9a51-3d2e8f7a6b5c';
const CONFIG_SECRET = 'config-secret-0123456789abcdef';
const OLD_SECRET = 'config-secret-previous-0123456789';

beforeAll(() => {
  logger.setLogLevel('SILENT');
});

class FakePublisher implements EnvelopePublisher {
  readonly published: Envelope[] = [];
  async publish(envelopes: readonly Envelope[]): Promise<void> {
    this.published.push(...envelopes);
  }
}

/** A rate limiter keeping its counts in memory, weights and all (the DynamoDB one is tested on its own). */
function memoryLimiter(): RateLimiter & { counted: Map<string, number> } {
  const counted = new Map<string, number>();
  return {
    counted,
    async consume(key, limit, _now, weight = 1) {
      const used = counted.get(key) ?? 0;
      if (used + weight > limit) return { allowed: false, retryAfterSeconds: 30 };
      counted.set(key, used + weight);
      return { allowed: true };
    },
  };
}

function setup(stored: Partial<WebhookConfig> = {}, overrides: Partial<IngestDeps> = {}) {
  const publisher = new FakePublisher();
  const recorded: Rejection[] = [];
  const rateLimiter = memoryLimiter();
  const config = webhookConfig({ id: ID, secret: CONFIG_SECRET, ...stored });
  const deps: IngestDeps = {
    provider: shopify,
    secrets: async () => [SECRET],
    publisher,
    maxBodyBytes: 200 * 1024,
    now: () => NOW,
    tenants: {
      configs: async (id) => (id === ID ? config : undefined),
      rateLimiter,
      bindSourceAccount: async (_id, account) => {
        config.sourceAccount ??= account;
        return config.sourceAccount;
      },
    },
    rejections: { record: async (rejection) => void recorded.push(rejection) },
    ...overrides,
  };
  return { deps, publisher, recorded, rateLimiter, config };
}

const order = () => shopifyFixture('orders-create.json');
const signedWith = (secret: string, body: Buffer = order()) => shopifyRequest(body, { secret });

describe('rejections are recorded for the endpoint owner, with a cause', () => {
  it("records a per-config 401 for the config's owner, without the body or any secret", async () => {
    const { deps, recorded } = setup();

    await expect(ingest(deps, signedWith('not-the-secret-at-all'), ID)).rejects.toMatchObject({
      statusCode: 401,
    });

    expect(recorded).toEqual([
      {
        ownerId: 'alice',
        provider: 'shopify',
        configId: ID,
        status: 401,
        cause: 'signature_mismatch',
        message: 'Invalid X-Shopify-Hmac-Sha256 signature',
        sourceIp: '34.123.45.67',
        bodyBytes: order().length,
        receivedAt: NOW.toISOString(),
      },
    ]);
    const text = JSON.stringify(recorded);
    expect(text).not.toContain(CONFIG_SECRET);
    expect(text).not.toContain('total_price');
  });

  it('records a provider-wide refusal for the system owner', async () => {
    const { deps, recorded } = setup();
    const unsigned = { ...signedWith(SECRET), headers: { 'content-type': 'application/json' } };

    await expect(ingest(deps, unsigned)).rejects.toMatchObject({ statusCode: 401 });

    expect(recorded).toMatchObject([{ ownerId: 'system', cause: 'signature_missing' }]);
    expect(recorded[0]).not.toHaveProperty('configId');
  });

  it('records nothing for an unknown endpoint (404: there is no owner to show it to)', async () => {
    const { deps, recorded } = setup();

    await expect(ingest(deps, signedWith('x'), '00000000-0000-4000-8000-000000000000')).rejects.toMatchObject(
      { statusCode: 404 },
    );
    expect(recorded).toEqual([]);
  });

  it.each([
    ['source_ip_not_allowed', 403, { ipWhitelist: ['10.0.0.0/8'] }],
    ['source_account_mismatch', 403, { sourceAccount: 'other-shop.myshopify.com' }],
    ['rate_limited', 429, { rateLimit: 1 }],
  ] as [string, number, Partial<WebhookConfig>][])('records %s (%i)', async (cause, status, stored) => {
    const { deps, recorded } = setup(stored);
    if (cause === 'rate_limited') await ingest(deps, signedWith(CONFIG_SECRET), ID);

    await expect(ingest(deps, signedWith(CONFIG_SECRET), ID)).rejects.toMatchObject({ statusCode: status });
    expect(recorded).toMatchObject([{ cause, status, configId: ID }]);
  });

  it('records 413 and 415 with their causes', async () => {
    const { deps, recorded } = setup({}, { maxBodyBytes: 100 });

    await expect(ingest(deps, signedWith(CONFIG_SECRET), ID)).rejects.toMatchObject({ statusCode: 413 });
    const text = {
      ...signedWith(CONFIG_SECRET, Buffer.from('{}')),
      headers: { 'content-type': 'text/plain' },
    };
    await expect(ingest(deps, text, ID)).rejects.toMatchObject({ statusCode: 415 });

    expect(recorded.map((r) => [r.status, r.cause])).toEqual([
      [413, 'payload_too_large'],
      [415, 'unsupported_media_type'],
    ]);
  });

  it('answers the same when the rejection cannot be recorded', async () => {
    const onRecordError = vi.fn();
    const { deps } = setup(
      {},
      { rejections: { record: async () => Promise.reject(new Error('table down')) }, onRecordError },
    );

    await expect(ingest(deps, signedWith('wrong-secret-xyz'), ID)).rejects.toMatchObject({ statusCode: 401 });
    expect(onRecordError).toHaveBeenCalledOnce();
  });
});

describe('diagnosing a signature mismatch', () => {
  it('says unknown_secret when the signature was made with the previous secret after its grace period', async () => {
    const { deps, recorded } = setup({
      previousSecret: OLD_SECRET,
      previousSecretExpiresAt: new Date(NOW.getTime() - 60_000).toISOString(),
    });

    await expect(ingest(deps, signedWith(OLD_SECRET), ID)).rejects.toMatchObject({ statusCode: 401 });
    expect(recorded).toMatchObject([
      { cause: 'unknown_secret', detail: { matches: 'expired_previous_secret' } },
    ]);
  });

  it('says unknown_secret when a per-config delivery is signed with the provider-wide secret', async () => {
    const { deps, recorded } = setup();

    await expect(ingest(deps, signedWith(SECRET), ID)).rejects.toMatchObject({ statusCode: 401 });
    expect(recorded).toMatchObject([
      { cause: 'unknown_secret', detail: { matches: 'provider_wide_secret' } },
    ]);
  });

  const original = '{"id":1001,"note":"two lines","total_price":"10.00"}';
  it.each([
    // [normalization, the body as signed, the body as delivered after a proxy touched it]
    ['crlf_to_lf', `${original}\n`, `${original}\r\n`],
    ['trailing_newline', `${original}\n`, original],
    ['trimmed', original, ` ${original}\n`],
    ['json_compact', original, JSON.stringify(JSON.parse(original), null, 2)],
  ])(
    'says signature_mismatch_body_altered (%s) when the signature matches a normalized body',
    async (normalization, signedBody, deliveredBody) => {
      const { deps, recorded } = setup();
      const request = shopifyRequest(Buffer.from(deliveredBody), {
        headers: {
          'x-shopify-hmac-sha256': createHmac('sha256', CONFIG_SECRET).update(signedBody).digest('base64'),
        },
      });

      await expect(ingest(deps, request, ID)).rejects.toMatchObject({ statusCode: 401 });
      expect(recorded).toMatchObject([
        { cause: 'signature_mismatch_body_altered', detail: { normalization } },
      ]);
    },
  );

  it('says signature_mismatch_body_altered for a body read as Latin-1 and re-encoded as UTF-8', async () => {
    const { deps, recorded } = setup();
    const signed = Buffer.from('{"id":1001,"note":"Café Zürich"}');
    const mangled = Buffer.from(signed.toString('latin1'), 'utf8');
    const request = shopifyRequest(mangled, {
      headers: {
        'x-shopify-hmac-sha256': createHmac('sha256', CONFIG_SECRET).update(signed).digest('base64'),
      },
    });

    await expect(ingest(deps, request, ID)).rejects.toMatchObject({ statusCode: 401 });
    expect(recorded).toMatchObject([
      { cause: 'signature_mismatch_body_altered', detail: { normalization: 'latin1_from_utf8' } },
    ]);
  });

  it('stays a plain signature_mismatch for a secret it does not know, and never tries one for a large body', async () => {
    const { deps, recorded } = setup({}, { maxBodyBytes: 1024 * 1024 });
    const large = Buffer.from(`{"id":1,"note":"${'x'.repeat(DIAGNOSIS_MAX_BODY_BYTES)}"}`);
    const trailing = Buffer.concat([large, Buffer.from('\n')]);
    const request = shopifyRequest(trailing, {
      headers: {
        'x-shopify-hmac-sha256': createHmac('sha256', CONFIG_SECRET).update(large).digest('base64'),
      },
    });
    const signedFor = vi.spyOn(shopify, 'signedWith');

    await expect(ingest(deps, signedWith('a-secret-nobody-has-1234'), ID)).rejects.toMatchObject({
      statusCode: 401,
    });
    await expect(ingest(deps, request, ID)).rejects.toMatchObject({ statusCode: 401 });

    expect(recorded.map((r) => r.cause)).toEqual(['signature_mismatch', 'signature_mismatch']);
    expect(recorded[1]?.detail).toEqual({ diagnosis: 'body_too_large_to_diagnose' });
    // The large body was checked against the retired secrets only (one provider-wide secret).
    expect(signedFor.mock.calls.filter(([req]) => req.body.length > DIAGNOSIS_MAX_BODY_BYTES)).toHaveLength(
      1,
    );
    signedFor.mockRestore();
  });

  it('leaves the answer as it was: the sender learns nothing from the diagnosis', async () => {
    const { deps } = setup();
    const plain = await ingest(deps, signedWith('nobody-knows-this-one'), ID).catch((e: Error) => e.message);
    const provider = await ingest(deps, signedWith(SECRET), ID).catch((e: Error) => e.message);

    expect(provider).toBe(plain);
  });
});

describe('fair limits on a per-config endpoint', () => {
  const batch = (count: number, portal = 62_515) =>
    JSON.stringify(
      Array.from({ length: count }, (_, i) => ({
        eventId: i + 1,
        subscriptionId: 7,
        portalId: portal,
        appId: 9,
        occurredAt: NOW.getTime(),
        subscriptionType: 'contact.propertyChange',
        objectId: 1000 + i,
      })),
    );
  const hubspotRequest = (body: string): WebhookRequest => {
    const url = `https://hooks.example.com/api/webhooks/hubspot/${ID}`;
    const timestamp = String(NOW.getTime());
    return {
      method: 'POST',
      url,
      headers: {
        'content-type': 'application/json',
        'x-hubspot-signature-v3': createHmac('sha256', CONFIG_SECRET)
          .update(`POST${url}${body}${timestamp}`)
          .digest('base64'),
        'x-hubspot-request-timestamp': timestamp,
      },
      body: Buffer.from(body),
      sourceIp: '54.174.62.10',
    };
  };
  const hubspotConfig: Partial<WebhookConfig> = { provider: 'hubspot', events: ['contact.propertyChange'] };

  it("counts every event of a batch against the config's rate_limit, not one per request", async () => {
    const { deps, rateLimiter, publisher } = setup(
      { ...hubspotConfig, rateLimit: 12 },
      { provider: hubspot },
    );

    await expect(ingest(deps, hubspotRequest(batch(10)), ID)).resolves.toMatchObject({ accepted: 10 });
    expect(rateLimiter.counted.get(`config#${ID}`)).toBe(10);
    await expect(ingest(deps, hubspotRequest(batch(5)), ID)).rejects.toMatchObject({ statusCode: 429 });
    expect(publisher.published).toHaveLength(10);
  });

  it('refuses a batch over max_events_per_request with 413 naming the cap, before any of it is counted', async () => {
    const { deps, rateLimiter, publisher, recorded } = setup(
      { ...hubspotConfig, maxEventsPerRequest: 5 },
      { provider: hubspot },
    );

    const refusal = await ingest(deps, hubspotRequest(batch(6)), ID).catch((error: unknown) => error);

    expect(refusal).toMatchObject({
      statusCode: 413,
      message: expect.stringMatching(/6 events.*at most 5.*max_events_per_request/),
    });
    expect(rateLimiter.counted.get(`config#${ID}`)).toBe(1);
    expect(publisher.published).toHaveLength(0);
    expect(recorded).toMatchObject([{ cause: 'too_many_events', detail: { events: 6, limit: 5 } }]);
  });

  it('refuses a batch larger than the rate limit itself with 413 (it could never pass), not an endless 429', async () => {
    const { deps } = setup({ ...hubspotConfig, rateLimit: 3 }, { provider: hubspot });

    await expect(ingest(deps, hubspotRequest(batch(4)), ID)).rejects.toMatchObject({
      statusCode: 413,
      message: expect.stringContaining('rate_limit'),
    });
  });

  it('caps the fan-out of one Salesforce request on the provider-wide endpoint too', async () => {
    const { deps, publisher } = setup(
      {},
      { provider: salesforce, secrets: async () => ['sf-secret-0123456789'] },
    );
    const recordIds = Array.from({ length: 600 }, (_, i) => `006${String(i).padStart(15, '0')}`);
    const events = [1, 2].map((n) => ({
      ChangeEventHeader: {
        entityName: 'Opportunity',
        recordIds,
        changeType: 'UPDATE',
        transactionKey: `t${n}`,
      },
    }));
    const token = handMadeJwt(
      { alg: 'HS256', typ: 'JWT' },
      { iat: NOW.getTime() / 1000, exp: NOW.getTime() / 1000 + 300 },
      'sf-secret-0123456789',
    );

    await expect(
      ingest(deps, salesforceJsonRequest(events, { authorization: `Bearer ${token}` })),
    ).rejects.toMatchObject({ statusCode: 413, message: expect.stringContaining('1200 events') });
    expect(publisher.published).toHaveLength(0);
  });
});

describe('the DynamoDB rate limiter with weights', () => {
  it('adds the weight and refuses (giving it back) when the last unit would not fit', async () => {
    const counts = new Map<string, number>();
    const ddb = {
      send: vi.fn(
        async (command: {
          input: { Key: { pk: string }; ExpressionAttributeValues: Record<string, number> };
        }) => {
          const { pk } = command.input.Key;
          const amount = command.input.ExpressionAttributeValues[':amount'] ?? 0;
          counts.set(pk, (counts.get(pk) ?? 0) + amount);
          return { Attributes: { count: counts.get(pk) } };
        },
      ),
    };
    const limiter = new DynamoDbRateLimiter(ddb as never, 'limits');
    const at = new Date('2026-03-01T10:00:00.000Z');

    expect(await limiter.consume('config#c', 10, at, 8)).toEqual({ allowed: true });
    expect((await limiter.consume('config#c', 10, at, 3)).allowed).toBe(false);
    expect(await limiter.consume('config#c', 10, at, 2)).toEqual({ allowed: true });
    expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(10);
  });
});
