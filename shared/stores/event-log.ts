import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Envelope } from '../envelope';
import type { ErrorCategory } from '../errors';
import { SYSTEM_OWNER } from '../owner';

/**
 * Where a delivery is: `received` (accepted, not yet processed), `processed`, `failed` (will be
 * retried), `dead` (in a DLQ), `quarantined` (verified, but not what the provider's parser expects:
 * kept with the reason until a replay re-parses it) or `released` (a quarantined delivery re-parsed
 * into deliveries of its own, which the ledger counts instead).
 */
export type EventStatus = 'received' | 'processed' | 'failed' | 'dead' | 'quarantined' | 'released';

/** What applying a processed delivery did (see shared/process/processor.ts). */
export type AppliedOutcome = 'applied' | 'stale' | 'ignored';

export interface Completion {
  outcome: AppliedOutcome;
  processingTimeMs: number;
  processedAt: Date;
}

/** What `begin` found: a duplicate, or the attempts of the delivery's own that have failed so far. */
export type Begun =
  | { duplicate: true }
  | {
      duplicate: false;
      /** Failed attempts charged to the delivery, the unfinished previous one included. */
      failedAttempts: number;
      /** The previous attempt began and never ended (the invocation died on it): now charged. */
      unfinished: boolean;
    };

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
  /**
   * Which count the failed attempt adds to: the delivery's own (`own`: it uses up one of its
   * attempts), a dependency's (`dependency`: it does not), or none (`none`: a delivery
   * dead-lettered after its counted failure, or without an attempt).
   */
  counts: 'own' | 'dependency' | 'none';
  /** The attempt got as far as `begin` (which counted it); otherwise it is counted here. */
  begun: boolean;
  category: ErrorCategory;
  message: string;
  now: Date;
}

/** A delivery's failure counts after a failed attempt. */
export interface FailureCounts {
  attempts: number;
  failedAttempts: number;
  dependencyFailures: number;
}

/** A verified delivery the provider's parser refused, kept whole for a replay (see shared/quarantine.ts). */
export interface QuarantineEntry {
  key: string;
  provider: string;
  ownerId: string;
  configId?: string;
  /** What the request says it is (a Shopify topic...), when it says. */
  eventType?: string;
  reason: string;
  /** Where the raw request (headers, body) is kept. */
  rawRef: { bucket: string; key: string };
  bodyBytes: number;
  receivedAt: Date;
  /** This acceptance's id (ingest's receipt). */
  acceptanceId: string;
}

/** How the deliveries first received in a window ended (see EventLog.ledger). */
export interface LedgerCounts {
  /** Times ingest accepted a delivery (a provider redelivery is a receipt of its own). */
  received: number;
  processed: number;
  /** Receipts of a delivery after its first: redeliveries the event log deduplicated. */
  duplicate: number;
  quarantined: number;
  dead: number;
  /** Received, failed or not yet begun: still to end. */
  in_flight: number;
  processed_outcomes: Record<AppliedOutcome, number>;
  /** Entries ingest has no receipt for (logged before receipts were kept, or not enqueued by ingest). */
  unreceipted: number;
  /** receivedAt of the oldest delivery still in flight. */
  oldest_in_flight_at: string | null;
}

/**
 * What processing needs from the event log; the local stack's chaos wiring wraps it. Without
 * `states` every delivery is begun (the conditional write finds the duplicates).
 */
export type EventLogPort = Pick<EventLog, 'begin' | 'complete' | 'fail'> & Partial<Pick<EventLog, 'states'>>;

/** What EventLog.states knows about a delivery before its attempt. */
export interface DeliveryState {
  processed: boolean;
  /** The replay last applied (a replay is a duplicate only of itself). */
  appliedReplay?: string;
  /** Its last attempt died along with others begun together. */
  unfinishedTogether: boolean;
}

/** BatchGetItem reads at most 100 keys. */
const BATCH_GET_MAX = 100;
/** Reads of keys DynamoDB left unprocessed, the first included. */
const BATCH_GET_ROUNDS = 4;

