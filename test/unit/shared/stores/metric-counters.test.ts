import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { CounterTally, MetricCounters, minuteOf } from '../../../../shared/stores/metric-counters';

const ddbMock = mockClient(DynamoDBDocumentClient);

afterEach(() => {
  ddbMock.reset();
});

describe('minuteOf', () => {
  it('names the UTC minute', () => {
    expect(minuteOf(new Date('2026-03-01T23:59:59.999+02:00'))).toBe('2026-03-01T21:59');
  });
});

describe('CounterTally', () => {
  it('adds up results per provider and minute', () => {
    const tally = new CounterTally();
    const first = new Date('2026-03-01T10:00:10Z');
    const second = new Date('2026-03-01T10:01:00Z');

    tally.add('shopify', first, { kind: 'succeeded', processingMs: 30, latencyMs: 500 });
    tally.add('shopify', first, { kind: 'succeeded', processingMs: 20, latencyMs: 700 });
    tally.add('shopify', first, { kind: 'failed' });
    tally.add('shopify', second, { kind: 'dead' });
    tally.add('hubspot', first, { kind: 'duplicates' });

    expect(tally.entries()).toEqual([
      {
        provider: 'shopify',
        minute: '2026-03-01T10:00',
        counts: {
          total: 3,
          succeeded: 2,
          duplicates: 0,
          failed: 1,
          dead: 0,
          processingMsSum: 50,
          latencyMsSum: 1200,
        },
      },
      {
        provider: 'shopify',
        minute: '2026-03-01T10:01',
        counts: expect.objectContaining({ total: 1, dead: 1 }),
      },
      {
        provider: 'hubspot',
        minute: '2026-03-01T10:00',
        counts: expect.objectContaining({ total: 1, duplicates: 1, succeeded: 0 }),
      },
    ]);
  });
});

describe('MetricCounters.add', () => {
  it('increments every counter of the minute in one UpdateItem and expires it after 8 days', async () => {
    ddbMock.on(UpdateCommand).resolves({});
    const counters = new MetricCounters(
      DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' })),
      'metric-counters',
    );

    await counters.add('salesforce', '2026-03-01T10:00', {
      total: 4,
      succeeded: 2,
      duplicates: 0,
      failed: 1,
      dead: 1,
      processingMsSum: 80,
      latencyMsSum: 900,
    });

    const [call] = ddbMock.commandCalls(UpdateCommand);
    expect(ddbMock.commandCalls(UpdateCommand)).toHaveLength(1);
    const input = call?.args[0].input;
    expect(input).toMatchObject({
      TableName: 'metric-counters',
      Key: { pk: 'provider#salesforce', minute: '2026-03-01T10:00' },
      UpdateExpression:
        'ADD #total :total, #succeeded :succeeded, #duplicates :duplicates, #failed :failed, #dead :dead, ' +
        '#processingMsSum :processingMsSum, #latencyMsSum :latencyMsSum SET expiresAt = :expiresAt',
    });
    expect(input?.ExpressionAttributeValues).toEqual({
      ':total': 4,
      ':succeeded': 2,
      ':duplicates': 0,
      ':failed': 1,
      ':dead': 1,
      ':processingMsSum': 80,
      ':latencyMsSum': 900,
      ':expiresAt': Date.parse('2026-03-01T10:00:00Z') / 1000 + 8 * 86_400,
    });
  });
});
