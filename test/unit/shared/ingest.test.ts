import { describe, expect, it } from 'vitest';
import { type Envelope, envelopeSchema } from '../../../shared/envelope';
import {
  BadRequestError,
  EnqueueFailedError,
  EnqueueRefusedError,
  MethodNotAllowedError,
  PayloadTooLargeError,
  UnauthorizedError,
  UnsupportedMediaTypeError,
} from '../../../shared/errors';
import { type IngestDeps, ingest, refusedBySqs } from '../../../shared/ingest';
import { shopify } from '../../../shared/providers/shopify';
import type { QuarantinedDelivery } from '../../../shared/quarantine';
import type { EnvelopePublisher } from '../../../shared/queue/publisher';
import { PREVIOUS_SECRET, SECRET, shopifyFixture, shopifyRequest } from '../support/shopify';

const NOW = new Date('2022-01-01T00:00:07.123Z');

/** Keeps what was published in memory instead of sending it to SQS. */
class FakePublisher implements EnvelopePublisher {
  readonly published: Envelope[] = [];
  async publish(envelopes: readonly Envelope[]): Promise<void> {
    this.published.push(...envelopes);
  }
}

function setup(overrides: Partial<IngestDeps> = {}) {
  const publisher = new FakePublisher();
  const deps: IngestDeps = {
    provider: shopify,
    secrets: async () => [SECRET, PREVIOUS_SECRET],
    publisher,
    maxBodyBytes: 200 * 1024,
    now: () => NOW,
    ...overrides,
  };
  return { deps, publisher };
}

const order = () => shopifyFixture('orders-create.json');

describe('ingest', () => {
  it('publishes one valid envelope for a signed Shopify order and reports it accepted', async () => {
    const { deps, publisher } = setup();

    const result = await ingest(deps, shopifyRequest(order(), { webhookId: 'delivery-1' }));

    expect(result).toEqual({ accepted: 1, deliveryIds: ['delivery-1'] });
    expect(publisher.published).toHaveLength(1);
    const [envelope] = publisher.published;
    expect(envelopeSchema.safeParse(envelope).success).toBe(true);
    expect(envelope).toMatchObject({
      version: 1,
      provider: 'shopify',
      eventType: 'orders/create',
      objectId: '820982911946154508',
      // A provider-wide endpoint's delivery belongs to the deployment: the system owner.
      ownerId: 'system',
      dedupKey: 'system:shopify:delivery-1',
      orderingKey: 'system:shopify:jsmith.myshopify.com:order:820982911946154508',
    });
  });

  it("records where the delivery came from: source IP, User-Agent and the signature header's value", async () => {
    const { deps, publisher } = setup();
    const request = shopifyRequest(order(), { headers: { 'user-agent': 'Shopify-Captain-Hook' } });

    await ingest(deps, request);

    expect(publisher.published[0]?.source).toEqual({
      ip: '34.123.45.67',
      userAgent: 'Shopify-Captain-Hook',
      signature: request.headers['x-shopify-hmac-sha256'],
    });
  });

  it('stamps receivedAt with the injected clock', async () => {
    const { deps, publisher } = setup();

    await ingest(deps, shopifyRequest(order()));

    expect(publisher.published[0]?.receivedAt).toBe('2022-01-01T00:00:07.123Z');
  });

  it.each([
    { topic: 'orders/create', fixture: 'orders-create.json', priority: 'high' },
    { topic: 'orders/updated', fixture: 'orders-create.json', priority: 'medium' },
    { topic: 'inventory_levels/update', fixture: 'inventory-levels-update.json', priority: 'low' },
  ])('gives $topic envelopes priority $priority', async ({ topic, fixture, priority }) => {
    const { deps, publisher } = setup();

    await ingest(deps, shopifyRequest(shopifyFixture(fixture), { topic }));

    expect(publisher.published[0]?.priority).toBe(priority);
  });

  it('lets configured priorities override the defaults', async () => {
    const { deps, publisher } = setup({ priorities: { 'shopify:orders/create': 'low' } });

    await ingest(deps, shopifyRequest(order()));

    expect(publisher.published[0]?.priority).toBe('low');
  });

  it('refuses GET with 405 and an Allow header', async () => {
    const { deps, publisher } = setup();
    const request = { ...shopifyRequest(order()), method: 'GET' };

    const error = await ingest(deps, request).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(MethodNotAllowedError);
    expect(error).toMatchObject({ statusCode: 405, headers: { Allow: 'POST' } });
    expect(publisher.published).toEqual([]);
  });

  it('refuses a body one byte over maxBodyBytes with 413', async () => {
    const body = order();
    const { deps, publisher } = setup({ maxBodyBytes: body.length - 1 });

    const error = await ingest(deps, shopifyRequest(body)).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PayloadTooLargeError);
    expect(error).toMatchObject({ statusCode: 413 });
    expect(publisher.published).toEqual([]);
  });

  it('accepts a body of exactly maxBodyBytes', async () => {
    const body = order();
    const { deps } = setup({ maxBodyBytes: body.length });

    await expect(ingest(deps, shopifyRequest(body))).resolves.toMatchObject({ accepted: 1 });
  });

  it('refuses text/plain with 415', async () => {
    const { deps, publisher } = setup();
    const request = shopifyRequest(order(), { headers: { 'content-type': 'text/plain' } });

    const error = await ingest(deps, request).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(UnsupportedMediaTypeError);
    expect(error).toMatchObject({ statusCode: 415 });
    expect(publisher.published).toEqual([]);
  });

  it('accepts application/json with a charset parameter', async () => {
    const { deps } = setup();
    const request = shopifyRequest(order(), {
      headers: { 'content-type': 'Application/JSON; charset=utf-8' },
    });

    await expect(ingest(deps, request)).resolves.toMatchObject({ accepted: 1 });
  });

  it('tolerates a request without a Content-Type header', async () => {
    const { deps, publisher } = setup();
    const { 'content-type': _omitted, ...headers } = shopifyRequest(order()).headers;

    await ingest(deps, { ...shopifyRequest(order()), headers });

    expect(publisher.published).toHaveLength(1);
  });

  it('rejects a bad signature with 401 and publishes nothing', async () => {
    const { deps, publisher } = setup();

    const error = await ingest(deps, shopifyRequest(order(), { secret: 'not-our-secret' })).catch(
      (e: unknown) => e,
    );

    expect(error).toBeInstanceOf(UnauthorizedError);
    expect(publisher.published).toEqual([]);
  });

  it('fails instead of accepting when no signing secret is configured', async () => {
    const { deps, publisher } = setup({ secrets: async () => [] });

    const error = await ingest(deps, shopifyRequest(order())).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(UnauthorizedError);
    expect(publisher.published).toEqual([]);
  });

  it('propagates a publisher failure instead of reporting success', async () => {
    const failing: EnvelopePublisher = {
      publish: async () => {
        throw new Error('queue down');
      },
    };
    const { deps } = setup({ publisher: failing });

    await expect(ingest(deps, shopifyRequest(order()))).rejects.toThrow('queue down');
  });
});

