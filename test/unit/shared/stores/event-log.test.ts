import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventLog } from '../../../../shared/stores/event-log';
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

/**
 * The attributes the last update expression sets (`if_not_exists` ones included), as name -> value;
 * `added` and `removed` the ones it ADDs and REMOVEs.
 */
function clauses() {
  const input = lastUpdate();
  const names = input?.ExpressionAttributeNames ?? {};
  const expressionValues = input?.ExpressionAttributeValues ?? {};
  const clause = (keyword: string) =>
    new RegExp(`${keyword} (.*?)(?: SET | ADD | REMOVE |$)`)
      .exec(input?.UpdateExpression ?? '')?.[1]
      // Commas inside if_not_exists(...) do not separate clauses.
      ?.split(/, (?![^(]*\))/) ?? [];
  const placeholderValue = (text: string) => expressionValues[/(:[\w]+)\)?$/.exec(text)?.[1] ?? ''];
  return {
    assigned: Object.fromEntries(
      clause('SET').map((assignment) => {
        const [name = '', value = ''] = assignment.split(' = ');
        return [names[name] ?? name, placeholderValue(value)];
      }),
    ),
    added: Object.fromEntries(
      clause('ADD').map((addition) => {
        const [name = '', value = ''] = addition.split(' ');
        return [names[name] ?? name, placeholderValue(value)];
      }),
    ),
    removed: clause('REMOVE').map((name) => names[name] ?? name),
  };
}

function assigned() {
  return clauses().assigned;
}

beforeEach(() => {
  ddbMock.on(UpdateCommand).resolves({});
});

afterEach(() => {
  ddbMock.reset();
});

describe('EventLog.states', () => {
  it('reads the keys in BatchGetItem calls of at most 100, strongly consistent, asking again for the unprocessed ones', async () => {
    const keys = Array.from({ length: 101 }, (_, i) => `shopify:k${i}`);
    ddbMock
      .on(BatchGetCommand)
      .resolvesOnce({
        Responses: { 'event-log': [{ pk: 'shopify:k0', status: 'processed', appliedReplay: 'r-1' }] },
        UnprocessedKeys: { 'event-log': { Keys: [{ pk: 'shopify:k1' }] } },
      })
      .resolvesOnce({
        Responses: {
          'event-log': [{ pk: 'shopify:k1', status: 'received', inAttempt: true, inAttemptWith: 3 }],
        },
      })
      .resolves({ Responses: { 'event-log': [{ pk: 'shopify:k100', status: 'failed', inAttempt: true }] } });

    const states = await log().states([...keys, 'shopify:k0']);

    const reads = ddbMock
      .commandCalls(BatchGetCommand)
      .map((call) => call.args[0].input.RequestItems?.['event-log']);
    expect(reads.map((read) => read?.Keys?.length)).toEqual([100, 1, 1]);
    expect(reads[0]).toMatchObject({ ConsistentRead: true });
    expect(reads[1]?.Keys).toEqual([{ pk: 'shopify:k1' }]);
    expect(states).toEqual(
      new Map([
        ['shopify:k0', { processed: true, appliedReplay: 'r-1', unfinishedTogether: false }],
        ['shopify:k1', { processed: false, appliedReplay: undefined, unfinishedTogether: true }],
        // Died alone: charged by begin, nothing for the processor to do about it.
        ['shopify:k100', { processed: false, appliedReplay: undefined, unfinishedTogether: false }],
      ]),
    );
  });

  it('does not charge an attempt that died along with others, and says how many were begun together', async () => {
    ddbMock
      .on(UpdateCommand)
      .resolvesOnce({ Attributes: { inAttempt: true, inAttemptWith: 4, failedAttempts: 2 } })
      .resolves({});

    await expect(log().begin(envelope(), NOW, { together: 3 })).resolves.toEqual({
      duplicate: false,
      failedAttempts: 2,
      unfinished: false,
    });
    expect(ddbMock.commandCalls(UpdateCommand)).toHaveLength(1);
    expect(assigned()).toMatchObject({ inAttempt: true, inAttemptWith: 3 });
  });
});

