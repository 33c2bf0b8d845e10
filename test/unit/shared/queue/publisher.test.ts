import { createHash } from 'node:crypto';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SendMessageBatchCommand, type SendMessageBatchRequestEntry, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { type Envelope, envelopeSchema } from '../../../../shared/envelope';
import { EnqueueFailedError, EnqueueRefusedError } from '../../../../shared/errors';
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

/** SQS's answer when it takes every entry of a batch. */
async function acceptAll(input: { Entries: SendMessageBatchRequestEntry[] }) {
  return {
    Successful: input.Entries.map((e) => ({ Id: e.Id, MessageId: `m-${e.Id}`, MD5OfMessageBody: 'x' })),
    Failed: [],
  };
}

function allSucceed() {
  sqsMock.on(SendMessageBatchCommand).callsFake(acceptAll);
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

  it('sends inline, without calling S3, a payload of exactly the threshold size', async () => {
    allSucceed();
    const small = envelope({ dedupKey: 'shopify:small' });

    await withClaimCheck(Buffer.byteLength(JSON.stringify(small.payload))).publish([small]);

    expect(sentEnvelopes()[0]?.payload).toEqual(small.payload);
    expect(sentEnvelopes()[0]?.payloadRef).toBeUndefined();
    expect(s3Mock.calls()).toHaveLength(0);
  });

  it('measures the payload as SQS gets it: escapes count', async () => {
    allSucceed();
    s3Mock.on(PutObjectCommand).resolves({});
    // 3 bytes in UTF-8, 6 once escaped for SQS.
    const escaped = envelope({ dedupKey: 'shopify:escaped', payload: { note: '\uFFFF'.repeat(100) } });

    await withClaimCheck(400).publish([escaped]);

    expect(sentEnvelopes()[0]?.payloadRef).toBeDefined();
  });

  it('measures the serialized message, so numbers that grow when re-serialized still go to S3', async () => {
    allSucceed();
    s3Mock.on(PutObjectCommand).resolves({});
    // 1e20 is 4 bytes in a provider body and 21 bytes once serialized again.
    const grown = envelope({ dedupKey: 'shopify:grown', payload: { id: 1, n: Array(100).fill(1e20) } });

    await withClaimCheck(1100).publish([grown]);

    expect(sentEnvelopes()[0]?.payloadRef).toBeDefined();
  });

  /** The envelopes of one Salesforce change event naming `count` records: one payload, shared. */
  function fanOut(count: number, descriptionBytes: number): Envelope[] {
    const change = {
      ChangeEventHeader: { entityName: 'Opportunity', changeType: 'UPDATE', transactionKey: 'tx-1' },
      Description: 'x'.repeat(descriptionBytes),
    };
    return Array.from({ length: count }, (_, i) =>
      envelope({
        provider: 'salesforce',
        eventType: 'OpportunityChangeEvent',
        objectType: 'opportunity',
        objectId: `0065g00000Rec${i}`,
        dedupKey: `system:salesforce:tx-1:1:0065g00000Rec${i}`,
        orderingKey: `system:salesforce:opportunity:0065g00000Rec${i}`,
        payload: change,
      }),
    );
  }

  it('stores the payload a fan-out shares once, and every envelope points to it', async () => {
    allSucceed();
    s3Mock.on(PutObjectCommand).resolves({});
    // The case: ten records of about 120 KB each, every envelope under the threshold.
    const records = fanOut(10, 120_000);

    await withClaimCheck(192 * 1024).publish(records);

    const key = `salesforce/2022-01-01/${createHash('sha256').update('system:salesforce:tx-1:1:0065g00000Rec0').digest('hex')}.json`;
    const puts = putObjects();
    expect(puts.map((put) => put.Key)).toEqual([key]);
    expect(JSON.parse(String(puts[0]?.Body))).toEqual(records[0]?.payload);
    const sent = sentEnvelopes();
    expect(sent.map((e) => e.objectId)).toEqual(records.map((e) => e.objectId));
    for (const e of sent) {
      expect(e.payload).toBeUndefined();
      expect(e.payloadRef).toEqual({ bucket: BUCKET, key });
    }
    expect(sentBatches()).toHaveLength(1);
  });

  it('stores a shared payload whose copies together exceed the threshold, though each fits', async () => {
    allSucceed();
    s3Mock.on(PutObjectCommand).resolves({});

    await withClaimCheck(192 * 1024).publish(fanOut(3, 70_000));

    expect(putObjects()).toHaveLength(1);
    expect(sentEnvelopes().every((e) => e.payloadRef !== undefined)).toBe(true);
  });

  it('keeps a small shared payload inline in every envelope', async () => {
    allSucceed();
    const records = fanOut(3, 1_000);

    await withClaimCheck(192 * 1024).publish(records);

    expect(s3Mock.calls()).toHaveLength(0);
    expect(sentEnvelopes().map((e) => e.payload)).toEqual(records.map((e) => e.payload));
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

/** What SQS takes in a message body, read as UTF-16 code units as the local stand-in reads it. */
const SQS_SAFE_BODY = /^[\t\n\r\x20-\uD7FF\uE000-\uFFFD]*$/;

describe('SqsEnvelopePublisher message bodies', () => {
  function sentBodies(): string[] {
    return sentBatches().flatMap((batch) => batch.Entries?.map((e) => e.MessageBody as string) ?? []);
  }

  it.each([
    ['U+FFFE and U+FFFF', 'note \uFFFE and \uFFFF, valid UTF-8 that SQS refuses'],
    ['an emoji (a surrogate pair)', 'gift 🎁 for Zoë'],
    ['a lone surrogate', 'half \uD800 a pair'],
    ['control characters and a backslash before U+FFFF', 'tab\t nul\u0000 bell\u0007 \\\uFFFF'],
  ])('escapes %s so SQS takes the body, and the processor reads the same value back', async (_case, note) => {
    allSucceed();
    const order = envelope({
      payload: { id: '820982911946154508', note, [`key ${note}`]: note },
      meta: { topic: 'orders/create', note },
    });

    await publisher().publish([order]);

    const [body] = sentBodies();
    expect(body).toMatch(SQS_SAFE_BODY);
    expect(JSON.parse(body as string)).toEqual(order);
  });

  it('sends every JSON value as a body SQS takes that parses to exactly that value', async () => {
    allSucceed();
    const anyUnit = fc.oneof(
      fc.constantFrom('\uFFFE', '\uFFFF', '\uD800', '\uDFFF', '🎁', '\u0000', '\u001F', '"', '\\', '\u2028'),
      fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit)),
      fc.string({ unit: 'binary', maxLength: 1 }),
    );
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ stringUnit: anyUnit, maxDepth: 4 }), async (payload) => {
        sqsMock.resetHistory();
        const sent = envelope({ payload: payload ?? 'null' });

        await publisher().publish([sent]);

        const [body] = sentBodies();
        expect(body).toMatch(SQS_SAFE_BODY);
        expect(JSON.parse(body as string)).toEqual(JSON.parse(JSON.stringify(sent)));
      }),
      { numRuns: 200 },
    );
  });
});

