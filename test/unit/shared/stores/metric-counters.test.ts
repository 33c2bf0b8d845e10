import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { CounterTally, hourOf, MetricCounters, minuteOf } from '../../../../shared/stores/metric-counters';

const ddbMock = mockClient(DynamoDBDocumentClient);

afterEach(() => {
  ddbMock.reset();
});

describe('minuteOf', () => {
  it('names the UTC minute', () => {
    expect(minuteOf(new Date('2026-03-01T23:59:59.999+02:00'))).toBe('2026-03-01T21:59');
  });
});

describe('hourOf', () => {
  it('names the UTC hour', () => {
    expect(hourOf(new Date('2026-03-01T23:59:59.999+02:00'))).toBe('2026-03-01T21');
  });
});

/** The provider counters only (every record is also counted under its owner, see below). */
function providerEntries(tally: CounterTally) {
  return tally.entries().filter(({ pk }) => pk.startsWith('provider#'));
}

describe('CounterTally', () => {
  it('adds up results per provider and minute', () => {
    const tally = new CounterTally();
    const first = new Date('2026-03-01T10:00:10Z');
    const second = new Date('2026-03-01T10:01:00Z');

    const shopify = { provider: 'shopify', ownerId: 'system' };
    tally.add(shopify, first, { kind: 'succeeded', processingMs: 30, latencyMs: 500 });
    tally.add(shopify, first, { kind: 'succeeded', processingMs: 20, latencyMs: 700 });
    tally.add(shopify, first, { kind: 'failed' });
    tally.add(shopify, second, { kind: 'dead' });
    tally.add({ provider: 'hubspot', ownerId: 'system' }, first, { kind: 'duplicates' });

    expect(providerEntries(tally)).toEqual([
      {
        pk: 'provider#shopify',
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
        // The time its latest event (processed or dead) was counted.
        lastEventAt: first.toISOString(),
      },
      {
        pk: 'provider#shopify',
        minute: '2026-03-01T10:01',
        counts: expect.objectContaining({ total: 1, dead: 1 }),
        lastEventAt: second.toISOString(),
      },
      {
        pk: 'provider#hubspot',
        minute: '2026-03-01T10:00',
        // A duplicate is no event: the bucket has no latest event.
        counts: expect.objectContaining({ total: 1, duplicates: 1, succeeded: 0 }),
      },
    ]);
  });

  it("counts each owner's records of a provider apart, per minute and per hour", () => {
    const tally = new CounterTally();
    const at = new Date('2026-03-01T10:00:10Z');
    tally.add({ provider: 'shopify', ownerId: 'system' }, at, { kind: 'dead' });
    tally.add({ provider: 'shopify', ownerId: 'tenant/a#1' }, at, { kind: 'dead' });
    tally.add({ provider: 'shopify', ownerId: 'tenant/a#1' }, at, { kind: 'dead' });

    const owners = tally
      .entries()
      .filter(({ pk }) => pk.startsWith('owner#'))
      .map(({ pk, minute, counts }) => [pk, minute, counts.total]);
    // The owner is URI-encoded: a `#` in a user id cannot run into the provider.
    expect(owners).toEqual([
      ['owner#system#shopify', '2026-03-01T10:00', 1],
      ['owner#system#shopify#hour', '2026-03-01T10', 1],
      ['owner#tenant%2Fa%231#shopify', '2026-03-01T10:00', 2],
      ['owner#tenant%2Fa%231#shopify#hour', '2026-03-01T10', 2],
    ]);
    expect(providerEntries(tally).map(({ counts }) => counts.total)).toEqual([3]);
  });

  it("also counts a config's records under the config, per minute and per hour", () => {
    const tally = new CounterTally();
    const subject = { provider: 'shopify', ownerId: 'alice', configId: 'c1' };
    tally.add(subject, new Date('2026-03-01T10:00:10Z'), {
      kind: 'succeeded',
      processingMs: 30,
      latencyMs: 5,
    });
    tally.add(subject, new Date('2026-03-01T10:59:59Z'), { kind: 'dead' });

    const keys = tally
      .entries()
      .filter(({ pk }) => !pk.startsWith('owner#'))
      .map(({ pk, minute, counts }) => [pk, minute, counts.total]);
    expect(keys).toEqual([
      ['provider#shopify', '2026-03-01T10:00', 1],
      ['config#c1', '2026-03-01T10:00', 1],
      ['config#c1#hour', '2026-03-01T10', 2],
      ['provider#shopify', '2026-03-01T10:59', 1],
      ['config#c1', '2026-03-01T10:59', 1],
    ]);
  });
});

describe('MetricCounters.read', () => {
  it('queries one counter over a range of buckets, following pages, with missing counters as 0', async () => {
    ddbMock
      .on(QueryCommand)
      .resolvesOnce({
        Items: [{ pk: 'config#c1', minute: '2026-03-01T10:00', total: 2, succeeded: 2 }],
        LastEvaluatedKey: { pk: 'config#c1', minute: '2026-03-01T10:00' },
      })
      .resolvesOnce({ Items: [{ pk: 'config#c1', minute: '2026-03-01T10:05', total: 1, dead: 1 }] });
    const counters = new MetricCounters(
      DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' })),
      'metric-counters',
    );

    const buckets = await counters.read('config#c1', '2026-03-01T09:06', '2026-03-01T10:05');

    expect(
      buckets.map((bucket) => [
        bucket.minute,
        bucket.counts.total,
        bucket.counts.succeeded,
        bucket.counts.dead,
      ]),
    ).toEqual([
      ['2026-03-01T10:00', 2, 2, 0],
      ['2026-03-01T10:05', 1, 0, 1],
    ]);
    const calls = ddbMock.commandCalls(QueryCommand);
    expect(calls).toHaveLength(2);
    expect(calls[0]?.args[0].input.ExpressionAttributeValues).toEqual({
      ':pk': 'config#c1',
      ':from': '2026-03-01T09:06',
      ':to': '2026-03-01T10:05',
    });
    expect(calls[1]?.args[0].input.ExclusiveStartKey).toEqual({
      pk: 'config#c1',
      minute: '2026-03-01T10:00',
    });
  });
});

describe('MetricCounters.add', () => {
  it("sets the bucket's latest event time with the counts, when the batch had an event", async () => {
    ddbMock.on(UpdateCommand).resolves({});
    const counters = new MetricCounters(
      DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' })),
      'metric-counters',
    );
    const counts = {
      total: 1,
      succeeded: 1,
      duplicates: 0,
      failed: 0,
      dead: 0,
      processingMsSum: 5,
      latencyMsSum: 9,
    };

    await counters.add('provider#shopify', '2026-03-01T10:00', counts, '2026-03-01T10:00:42.000Z');

    const input = ddbMock.commandCalls(UpdateCommand)[0]?.args[0].input;
    expect(input?.UpdateExpression).toMatch(/ SET expiresAt = :expiresAt, lastEventAt = :lastEventAt$/);
    expect(input?.ExpressionAttributeValues?.[':lastEventAt']).toBe('2026-03-01T10:00:42.000Z');
  });

  it('increments every counter of the minute in one UpdateItem and expires it after 8 days', async () => {
    ddbMock.on(UpdateCommand).resolves({});
    const counters = new MetricCounters(
      DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' })),
      'metric-counters',
    );

    await counters.add('provider#salesforce', '2026-03-01T10:00', {
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