describe('EventLog.begin', () => {
  it('records the attempt with every field of the envelope, unless the delivery was processed', async () => {
    const delivery = envelope({ payload: { id: '1' } });

    await expect(log().begin(delivery, NOW)).resolves.toEqual({
      duplicate: false,
      failedAttempts: 0,
      unfinished: false,
    });

    expect(lastUpdate()).toMatchObject({
      TableName: 'event-log',
      Key: { pk: delivery.dedupKey },
      ConditionExpression: 'attribute_not_exists(pk) OR #status <> :processed',
      ReturnValues: 'ALL_OLD',
    });
    expect(clauses().added).toEqual({ attempts: 1 });
    expect(assigned()).toEqual({
      status: 'received',
      inAttempt: true,
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
    await log(9).begin(envelope({ payload: { id: '1' } }), NOW);

    expect(assigned()).not.toHaveProperty('payload');
    expect(assigned()).toMatchObject({ payloadBytes: 10 });
  });

  it('keeps the S3 pointer of a claim-checked payload', async () => {
    const payloadRef = { bucket: 'webhook-payloads', key: 'shopify/2022-01-01/abc.json' };

    await log().begin(envelope({ payload: undefined, payloadRef }), NOW);

    expect(assigned()).toMatchObject({ payloadRef });
    expect(assigned()).not.toHaveProperty('payload');
  });

  it('charges a previous attempt that never ended (the invocation died on it) to the delivery', async () => {
    ddbMock
      .on(UpdateCommand)
      .resolvesOnce({ Attributes: { inAttempt: true, failedAttempts: 2 } })
      .resolves({});

    await expect(log().begin(envelope(), NOW)).resolves.toEqual({
      duplicate: false,
      failedAttempts: 3,
      unfinished: true,
    });
    expect(clauses().added).toEqual({ failedAttempts: 1 });
    expect(assigned()).toMatchObject({ errorCategory: 'timeout' });
  });

  it('answers duplicate for a delivery that was already processed', async () => {
    ddbMock
      .on(UpdateCommand)
      .rejects(
        new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }),
      );

    await expect(log().begin(envelope(), NOW)).resolves.toEqual({ duplicate: true });
  });

  it('throws any other error, so the record is retried', async () => {
    ddbMock.on(UpdateCommand).rejects(new Error('ProvisionedThroughputExceededException'));

    await expect(log().begin(envelope(), NOW)).rejects.toThrow('ProvisionedThroughputExceededException');
  });
});

describe('EventLog.complete', () => {
  it('marks the delivery processed with its outcome and timing, and clears an earlier error', async () => {
    await log().complete(envelope(), { outcome: 'stale', processingTimeMs: 12, processedAt: NOW });

    expect(clauses().removed).toEqual(['errorCategory', 'errorMessage', 'inAttempt']);
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

    ddbMock
      .on(UpdateCommand)
      .resolves({ Attributes: { attempts: 3, failedAttempts: 2, dependencyFailures: 1 } });

    await expect(
      log().fail(
        { key: delivery.dedupKey, envelope: delivery },
        {
          status: 'failed',
          counts: 'own',
          begun: true,
          category: 'processing',
          message: 'Error: boom',
          now: NOW,
        },
      ),
    ).resolves.toEqual({ attempts: 3, failedAttempts: 2, dependencyFailures: 1 });

    expect(lastUpdate()?.ConditionExpression).toBe('attribute_not_exists(pk) OR #status <> :processed');
    expect(clauses().added).toEqual({ failedAttempts: 1 });
    expect(clauses().removed).toEqual(['inAttempt']);
    expect(assigned()).toMatchObject({
      status: 'failed',
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
      {
        status: 'dead',
        counts: 'own',
        begun: false,
        category: 'validation',
        message: 'ValidationError: bad',
        now: NOW,
      },
    );

    expect(lastUpdate()?.Key).toEqual({ pk: 'sqs:message-1' });
    // Never begun: the attempt is counted with its failure.
    expect(clauses().added).toEqual({ failedAttempts: 1, attempts: 1 });
    expect(assigned()).toEqual({
      provider: 'hubspot',
      // Listed to operators, under the system owner, as seen now.
      userId: 'system',
      receivedAt: NOW.toISOString(),
      receivedDay: NOW.toISOString().slice(0, 10),
      lastAttemptAt: NOW.toISOString(),
      expiresAt: NOW_SECONDS + 30 * 86_400,
      status: 'dead',
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
        {
          status: 'failed',
          counts: 'own',
          begun: true,
          category: 'timeout',
          message: 'TimeoutError',
          now: NOW,
        },
      ),
    ).resolves.toBeUndefined();
  });
});

describe('EventLog.receive', () => {
  it("records an acceptance: the entry, created received with the envelope's fields, and a receipt", async () => {
    const delivery = envelope({ payload: { id: '1' } });

    await log().receive(delivery, 'acceptance-1', NOW);

    expect(lastUpdate()).toMatchObject({ Key: { pk: delivery.dedupKey } });
    expect(lastUpdate()?.ConditionExpression).toBeUndefined();
    expect(clauses().added).toEqual({ receipts: new Set(['acceptance-1']) });
    expect(lastUpdate()?.UpdateExpression).toContain('#status = if_not_exists(#status, :i_status)');
    expect(assigned()).toMatchObject({
      status: 'received',
      receivedAt: delivery.receivedAt,
      userId: 'system',
      provider: 'shopify',
      payload: '{"id":"1"}',
      lastReceivedAt: NOW.toISOString(),
    });
  });
});