describe('SqsEnvelopePublisher batches', () => {
  /** SendMessageBatch's limit on the bodies of one call, all entries together. */
  const MAX_BATCH_BYTES = 1024 * 1024;

  const batchBytes = (batch: { Entries?: SendMessageBatchRequestEntry[] }) =>
    (batch.Entries ?? []).reduce((sum, e) => sum + Buffer.byteLength(e.MessageBody as string), 0);

  function ordersOf(count: number, noteBytes: number): Envelope[] {
    return orders(count).map((order, i) => ({ ...order, payload: { id: i, note: 'x'.repeat(noteBytes) } }));
  }

  it('packs batches by bytes as well as by count, keeping the order', async () => {
    allSucceed();
    const sent = ordersOf(7, 300_000);

    await publisher().publish(sent);

    const batches = sentBatches();
    expect(batches.map((batch) => batch.Entries?.length)).toEqual([3, 3, 1]);
    for (const batch of batches) expect(batchBytes(batch)).toBeLessThanOrEqual(MAX_BATCH_BYTES);
    const order = batches.flatMap((b) => b.Entries?.map((e) => e.MessageDeduplicationId));
    expect(order).toEqual(sent.map((e) => e.dedupKey));
  });

  it('fills a batch up to exactly 1 MiB', async () => {
    allSucceed();
    const [first, second] = ordersOf(2, 0);
    const overhead = (e: Envelope) => Buffer.byteLength(JSON.stringify(e));
    const half = (e: Envelope | undefined, bytes: number) => ({
      ...(e as Envelope),
      payload: { id: 1, note: 'x'.repeat(bytes - overhead(e as Envelope)) },
    });
    const exact = [half(first, MAX_BATCH_BYTES / 2), half(second, MAX_BATCH_BYTES / 2)];

    await publisher().publish(exact);

    expect(sentBatches().map(batchBytes)).toEqual([MAX_BATCH_BYTES]);
  });
});

