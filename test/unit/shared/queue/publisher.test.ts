import { createHash } from 'node:crypto';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SendMessageBatchCommand, type SendMessageBatchRequestEntry, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { type Envelope, envelopeSchema } from '../../../../shared/envelope';
import { EnqueueFailedError } from '../../../../shared/errors';
import { type QueueUrls, SqsEnvelopePublisher } from '../../../../shared/queue/publisher';
import { PayloadStore } from '../../../../shared/stores/payload-store';
import { envelope } from '../../support/envelopes';

const QUEUES: QueueUrls = {
  high: 'https://sqs.eu-west-1.amazonaws.com/123456789012/webhooks-high.fifo',
  medium: 'https://sqs.eu-west-1.amazonaws.com/123456789012/webhooks-medium.fifo',
  low: 'https://sqs.eu-west-1.amazonaws.com/123456789012/webhooks-low.fifo',
};

const sqsMock = mockClient(SQSClient);
const s3Mock = mockClient(S3Client);
const BUCKET = 'webhook-payloads';

afterEach(() => {
  sqsMock.reset();
  s3Mock.reset();
});

function publisher() {
  return new SqsEnvelopePublisher(new SQSClient({ region: 'eu-west-1' }), QUEUES);
}

function allSucceed() {
  sqsMock
    .on(SendMessageBatchCommand)
    .callsFake(async (input: { Entries: SendMessageBatchRequestEntry[] }) => ({
      Successful: input.Entries.map((e) => ({
        Id: e.Id,
        MessageId: `m-${e.Id}`,
        MD5OfMessageBody: 'x',
      })),
      Failed: [],
    }));
}

function orders(count: number): Envelope[] {
  return Array.from({ length: count }, (_, i) =>
    envelope({ objectId: String(1000 + i), dedupKey: `shopify:delivery-${i}`, deliveryId: `delivery-${i}` }),
  );
}

function sentBatches() {
  return sqsMock.commandCalls(SendMessageBatchCommand).map((call) => call.args[0].input);
}

