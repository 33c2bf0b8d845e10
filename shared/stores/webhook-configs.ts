import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { ProviderName } from '../envelope';
import { allPages } from './pages';

export type RegistrationStatus = 'pending' | 'manual' | 'registered' | 'failed';

/**
 * One webhook configuration as stored in the configs table (pk `id`; GSI `byUser`: `userId` +
 * `createdAt`). The secrets are stored as they are: HMAC verification needs the key itself, so it
 * cannot be hashed; the table is encrypted at rest and only the management and ingest functions
 * may read it.
 */
export interface WebhookConfig {
  id: string;
  userId: string;
  provider: ProviderName;
  events: string[];
  secret: string;
  /** The secret before the last rotation, accepted until `previousSecretExpiresAt`. */
  previousSecret?: string;
  previousSecretExpiresAt?: string;
  rateLimit: number;
  /**
   * The most events one delivery may carry (413 above; DEFAULT_MAX_EVENTS_PER_REQUEST when absent,
   * as on configs made before it existed).
   */
  maxEventsPerRequest?: number;
  /** Stored for the provider-side registration and the processors; informational for now. */
  timeoutMs: number;
  retryAttempts: number;
  ipWhitelist: string[];
  active: boolean;
  registrationStatus: RegistrationStatus;
  /** The provider's id(s) of the subscription(s) created for this endpoint, comma-separated. */
  externalWebhookId?: string;
  /** Why registering at the provider failed, or how to set it up by hand. */
  registrationError?: string;
  registrationInstructions?: string;
  /** The shop token or app key used to register at the provider (kept to unregister on delete). */
  providerCredentials?: Record<string, string>;
  /**
   * The provider account the config takes deliveries from (shop domain, portal id, org id; see
   * shared/source-account.ts): given at registration, or learned from the first verified delivery.
   */
  sourceAccount?: string;
  createdAt: string;
  updatedAt: string;
}

/** A config's `max_events_per_request` unless it sets one: a HubSpot batch or an Outbound Message at most. */
export const DEFAULT_MAX_EVENTS_PER_REQUEST = 100;

/** What PATCH may change. */
export type WebhookConfigChanges = Partial<
  Pick<
    WebhookConfig,
    | 'events'
    | 'rateLimit'
    | 'maxEventsPerRequest'
    | 'timeoutMs'
    | 'retryAttempts'
    | 'ipWhitelist'
    | 'active'
    | 'sourceAccount'
  >
>;

/** What listing every owner's configs reads: never the secrets or provider credentials. */
const LISTED_ATTRIBUTES = [
  'id',
  'userId',
  'provider',
  'events',
  'rateLimit',
  'maxEventsPerRequest',
  'timeoutMs',
  'retryAttempts',
  'ipWhitelist',
  'active',
  'registrationStatus',
  'sourceAccount',
  'createdAt',
  'updatedAt',
] as const;

/** A config as listed across owners (operators' status). */
export type ListedConfig = Pick<WebhookConfig, (typeof LISTED_ATTRIBUTES)[number]>;

/** The secrets a delivery may be signed with at `now`: current first, then the previous one in its grace. */
export function acceptedSecrets(config: WebhookConfig, now: Date): string[] {
  const secrets = [config.secret];
  if (
    config.previousSecret &&
    config.previousSecretExpiresAt &&
    Date.parse(config.previousSecretExpiresAt) > now.getTime()
  )
    secrets.push(config.previousSecret);
  return secrets;
}

/**
 * The configs table. Every operation on one config is conditional on its owner, so another user's
 * id behaves exactly like an unknown one (undefined / false), and the API answers 404 for both.
 */
export class WebhookConfigStore {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async create(config: WebhookConfig): Promise<void> {
    await this.ddb.send(
      new PutCommand({
        TableName: this.tableName,
        Item: config,
        ConditionExpression: 'attribute_not_exists(id)',
      }),
    );
  }

  /** Any user's config: the ingest path looks configs up by id alone. */
  async get(id: string): Promise<WebhookConfig | undefined> {
    const { Item } = await this.ddb.send(
      new GetCommand({ TableName: this.tableName, Key: { id }, ConsistentRead: true }),
    );
    return Item as WebhookConfig | undefined;
  }

