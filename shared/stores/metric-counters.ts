import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';

/** Counters live a little over a week: long enough for the rollups and the alert evaluator. */
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

/** `YYYY-MM-DDTHH:MM` in UTC: the sort key of a counter item. */
export function minuteOf(date: Date): string {
  return date.toISOString().slice(0, 16);
}

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

/** Adds up one batch's results per provider and minute, so the batch writes each counter once. */
export class CounterTally {
  private readonly buckets = new Map<string, { provider: string; minute: string; counts: MinuteCounts }>();

  add(provider: string, at: Date, result: CountedResult): void {
    const minute = minuteOf(at);
    const id = `${provider}#${minute}`;
    let bucket = this.buckets.get(id);
    if (!bucket) {
      bucket = { provider, minute, counts: emptyCounts() };
      this.buckets.set(id, bucket);
    }
    const { counts } = bucket;
    counts.total++;
    counts[result.kind]++;
    if (result.kind === 'succeeded') {
      counts.processingMsSum += result.processingMs;
      counts.latencyMsSum += result.latencyMs;
    }
  }

  entries(): { provider: string; minute: string; counts: MinuteCounts }[] {
    return [...this.buckets.values()];
  }
}

/**
 * The per-minute counters table (pk `provider#<provider>`, sk `minute`, TTL `expiresAt`): what the
 * alert rules and the dashboards' metrics push read. Processors only ever increment (UpdateItem ADD),
 * so concurrent batches add up without reading.
 */
export class MetricCounters {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async add(provider: string, minute: string, counts: MinuteCounts): Promise<void> {
    await this.ddb.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: `provider#${provider}`, minute },
        UpdateExpression: `ADD ${COUNTERS.map((name) => `#${name} :${name}`).join(', ')} SET expiresAt = :expiresAt`,
        // Several of these names (TOTAL, for one) are DynamoDB reserved words.
        ExpressionAttributeNames: Object.fromEntries(COUNTERS.map((name) => [`#${name}`, name])),
        ExpressionAttributeValues: {
          ...Object.fromEntries(COUNTERS.map((name) => [`:${name}`, counts[name]])),
          ':expiresAt': Math.floor(Date.parse(`${minute}:00Z`) / 1000) + COUNTER_TTL_SECONDS,
        },
      }),
    );
  }
}