/** Records what was parked instead of writing S3 and the event log (test/unit/shared/quarantine.test.ts does). */
function fakeQuarantine() {
  const parked: { body: string; delivery: QuarantinedDelivery }[] = [];
  return {
    parked,
    quarantine: {
      park: async (request: { body: Buffer }, delivery: QuarantinedDelivery) => {
        parked.push({ body: request.body.toString(), delivery });
        return `${delivery.ownerId}:${delivery.provider}:quarantine:x`;
      },
    },
  };
}

describe('the quarantine', () => {
  it('keeps a verified body the parser refuses, and answers it accepted as quarantined', async () => {
    const { parked, quarantine } = fakeQuarantine();
    const { deps, publisher } = setup({ quarantine, newId: () => 'acceptance-1' });
    const body = Buffer.from('{"not":"an order"}');

    const result = await ingest(deps, shopifyRequest(body));

    expect(result).toEqual({
      accepted: 0,
      deliveryIds: [],
      quarantined: {
        id: 'system:shopify:quarantine:x',
        reason: 'Not what the shopify parser expects: Payload needs an id',
      },
    });
    expect(publisher.published).toEqual([]);
    expect(parked).toEqual([
      {
        body: '{"not":"an order"}',
        delivery: {
          provider: 'shopify',
          ownerId: 'system',
          reason: 'Not what the shopify parser expects: Payload needs an id',
          receivedAt: NOW,
          acceptanceId: 'acceptance-1',
        },
      },
    ]);
  });

  it('keeps nothing that is not verified: a bad signature over a bad body stays 401', async () => {
    const { parked, quarantine } = fakeQuarantine();
    const { deps } = setup({ quarantine });

    const error = await ingest(deps, shopifyRequest(Buffer.from('{}'), { secret: 'not-our-secret' })).catch(
      (e: unknown) => e,
    );

    expect(error).toBeInstanceOf(UnauthorizedError);
    expect(parked).toEqual([]);
  });

  it('answers 400 as before where no quarantine is configured', async () => {
    const { deps } = setup();

    await expect(ingest(deps, shopifyRequest(Buffer.from('{}')))).rejects.toBeInstanceOf(BadRequestError);
  });

  it("keeps a delivery SQS refuses as the sender's fault, and lets any other failure through for a retry", async () => {
    const refusal = Object.assign(new Error('Invalid characters found'), {
      name: 'InvalidMessageContents',
      $fault: 'client',
    });
    const { parked, quarantine } = fakeQuarantine();
    const refusing: EnvelopePublisher = {
      publish: async () => {
        throw new EnqueueFailedError('SQS SendMessageBatch failed', { cause: refusal });
      },
    };
    const { deps } = setup({ quarantine, publisher: refusing });

    const result = await ingest(deps, shopifyRequest(order()));

    expect(result.quarantined?.reason).toBe(
      'SQS refused the delivery: InvalidMessageContents: Invalid characters found',
    );
    expect(parked).toHaveLength(1);
    const down: EnvelopePublisher = {
      publish: async () => {
        throw new EnqueueFailedError('SQS SendMessageBatch failed', {
          cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
        });
      },
    };
    await expect(ingest({ ...deps, publisher: down }, shopifyRequest(order()))).rejects.toBeInstanceOf(
      EnqueueFailedError,
    );
  });

  it('tells the refusals SQS will always repeat from the ones that pass', () => {
    const sqs = (name: string, fault: 'client' | 'server') =>
      Object.assign(new Error(name), { name, $fault: fault });
    expect(refusedBySqs(sqs('BatchRequestTooLong', 'client'))).toMatch(/^BatchRequestTooLong/);
    expect(refusedBySqs(new Error('wrapped', { cause: sqs('MessageTooLong', 'client') }))).toMatch(
      /^MessageTooLong/,
    );
    expect(refusedBySqs(Object.assign(new Error('entry refused'), { senderFault: true }))).toMatch(
      /entry refused/,
    );
    // The publisher's own refusal, thrown once every other envelope is enqueued.
    expect(refusedBySqs(new EnqueueRefusedError(false, 'SQS refused 1 of 3 event(s)'))).toMatch(
      /SQS refused 1 of 3/,
    );
    expect(refusedBySqs(sqs('AccessDenied', 'client'))).toBeUndefined();
    expect(refusedBySqs(sqs('InternalError', 'server'))).toBeUndefined();
  });
});

