import { type DynamoDBDocumentClient, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';

/** Counters live a little over a week: long enough for the 7-day status and the alert evaluator. */
const COUNTER_TTL_SECONDS = 8 * 86_400;

/**
 * One minute of one provider's processing. Every attempt is counted once, in the minute it ended:
 * - `total` = succeeded + duplicates + failed + dead (records handled, retries included);
 * - `succeeded`: processed now (applied, stale or ignored); `duplicates`: already processed before;
 * - `failed`: a transient failure or timeout that will be retried; `dead`: in the DLQ now;
 * - `processingMsSum` and `latencyMsSum` (receivedAt -> processed) add up over `succeeded`, so
 *   their averages are `processingMsSum / succeeded` and `latencyMsSum / succeeded`.
 */
export interface MinuteCounts {
  total: number;
  succeeded: number;
  duplicates: number;
  failed: number;
  dead: number;
  processingMsSum: number;
  latencyMsSum: number;
}

export type CountedResult =
  | { kind: 'succeeded'; processingMs: number; latencyMs: number }
  | { kind: 'duplicates' | 'failed' | 'dead' };

/** `YYYY-MM-DDTHH:MM` in UTC: the sort key of a minute counter item. */
export function minuteOf(date: Date): string {
  return date.toISOString().slice(0, 16);
}

/** `YYYY-MM-DDTHH` in UTC: the sort key of an hour counter item. */
export function hourOf(date: Date): string {
  return date.toISOString().slice(0, 13);
}

/** What a processed record is counted under: its provider, its owner, and its webhook config if any. */
export interface CountedSubject {
  provider: string;
  ownerId: string;
  configId?: string;
}

/** The counter of one provider across every owner, per minute (alert rules and operators read it). */
export const providerCounter = (provider: string) => `provider#${provider}`;
/** The counters of one webhook config, per minute and per hour (the status API reads them). */
export const configMinuteCounter = (configId: string) => `config#${configId}`;
export const configHourCounter = (configId: string) => `config#${configId}#hour`;
/**
 * The counters of one owner's deliveries of one provider, per minute and per hour: the status of the
 * provider-wide endpoints (the system owner's) and each user's metrics push.
 */
export const ownerMinuteCounter = (ownerId: string, provider: string) =>
  `owner#${encodeURIComponent(ownerId)}#${provider}`;
export const ownerHourCounter = (ownerId: string, provider: string) =>
  `${ownerMinuteCounter(ownerId, provider)}#hour`;

const COUNTERS = [
  'total',
  'succeeded',
  'duplicates',
  'failed',
  'dead',
  'processingMsSum',
  'latencyMsSum',
] as const satisfies readonly (keyof MinuteCounts)[];

function emptyCounts(): MinuteCounts {
  return { total: 0, succeeded: 0, duplicates: 0, failed: 0, dead: 0, processingMsSum: 0, latencyMsSum: 0 };
}

export interface CounterBucket {
  /** The counter (`provider#…`, `owner#…`, `config#…`, with `#hour` for an hour counter). */
  pk: string;
  /** Its minute (`YYYY-MM-DDTHH:MM`) or, for an hour counter, its hour (`YYYY-MM-DDTHH`). */
  minute: string;
  counts: MinuteCounts;
  /** When the bucket's latest event (processed or dead) ended, if it has one (ISO 8601). */
  lastEventAt?: string;
}

/**
 * Adds up one batch's results per counter and bucket, so the batch writes each counter once: the
 * provider's minute, the owner's minute and hour for that provider, and for a record of a webhook
 * config, that config's minute and hour (the hour rollups keep a 7-day status read at 168 items
 * instead of 10,080).
 */
export class CounterTally {
  private readonly buckets = new Map<string, CounterBucket>();

  add(subject: CountedSubject, at: Date, result: CountedResult): void {
    this.addTo(providerCounter(subject.provider), minuteOf(at), result, at);
    this.addTo(ownerMinuteCounter(subject.ownerId, subject.provider), minuteOf(at), result, at);
    this.addTo(ownerHourCounter(subject.ownerId, subject.provider), hourOf(at), result, at);
    if (subject.configId) {
      this.addTo(configMinuteCounter(subject.configId), minuteOf(at), result, at);
      this.addTo(configHourCounter(subject.configId), hourOf(at), result, at);
    }
  }

  entries(): CounterBucket[] {
    return [...this.buckets.values()];
  }

  private addTo(pk: string, minute: string, result: CountedResult, at: Date): void {
    const id = `${pk}@${minute}`;
    let bucket = this.buckets.get(id);
    if (!bucket) {
      bucket = { pk, minute, counts: emptyCounts() };
      this.buckets.set(id, bucket);
    }
    const { counts } = bucket;
    counts.total++;
    counts[result.kind]++;
    if (result.kind === 'succeeded') {
      counts.processingMsSum += result.processingMs;
      counts.latencyMsSum += result.latencyMs;
    }
    const ended = result.kind === 'succeeded' || result.kind === 'dead';
    if (ended && (bucket.lastEventAt === undefined || bucket.lastEventAt < at.toISOString()))
      bucket.lastEventAt = at.toISOString();
  }
}

/** A bucket as read back: its minute (or hour), counts and, when known, its latest event's time. */
export interface ReadBucket {
  minute: string;
  counts: MinuteCounts;
  lastEventAt?: string;
}

/**
 * The counters table (pk: the counter, sk `minute`: its minute or hour, TTL `expiresAt`): what the
 * alert rules, the dashboards' metrics push and the status API read. Processors only ever increment
 * (UpdateItem ADD), so concurrent batches add up without reading.
 */
export class MetricCounters {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /**
   * Adds a batch's counts to a bucket. `lastEventAt` (the batch's latest event) is set as it is: two
   * batches writing one bucket at once may leave the earlier of their times, never one outside it.
   */
  async add(pk: string, minute: string, counts: MinuteCounts, lastEventAt?: string): Promise<void> {
    await this.ddb.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk, minute },
        UpdateExpression: `ADD ${COUNTERS.map((name) => `#${name} :${name}`).join(', ')} SET expiresAt = :expiresAt${lastEventAt === undefined ? '' : ', lastEventAt = :lastEventAt'}`,
        // Several of these names (TOTAL, for one) are DynamoDB reserved words.
        ExpressionAttributeNames: Object.fromEntries(COUNTERS.map((name) => [`#${name}`, name])),
        ExpressionAttributeValues: {
          ...Object.fromEntries(COUNTERS.map((name) => [`:${name}`, counts[name]])),
          ':expiresAt': Math.floor(Date.parse(`${minute}:00Z`) / 1000) + COUNTER_TTL_SECONDS,
          ...(lastEventAt !== undefined && { ':lastEventAt': lastEventAt }),
        },
      }),
    );
  }

  /** The buckets of one counter from `from` to `to` (inclusive, same granularity), oldest first. */
  async read(pk: string, from: string, to: string): Promise<ReadBucket[]> {
    const buckets: ReadBucket[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.ddb.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND #minute BETWEEN :from AND :to',
          ExpressionAttributeNames: { '#minute': 'minute' },
          ExpressionAttributeValues: { ':pk': pk, ':from': from, ':to': to },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        const counts = emptyCounts();
        for (const name of COUNTERS) counts[name] = Number(item[name] ?? 0);
        const lastEventAt = typeof item.lastEventAt === 'string' ? item.lastEventAt : undefined;
        buckets.push({ minute: String(item.minute), counts, ...(lastEventAt && { lastEventAt }) });
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return buckets;
  }
}
