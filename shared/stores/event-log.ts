import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Envelope } from '../envelope';

export type EventStatus = 'received' | 'processed' | 'failed' | 'dead';

/**
 * The event log: one item per delivery, keyed by its dedup key. Writes are conditional so a
 * delivery that was already processed is recognised and never applied twice.
 */
export class EventLog {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly retentionDays: number,
  ) {}

  /** Records an attempt. Returns false when the delivery was already processed (a duplicate). */
  async begin(envelope: Envelope, attempt: number, now: Date): Promise<boolean> {
    try {
      await this.ddb.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: envelope.dedupKey },
          UpdateExpression:
            'SET #status = :received, attempts = :attempt, provider = :provider, eventType = :eventType, ' +
            'objectType = :objectType, objectId = :objectId, deliveryId = :deliveryId, receivedAt = :receivedAt, ' +
            'occurredAt = :occurredAt, lastAttemptAt = :now, expiresAt = :expiresAt',
          ConditionExpression: 'attribute_not_exists(pk) OR #status <> :processed',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':received': 'received',
            ':processed': 'processed',
            ':attempt': attempt,
            ':provider': envelope.provider,
            ':eventType': envelope.eventType,
            ':objectType': envelope.objectType,
            ':objectId': envelope.objectId,
            ':deliveryId': envelope.deliveryId,
            ':receivedAt': envelope.receivedAt,
            ':occurredAt': envelope.occurredAt,
            ':now': now.toISOString(),
            ':expiresAt': this.expiresAt(now),
          },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async complete(envelope: Envelope, processingTimeMs: number, now: Date): Promise<void> {
    await this.ddb.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: envelope.dedupKey },
        UpdateExpression: 'SET #status = :processed, processedAt = :now, processingTimeMs = :ms',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':processed': 'processed',
          ':now': now.toISOString(),
          ':ms': processingTimeMs,
        },
      }),
    );
  }

  private expiresAt(now: Date): number {
    return Math.floor(now.getTime() / 1000) + this.retentionDays * 86_400;
  }
}