describe('receipts', () => {
  it('records every accepted delivery once SQS holds it, under one acceptance id, before answering', async () => {
    const order: string[] = [];
    const receipts = {
      receive: async (envelope: Envelope, acceptanceId: string, now: Date) => {
        order.push(`receipt ${envelope.dedupKey} ${acceptanceId} ${now.toISOString()}`);
      },
    };
    const publisher: EnvelopePublisher = {
      publish: async (envelopes) => {
        order.push(`publish ${envelopes.length}`);
      },
    };
    const { deps } = setup({ receipts, publisher, newId: () => 'acceptance-7' });

    await ingest(deps, shopifyRequest(shopifyFixture('orders-create.json'), { webhookId: 'delivery-7' }));

    expect(order).toEqual([
      'publish 1',
      `receipt system:shopify:delivery-7 acceptance-7 ${NOW.toISOString()}`,
    ]);
  });

  it('answers 503 when the receipt cannot be written, so the provider delivers again', async () => {
    const receipts = {
      receive: async () => {
        throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      },
    };
    const { deps } = setup({ receipts });

    const error = await ingest(deps, shopifyRequest(order())).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(EnqueueFailedError);
    expect(error).toMatchObject({ statusCode: 503 });
  });

  it('writes no receipt for what SQS did not take', async () => {
    const received: string[] = [];
    const failing: EnvelopePublisher = {
      publish: async () => {
        throw new EnqueueFailedError();
      },
    };
    const { deps } = setup({
      publisher: failing,
      receipts: { receive: async (envelope: Envelope) => void received.push(envelope.dedupKey) },
    });

    await expect(ingest(deps, shopifyRequest(order()))).rejects.toBeInstanceOf(EnqueueFailedError);
    expect(received).toEqual([]);
  });
});
