import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventLog, FINAL_ATTEMPT_UNFINISHED } from '../../../../shared/stores/event-log';
import { envelope } from '../../support/envelopes';

const NOW = new Date('2022-01-01T00:00:09.000Z');
const NOW_SECONDS = NOW.getTime() / 1000;

const ddbMock = mockClient(DynamoDBDocumentClient);
const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' }));

function log(payloadMaxBytes = 64) {
  return new EventLog(ddb, 'event-log', { retentionDays: 30, payloadMaxBytes });
}

function lastUpdate() {
  const calls = ddbMock.commandCalls(UpdateCommand);
  return calls[calls.length - 1]?.args[0].input;
}

/** The attributes an update expression sets, as name -> value. */
function assigned() {
  const input = lastUpdate();
  const names = input?.ExpressionAttributeNames ?? {};
  const values = input?.ExpressionAttributeValues ?? {};
  const set = /SET (.*?)(?: REMOVE|$)/.exec(input?.UpdateExpression ?? '')?.[1] ?? '';
  return Object.fromEntries(
    set.split(', ').map((assignment) => {
      const [name = '', value = ''] = assignment.split(' = ');
      return [names[name] ?? name, values[value]];
    }),
  );
}

beforeEach(() => {
  ddbMock.on(UpdateCommand).resolves({});
});

afterEach(() => {
  ddbMock.reset();
});

describe('EventLog.begin', () => {
  it('records the attempt with every field of the envelope, unless the delivery was processed', async () => {
    const delivery = envelope({ payload: { id: '1' } });

    await expect(log().begin(delivery, 2, NOW)).resolves.toBe(true);

    expect(lastUpdate()).toMatchObject({
      TableName: 'event-log',
      Key: { pk: delivery.dedupKey },
      ConditionExpression: 'attribute_not_exists(pk) OR #status <> :processed',
    });
    expect(assigned()).toEqual({
      status: 'received',
      attempts: 2,
      provider: 'shopify',
      eventType: 'orders/create',
      objectType: 'order',
      objectId: '820982911946154508',
      deliveryId: delivery.deliveryId,
      orderingKey: delivery.orderingKey,
      priority: 'high',
      meta: delivery.meta,
      receivedAt: delivery.receivedAt,
      receivedDay: delivery.receivedAt.slice(0, 10),
      occurredAt: delivery.occurredAt,
      lastAttemptAt: NOW.toISOString(),
      expiresAt: NOW_SECONDS + 30 * 86_400,
      // The owner keys the byUser index: a provider-wide delivery is the system owner's.
      userId: 'system',
      payload: '{"id":"1"}',
      payloadBytes: 10,
    });
  });

  it('keeps only the size of a payload above EVENT_LOG_PAYLOAD_MAX_BYTES', async () => {
    await log(9).begin(envelope({ payload: { id: '1' } }), 1, NOW);

    expect(assigned()).not.toHaveProperty('payload');
    expect(assigned()).toMatchObject({ payloadBytes: 10 });
  });

  it('keeps the S3 pointer of a claim-checked payload', async () => {
    const payloadRef = { bucket: 'webhook-payloads', key: 'shopify/2022-01-01/abc.json' };

    await log().begin(envelope({ payload: undefined, payloadRef }), 1, NOW);

    expect(assigned()).toMatchObject({ payloadRef });
    expect(assigned()).not.toHaveProperty('payload');
  });

  it('records the final attempt dead until it completes, so a death on it leaves the log right', async () => {
    const last = new EventLog(ddb, 'event-log', { retentionDays: 30, maxReceiveCount: 5 });

    await last.begin(envelope(), 4, NOW);
    expect(assigned()).toMatchObject({ status: 'received', attempts: 4 });
    expect(assigned()).not.toHaveProperty('errorCategory');

    await last.begin(envelope(), 5, NOW);
    expect(assigned()).toMatchObject({
      status: 'dead',
      attempts: 5,
      errorCategory: 'timeout',
      errorMessage: FINAL_ATTEMPT_UNFINISHED,
    });
  });

  it('returns false for a delivery that was already processed', async () => {
    ddbMock
      .on(UpdateCommand)
      .rejects(
        new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }),
      );

    await expect(log().begin(envelope(), 1, NOW)).resolves.toBe(false);
  });

  it('throws any other error, so the record is retried', async () => {
    ddbMock.on(UpdateCommand).rejects(new Error('ProvisionedThroughputExceededException'));

    await expect(log().begin(envelope(), 1, NOW)).rejects.toThrow('ProvisionedThroughputExceededException');
  });
});

describe('EventLog.complete', () => {
  it('marks the delivery processed with its outcome and timing, and clears an earlier error', async () => {
    await log().complete(envelope(), { outcome: 'stale', processingTimeMs: 12, processedAt: NOW });

    expect(lastUpdate()?.UpdateExpression).toMatch(/ REMOVE errorCategory, errorMessage$/);
    expect(assigned()).toEqual({
      status: 'processed',
      processedAt: NOW.toISOString(),
      processingTimeMs: 12,
      outcome: 'stale',
    });
  });
});

describe('EventLog.fail', () => {
  it('writes the failure with every envelope field, since begin may never have run', async () => {
    const delivery = envelope();

    await log().fail(
      { key: delivery.dedupKey, envelope: delivery },
      { status: 'failed', attempt: 3, category: 'processing', message: 'Error: boom', now: NOW },
    );

    expect(lastUpdate()?.ConditionExpression).toBe('attribute_not_exists(pk) OR #status <> :processed');
    expect(assigned()).toMatchObject({
      status: 'failed',
      attempts: 3,
      errorCategory: 'processing',
      errorMessage: 'Error: boom',
      provider: 'shopify',
      objectId: delivery.objectId,
      expiresAt: NOW_SECONDS + 30 * 86_400,
    });
  });

  it('writes what could be read of an invalid message', async () => {
    await log().fail(
      { key: 'sqs:message-1', raw: { provider: 'hubspot', eventType: undefined } },
      { status: 'dead', attempt: 1, category: 'validation', message: 'ValidationError: bad', now: NOW },
    );

    expect(lastUpdate()?.Key).toEqual({ pk: 'sqs:message-1' });
    expect(assigned()).toEqual({
      provider: 'hubspot',
      // Listed to operators, under the system owner, as seen now.
      userId: 'system',
      receivedAt: NOW.toISOString(),
      receivedDay: NOW.toISOString().slice(0, 10),
      lastAttemptAt: NOW.toISOString(),
      expiresAt: NOW_SECONDS + 30 * 86_400,
      status: 'dead',
      attempts: 1,
      errorCategory: 'validation',
      errorMessage: 'ValidationError: bad',
    });
  });

  it('leaves a processed delivery alone', async () => {
    ddbMock
      .on(UpdateCommand)
      .rejects(
        new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }),
      );

    await expect(
      log().fail(
        { key: 'shopify:1', envelope: envelope() },
        { status: 'failed', attempt: 1, category: 'timeout', message: 'TimeoutError', now: NOW },
      ),
    ).resolves.toBe(false);
  });
});
