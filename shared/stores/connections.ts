import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  ScanCommand,
  type ScanCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { PushType } from '../realtime/messages';
import { NO_SUBSCRIPTION, type Subscriber, type Subscription } from '../realtime/subscriptions';
import { allPages, type Page } from './pages';

/** API Gateway closes WebSocket connections after 2 hours; items expire then too. */
export const CONNECTION_TTL_SECONDS = 2 * 60 * 60;

/** The connections table's index by user (lib/constructs/storage.ts, local/resources.ts). */
export const CONNECTIONS_BY_USER_INDEX = 'byUser';

/** Its sparse index of operators' connections (`role` is set on those only). */
export const CONNECTIONS_BY_ROLE_INDEX = 'byRole';
const OPERATOR_ROLE = 'operator';

/** Concurrent changes to one connection's subscription are retried this many times. */
const MAX_SUBSCRIPTION_ATTEMPTS = 5;

/** The connection is gone (closed, or expired) while one of its messages was being handled. */
export class ConnectionGoneError extends Error {
  constructor(connectionId: string) {
    super(`Connection ${connectionId} is gone`);
    this.name = 'ConnectionGoneError';
  }
}

/** What fan-out reads of every connection (and nothing else). */
const SUBSCRIBER_PROJECTION = {
  ProjectionExpression: 'connectionId, userId, #role, events, #filters, #batched, tokenExpiresAt',
  ExpressionAttributeNames: { '#filters': 'filters', '#role': 'role', '#batched': 'batched' },
} as const;

/**
 * WebSocket connections: `connectionId`, the authenticated `userId`, `role` (`operator` for a member
 * of the operators group, absent otherwise), the subscribed push types
 * (`events`) with a filter per type (`filters`: providers, config ids), `batched` (pushes sent
 * together arrive as one `batch` message), `connectedAt`,
 * `tokenExpiresAt` (the `exp` of the token that opened it: the connection is closed then, see
 * shared/realtime/expiry.ts), `expiresAt` (TTL) and `rev`, a revision number that makes
 * subscription changes compare-and-set.
 */
