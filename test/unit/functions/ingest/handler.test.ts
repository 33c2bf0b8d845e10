import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeIngestHandler } from '../../../../functions/ingest/handler';
import type { IngestDeps } from '../../../../shared/ingest';
import { logger } from '../../../../shared/observability';
import { shopify } from '../../../../shared/providers/shopify';
import { SqsEnvelopePublisher } from '../../../../shared/queue/publisher';
import { SECRET, shopifyFixture, shopifyHeaders } from '../../support/shopify';

const QUEUES = {
  high: 'https://sqs.eu-west-1.amazonaws.com/123456789012/webhooks-high.fifo',
  medium: 'https://sqs.eu-west-1.amazonaws.com/123456789012/webhooks-medium.fifo',
  low: 'https://sqs.eu-west-1.amazonaws.com/123456789012/webhooks-low.fifo',
};

const sqsMock = mockClient(SQSClient);

beforeAll(() => {
  logger.setLogLevel('SILENT');
});

afterEach(() => {
  sqsMock.reset();
});

function handler(overrides: Partial<IngestDeps> = {}) {
  return makeIngestHandler(
    {
      provider: shopify,
      secrets: async () => [SECRET],
      publisher: new SqsEnvelopePublisher(new SQSClient({ region: 'eu-west-1' }), QUEUES),
      maxBodyBytes: 200 * 1024,
      now: () => new Date('2022-01-01T00:00:07.000Z'),
      ...overrides,
    },
    'https://hooks.example.com',
  );
}

/** A REST API proxy event as API Gateway sends it with binary media type `*\/*`. */
function apiGatewayEvent(body: Buffer, headers: Record<string, string>): APIGatewayProxyEvent {
  return {
    httpMethod: 'POST',
    path: '/api/webhooks/shopify',
    resource: '/api/webhooks/shopify',
    body: body.toString('base64'),
    isBase64Encoded: true,
    headers,
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      authorizer: null,
      protocol: 'HTTP/1.1',
      httpMethod: 'POST',
      identity: { sourceIp: '34.123.45.67' } as APIGatewayProxyEvent['requestContext']['identity'],
      path: '/prod/api/webhooks/shopify',
      stage: 'prod',
      requestId: 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef',
      requestTimeEpoch: 1640995207000,
      resourceId: 'res123',
      resourcePath: '/api/webhooks/shopify',
    },
  };
}

/** Shopify's canonical header spelling (API Gateway passes header names as the client sent them). */
function shopifyEvent(options: { secret?: string } = {}) {
  const body = shopifyFixture('orders-create.json');
  const lower = shopifyHeaders(body, options);
  return apiGatewayEvent(body, {
    'Content-Type': lower['content-type'] as string,
    'X-Shopify-Hmac-Sha256': lower['x-shopify-hmac-sha256'] as string,
    'X-Shopify-Topic': 'orders/create',
    'X-Shopify-Shop-Domain': 'jsmith.myshopify.com',
    'X-Shopify-Webhook-Id': 'b54557e4-bdd9-4b37-8a5f-bf7d70bcd043',
  });
}

