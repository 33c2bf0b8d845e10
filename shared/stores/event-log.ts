import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Envelope } from '../envelope';
import type { ErrorCategory } from '../errors';
import { SYSTEM_OWNER } from '../owner';

export type EventStatus = 'received' | 'processed' | 'failed' | 'dead';

/** What applying a processed delivery did (see shared/process/processor.ts). */
export type AppliedOutcome = 'applied' | 'stale' | 'ignored';

export interface Completion {
  outcome: AppliedOutcome;
  processingTimeMs: number;
  processedAt: Date;
}

/**
 * What the log knows about a delivery that failed: a valid envelope, or for a message whose body is
 * not one (it never will be), the few fields that could be read from it.
 */
export interface FailedDelivery {
  /** The event log key: the envelope's dedup key, or one made from the SQS message. */
  key: string;
  envelope?: Envelope;
  /** Best-effort fields of an invalid message, for the operator (its owner, if it names one). */
  raw?: Partial<
    Record<'provider' | 'eventType' | 'objectType' | 'objectId' | 'deliveryId' | 'ownerId', string>
  >;
}

export interface Failure {
  status: Extract<EventStatus, 'failed' | 'dead'>;
  attempt: number;
  category: ErrorCategory;
  message: string;
  now: Date;
}

/** What processing needs from the event log; the local stack's chaos wiring wraps it. */
export type EventLogPort = Pick<EventLog, 'begin' | 'complete' | 'fail'>;

export interface EventLogOptions {
  retentionDays: number;
  /** A payload whose JSON is larger is not copied into the item (a claim-checked one keeps its S3 pointer). */
  payloadMaxBytes?: number;
  /**
   * The queues' redrive maxReceiveCount: an attempt on that receive is the last one SQS makes, so
   * `begin` marks it dead until it completes (see begin).
   */
  maxReceiveCount?: number;
}

/** What a final attempt says until it completes or fails with its own reason. */
export const FINAL_ATTEMPT_UNFINISHED = 'The final attempt did not finish (the invocation timed out or died)';

const DEFAULT_PAYLOAD_MAX_BYTES = 64 * 1024;

/**
 * The event log's index of one owner's deliveries (newest `receivedAt` first). Its key attribute is
 * `userId`, which holds the owner: a user's id, or the system owner for provider-wide deliveries.
 */
export const EVENTS_BY_USER_INDEX = 'byUser';

/** The index of every owner's deliveries, one partition per UTC day (`receivedDay`), for operators. */
export const EVENTS_BY_DAY_INDEX = 'byDay';

/**
 * What the indexes carry besides their keys: everything a list shows, never the payload (which would
 * double the write cost of every delivery). Also the projection of the indexes in the stack.
 */
export const EVENT_LIST_ATTRIBUTES = [
  'status',
  'attempts',
  'provider',
  'eventType',
  'objectType',
  'objectId',
  'deliveryId',
  'configId',
  'priority',
  'occurredAt',
  'lastAttemptAt',
  'processedAt',
  'processingTimeMs',
  'outcome',
  'errorCategory',
  'errorMessage',
  'payloadBytes',
  'replayCount',
] as const;

/** The byDay index also carries the owner, which is a key of byUser (and so not listed above). */
export const EVENT_DAY_LIST_ATTRIBUTES = [...EVENT_LIST_ATTRIBUTES, 'userId'] as const;

/** One delivery as the log stores it (see EventLog). */
export interface StoredEvent {
  pk: string;
  status: EventStatus;
  attempts: number;
  provider?: string;
  eventType?: string;
  objectType?: string;
  objectId?: string;
  deliveryId?: string;
  orderingKey?: string;
  priority?: string;
  meta?: Record<string, string>;
  configId?: string;
  /** Where the delivery came from (envelope `source`). */
  sourceIp?: string;
  userAgent?: string;
  signature?: string;
  /** The owner (a user's id, or the system owner); named for the byUser index it keys. */
  userId?: string;
  occurredAt?: string;
  receivedAt?: string;
  /** `YYYY-MM-DD` of receivedAt: the byDay index's partition. */
  receivedDay?: string;
  lastAttemptAt?: string;
  processedAt?: string;
  processingTimeMs?: number;
  outcome?: AppliedOutcome;
  errorCategory?: ErrorCategory;
  errorMessage?: string;
  payload?: string;
  payloadRef?: { bucket: string; key: string };
  payloadBytes?: number;
  replayCount?: number;
  replayedAt?: string;
}