/** An attempt left open (the invocation died) that had been begun together with others. */
function unfinishedTogether(item: Pick<StoredEvent, 'inAttempt' | 'inAttemptWith'>): boolean {
  return item.inAttempt === true && (item.inAttemptWith ?? 1) > 1;
}

export interface EventLogOptions {
  retentionDays: number;
  /** A payload whose JSON is larger is not copied into the item (a claim-checked one keeps its S3 pointer). */
  payloadMaxBytes?: number;
}

/** What a charged attempt says when the invocation died on it before it could say anything. */
export const UNFINISHED_ATTEMPT = 'The previous attempt did not finish (the invocation timed out or died)';

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
  'failedAttempts',
  'dependencyFailures',
  // The ledger counts receipts from the indexes.
  'receipts',
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
  /** Failed attempts charged to the delivery (its own fault), and failures of a dependency. */
  failedAttempts?: number;
  dependencyFailures?: number;
  /** An attempt began and has not ended yet (or never will: the invocation died on it). */
  inAttempt?: boolean;
  /** How many deliveries that attempt was begun together with, itself included (absent: alone). */
  inAttemptWith?: number;
  /** The replay last applied. */
  appliedReplay?: string;
  /** The delivery's config's limits, from its envelope (see Envelope.limits). */
  limits?: Envelope['limits'];
  /** One id per acceptance by ingest: a provider's redelivery adds one (see EventLog.receive). */
  receipts?: Set<string>;
  lastReceivedAt?: string;
  /** A quarantined delivery's raw request in the payload store. */
  rawRef?: { bucket: string; key: string };
  releasedAt?: string;
  releasedEvents?: number;
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
 * Index entries one read of a filtered list evaluates (DynamoDB applies the filter after reading,
 * up to 1 MB of the small projected entries): a rare status (dead, quarantined) under thousands of
 * processed deliveries is found in one request rather than after many empty pages.
 */
const FILTERED_READ_ENTRIES = 1000;

/**
 * The event log: one item per delivery, keyed by its dedup key. Writes are conditional so a
 * delivery that was already processed is recognised and never applied twice; a `failed` or `dead`
 * one can be attempted again (a retry, or a replay).
 *
 * Item: pk, status, provider, eventType, objectType, objectId, deliveryId, orderingKey, priority,
 * meta, occurredAt, receivedAt (the first acceptance), lastAttemptAt, payload (the JSON text, when it
 * is at most `payloadMaxBytes`) or payloadRef (S3 claim check), payloadBytes; the counts `attempts`
 * (begun or failed), `failedAttempts` (charged to the delivery) and `dependencyFailures` (not
 * charged); `receipts` (one id per acceptance by ingest); and then either processedAt,
 * processingTimeMs and outcome, or errorCategory and errorMessage; expiresAt is the TTL.
 */
