import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { DynamoDbRateLimiter, slidingWindowDecision } from '../../../../shared/stores/rate-limiter';

const ddbMock = mockClient(DynamoDBDocumentClient);

afterEach(() => {
  ddbMock.reset();
});

describe('slidingWindowDecision', () => {
  it('allows while the estimate stays strictly below the limit', () => {
    expect(slidingWindowDecision(0, 99, 100, 0.5)).toEqual({ allowed: true });
    expect(slidingWindowDecision(0, 100, 100, 0.5).allowed).toBe(false);
  });

  it('weights the previous minute by the part of it still inside the window', () => {
    // 100 * (1 - 0.25) + 24 = 99 < 100; + 25 = 100 is not.
    expect(slidingWindowDecision(100, 24, 100, 0.25).allowed).toBe(true);
    expect(slidingWindowDecision(100, 25, 100, 0.25).allowed).toBe(false);
  });

  it('counts the whole previous minute at the very start of a minute and none of it at its end', () => {
    expect(slidingWindowDecision(100, 0, 100, 0).allowed).toBe(false);
    expect(slidingWindowDecision(99, 0, 100, 0).allowed).toBe(true);
    expect(slidingWindowDecision(1000, 99, 100, 0.999_99).allowed).toBe(true);
  });

  it('asks to wait until the previous minute has slid out enough', () => {
    // 100 * (1 - f) + 50 < 100 once f > 0.5: at f = 0.25 that is 15 s away, so 16 (strictly after).
    expect(slidingWindowDecision(100, 50, 100, 0.25)).toEqual({ allowed: false, retryAfterSeconds: 16 });
  });

  it('asks to wait into the next minute when this minute alone is at the limit', () => {
    // Next minute: 2 * (1 - f) < 2 for any f > 0, so the end of this minute (30 s) and a second.
    expect(slidingWindowDecision(0, 2, 2, 0.5)).toEqual({ allowed: false, retryAfterSeconds: 31 });
    // 4 over a limit of 2: half of the next minute as well.
    expect(slidingWindowDecision(0, 4, 2, 0.5)).toEqual({ allowed: false, retryAfterSeconds: 61 });
  });

  it('never asks for less than one second', () => {
    expect(slidingWindowDecision(100, 0, 100, 0)).toEqual({ allowed: false, retryAfterSeconds: 1 });
  });
});

describe('DynamoDbRateLimiter', () => {
  const at = new Date('2026-03-01T10:00:45.000Z');
  const minute = Math.floor(at.getTime() / 60_000);

  function counts(current: number, previous: number) {
    ddbMock
      .on(UpdateCommand, { Key: { pk: `config#c1#${minute}` }, ExpressionAttributeValues: { ':amount': 1 } })
      .resolves({ Attributes: { count: current } })
      .on(UpdateCommand, { Key: { pk: `config#c1#${minute - 1}` } })
      .resolves(previous === 0 ? { Attributes: { expiresAt: 1 } } : { Attributes: { count: previous } })
      .on(UpdateCommand, { ExpressionAttributeValues: { ':amount': -1 } })
      .resolves({});
  }

  function limiter() {
    return new DynamoDbRateLimiter(DynamoDBDocumentClient.from(new DynamoDBClient({})), 'rate-limits');
  }

  it('adds one to the current minute, reads the previous one and allows under the limit', async () => {
    counts(3, 0);

    expect(await limiter().consume('config#c1', 10, at)).toEqual({ allowed: true });

    const calls = ddbMock.commandCalls(UpdateCommand).map((call) => call.args[0].input);
    expect(calls).toHaveLength(2);
    expect(calls[0]).toMatchObject({
      TableName: 'rate-limits',
      Key: { pk: `config#c1#${minute}` },
      UpdateExpression: 'ADD #count :amount SET expiresAt = if_not_exists(expiresAt, :expiresAt)',
      ExpressionAttributeValues: { ':amount': 1, ':expiresAt': (minute + 3) * 60 },
      ReturnValues: 'ALL_NEW',
    });
    expect(calls[1]).toMatchObject({
      Key: { pk: `config#c1#${minute - 1}` },
      UpdateExpression: 'SET expiresAt = if_not_exists(expiresAt, :expiresAt)',
    });
  });

  it('refuses over the sliding estimate, says when to retry and gives the count back', async () => {
    // 45 s into the minute: 40 * 0.25 + (9 - 1) = 18, not below 10; below once 40 * (1 - f) < 2,
    // i.e. f > 0.95, 12 s from now: 13.
    counts(9, 40);

    const decision = await limiter().consume('config#c1', 10, at);

    expect(decision).toEqual({ allowed: false, retryAfterSeconds: 13 });
    const refund = ddbMock.commandCalls(UpdateCommand, { ExpressionAttributeValues: { ':amount': -1 } });
    expect(refund).toHaveLength(1);
    expect(refund[0]?.args[0].input.Key).toEqual({ pk: `config#c1#${minute}` });
  });

  it('allows the request that brings the estimate just below the limit', async () => {
    // 8 * 0.25 + (8 - 1) = 9 < 10.
    counts(8, 8);
    expect((await limiter().consume('config#c1', 10, at)).allowed).toBe(true);
    expect(
      ddbMock.commandCalls(UpdateCommand, { ExpressionAttributeValues: { ':amount': -1 } }),
    ).toHaveLength(0);
  });
});