export class ConnectionStore {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async add(
    connectionId: string,
    userId: string,
    now: Date,
    operator = false,
    options: { tokenExpiresAt?: number } = {},
  ): Promise<void> {
    await this.ddb.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          connectionId,
          userId,
          ...(operator && { role: OPERATOR_ROLE }),
          ...(options.tokenExpiresAt !== undefined && { tokenExpiresAt: options.tokenExpiresAt }),
          events: [],
          filters: {},
          rev: 0,
          connectedAt: now.toISOString(),
          expiresAt: Math.floor(now.getTime() / 1000) + CONNECTION_TTL_SECONDS,
        },
      }),
    );
  }

  /**
   * Applies a change to a connection's subscription and returns the result. A read, then a write
   * conditional on the revision read: two messages of one connection handled at once (API Gateway
   * invokes a function per message) never lose each other's change. Throws ConnectionGoneError when
   * the connection no longer exists.
   */
  async updateSubscription(
    connectionId: string,
    change: (current: Subscription) => Subscription,
  ): Promise<Subscription> {
    for (let attempt = 1; ; attempt++) {
      const { Item } = await this.ddb.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { connectionId },
          ConsistentRead: true,
          ProjectionExpression: 'events, #filters, #batched, rev',
          ExpressionAttributeNames: { '#filters': 'filters', '#batched': 'batched' },
        }),
      );
      if (!Item) throw new ConnectionGoneError(connectionId);
      const rev = typeof Item.rev === 'number' ? Item.rev : 0;
      const next = change(subscriptionOf(Item));
      try {
        await this.ddb.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { connectionId },
            UpdateExpression: 'SET events = :events, #filters = :filters, #batched = :batched, rev = :next',
            ConditionExpression:
              'attribute_exists(connectionId) AND (rev = :rev OR attribute_not_exists(rev))',
            ExpressionAttributeNames: { '#filters': 'filters', '#batched': 'batched' },
            ExpressionAttributeValues: {
              ':events': next.events,
              ':filters': next.filters,
              ':batched': next.batched === true,
              ':rev': rev,
              ':next': rev + 1,
            },
          }),
        );
        return next;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException) || attempt >= MAX_SUBSCRIPTION_ATTEMPTS)
          throw error;
        // Changed (or deleted) since the read: read again.
      }
    }
  }

  async remove(connectionId: string): Promise<void> {
    await this.ddb.send(new DeleteCommand({ TableName: this.tableName, Key: { connectionId } }));
  }

  /** Connections whose token expired by `now` (a scan of the small connections table, every minute). */
  async expired(now: Date): Promise<string[]> {
    const items = await allPages((ExclusiveStartKey) =>
      this.ddb.send(
        new ScanCommand({
          TableName: this.tableName,
          FilterExpression: 'tokenExpiresAt <= :now',
          ExpressionAttributeValues: { ':now': Math.floor(now.getTime() / 1000) },
          ProjectionExpression: 'connectionId',
          ExclusiveStartKey,
        }),
      ),
    );
    return items.map((item) => String(item.connectionId));
  }

  /** Every connection subscribed to a push type (a scan: for provider-wide pushes). */
  async subscribedTo(type: PushType): Promise<Subscriber[]> {
    return this.collect((startKey) =>
      this.ddb.send(
        new ScanCommand({
          TableName: this.tableName,
          FilterExpression: 'contains(events, :type)',
          ExpressionAttributeValues: { ':type': type },
          ...SUBSCRIBER_PROJECTION,
          ExclusiveStartKey: startKey,
        } satisfies ScanCommandInput),
      ),
    );
  }

  /** Operators' connections subscribed to a push type (a query of the sparse byRole index). */
  async operatorsSubscribedTo(type: PushType): Promise<Subscriber[]> {
    return this.collect((startKey) =>
      this.ddb.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: CONNECTIONS_BY_ROLE_INDEX,
          KeyConditionExpression: '#role = :role',
          FilterExpression: 'contains(events, :type)',
          ExpressionAttributeValues: { ':role': OPERATOR_ROLE, ':type': type },
          ...SUBSCRIBER_PROJECTION,
          ExclusiveStartKey: startKey,
        } satisfies QueryCommandInput),
      ),
    );
  }

  /** One user's connections subscribed to a push type (a query of the byUser index). */
  async subscribedOfUser(userId: string, type: PushType): Promise<Subscriber[]> {
    return this.collect((startKey) =>
      this.ddb.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: CONNECTIONS_BY_USER_INDEX,
          KeyConditionExpression: 'userId = :user',
          FilterExpression: 'contains(events, :type)',
          ExpressionAttributeValues: { ':user': userId, ':type': type },
          ...SUBSCRIBER_PROJECTION,
          ExclusiveStartKey: startKey,
        } satisfies QueryCommandInput),
      ),
    );
  }

  private async collect(page: (startKey: Record<string, unknown> | undefined) => Promise<Page>) {
    const found: Subscriber[] = [];
    for (const item of await allPages(page)) {
      if (typeof item.connectionId === 'string' && typeof item.userId === 'string')
        found.push({
          connectionId: item.connectionId,
          userId: item.userId,
          operator: item.role === OPERATOR_ROLE,
          ...(typeof item.tokenExpiresAt === 'number' && { tokenExpiresAt: item.tokenExpiresAt }),
          ...subscriptionOf(item),
        });
    }
    return found;
  }
}

/** The subscription of a stored item (items written before filters existed have none). */
function subscriptionOf(item: Record<string, unknown>): Subscription {
  return {
    events: Array.isArray(item.events) ? (item.events as Subscription['events']) : NO_SUBSCRIPTION.events,
    filters:
      typeof item.filters === 'object' && item.filters !== null
        ? (item.filters as Subscription['filters'])
        : NO_SUBSCRIPTION.filters,
    ...(item.batched === true && { batched: true }),
  };
}