export class EventLog {
  private readonly retentionDays: number;
  private readonly payloadMaxBytes: number;

  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly tableName: string,
    options: number | EventLogOptions,
  ) {
    const resolved = typeof options === 'number' ? { retentionDays: options } : options;
    this.retentionDays = resolved.retentionDays;
    this.payloadMaxBytes = resolved.payloadMaxBytes ?? DEFAULT_PAYLOAD_MAX_BYTES;
  }

  /**
   * Ingest's record of an acceptance, written once SQS holds the envelope: the delivery's entry
   * (created `received` if the processor has not got to it yet, with everything the envelope says)
   * and one more receipt. A provider's redelivery of the same event adds a receipt to the same
   * entry, which is how the ledger counts duplicates; the same acceptance written twice (an SDK
   * retry) adds nothing, receipts being a set of acceptance ids.
   */
  async receive(envelope: Envelope, acceptanceId: string | readonly string[], now: Date): Promise<void> {
    const ids = new Set(typeof acceptanceId === 'string' ? [acceptanceId] : acceptanceId);
    const {
      receivedAt,
      receivedDay,
      userId,
      expiresAt,
      lastAttemptAt: _,
      ...fields
    } = this.envelopeFields(envelope, now);
    await this.update(envelope.dedupKey, {
      set: { ...fields, lastReceivedAt: now.toISOString() },
      setIfAbsent: { status: 'received', receivedAt, receivedDay, userId, expiresAt },
      // DynamoDB refuses an empty set.
      add: { receipts: ids.size > 0 ? ids : undefined },
    });
  }

  /**
   * Records an attempt. Answers `duplicate` when the delivery was already processed; a replay is
   * applied again once: it is a duplicate only if that same replay was processed. An attempt left
   * open by the previous one (the invocation died on it) is charged to the delivery here.
   */
  async begin(envelope: Envelope, now: Date, options: { together?: number } = {}): Promise<Begun> {
    const { receivedAt, receivedDay, ...fields } = this.envelopeFields(envelope, now);
    const together = options.together ?? 1;
    const replay = envelope.replay
      ? {
          condition: ' OR attribute_not_exists(appliedReplay) OR appliedReplay <> :replay',
          values: { ':replay': envelope.replay.id },
        }
      : { condition: '', values: {} };
    let before: StoredEvent | undefined;
    try {
      before = await this.update(
        envelope.dedupKey,
        {
          // Begun together with others, it says with how many (see unfinishedTogether).
          set: {
            ...fields,
            status: 'received',
            inAttempt: true,
            inAttemptWith: together > 1 ? together : undefined,
          },
          setIfAbsent: { receivedAt, receivedDay },
          add: { attempts: 1 },
          remove: together > 1 ? [] : ['inAttemptWith'],
        },
        {
          condition: `attribute_not_exists(pk) OR #status <> :processed${replay.condition}`,
          values: { ':processed': 'processed', ...replay.values },
          returnValues: 'ALL_OLD',
        },
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return { duplicate: true };
      throw error;
    }
    const failedAttempts = before?.failedAttempts ?? 0;
    // An attempt the invocation died on along with others is not charged to any one of them: the
    // processor tries such a delivery alone next, where a death is its own (see states).
    if (before?.inAttempt !== true || unfinishedTogether(before))
      return { duplicate: false, failedAttempts, unfinished: false };
    await this.update(envelope.dedupKey, {
      set: { errorCategory: 'timeout', errorMessage: UNFINISHED_ATTEMPT },
      add: { failedAttempts: 1 },
    });
    return { duplicate: false, failedAttempts: failedAttempts + 1, unfinished: true };
  }

  /**
   * What the processor needs to know before it begins a batch's deliveries, read in BatchGetItem
   * calls of up to 100 keys (strongly consistent; keys DynamoDB leaves unprocessed are asked again
   * a few times, then left unknown): which are processed already (a redelivery, or a replay already
   * applied) and which were in an attempt that died along with others. Keys without an entry are
   * left out.
   */
  async states(keys: readonly string[]): Promise<Map<string, DeliveryState>> {
    const states = new Map<string, DeliveryState>();
    const unique = [...new Set(keys)];
    for (let start = 0; start < unique.length; start += BATCH_GET_MAX) {
      let pending: Record<string, unknown>[] = unique
        .slice(start, start + BATCH_GET_MAX)
        .map((pk) => ({ pk }));
      for (let round = 0; pending.length > 0 && round < BATCH_GET_ROUNDS; round++) {
        if (round > 0) await new Promise((resolve) => setTimeout(resolve, 20 * 2 ** round));
        const result = await this.ddb.send(
          new BatchGetCommand({
            RequestItems: {
              [this.tableName]: {
                Keys: pending,
                ConsistentRead: true,
                ProjectionExpression: 'pk, #status, inAttempt, inAttemptWith, appliedReplay',
                ExpressionAttributeNames: { '#status': 'status' },
              },
            },
          }),
        );
        for (const item of (result?.Responses?.[this.tableName] ?? []) as StoredEvent[]) {
          states.set(item.pk, {
            processed: item.status === 'processed',
            appliedReplay: item.appliedReplay,
            unfinishedTogether: unfinishedTogether(item),
          });
        }
        pending = (result?.UnprocessedKeys?.[this.tableName]?.Keys ?? []) as Record<string, unknown>[];
      }
    }
    return states;
  }

  /** Marks the delivery (or its replay) processed; clears the error of an earlier failed attempt. */
  async complete(envelope: Envelope, completion: Completion): Promise<void> {
    await this.update(envelope.dedupKey, {
      set: {
        status: 'processed',
        processedAt: completion.processedAt.toISOString(),
        processingTimeMs: completion.processingTimeMs,
        outcome: completion.outcome,
        ...(envelope.replay && { appliedReplay: envelope.replay.id }),
      },
      remove: ['errorCategory', 'errorMessage', 'inAttempt'],
    });
  }

  /**
   * Records a failed attempt (`failed`: it will be retried) or the end of the line (`dead`: it is in
   * a DLQ). Writes every known field, since `begin` may never have run; never touches a processed
   * delivery. Returns the delivery's counts, or undefined if it was processed meanwhile.
   */
  async fail(delivery: FailedDelivery, failure: Failure): Promise<FailureCounts | undefined> {
    const { receivedAt, receivedDay, ...fields } = delivery.envelope
      ? this.envelopeFields(delivery.envelope, failure.now)
      : this.rawFields(delivery.raw ?? {}, failure.now);
    const add: Record<string, number> = {};
    if (failure.counts === 'own') add.failedAttempts = 1;
    if (failure.counts === 'dependency') add.dependencyFailures = 1;
    if (failure.counts !== 'none' && !failure.begun) add.attempts = 1;
    try {
      const after = await this.update(
        delivery.key,
        {
          set: {
            ...fields,
            status: failure.status,
            errorCategory: failure.category,
            errorMessage: failure.message,
          },
          setIfAbsent: { receivedAt, receivedDay },
          add,
          remove: ['inAttempt'],
        },
        {
          condition: 'attribute_not_exists(pk) OR #status <> :processed',
          values: { ':processed': 'processed' },
          returnValues: 'ALL_NEW',
        },
      );
      return {
        attempts: after?.attempts ?? 0,
        failedAttempts: after?.failedAttempts ?? 0,
        dependencyFailures: after?.dependencyFailures ?? 0,
      };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  /**
   * The DLQ sweep's write: a delivery found in a DLQ is `dead`, unless it was processed (redriving
   * it is then a duplicate) or is dead already. Returns whether it changed.
   */
  async markDeadLettered(delivery: FailedDelivery, message: string, now: Date): Promise<boolean> {
    const {
      receivedAt,
      receivedDay,
      lastAttemptAt: _,
      ...fields
    } = delivery.envelope
      ? this.envelopeFields(delivery.envelope, now)
      : this.rawFields(delivery.raw ?? {}, now);
    try {
      await this.update(
        delivery.key,
        {
          set: { ...fields, status: 'dead', errorMessage: message },
          setIfAbsent: { receivedAt, receivedDay, errorCategory: 'processing' },
          remove: ['inAttempt'],
        },
        {
          condition: 'attribute_not_exists(pk) OR (#status <> :processed AND #status <> :dead)',
          values: { ':processed': 'processed', ':dead': 'dead' },
        },
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /**
   * A verified delivery the provider's parser refused: kept `quarantined` with the reason and a
   * pointer to its raw request, owned like any delivery. The same body delivered again adds a receipt.
   */
  async quarantine(entry: QuarantineEntry): Promise<void> {
    const receivedAt = entry.receivedAt.toISOString();
    await this.update(entry.key, {
      set: {
        provider: entry.provider,
        ...(entry.eventType !== undefined && { eventType: entry.eventType }),
        ...(entry.configId !== undefined && { configId: entry.configId }),
        errorCategory: 'validation',
        errorMessage: entry.reason,
        rawRef: entry.rawRef,
        payloadBytes: entry.bodyBytes,
        lastReceivedAt: receivedAt,
      },
      setIfAbsent: {
        status: 'quarantined',
        userId: entry.ownerId,
        receivedAt,
        receivedDay: dayOf(receivedAt),
        expiresAt: this.expiresAt(entry.receivedAt),
      },
      add: { receipts: new Set([entry.acceptanceId]) },
    });
  }

  /**
   * A quarantined delivery re-parsed and enqueued as `events` deliveries of its own, which now carry
   * its receipts: the entry stays, `released`. Answers false if it was not quarantined.
   */
  async release(key: string, events: number, now: Date): Promise<boolean> {
    try {
      await this.update(
        key,
        { set: { status: 'released', releasedAt: now.toISOString(), releasedEvents: events } },
        { condition: '#status = :quarantined', values: { ':quarantined': 'quarantined' } },
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /** One delivery, whoever owns it (callers check `userId`). */
  async get(key: string): Promise<StoredEvent | undefined> {
    const { Item } = await this.ddb.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: key }, ConsistentRead: true }),
    );
    return Item as StoredEvent | undefined;
  }

  /**
   * How the deliveries first received between `since` and `until` (inclusive, ISO 8601) ended: one
   * owner's from the byUser index, or every owner's from the byDay index, day by day. Reads every
   * entry of the window (their status, outcome and receipts only).
   */
  async ledger(query: { ownerId?: string; since: string; until: string }): Promise<LedgerCounts> {
    const ledger = emptyLedger();
    const read = async (index: string, keyCondition: string, keyValues: Record<string, unknown>) => {
      let start: Record<string, unknown> | undefined;
      do {
        const page = await this.ddb.send(
          new QueryCommand({
            TableName: this.tableName,
            IndexName: index,
            KeyConditionExpression: `${keyCondition} AND #receivedAt BETWEEN :since AND :until`,
            ProjectionExpression: '#status, outcome, receipts, #receivedAt',
            ExpressionAttributeNames: {
              '#status': 'status',
              '#receivedAt': 'receivedAt',
              ...(index === EVENTS_BY_USER_INDEX
                ? { '#userId': 'userId' }
                : { '#receivedDay': 'receivedDay' }),
            },
            ExpressionAttributeValues: { ':since': query.since, ':until': query.until, ...keyValues },
            ExclusiveStartKey: start,
          }),
        );
        for (const item of (page.Items ?? []) as StoredEvent[]) tally(ledger, item);
        start = page.LastEvaluatedKey;
      } while (start);
    };
    if (query.ownerId !== undefined) {
      await read(EVENTS_BY_USER_INDEX, '#userId = :owner', { ':owner': query.ownerId });
      return ledger;
    }
    for (let day = dayOf(query.since); day <= dayOf(query.until); day = nextDay(day))
      await read(EVENTS_BY_DAY_INDEX, '#receivedDay = :day', { ':day': day });
    return ledger;
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
      const wanted = query.limit - items.length;
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
          // Unfiltered, a read never overshoots, so its last evaluated key is where the next starts.
          Limit: filters.length > 0 ? Math.max(wanted, FILTERED_READ_ENTRIES) : wanted,
          ExclusiveStartKey: startKey,
        }),
      );
      const found = (result.Items ?? []) as StoredEvent[];
      items.push(...found.slice(0, wanted));
      if (found.length <= wanted) return result.LastEvaluatedKey;
      // The page filled up mid-read: the next one starts after its last entry (the index key).
      const last = found[wanted - 1] as StoredEvent;
      return index === EVENTS_BY_USER_INDEX
        ? { pk: last.pk, userId: last.userId, receivedAt: last.receivedAt }
        : { pk: last.pk, receivedDay: last.receivedDay, receivedAt: last.receivedAt };
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
    if (envelope.limits) fields.limits = envelope.limits;
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

  /**
   * One UpdateItem of the delivery `key`: SET (or SET unless present), ADD and REMOVE attributes,
   * with an optional condition (whose `#status` and values it names); answers the item as
   * `returnValues` asks. Undefined values are left out.
   */
  private async update(
    key: string,
    change: {
      set?: Record<string, unknown>;
      setIfAbsent?: Record<string, unknown>;
      add?: Record<string, unknown>;
      remove?: readonly string[];
    },
    options: {
      condition?: string;
      values?: Record<string, unknown>;
      returnValues?: 'ALL_OLD' | 'ALL_NEW';
    } = {},
  ): Promise<StoredEvent | undefined> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = { ...options.values };
    const name = (attribute: string) => {
      names[`#${attribute}`] = attribute;
      return `#${attribute}`;
    };
    const value = (prefix: string, attribute: string, content: unknown) => {
      values[`:${prefix}${attribute}`] = content;
      return `:${prefix}${attribute}`;
    };
    const set = Object.entries(definedOnly(change.set ?? {})).map(
      ([attribute, content]) => `${name(attribute)} = ${value('s_', attribute, content)}`,
    );
    const setIfAbsent = Object.entries(definedOnly(change.setIfAbsent ?? {})).map(
      ([attribute, content]) =>
        `${name(attribute)} = if_not_exists(${name(attribute)}, ${value('i_', attribute, content)})`,
    );
    const add = Object.entries(definedOnly(change.add ?? {})).map(
      ([attribute, content]) => `${name(attribute)} ${value('a_', attribute, content)}`,
    );
    const remove = (change.remove ?? []).map(name);
    if (options.condition?.includes('#status')) name('status');
    const clauses = [
      set.length + setIfAbsent.length > 0 ? `SET ${[...set, ...setIfAbsent].join(', ')}` : '',
      add.length > 0 ? `ADD ${add.join(', ')}` : '',
      remove.length > 0 ? `REMOVE ${remove.join(', ')}` : '',
    ];
    const { Attributes } = await this.ddb.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: key },
        UpdateExpression: clauses.filter(Boolean).join(' '),
        ConditionExpression: options.condition,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: Object.keys(values).length > 0 ? values : undefined,
        ReturnValues: options.returnValues,
      }),
    );
    return Attributes as StoredEvent | undefined;
  }
}

