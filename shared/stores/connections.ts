import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  PutCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';

/** API Gateway closes WebSocket connections after 2 hours; items expire then too. */
const CONNECTION_TTL_SECONDS = 2 * 60 * 60;

export interface Connection {
  connectionId: string;
  userId: string;
  events: string[];
}

/** WebSocket connections and what each one subscribed to. */
export class ConnectionStore {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async add(connectionId: string, userId: string, now: Date): Promise<void> {
    await this.ddb.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          connectionId,
          userId,
          events: [],
          connectedAt: now.toISOString(),
          expiresAt: Math.floor(now.getTime() / 1000) + CONNECTION_TTL_SECONDS,
        },
      }),
    );
  }

  /** Replaces the subscriptions of a connection that still exists. */
  async subscribe(connectionId: string, events: readonly string[]): Promise<void> {
    await this.ddb.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { connectionId },
        UpdateExpression: 'SET events = :events',
        ConditionExpression: 'attribute_exists(connectionId)',
        ExpressionAttributeValues: { ':events': [...events] },
      }),
    );
  }

  async remove(connectionId: string): Promise<void> {
    await this.ddb.send(new DeleteCommand({ TableName: this.tableName, Key: { connectionId } }));
  }

  /** Connections subscribed to a message type. */
  async subscribedTo(type: string): Promise<Connection[]> {
    const found: Connection[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.ddb.send(
        new ScanCommand({
          TableName: this.tableName,
          FilterExpression: 'contains(events, :type)',
          ExpressionAttributeValues: { ':type': type },
          ProjectionExpression: 'connectionId, userId, events',
          ExclusiveStartKey: startKey,
        }),
      );
      found.push(...((page.Items ?? []) as Connection[]));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return found;
  }
}
