import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Envelope } from '../envelope';
import type { ErrorCategory } from '../errors';

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
  /** Best-effort fields of an invalid message, for the operator. */
  raw?: Partial<Record<'provider' | 'eventType' | 'objectType' | 'objectId' | 'deliveryId', string>>;
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
}

const DEFAULT_PAYLOAD_MAX_BYTES = 64 * 1024;

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

  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly tableName: string,
    options: number | EventLogOptions,
  ) {
    const resolved = typeof options === 'number' ? { retentionDays: options } : options;
    this.retentionDays = resolved.retentionDays;
    this.payloadMaxBytes = resolved.payloadMaxBytes ?? DEFAULT_PAYLOAD_MAX_BYTES;
  }

  /** Records an attempt. Returns false when the delivery was already processed (a duplicate). */
  async begin(envelope: Envelope, attempt: number, now: Date): Promise<boolean> {
    const fields = this.envelopeFields(envelope, now);
    const set = Object.keys(fields).map((name) => `#${name} = :${name}`);
    try {
      await this.ddb.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: envelope.dedupKey },
          UpdateExpression: `SET #status = :received, attempts = :attempt, ${set.join(', ')}`,
          ConditionExpression: 'attribute_not_exists(pk) OR #status <> :processed',
          ExpressionAttributeNames: { '#status': 'status', ...names(fields) },
          ExpressionAttributeValues: {
            ':received': 'received',
            ':processed': 'processed',
            ':attempt': attempt,
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

  /** Marks the delivery processed; clears the error of an earlier failed attempt. */
  async complete(envelope: Envelope, completion: Completion): Promise<void> {
    await this.ddb.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: envelope.dedupKey },
        UpdateExpression:
          'SET #status = :processed, processedAt = :now, processingTimeMs = :ms, outcome = :outcome ' +
          'REMOVE errorCategory, errorMessage',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':processed': 'processed',
          ':now': completion.processedAt.toISOString(),
          ':ms': completion.processingTimeMs,
          ':outcome': completion.outcome,
        },
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
      : {
          ...definedOnly(delivery.raw ?? {}),
          lastAttemptAt: failure.now.toISOString(),
          expiresAt: this.expiresAt(failure.now),
        };
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
      occurredAt: envelope.occurredAt,
      lastAttemptAt: now.toISOString(),
      expiresAt: this.expiresAt(now),
    };
    if (envelope.payloadRef) fields.payloadRef = envelope.payloadRef;
    if (envelope.payload !== undefined) {
      const json = JSON.stringify(envelope.payload);
      const bytes = Buffer.byteLength(json);
      fields.payloadBytes = bytes;
      if (bytes <= this.payloadMaxBytes) fields.payload = json;
    }
    return fields;
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

function definedOnly<T extends object>(record: T): Partial<T> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as Partial<T>;
}
