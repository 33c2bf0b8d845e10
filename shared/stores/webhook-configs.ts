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
import type { SecretCipher } from '../secret-cipher';
import { allPages } from './pages';

export type RegistrationStatus = 'pending' | 'manual' | 'registered' | 'failed';

/**
 * One webhook configuration (pk `id`; GSI `byOwner`: `userId` + `createdAt`, without secrets). HMAC
 * verification needs the key itself, so a secret cannot be hashed: the table holds the signing
 * secrets and provider credentials encrypted with the stack's secrets key, each under an encryption
 * context naming its config and field (shared/secret-cipher.ts), and only the ingest functions
 * (signing secrets) and the management API may decrypt them. Here they are plaintext.
 */
export interface WebhookConfig {
  id: string;
  userId: string;
  provider: ProviderName;
  events: string[];
  secret: string;
  /** The current secret as stored (its ciphertext), for the rotation's compare-and-set. */
  secretCiphertext?: string;
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

/** Everything of a config but its secrets: what a listing reads, and what the byOwner index projects. */
export const CONFIG_VIEW_ATTRIBUTES = [
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
  'externalWebhookId',
  'registrationError',
  'registrationInstructions',
  'sourceAccount',
  'previousSecretExpiresAt',
  'createdAt',
  'updatedAt',
] as const;

/** A config without its secrets (and without knowing whether it has any). */
export type ConfigView = Pick<WebhookConfig, (typeof CONFIG_VIEW_ATTRIBUTES)[number]>;

/** What listing every owner's configs reads (operators' status, the minute history). */
export type ListedConfig = ConfigView;

/** The configs table's index of one owner's configs, oldest first; it projects no secret. */
export const CONFIGS_BY_OWNER_INDEX = 'byOwner';

/** What the byOwner index projects besides the keys (`id`, `userId`, `createdAt`, projected anyway). */
export const CONFIGS_BY_OWNER_PROJECTION = CONFIG_VIEW_ATTRIBUTES.filter(
  (name) => name !== 'id' && name !== 'userId' && name !== 'createdAt',
);

/** The attributes that hold a config's secrets: ciphertexts, and (before their migration) plaintext. */
const CIPHERTEXTS = [
  'secretCiphertext',
  'previousSecretCiphertext',
  'providerCredentialsCiphertext',
] as const;
const LEGACY_PLAINTEXTS = ['secret', 'previousSecret', 'providerCredentials'] as const;

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
 * Secrets are encrypted on the way in and decrypted on the way out with `cipher`; a store without
 * one (the metrics job) reads configs without their secrets only.
 */
export class WebhookConfigStore {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly cipher?: SecretCipher,
  ) {}

  async create(config: WebhookConfig): Promise<void> {
    await this.ddb.send(
      new PutCommand({
        TableName: this.tableName,
        Item: await this.toItem(config),
        ConditionExpression: 'attribute_not_exists(id)',
      }),
    );
  }

  /**
   * Any user's config with its signing secrets (not its provider credentials): the ingest path looks
   * configs up by id alone.
   */
  async get(id: string): Promise<WebhookConfig | undefined> {
    const item = await this.item(id);
    return item && this.fromItem(item, false);
  }

  /** A user's config with every secret decrypted (the management API registers and unregisters with them). */
  async getOwned(id: string, userId: string): Promise<WebhookConfig | undefined> {
    const item = await this.item(id);
    return item?.userId === userId ? this.fromItem(item, true) : undefined;
  }