/** The ledger of some entries (what EventLog.ledger reads from an index). */
export function ledgerOf(items: Iterable<StoredEvent>): LedgerCounts {
  const ledger = emptyLedger();
  for (const item of items) tally(ledger, item);
  return ledger;
}

function emptyLedger(): LedgerCounts {
  return {
    received: 0,
    processed: 0,
    duplicate: 0,
    quarantined: 0,
    dead: 0,
    in_flight: 0,
    processed_outcomes: { applied: 0, stale: 0, ignored: 0 },
    unreceipted: 0,
    oldest_in_flight_at: null,
  };
}

/**
 * Adds one entry to a ledger: its receipts to `received` (all but the first are duplicates), the
 * entry itself to the bucket of its status. A released entry is skipped: the deliveries it was
 * re-parsed into carry its receipts.
 */
function tally(ledger: LedgerCounts, item: StoredEvent): void {
  if (item.status === 'released') return;
  const receipts = item.receipts?.size ?? 0;
  ledger.received += receipts;
  ledger.duplicate += Math.max(0, receipts - 1);
  if (receipts === 0) ledger.unreceipted++;
  switch (item.status) {
    case 'processed':
      ledger.processed++;
      if (item.outcome) ledger.processed_outcomes[item.outcome]++;
      return;
    case 'quarantined':
      ledger.quarantined++;
      return;
    case 'dead':
      ledger.dead++;
      return;
    default:
      ledger.in_flight++;
      if (item.receivedAt && (!ledger.oldest_in_flight_at || item.receivedAt < ledger.oldest_in_flight_at))
        ledger.oldest_in_flight_at = item.receivedAt;
  }
}

/** `YYYY-MM-DD` (UTC) of a time. */
function dayOf(time: Date | string): string {
  return (typeof time === 'string' ? new Date(time) : time).toISOString().slice(0, 10);
}

function previousDay(day: string): string {
  return dayOf(new Date(Date.parse(`${day}T00:00:00Z`) - 86_400_000));
}

function nextDay(day: string): string {
  return dayOf(new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000));
}

function definedOnly<T extends object>(record: T): Partial<T> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as Partial<T>;
}