  async getOwned(id: string, userId: string): Promise<WebhookConfig | undefined> {
    const config = await this.get(id);
    return config?.userId === userId ? config : undefined;
  }

  /** A user's configs, oldest first. */
  async listByUser(userId: string): Promise<WebhookConfig[]> {
    const items = await allPages((ExclusiveStartKey) =>
      this.ddb.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: 'byUser',
          KeyConditionExpression: 'userId = :userId',
          ExpressionAttributeValues: { ':userId': userId },
          ExclusiveStartKey,
        }),
      ),
    );
    return items as unknown as WebhookConfig[];
  }

  /** Every owner's configs, without secrets (a scan: operators' status, cached by its caller). */
  async listAll(): Promise<ListedConfig[]> {
    const items = await allPages((ExclusiveStartKey) =>
      this.ddb.send(
        new ScanCommand({
          TableName: this.tableName,
          ProjectionExpression: LISTED_ATTRIBUTES.map((name) => `#${name}`).join(', '),
          ExpressionAttributeNames: Object.fromEntries(LISTED_ATTRIBUTES.map((name) => [`#${name}`, name])),
          ExclusiveStartKey,
        }),
      ),
    );
    return (items as unknown as ListedConfig[]).sort(
      (a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id),
    );
  }

  /**
   * Binds a config to the provider account of its first verified delivery, unless it is bound
   * already (the write is conditional on that). Returns the account it is bound to: this one, or
   * the one a concurrent delivery or the owner set first; undefined if the config is gone.
   */
  async bindSourceAccount(id: string, account: string): Promise<string | undefined> {
    try {
      await this.ddb.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { id },
          UpdateExpression: 'SET sourceAccount = :account',
          ConditionExpression: 'attribute_exists(id) AND attribute_not_exists(sourceAccount)',
          ExpressionAttributeValues: { ':account': account },
        }),
      );
      return account;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      return (await this.get(id))?.sourceAccount;
    }
  }

  async update(
    id: string,
    userId: string,
    changes: WebhookConfigChanges,
    now: Date,
  ): Promise<WebhookConfig | undefined> {
    const values: Record<string, unknown> = { ...changes, updatedAt: now.toISOString() };
    const names = Object.keys(values).filter((name) => values[name] !== undefined);
    return this.conditionalUpdate(id, userId, {
      UpdateExpression: `SET ${names.map((name) => `#${name} = :${name}`).join(', ')}`,
      ExpressionAttributeNames: Object.fromEntries(names.map((name) => [`#${name}`, name])),
      ExpressionAttributeValues: Object.fromEntries(names.map((name) => [`:${name}`, values[name]])),
    });
  }

  /** Stores the outcome of registering the endpoint at the provider. */
  async recordRegistration(
    config: WebhookConfig,
    registration: Pick<
      WebhookConfig,
      'registrationStatus' | 'externalWebhookId' | 'registrationError' | 'registrationInstructions'
    >,
    now: Date,
  ): Promise<WebhookConfig | undefined> {
    const fields = ['externalWebhookId', 'registrationError', 'registrationInstructions'] as const;
    const set = fields.filter((name) => registration[name] !== undefined);
    const removed = fields.filter((name) => registration[name] === undefined);
    return this.conditionalUpdate(config.id, config.userId, {
      UpdateExpression:
        `SET registrationStatus = :registrationStatus, updatedAt = :now${set.map((name) => `, ${name} = :${name}`).join('')}` +
        (removed.length > 0 ? ` REMOVE ${removed.join(', ')}` : ''),
      ExpressionAttributeNames: {},
      ExpressionAttributeValues: {
        ':registrationStatus': registration.registrationStatus,
        ':now': now.toISOString(),
        ...Object.fromEntries(set.map((name) => [`:${name}`, registration[name]])),
      },
    });
  }

  /**
   * Makes `secret` current and keeps the one it replaces valid until `previousExpiresAt`. The
   * update is conditional on the secret read before, so two concurrent rotations cannot both win.
   */
  async rotateSecret(
    config: WebhookConfig,
    secret: string,
    previousExpiresAt: Date,
    now: Date,
  ): Promise<WebhookConfig | undefined> {
    return this.conditionalUpdate(
      config.id,
      config.userId,
      {
        UpdateExpression:
          'SET #secret = :secret, previousSecret = :previous, previousSecretExpiresAt = :expiresAt, updatedAt = :now',
        ExpressionAttributeNames: { '#secret': 'secret' },
        ExpressionAttributeValues: {
          ':secret': secret,
          ':previous': config.secret,
          ':expiresAt': previousExpiresAt.toISOString(),
          ':now': now.toISOString(),
        },
      },
      '#secret = :previous',
    );
  }

  /** False when there was no such config of this user. */
  async delete(id: string, userId: string): Promise<boolean> {
    try {
      await this.ddb.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { id },
          ConditionExpression: 'attribute_exists(id) AND userId = :userId',
          ExpressionAttributeValues: { ':userId': userId },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  private async conditionalUpdate(
    id: string,
    userId: string,
    update: {
      UpdateExpression: string;
      ExpressionAttributeNames: Record<string, string>;
      ExpressionAttributeValues: Record<string, unknown>;
    },
    extraCondition?: string,
  ): Promise<WebhookConfig | undefined> {
    try {
      const { Attributes } = await this.ddb.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { id },
          ...update,
          ConditionExpression: `attribute_exists(id) AND #owner = :owner${extraCondition ? ` AND ${extraCondition}` : ''}`,
          ExpressionAttributeNames: { ...update.ExpressionAttributeNames, '#owner': 'userId' },
          ExpressionAttributeValues: { ...update.ExpressionAttributeValues, ':owner': userId },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return Attributes as WebhookConfig | undefined;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }
}

/**
 * Looks a config up by id; the ingest path's port. `refresh` asks to bypass a cache (which may
 * still throttle how often it does so).
 */
export type ConfigLookup = (
  id: string,
  options?: { refresh?: boolean },
) => Promise<WebhookConfig | undefined>;

/**
 * A per-instance TTL cache in front of a lookup (misses are cached too, so probing random ids
 * costs one read per id and TTL). A change made through the API reaches every instance within
 * `ttlMs`: deactivation, allowlist and limit changes take up to that long. A `refresh` reads the
 * config again at most once per `minRefreshIntervalMs` and id, so a flood of requests asking for
 * it (bad signatures) costs few reads.
 */
export function cachedConfigLookup(
  load: (id: string) => Promise<WebhookConfig | undefined>,
  options: { ttlMs: number; minRefreshIntervalMs?: number; maxEntries?: number; now?: () => number },
): ConfigLookup & { invalidate(id: string): void } {
  const now = options.now ?? Date.now;
  const maxEntries = options.maxEntries ?? 1000;
  const minRefreshIntervalMs = options.minRefreshIntervalMs ?? 5_000;
  const entries = new Map<
    string,
    { value: WebhookConfig | undefined; loadedAt: number; refreshedAt?: number }
  >();
  const lookup: ConfigLookup = async (id, { refresh = false } = {}) => {
    const at = now();
    const hit = entries.get(id);
    const fresh = hit !== undefined && at - hit.loadedAt < options.ttlMs;
    const mayRefresh = hit?.refreshedAt === undefined || at - hit.refreshedAt >= minRefreshIntervalMs;
    if (hit && fresh && !(refresh && mayRefresh)) return hit.value;
    const value = await load(id);
    entries.delete(id);
    // Oldest insertion goes first: Map keeps insertion order.
    if (entries.size >= maxEntries) {
      const oldest = entries.keys().next().value;
      if (oldest !== undefined) entries.delete(oldest);
    }
    const refreshedAt = refresh ? at : fresh ? hit?.refreshedAt : undefined;
    if (options.ttlMs > 0) entries.set(id, { value, loadedAt: at, refreshedAt });
    return value;
  };
  // A change this instance made itself (a binding): the next lookup reads it, whatever the TTL.
  return Object.assign(lookup, { invalidate: (id: string) => void entries.delete(id) });
}