describe('SqsEnvelopePublisher refusals', () => {
  const invalidContents = (Id: string) => ({
    Id,
    SenderFault: true,
    Code: 'InvalidMessageContents',
    Message: 'Invalid characters found.',
  });

  it('does not resend an entry SQS refused as the sender’s fault, sends the others, and says so with a 422', async () => {
    sqsMock
      .on(SendMessageBatchCommand)
      .callsFakeOnce(async (input: { Entries: SendMessageBatchRequestEntry[] }) => ({
        Successful: (await acceptAll(input)).Successful.filter((e) => e.Id !== '3'),
        Failed: [invalidContents('3')],
      }))
      .callsFake(acceptAll);

    const error = await publisher()
      .publish(orders(30))
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(EnqueueRefusedError);
    expect(error).toMatchObject({ statusCode: 422, code: 'unprocessable_content' });
    expect((error as Error).message).toBe(
      'SQS refused 1 of 30 event(s) as invalid (InvalidMessageContents); any others were enqueued',
    );
    const sent = sentBatches().flatMap((b) => b.Entries?.map((e) => e.MessageDeduplicationId));
    expect(sent).toEqual(orders(30).map((e) => e.dedupKey));
  });

  it('answers 413 for a message SQS finds too long', async () => {
    sqsMock.on(SendMessageBatchCommand).resolves({
      Successful: [],
      Failed: [
        {
          Id: '0',
          SenderFault: true,
          Code: 'InvalidParameterValue',
          Message: 'One or more parameters are invalid. Reason: Message must be shorter than 262144 bytes.',
        },
      ],
    });

    const error = await publisher()
      .publish(orders(1))
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(EnqueueRefusedError);
    expect(error).toMatchObject({ statusCode: 413, code: 'payload_too_large' });
    expect(sentBatches()).toHaveLength(1);
  });

  it('sends a batch SQS finds too long one message at a time', async () => {
    sqsMock
      .on(SendMessageBatchCommand)
      .rejectsOnce(sqsError('BatchRequestTooLong', 'Batch requests cannot be longer than 1048576 bytes.'))
      .callsFake(acceptAll);

    await publisher().publish(orders(3));

    expect(sentBatches().map((batch) => batch.Entries?.length)).toEqual([3, 1, 1, 1]);
  });

  it('refuses with a 413 one message too long for any batch', async () => {
    sqsMock
      .on(SendMessageBatchCommand)
      .rejects(sqsError('BatchRequestTooLong', 'Batch requests cannot be longer than 1048576 bytes.'));

    const error = await publisher()
      .publish(orders(1))
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(EnqueueRefusedError);
    expect(error).toMatchObject({ statusCode: 413 });
  });

  it.each([
    ['AccessDenied', 'not authorized to perform sqs:SendMessage'],
    ['QueueDoesNotExist', 'The specified queue does not exist.'],
    ['RequestThrottled', 'Request is throttled.'],
  ])('keeps a client-side %s a 503: it is not the event’s fault', async (name, message) => {
    sqsMock.on(SendMessageBatchCommand).rejects(sqsError(name, message));

    const error = await publisher()
      .publish(orders(1))
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(EnqueueFailedError);
    expect(error).toMatchObject({ statusCode: 503 });
  });
});

/** An error as the SDK throws it for an SQS error answer: a client fault unless the status is 5xx. */
function sqsError(name: string, message: string): Error {
  return Object.assign(new Error(message), { name, $fault: 'client', $metadata: { httpStatusCode: 400 } });
}