describe('SqsEnvelopePublisher', () => {
  it("sends each envelope to its priority's queue", async () => {
    allSucceed();
    const high = envelope({ priority: 'high', dedupKey: 'shopify:h' });
    const low = envelope({ priority: 'low', dedupKey: 'shopify:l', eventType: 'inventory_levels/update' });
    const medium = envelope({ priority: 'medium', dedupKey: 'shopify:m', eventType: 'orders/updated' });

    await publisher().publish([high, low, medium]);

    const byQueue = Object.fromEntries(
      sentBatches().map((batch) => [
        batch.QueueUrl,
        batch.Entries?.map((e) => JSON.parse(e.MessageBody as string).dedupKey),
      ]),
    );
    expect(byQueue).toEqual({
      [QUEUES.high]: ['shopify:h'],
      [QUEUES.medium]: ['shopify:m'],
      [QUEUES.low]: ['shopify:l'],
    });
  });

  it('uses the ordering key as MessageGroupId and the dedup key as MessageDeduplicationId', async () => {
    allSucceed();
    const order = envelope();

    await publisher().publish([order]);

    const [entry] = sentBatches()[0]?.Entries ?? [];
    expect(entry).toMatchObject({
      MessageGroupId: 'shopify:jsmith.myshopify.com:order:820982911946154508',
      MessageDeduplicationId: 'shopify:b54557e4-bdd9-4b37-8a5f-bf7d70bcd043',
    });
    expect(JSON.parse(entry?.MessageBody as string)).toEqual(order);
  });

  it('hashes a dedup key longer than 128 characters to 64 hex characters', async () => {
    allSucceed();
    const longKey = `shopify:${'a'.repeat(200)}`;

    await publisher().publish([envelope({ dedupKey: longKey })]);

    const id = sentBatches()[0]?.Entries?.[0]?.MessageDeduplicationId;
    expect(id).toMatch(/^[0-9a-f]{64}$/);
  });

  it('keeps a dedup key of exactly 128 printable characters as is', async () => {
    allSucceed();
    const key = `shopify:${'a'.repeat(120)}`;

    await publisher().publish([envelope({ dedupKey: key })]);

    expect(sentBatches()[0]?.Entries?.[0]?.MessageDeduplicationId).toBe(key);
  });

  it.each([
    ['a space', 'shopify:delivery 1'],
    ['a non-ASCII character', 'shopify:délivery'],
    ['a control character', 'shopify:delivery\u0001'],
  ])('hashes a dedup key containing %s', async (_label, key) => {
    allSucceed();

    await publisher().publish([envelope({ dedupKey: key })]);

    expect(sentBatches()[0]?.Entries?.[0]?.MessageDeduplicationId).toMatch(/^[0-9a-f]{64}$/);
  });

  it('gives two different long keys two different hashed ids', async () => {
    allSucceed();

    await publisher().publish([
      envelope({ dedupKey: `shopify:${'a'.repeat(200)}` }),
      envelope({ dedupKey: `shopify:${'b'.repeat(200)}` }),
    ]);

    const ids = sentBatches()[0]?.Entries?.map((e) => e.MessageDeduplicationId);
    expect(new Set(ids).size).toBe(2);
  });

  it('sends at most 10 entries per batch', async () => {
    allSucceed();

    await publisher().publish(orders(23));

    const sizes = sentBatches().map((batch) => batch.Entries?.length);
    expect(sizes).toEqual([10, 10, 3]);
    const sent = sentBatches().flatMap((b) => b.Entries?.map((e) => e.MessageDeduplicationId));
    expect(new Set(sent).size).toBe(23);
  });

  it('gives entries unique ids within each batch', async () => {
    allSucceed();

    await publisher().publish(orders(10));

    const ids = sentBatches()[0]?.Entries?.map((e) => e.Id);
    expect(new Set(ids).size).toBe(10);
  });

  it('resends only the entries SQS reported as failed, once, and succeeds', async () => {
    sqsMock
      .on(SendMessageBatchCommand)
      .resolvesOnce({
        Successful: [{ Id: '0', MessageId: 'm0', MD5OfMessageBody: 'x' }],
        Failed: [{ Id: '1', Code: 'InternalError', SenderFault: false }],
      })
      .resolves({ Successful: [{ Id: '1', MessageId: 'm1', MD5OfMessageBody: 'x' }], Failed: [] });

    await publisher().publish(orders(2));

    const batches = sentBatches();
    expect(batches).toHaveLength(2);
    expect(batches[1]?.Entries?.map((e) => e.MessageDeduplicationId)).toEqual(['shopify:delivery-1']);
  });

  it('throws EnqueueFailedError when an entry fails again on the retry', async () => {
    sqsMock.on(SendMessageBatchCommand).resolves({
      Successful: [],
      Failed: [{ Id: '0', Code: 'InternalError', SenderFault: false }],
    });

    const error = await publisher()
      .publish(orders(1))
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(EnqueueFailedError);
    expect(error).toMatchObject({ statusCode: 503, headers: { 'Retry-After': '5' } });
    expect(sentBatches()).toHaveLength(2);
  });

  it('throws EnqueueFailedError when the SDK call itself fails', async () => {
    const sdkError = Object.assign(new Error('connect ETIMEDOUT'), { name: 'TimeoutError' });
    sqsMock.on(SendMessageBatchCommand).rejects(sdkError);

    const error = await publisher()
      .publish(orders(1))
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(EnqueueFailedError);
    expect((error as Error).cause).toBe(sdkError);
  });

  it('sends nothing for an empty list', async () => {
    allSucceed();

    await publisher().publish([]);

    expect(sentBatches()).toEqual([]);
  });
});