/** A page of deliveries, newest first, narrowed by the optional filters. */
export interface EventQuery {
  /** One owner's deliveries; undefined: every owner's (operators). */
  ownerId?: string;
  provider?: string;
  status?: EventStatus;
  eventType?: string;
  /** Inclusive bounds on receivedAt (ISO 8601, UTC). */
  since?: string;
  until?: string;
  limit: number;
  /** Where the previous page stopped (its `next`). */
  after?: Record<string, unknown>;
  /** The newest day an every-owner listing starts from when `until` is absent. */
  now?: Date;
}

export interface EventPage {
  items: StoredEvent[];
  /** The key to continue after; absent on the last page. */
  next?: Record<string, unknown>;
}

/** Filtered queries read at most this many index pages per request, then hand back a cursor. */
const MAX_PAGES_PER_LIST = 10;

/**
 * The event log: one item per delivery, keyed by its dedup key. Writes are conditional so a
 * delivery that was already processed is recognised and never applied twice; a `failed` or `dead`
 * one can be attempted again (a retry, or a replay).
 *
 * Item: pk, status, attempts, provider, eventType, objectType, objectId, deliveryId, orderingKey,
 * priority, meta, occurredAt, receivedAt, lastAttemptAt, payload (the JSON text, when it is at most
 * `payloadMaxBytes`) or payloadRef (S3 claim check), payloadBytes, and then either processedAt,
 * processingTimeMs and outcome, or errorCategory and errorMessage; expiresAt is the TTL.
 */
