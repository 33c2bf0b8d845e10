import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';

const WINDOW_MS = 60_000;

export interface RateLimitDecision {
  allowed: boolean;
  /** Whole seconds until a request would be allowed again (only when refused). */
  retryAfterSeconds?: number;
}

/**
 * The sliding-window estimate (as in Cloudflare's and nginx's limiters): the previous minute's
 * count, weighted by how much of it still overlaps the last 60 s, plus the current minute's.
 * `current` counts the requests allowed before this one; it is allowed if the estimate is below
 * `limit`. When refused, `retryAfterSeconds` is the wait until the estimate drops below the limit
 * again assuming nothing else is allowed meanwhile (at least 1).
 */
export function slidingWindowDecision(
  previous: number,
  current: number,
  limit: number,
  elapsedFraction: number,
): RateLimitDecision {
  if (previous * (1 - elapsedFraction) + current < limit) return { allowed: true };
  let waitFraction: number;
  if (current < limit && previous > 0) {
    // Later in this minute: previous * (1 - f) + current < limit  <=>  f > 1 - (limit - current) / previous.
    waitFraction = 1 - (limit - current) / previous - elapsedFraction;
  } else {
    // Next minute, where this minute's count becomes the weighted one: current * (1 - f) < limit.
    waitFraction = 1 - elapsedFraction + Math.max(0, 1 - limit / current);
  }
  // Strictly after the boundary (the comparison is strict), in whole seconds, at least one; rounded
  // to the millisecond first so float noise (11999.999... ms) does not land on the boundary itself.
  const waitMs = Math.round(waitFraction * WINDOW_MS);
  return { allowed: false, retryAfterSeconds: Math.max(1, Math.floor(waitMs / 1000) + 1) };
}

export interface RateLimiter {
  /**
   * Counts `weight` (default 1: one request; a delivery's events otherwise) against `key` if they
   * are allowed under `limit` per minute: all of them, or none.
   */
  consume(key: string, limit: number, now: Date, weight?: number): Promise<RateLimitDecision>;
}

/**
 * A sliding-window limiter shared by every Lambda instance: one counter item per key and minute
 * (pk `<key>#<minute epoch>`, TTL `expiresAt`) in the rate-limit table, touched with UpdateItem only.
 * Each request ADDs its weight to the current minute and reads the previous minute (an UpdateItem
 * that only sets the TTL if absent, so it needs no GetItem permission), both in parallel. It is
 * allowed if the window's estimate before it plus its weight stays within the limit. A refused
 * request gives its count back, so a flood that is being refused does not keep the tenant over its
 * limit.
 */
export class DynamoDbRateLimiter implements RateLimiter {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async consume(key: string, limit: number, now: Date, weight = 1): Promise<RateLimitDecision> {
    if (weight <= 0) return { allowed: true };
    const minute = Math.floor(now.getTime() / WINDOW_MS);
    const elapsedFraction = (now.getTime() - minute * WINDOW_MS) / WINDOW_MS;
    const [current, previous] = await Promise.all([
      this.add(key, minute, weight),
      this.add(key, minute - 1, 0),
    ]);
    // `current - weight` were allowed before; the last of this request's units must still fit.
    const decision = slidingWindowDecision(previous, current - 1, limit, elapsedFraction);
    if (!decision.allowed) await this.add(key, minute, -weight);
    return decision;
  }

  private async add(key: string, minute: number, amount: number): Promise<number> {
    const { Attributes } = await this.ddb.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: `${key}#${minute}` },
        UpdateExpression:
          amount === 0
            ? 'SET expiresAt = if_not_exists(expiresAt, :expiresAt)'
            : 'ADD #count :amount SET expiresAt = if_not_exists(expiresAt, :expiresAt)',
        ExpressionAttributeNames: amount === 0 ? undefined : { '#count': 'count' },
        ExpressionAttributeValues:
          amount === 0
            ? { ':expiresAt': expiresAt(minute) }
            : { ':amount': amount, ':expiresAt': expiresAt(minute) },
        ReturnValues: 'ALL_NEW',
      }),
    );
    const count = Attributes?.count;
    return typeof count === 'number' ? count : 0;
  }
}

/** Counters are needed for two minutes; DynamoDB's TTL sweep is lazy, so a little slack costs nothing. */
function expiresAt(minute: number): number {
  return (minute + 3) * (WINDOW_MS / 1000);
}