  /** A user's configs, oldest first, without secrets (the byOwner index projects none). */
  async listByUser(userId: string): Promise<ConfigView[]> {
    const items = await allPages((ExclusiveStartKey) =>
      this.ddb.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: CONFIGS_BY_OWNER_INDEX,
          KeyConditionExpression: 'userId = :userId',
          ExpressionAttributeValues: { ':userId': userId },
          ExclusiveStartKey,
        }),
      ),
    );
    return items.map(viewOf);
  }

  /** Every owner's configs, without secrets (a scan: operators' status, cached by its caller). */
  async listAll(): Promise<ListedConfig[]> {
    const items = await allPages((ExclusiveStartKey) =>
      this.ddb.send(
        new ScanCommand({
          TableName: this.tableName,
          ProjectionExpression: CONFIG_VIEW_ATTRIBUTES.map((name) => `#${name}`).join(', '),
          ExpressionAttributeNames: Object.fromEntries(
            CONFIG_VIEW_ATTRIBUTES.map((name) => [`#${name}`, name]),
          ),
          ExclusiveStartKey,
        }),
      ),
    );
    return items
      .map(viewOf)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
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
      return (await this.item(id))?.sourceAccount as string | undefined;
    }
  }

  /** Changes a config; the result is without secrets (a change never needs them). */
  async update(
    id: string,
    userId: string,
    changes: WebhookConfigChanges,
    now: Date,
  ): Promise<ConfigView | undefined> {
    const values: Record<string, unknown> = { ...changes, updatedAt: now.toISOString() };
    const names = Object.keys(values).filter((name) => values[name] !== undefined);
    const item = await this.conditionalUpdate(id, userId, {
      UpdateExpression: `SET ${names.map((name) => `#${name} = :${name}`).join(', ')}`,
      ExpressionAttributeNames: Object.fromEntries(names.map((name) => [`#${name}`, name])),
      ExpressionAttributeValues: Object.fromEntries(names.map((name) => [`:${name}`, values[name]])),
    });
    return item && viewOf(item);
  }

  /** Stores the outcome of registering the endpoint at the provider; the result is without secrets. */
  async recordRegistration(
    config: Pick<WebhookConfig, 'id' | 'userId'>,
    registration: Pick<
      WebhookConfig,
      'registrationStatus' | 'externalWebhookId' | 'registrationError' | 'registrationInstructions'
    >,
    now: Date,
  ): Promise<ConfigView | undefined> {
    const fields = ['externalWebhookId', 'registrationError', 'registrationInstructions'] as const;
    const set = fields.filter((name) => registration[name] !== undefined);
    const removed = fields.filter((name) => registration[name] === undefined);
    const item = await this.conditionalUpdate(config.id, config.userId, {
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
    return item && viewOf(item);
  }

  /**
   * Makes `secret` current and keeps the one it replaces valid until `previousExpiresAt` (its
   * ciphertext moves over: both fields are the config's signing secrets). The update is conditional
   * on the secret read before, so two concurrent rotations cannot both win.
   */
  async rotateSecret(
    config: WebhookConfig,
    secret: string,
    previousExpiresAt: Date,
    now: Date,
  ): Promise<WebhookConfig | undefined> {
    const cipher = this.requireCipher();
    const ciphertext = await cipher.encrypt(secret, config.id, 'signing-secret');
    const previous =
      config.secretCiphertext ?? (await cipher.encrypt(config.secret, config.id, 'signing-secret'));
    const unchanged = config.secretCiphertext
      ? { condition: 'secretCiphertext = :current', value: config.secretCiphertext }
      : // A config stored before its secrets were encrypted: compared, then removed, as it was.
        { condition: '#legacySecret = :current', value: config.secret };
    const item = await this.conditionalUpdate(
      config.id,
      config.userId,
      {
        UpdateExpression:
          'SET secretCiphertext = :secret, previousSecretCiphertext = :previous, previousSecretExpiresAt = :expiresAt, updatedAt = :now REMOVE #legacySecret, previousSecret',
        ExpressionAttributeNames: { '#legacySecret': 'secret' },
        ExpressionAttributeValues: {
          ':secret': ciphertext,
          ':previous': previous,
          ':current': unchanged.value,
          ':expiresAt': previousExpiresAt.toISOString(),
          ':now': now.toISOString(),
        },
      },
      unchanged.condition,
    );
    if (!item) return undefined;
    return {
      ...config,
      ...viewOf(item),
      secret,
      secretCiphertext: ciphertext,
      previousSecret: config.secret,
      previousSecretExpiresAt: previousExpiresAt.toISOString(),
    };
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

  /**
   * Encrypts the secrets of configs stored before they were encrypted, and removes their plaintext
   * (run once at deploy, functions/configs/encrypt-secrets.ts). Each item is rewritten only if it
   * is unchanged since it was read; returns how many were.
   */
  async encryptLegacySecrets(): Promise<number> {
    const cipher = this.requireCipher();
    const names = Object.fromEntries(LEGACY_PLAINTEXTS.map((name) => [`#${name}`, name]));
    const items = await allPages((ExclusiveStartKey) =>
      this.ddb.send(
        new ScanCommand({
          TableName: this.tableName,
          FilterExpression: LEGACY_PLAINTEXTS.map((name) => `attribute_exists(#${name})`).join(' OR '),
          ExpressionAttributeNames: names,
          ExclusiveStartKey,
        }),
      ),
    );
    let migrated = 0;
    for (const item of items) {
      const id = String(item.id);
      const set: Record<string, string> = {};
      const present = LEGACY_PLAINTEXTS.filter((name) => item[name] !== undefined);
      if (typeof item.secret === 'string' && item.secretCiphertext === undefined)
        set.secretCiphertext = await cipher.encrypt(item.secret, id, 'signing-secret');
      if (typeof item.previousSecret === 'string' && item.previousSecretCiphertext === undefined)
        set.previousSecretCiphertext = await cipher.encrypt(item.previousSecret, id, 'signing-secret');
      if (item.providerCredentials !== undefined && item.providerCredentialsCiphertext === undefined)
        set.providerCredentialsCiphertext = await cipher.encrypt(
          JSON.stringify(item.providerCredentials),
          id,
          'provider-credentials',
        );
      const assignments = Object.keys(set).map((name) => `${name} = :${name}`);
      try {
        await this.ddb.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { id },
            UpdateExpression: `${assignments.length > 0 ? `SET ${assignments.join(', ')} ` : ''}REMOVE ${present.map((name) => `#${name}`).join(', ')}`,
            // Unchanged since the scan: every change of a config's secrets (a rotation) sets updatedAt.
            ConditionExpression: 'updatedAt = :updatedAt',
            ExpressionAttributeNames: Object.fromEntries(present.map((name) => [`#${name}`, name])),
            ExpressionAttributeValues: {
              ...Object.fromEntries(Object.entries(set).map(([name, value]) => [`:${name}`, value])),
              ':updatedAt': item.updatedAt,
            },
          }),
        );
        migrated++;
      } catch (error) {
        // Changed or deleted meanwhile (a rotation encrypts as it goes): nothing left to do for it.
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
    }
    return migrated;
  }

  private async item(id: string): Promise<Record<string, unknown> | undefined> {
    const { Item } = await this.ddb.send(
      new GetCommand({ TableName: this.tableName, Key: { id }, ConsistentRead: true }),
    );
    return Item;
  }

  private requireCipher(): SecretCipher {
    if (!this.cipher) throw new Error('This store may not read or write secrets (no cipher)');
    return this.cipher;
  }

  /** The stored item: the secrets as ciphertexts only. */
  private async toItem(config: WebhookConfig): Promise<Record<string, unknown>> {
    const cipher = this.requireCipher();
    const { secret, previousSecret, providerCredentials, secretCiphertext: _stored, ...rest } = config;
    return {
      ...rest,
      secretCiphertext: await cipher.encrypt(secret, config.id, 'signing-secret'),
      ...(previousSecret !== undefined && {
        previousSecretCiphertext: await cipher.encrypt(previousSecret, config.id, 'signing-secret'),
      }),
      ...(providerCredentials !== undefined && {
        providerCredentialsCiphertext: await cipher.encrypt(
          JSON.stringify(providerCredentials),
          config.id,
          'provider-credentials',
        ),
      }),
    };
  }

  /** A config with its signing secrets decrypted, and its provider credentials when asked for. */
  private async fromItem(item: Record<string, unknown>, withCredentials: boolean): Promise<WebhookConfig> {
    const cipher = this.requireCipher();
    const id = String(item.id);
    const text = (name: string) => (typeof item[name] === 'string' ? (item[name] as string) : undefined);
    const signing = async (ciphertext: string | undefined, legacy: string | undefined) =>
      ciphertext === undefined ? legacy : cipher.decrypt(ciphertext, id, 'signing-secret');
    const [secret, previousSecret, providerCredentials] = await Promise.all([
      signing(text('secretCiphertext'), text('secret')),
      signing(text('previousSecretCiphertext'), text('previousSecret')),
      withCredentials ? this.credentials(item, id) : undefined,
    ]);
    if (secret === undefined) throw new Error(`Config ${id} has no signing secret`);
    const stored = text('secretCiphertext');
    return {
      ...(viewOf(item) as WebhookConfig),
      secret,
      ...(stored !== undefined && { secretCiphertext: stored }),
      ...(previousSecret !== undefined && { previousSecret }),
      ...(providerCredentials !== undefined && { providerCredentials }),
    };
  }

  private async credentials(item: Record<string, unknown>, id: string) {
    const ciphertext = item.providerCredentialsCiphertext;
    if (typeof ciphertext === 'string')
      return JSON.parse(await this.requireCipher().decrypt(ciphertext, id, 'provider-credentials')) as Record<
        string,
        string
      >;
    return item.providerCredentials as Record<string, string> | undefined;
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
  ): Promise<Record<string, unknown> | undefined> {
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
      return Attributes;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }
}

/** A stored item without anything secret: ciphertexts and legacy plaintexts dropped. */
function viewOf(item: Record<string, unknown>): ConfigView {
  const view: Record<string, unknown> = { ...item };
  for (const name of [...CIPHERTEXTS, ...LEGACY_PLAINTEXTS]) delete view[name];
  return view as ConfigView;
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