describe('ingest Lambda handler (Shopify)', () => {
  it('answers 200 with the accepted count once the event is in the high-priority queue', async () => {
    sqsMock.on(SendMessageBatchCommand).resolves({
      Successful: [{ Id: '0', MessageId: 'm0', MD5OfMessageBody: 'x' }],
      Failed: [],
    });

    const response = await handler()(shopifyEvent());

    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ success: true, accepted: 1 });
    const calls = sqsMock.commandCalls(SendMessageBatchCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input.QueueUrl).toBe(QUEUES.high);
    const message = JSON.parse(calls[0]?.args[0].input.Entries?.[0]?.MessageBody as string);
    expect(message).toMatchObject({
      objectId: '820982911946154508',
      deliveryId: 'b54557e4-bdd9-4b37-8a5f-bf7d70bcd043',
    });
  });

  it('answers 202 to a verified body it keeps in the quarantine, naming the entry and why', async () => {
    const body = Buffer.from('{"note":"no id"}');
    const headers = shopifyHeaders(body);
    const quarantine = { park: async () => 'system:shopify:quarantine:abc' };

    const response = await handler({ quarantine })(apiGatewayEvent(body, headers));

    expect(response.statusCode).toBe(202);
    expect(JSON.parse(response.body)).toEqual({
      success: true,
      accepted: 0,
      quarantined: 1,
      event_id: 'system:shopify:quarantine:abc',
      reason: 'Not what the shopify parser expects: Payload needs an id',
    });
    expect(sqsMock.commandCalls(SendMessageBatchCommand)).toHaveLength(0);
  });

  it('answers 503 with Retry-After when SQS keeps failing the entry', async () => {
    sqsMock.on(SendMessageBatchCommand).resolves({
      Successful: [],
      Failed: [{ Id: '0', Code: 'ServiceUnavailable', SenderFault: false }],
    });

    const response = await handler()(shopifyEvent());

    expect(response.statusCode).toBe(503);
    expect(response.headers).toMatchObject({ 'Retry-After': '5' });
    expect(JSON.parse(response.body)).toEqual({
      success: false,
      error: { code: 'enqueue_failed', message: expect.any(String) },
    });
  });

  it('answers 503 when the SQS call throws', async () => {
    sqsMock.on(SendMessageBatchCommand).rejects(new Error('socket hang up'));

    const response = await handler()(shopifyEvent());

    expect(response.statusCode).toBe(503);
    expect(JSON.parse(response.body).error.code).toBe('enqueue_failed');
  });

  it('answers 422, not a 503 the provider would retry forever, when SQS refuses the event as the sender’s fault', async () => {
    sqsMock.on(SendMessageBatchCommand).resolves({
      Successful: [],
      Failed: [
        { Id: '0', Code: 'InvalidMessageContents', SenderFault: true, Message: 'Invalid characters found.' },
      ],
    });

    const response = await handler()(shopifyEvent());

    expect(response.statusCode).toBe(422);
    expect(JSON.parse(response.body)).toEqual({
      success: false,
      error: {
        code: 'unprocessable_content',
        message: 'SQS refused 1 of 1 event(s) as invalid (InvalidMessageContents); any others were enqueued',
      },
    });
    expect(response.headers).not.toHaveProperty('Retry-After');
  });

  it('answers 401 to a bad signature without calling SQS', async () => {
    const response = await handler()(shopifyEvent({ secret: 'shpss_forged' }));

    expect(response.statusCode).toBe(401);
    expect(JSON.parse(response.body)).toEqual({
      success: false,
      error: { code: 'unauthorized', message: expect.any(String) },
    });
    expect(sqsMock.commandCalls(SendMessageBatchCommand)).toHaveLength(0);
  });

  it('answers 500 without details when no signing secret is configured', async () => {
    const noSecrets = makeIngestHandler(
      {
        provider: shopify,
        secrets: async () => [],
        publisher: new SqsEnvelopePublisher(new SQSClient({ region: 'eu-west-1' }), QUEUES),
        maxBodyBytes: 200 * 1024,
      },
      'https://hooks.example.com',
    );

    const response = await noSecrets(shopifyEvent());

    expect(response.statusCode).toBe(500);
    expect(JSON.parse(response.body)).toEqual({
      success: false,
      error: { code: 'internal_error', message: 'Internal error' },
    });
    expect(sqsMock.commandCalls(SendMessageBatchCommand)).toHaveLength(0);
  });

  it('never puts a stack trace or the signing secret in an error body', async () => {
    sqsMock.on(SendMessageBatchCommand).rejects(new Error(`failed with ${SECRET}`));

    const responses = await Promise.all([
      handler()(shopifyEvent({ secret: 'shpss_forged' })),
      handler()(shopifyEvent()),
      handler()({ ...shopifyEvent(), httpMethod: 'GET' }),
    ]);

    expect(responses.map((r) => r.statusCode)).toEqual([401, 503, 405]);
    for (const response of responses) {
      expect(response.body).not.toContain(SECRET);
      expect(response.body).not.toMatch(/\n\s+at /);
      expect(response.body).not.toContain('.ts:');
      expect(Object.keys(JSON.parse(response.body).error)).toEqual(['code', 'message']);
    }
  });
});
