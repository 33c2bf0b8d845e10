import { randomBytes } from 'node:crypto';
import {
  type DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { ProviderName } from '../envelope';
import { REJECTION_CAUSES, type RejectionCause, type RejectionDetail } from '../rejections/causes';
import { minuteOf } from './metric-counters';

/** One refused delivery as recorded: who it was for, why, and where it came from. Never a body or secret. */
export interface Rejection {
  /** The config's owner, or the system owner for a provider-wide endpoint. */
  ownerId: string;
  provider: ProviderName;
  configId?: string;
  status: number;
  cause: RejectionCause;
  detail?: RejectionDetail;
  /** The message the sender was answered. */
  message: string;
  sourceIp: string;
  userAgent?: string;
  bodyBytes: number;
  receivedAt: string;
}

/** A recorded rejection, with its id (unique within its owner). */
export interface StoredRejection extends Rejection {
  id: string;
}

/** Counts per provider and cause. */
export type RejectionCounts = Partial<Record<ProviderName, Partial<Record<RejectionCause, number>>>>;

export interface RejectionQuery {
  /** One owner's rejections; undefined: every owner's (operators). */
  ownerId?: string;
  provider?: ProviderName;
  cause?: RejectionCause;
  configId?: string;
  since: string;
  until: string;
  limit: number;
  /** The key the previous page stopped at. */
  after?: Record<string, unknown>;
}

/** The table's index of every owner's rejections, one partition per UTC day. */
export const REJECTIONS_BY_DAY_INDEX = 'byDay';

/** Rejections are kept a week; their counters two days (the API counts over 24 h at most). */
const DETAIL_TTL_SECONDS = 7 * 86_400;
const COUNTER_TTL_SECONDS = 2 * 86_400;

/**
 * At most this many rejections of one owner, provider and cause are recorded in full per minute;
 * beyond that they are only counted. A flood of bad requests costs one counter update each, not a
 * growing list that someone must page through.
 */
export const DETAILS_PER_MINUTE = 20;

/** The counters of every owner together: what operators and the rejection alert rules read. */
const ALL_OWNERS = '*';

const ownerPartition = (ownerId: string) => `owner#${encodeURIComponent(ownerId)}`;
const counterPartition = (ownerId: string) =>
  `counts#${ownerId === ALL_OWNERS ? ALL_OWNERS : encodeURIComponent(ownerId)}`;
const counterName = (provider: string, cause: string) => `${provider}|${cause}`;

/**
 * The rejections table (pk, sk; TTL `expiresAt`):
 * - a rejection: pk `owner#<owner>`, sk `<receivedAt>#<random>`, with `receivedDay` for the byDay index;
 * - per-minute counters: pk `counts#<owner>` (and `counts#*` for every owner), sk the minute, one
 *   number attribute per `<provider>|<cause>`.
 * The ingest functions only PutItem and UpdateItem; the management API only queries.
 */
export class RejectionStore {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly newId: () => string = () => randomBytes(6).toString('base64url'),
  ) {}

  /** Counts the rejection for its owner and for everyone, and keeps it in full while its minute has room. */
  async record(rejection: Rejection): Promise<void> {
    const at = new Date(rejection.receivedAt);
    const name = counterName(rejection.provider, rejection.cause);
    const [ownerCount] = await Promise.all([
      this.count(rejection.ownerId, name, at),
      this.count(ALL_OWNERS, name, at),
    ]);
    if (ownerCount > DETAILS_PER_MINUTE) return;
    const id = `${rejection.receivedAt}#${this.newId()}`;
    await this.ddb.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: ownerPartition(rejection.ownerId),
          sk: id,
          receivedDay: rejection.receivedAt.slice(0, 10),
          ...rejection,
          expiresAt: Math.floor(at.getTime() / 1000) + DETAIL_TTL_SECONDS,
        },
      }),
    );
  }

  /** Newest first, filtered, at most `limit`, with the key to continue from. */
  async list(query: RejectionQuery): Promise<{ items: StoredRejection[]; next?: Record<string, unknown> }> {
    const filters: string[] = [];
    const values: Record<string, unknown> = {};
    for (const [name, value] of [
      ['provider', query.provider],
      ['cause', query.cause],
      ['configId', query.configId],
    ] as const) {
      if (value === undefined) continue;
      filters.push(`#${name} = :${name}`);
      values[`:${name}`] = value;
    }
    const filter =
      filters.length === 0
        ? {}
        : {
            FilterExpression: filters.join(' AND '),
            ExpressionAttributeNames: Object.fromEntries(
              filters.map((clause) => {
                const name = clause.slice(1, clause.indexOf(' '));
                return [`#${name}`, name];
              }),
            ),
          };
    const range = { ':from': query.since, ':to': `${query.until}\uffff` };
    const partitions =
      query.ownerId !== undefined
        ? [{ key: 'pk', value: ownerPartition(query.ownerId), index: undefined }]
        : daysBetween(query.since, query.until).map((day) => ({
            key: 'receivedDay',
            value: day,
            index: REJECTIONS_BY_DAY_INDEX,
          }));
    const items: StoredRejection[] = [];
    let after = query.after;
    // Resume in the partition the cursor names (a day of the byDay index), skipping newer ones.
    let start = 0;
    if (after && query.ownerId === undefined) {
      start = Math.max(
        0,
        partitions.findIndex((p) => p.value === after?.receivedDay),
      );
    }
    for (let p = start; p < partitions.length; p++) {
      const partition = partitions[p] as (typeof partitions)[number];
      let startKey = p === start ? after : undefined;
      do {
        const input: QueryCommandInput = {
          TableName: this.tableName,
          IndexName: partition.index,
          KeyConditionExpression: `#key = :key AND sk BETWEEN :from AND :to`,
          ExpressionAttributeNames: { '#key': partition.key, ...(filter.ExpressionAttributeNames ?? {}) },
          ExpressionAttributeValues: { ':key': partition.value, ...range, ...values },
          ...(filter.FilterExpression ? { FilterExpression: filter.FilterExpression } : {}),
          ScanIndexForward: false,
          Limit: query.limit,
          ExclusiveStartKey: startKey,
        };
        const page = await this.ddb.send(new QueryCommand(input));
        for (const item of page.Items ?? []) {
          items.push(toStored(item));
          if (items.length === query.limit) {
            const next = {
              pk: item.pk,
              sk: item.sk,
              ...(partition.index ? { receivedDay: item.receivedDay } : {}),
            };
            return { items, next };
          }
        }
        startKey = page.LastEvaluatedKey;
      } while (startKey);
      after = undefined;
    }
    return { items };
  }

  /** Counts per provider and cause of one owner (or, without one, of every owner) over whole minutes. */
  async counts(ownerId: string | undefined, since: Date, until: Date): Promise<RejectionCounts> {
    const counts: RejectionCounts = {};
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.ddb.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
          ExpressionAttributeValues: {
            ':pk': counterPartition(ownerId ?? ALL_OWNERS),
            ':from': minuteOf(since),
            ':to': minuteOf(until),
          },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        for (const [name, value] of Object.entries(item)) {
          const [provider, cause] = name.split('|') as [ProviderName, RejectionCause];
          if (cause === undefined || typeof value !== 'number' || !isCause(cause)) continue;
          const byCause = counts[provider] ?? {};
          byCause[cause] = (byCause[cause] ?? 0) + value;
          counts[provider] = byCause;
        }
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return counts;
  }

  private async count(ownerId: string, name: string, at: Date): Promise<number> {
    const { Attributes } = await this.ddb.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: counterPartition(ownerId), sk: minuteOf(at) },
        UpdateExpression: 'ADD #count :one SET expiresAt = if_not_exists(expiresAt, :expiresAt)',
        ExpressionAttributeNames: { '#count': name },
        ExpressionAttributeValues: {
          ':one': 1,
          ':expiresAt': Math.floor(at.getTime() / 1000) + COUNTER_TTL_SECONDS,
        },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    const count = Attributes?.[name];
    return typeof count === 'number' ? count : 0;
  }
}

/** The total over providers and causes. */
export function totalOf(counts: RejectionCounts, provider?: ProviderName): number {
  let total = 0;
  for (const [name, byCause] of Object.entries(counts)) {
    if (provider !== undefined && name !== provider) continue;
    for (const value of Object.values(byCause ?? {})) total += value ?? 0;
  }
  return total;
}

const CAUSES: ReadonlySet<string> = new Set(REJECTION_CAUSES);
const isCause = (value: string): value is RejectionCause => CAUSES.has(value);

/** UTC days from the newest to the oldest of a range (ISO timestamps). */
function daysBetween(since: string, until: string): string[] {
  const days: string[] = [];
  const first = Date.parse(`${since.slice(0, 10)}T00:00:00Z`);
  for (let day = Date.parse(`${until.slice(0, 10)}T00:00:00Z`); day >= first; day -= 86_400_000)
    days.push(new Date(day).toISOString().slice(0, 10));
  return days;
}

function toStored(item: Record<string, unknown>): StoredRejection {
  const { pk: _pk, sk, receivedDay: _day, expiresAt: _ttl, ...rest } = item;
  return { ...(rest as unknown as Rejection), id: String(sk) };
}