describe('SqsEnvelopePublisher claim check', () => {
  function withClaimCheck(thresholdBytes: number) {
    const store = new PayloadStore(new S3Client({ region: 'eu-west-1' }), BUCKET);
    return new SqsEnvelopePublisher(new SQSClient({ region: 'eu-west-1' }), QUEUES, {
      store,
      thresholdBytes,
    });
  }

  function sentEnvelopes(): Envelope[] {
    return sentBatches().flatMap(
      (batch) => batch.Entries?.map((e) => JSON.parse(e.MessageBody as string)) ?? [],
    );
  }

  function putObjects() {
    return s3Mock.commandCalls(PutObjectCommand).map((call) => call.args[0].input);
  }

  const big = () =>
    envelope({
      dedupKey: 'shopify:delivery-1',
      receivedAt: '2022-01-01T00:00:07.123Z',
      payload: { id: '820982911946154508', note: 'x'.repeat(4096) },
    });

  it('stores the payload of a message over the threshold in S3 and sends a pointer instead', async () => {
    allSucceed();
    s3Mock.on(PutObjectCommand).resolves({});

    await withClaimCheck(2048).publish([big()]);

    const [sent] = sentEnvelopes();
    const expectedKey = `shopify/2022-01-01/${createHash('sha256').update('shopify:delivery-1').digest('hex')}.json`;
    expect(sent?.payload).toBeUndefined();
    expect(sent?.payloadRef).toEqual({ bucket: BUCKET, key: expectedKey });
    expect(envelopeSchema.safeParse(sent).success).toBe(true);
    expect(Buffer.byteLength(JSON.stringify(sent))).toBeLessThanOrEqual(2048);
    const puts = putObjects();
    expect(puts).toHaveLength(1);
    expect(puts[0]).toMatchObject({ Bucket: BUCKET, Key: expectedKey, ContentType: 'application/json' });
    expect(JSON.parse(String(puts[0]?.Body))).toEqual(big().payload);
  });

  it('stores a redelivery under the same key and another delivery under another key', async () => {
    allSucceed();
    s3Mock.on(PutObjectCommand).resolves({});
    const publisher = withClaimCheck(2048);

    await publisher.publish([big()]);
    await publisher.publish([big()]);
    await publisher.publish([{ ...big(), dedupKey: 'shopify:delivery-2' }]);

    const keys = sentEnvelopes().map((e) => e.payloadRef?.key);
    expect(keys[0]).toMatch(/^shopify\/2022-01-01\/[0-9a-f]{64}\.json$/);
    expect(keys[1]).toBe(keys[0]);
    expect(keys[2]).not.toBe(keys[0]);
    expect(putObjects().map((put) => put.Key)).toEqual(keys);
  });

  it('sends inline, without calling S3, a message of exactly the threshold size', async () => {
    allSucceed();
    const small = envelope({ dedupKey: 'shopify:small' });

    await withClaimCheck(Buffer.byteLength(JSON.stringify(small))).publish([small]);

    expect(sentEnvelopes()[0]?.payload).toEqual(small.payload);
    expect(sentEnvelopes()[0]?.payloadRef).toBeUndefined();
    expect(s3Mock.calls()).toHaveLength(0);
  });

  it('measures the serialized message, so numbers that grow when re-serialized still go to S3', async () => {
    allSucceed();
    s3Mock.on(PutObjectCommand).resolves({});
    // 1e20 is 4 bytes in a provider body and 21 bytes once serialized again.
    const grown = envelope({ dedupKey: 'shopify:grown', payload: { id: 1, n: Array(100).fill(1e20) } });

    await withClaimCheck(1100).publish([grown]);

    expect(sentEnvelopes()[0]?.payloadRef).toBeDefined();
  });

  it('throws EnqueueFailedError and sends nothing when the payload cannot be stored', async () => {
    allSucceed();
    s3Mock.on(PutObjectCommand).rejects(new Error('SlowDown'));

    const error = await withClaimCheck(2048)
      .publish([big()])
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(EnqueueFailedError);
    expect(error).toMatchObject({ statusCode: 503 });
    expect(sentBatches()).toEqual([]);
  });
});