export class EventLog {
  private readonly retentionDays: number;
  private readonly payloadMaxBytes: number;
  private readonly maxReceiveCount: number;

  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly tableName: string,
    options: number | EventLogOptions,
  ) {
    const resolved = typeof options === 'number' ? { retentionDays: options } : options;
    this.retentionDays = resolved.retentionDays;
    this.payloadMaxBytes = resolved.payloadMaxBytes ?? DEFAULT_PAYLOAD_MAX_BYTES;
    this.maxReceiveCount = resolved.maxReceiveCount ?? Number.POSITIVE_INFINITY;
  }

  /**
   * Records an attempt. Returns false when the delivery was already processed (a duplicate). A
   * replay is applied again once: it is a duplicate only if that same replay was processed.
   * The final attempt (the queue's maxReceiveCount-th receive) is recorded `dead` up front: if it
   * completes it becomes `processed`, if it fails `fail` says why; if the invocation dies on it,
   * SQS moves it to the DLQ with nothing left to say so, and the log is already right.
   */
  async begin(envelope: Envelope, attempt: number, now: Date): Promise<boolean> {
    const fields = this.envelopeFields(envelope, now);
    if (attempt >= this.maxReceiveCount)
      Object.assign(fields, { errorCategory: 'timeout', errorMessage: FINAL_ATTEMPT_UNFINISHED });
    const set = Object.keys(fields).map((name) => `#${name} = :${name}`);
    const replay = envelope.replay
      ? {
          condition: ' OR attribute_not_exists(appliedReplay) OR appliedReplay <> :replay',
          values: { ':replay': envelope.replay.id },
        }
      : { condition: '', values: {} };
    try {
      await this.ddb.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: envelope.dedupKey },
          UpdateExpression: `SET #status = :status, attempts = :attempt, ${set.join(', ')}`,
          ConditionExpression: `attribute_not_exists(pk) OR #status <> :processed${replay.condition}`,
          ExpressionAttributeNames: { '#status': 'status', ...names(fields) },
          ExpressionAttributeValues: {
            ':status': attempt >= this.maxReceiveCount ? 'dead' : 'received',
            ':processed': 'processed',
            ':attempt': attempt,
            ...replay.values,
            ...values(fields),
          },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /** Marks the delivery (or its replay) processed; clears the error of an earlier failed attempt. */
  async complete(envelope: Envelope, completion: Completion): Promise<void> {
    await this.ddb.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: envelope.dedupKey },
        UpdateExpression:
          'SET #status = :processed, processedAt = :now, processingTimeMs = :ms, outcome = :outcome' +
          `${envelope.replay ? ', appliedReplay = :replay' : ''} REMOVE errorCategory, errorMessage`,
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':processed': 'processed',
          ':now': completion.processedAt.toISOString(),
          ':ms': completion.processingTimeMs,
          ':outcome': completion.outcome,
          ...(envelope.replay ? { ':replay': envelope.replay.id } : {}),
        },
      }),
    );
  }

  /** One delivery, whoever owns it (callers check `userId`). */
  async get(key: string): Promise<StoredEvent | undefined> {
    const { Item } = await this.ddb.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: key }, ConsistentRead: true }),
    );
    return Item as StoredEvent | undefined;
  }

  /**
   * A page of deliveries, newest first: one owner's from the byUser index, or every owner's from the
   * byDay index, a day at a time from the newest. The filters are applied by DynamoDB after the key
   * condition, so a page may need several reads; after MAX_PAGES_PER_LIST of them the page is
   * returned short, with a cursor to go on from.
   */
  async list(query: EventQuery): Promise<EventPage> {
    const reader = this.pageReader(query);
    const items: StoredEvent[] = [];
    if (query.ownerId !== undefined) {
      let next = query.after;
      for (let page = 0; page < MAX_PAGES_PER_LIST && items.length < query.limit; page++) {
        next = await reader(
          EVENTS_BY_USER_INDEX,
          '#userId = :owner',
          { ':owner': query.ownerId },
          next,
          items,
        );
        if (!next) break;
      }
      return { items, next };
    }

    // Every owner: the days from the newest (until, or today) back to since (or the retention).
    const now = query.now ?? new Date();
    const oldestDay = dayOf(query.since ?? new Date(now.getTime() - this.retentionDays * 86_400_000));
    const after = query.after as { receivedDay?: string; pk?: string } | undefined;
    let day = after?.receivedDay ?? dayOf(query.until ?? now);
    let start = after?.pk === undefined ? undefined : query.after;
    for (let page = 0; page < MAX_PAGES_PER_LIST && items.length < query.limit && day >= oldestDay; page++) {
      start = await reader(EVENTS_BY_DAY_INDEX, '#receivedDay = :day', { ':day': day }, start, items);
      if (!start) day = previousDay(day);
    }
    // Mid-day: go on from the last key; between days: from the start of the next older one.
    return { items, next: start ?? (day >= oldestDay ? { receivedDay: day } : undefined) };
  }

  /**
   * Reads one page of an index into `items` (at most the ones still missing, so a page never
   * overshoots and its last evaluated key is exactly where the next starts); returns that key.
   */
  private pageReader(query: EventQuery) {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    let range = '';
    if (query.since !== undefined || query.until !== undefined) {
      range = ' AND #receivedAt BETWEEN :since AND :until';
      values[':since'] = query.since ?? '0000';
      values[':until'] = query.until ?? '9999';
    }
    const filters: string[] = [];
    for (const [name, value] of [
      ['provider', query.provider],
      ['status', query.status],
      ['eventType', query.eventType],
    ] as const) {
      if (value === undefined) continue;
      values[`:${name}`] = value;
      filters.push(`#${name} = :${name}`);
    }
    const projected = ['pk', 'receivedAt', 'receivedDay', ...EVENT_DAY_LIST_ATTRIBUTES];
    for (const name of projected) names[`#${name}`] = name;

    return async (
      index: string,
      keyCondition: string,
      keyValues: Record<string, unknown>,
      startKey: Record<string, unknown> | undefined,
      items: StoredEvent[],
    ): Promise<Record<string, unknown> | undefined> => {
      const result = await this.ddb.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: index,
          KeyConditionExpression: keyCondition + range,
          FilterExpression: filters.length > 0 ? filters.join(' AND ') : undefined,
          ProjectionExpression: projected.map((name) => `#${name}`).join(', '),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: { ...values, ...keyValues },
          ScanIndexForward: false,
          Limit: query.limit - items.length,
          ExclusiveStartKey: startKey,
        }),
      );
      items.push(...((result.Items ?? []) as StoredEvent[]));
      return result.LastEvaluatedKey;
    };
  }

  /** Notes a replay request on the delivery (how many, and the last one's time). */
  async noteReplay(key: string, now: Date): Promise<void> {
    await this.ddb.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: key },
        UpdateExpression: 'ADD replayCount :one SET replayedAt = :now',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':one': 1, ':now': now.toISOString() },
      }),
    );
  }

  /**
   * Records a failed attempt (`failed`: it will be retried) or the end of the line (`dead`: it is in
   * the DLQ). Writes every known field, since `begin` may never have run; never touches a processed
   * delivery. Returns false if the delivery was processed meanwhile.
   */
  async fail(delivery: FailedDelivery, failure: Failure): Promise<boolean> {
    const fields: Record<string, unknown> = delivery.envelope
      ? this.envelopeFields(delivery.envelope, failure.now)
      : this.rawFields(delivery.raw ?? {}, failure.now);
    Object.assign(fields, {
      status: failure.status,
      attempts: failure.attempt,
      errorCategory: failure.category,
      errorMessage: failure.message,
    });
    try {
      await this.ddb.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: delivery.key },
          UpdateExpression: `SET ${Object.keys(fields)
            .map((name) => `#${name} = :${name}`)
            .join(', ')}`,
          ConditionExpression: 'attribute_not_exists(pk) OR #status <> :processed',
          ExpressionAttributeNames: names(fields),
          ExpressionAttributeValues: { ...values(fields), ':processed': 'processed' },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /** Everything the envelope says about the delivery, written on each attempt (replay reads it back). */
  private envelopeFields(envelope: Envelope, now: Date): Record<string, unknown> {
    const fields: Record<string, unknown> = {
      provider: envelope.provider,
      eventType: envelope.eventType,
      objectType: envelope.objectType,
      objectId: envelope.objectId,
      deliveryId: envelope.deliveryId,
      orderingKey: envelope.orderingKey,
      priority: envelope.priority,
      meta: envelope.meta,
      receivedAt: envelope.receivedAt,
      receivedDay: dayOf(envelope.receivedAt),
      occurredAt: envelope.occurredAt,
      lastAttemptAt: now.toISOString(),
      expiresAt: this.expiresAt(now),
      // The owner keys the byUser index: every delivery is listed under its owner.
      userId: envelope.ownerId,
    };
    if (envelope.configId) fields.configId = envelope.configId;
    if (envelope.source) {
      fields.sourceIp = envelope.source.ip;
      if (envelope.source.userAgent !== undefined) fields.userAgent = envelope.source.userAgent;
      if (envelope.source.signature !== undefined) fields.signature = envelope.source.signature;
    }
    if (envelope.payloadRef) fields.payloadRef = envelope.payloadRef;
    if (envelope.payload !== undefined) {
      const json = JSON.stringify(envelope.payload);
      const bytes = Buffer.byteLength(json);
      fields.payloadBytes = bytes;
      if (bytes <= this.payloadMaxBytes) fields.payload = json;
    }
    return fields;
  }

  /**
   * What the log keeps of a message that is not an envelope: the fields that could be read, its
   * owner if it names one (else the system's: operators see it), and the time it was seen as its
   * receipt, so that the operators' listing shows it.
   */
  private rawFields(raw: NonNullable<FailedDelivery['raw']>, now: Date): Record<string, unknown> {
    const { ownerId, ...fields } = raw;
    return {
      ...definedOnly(fields),
      userId: ownerId ?? SYSTEM_OWNER,
      receivedAt: now.toISOString(),
      receivedDay: dayOf(now),
      lastAttemptAt: now.toISOString(),
      expiresAt: this.expiresAt(now),
    };
  }

  private expiresAt(now: Date): number {
    return Math.floor(now.getTime() / 1000) + this.retentionDays * 86_400;
  }
}

function names(fields: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.keys(fields).map((name) => [`#${name}`, name]));
}

function values(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).map(([name, value]) => [`:${name}`, value]));
}

/** `YYYY-MM-DD` (UTC) of a time. */
function dayOf(time: Date | string): string {
  return (typeof time === 'string' ? new Date(time) : time).toISOString().slice(0, 10);
}

function previousDay(day: string): string {
  return dayOf(new Date(Date.parse(`${day}T00:00:00Z`) - 86_400_000));
}

function definedOnly<T extends object>(record: T): Partial<T> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as Partial<T>;
}
