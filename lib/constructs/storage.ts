import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { SECRET_PURPOSE, type SecretField } from '../../shared/secret-cipher';
import { CONNECTIONS_BY_ROLE_INDEX, CONNECTIONS_BY_USER_INDEX } from '../../shared/stores/connections';
import {
  EVENT_DAY_LIST_ATTRIBUTES,
  EVENT_LIST_ATTRIBUTES,
  EVENTS_BY_DAY_INDEX,
  EVENTS_BY_USER_INDEX,
} from '../../shared/stores/event-log';
import { REJECTIONS_BY_DAY_INDEX } from '../../shared/stores/rejections';
import { CONFIGS_BY_OWNER_INDEX, CONFIGS_BY_OWNER_PROJECTION } from '../../shared/stores/webhook-configs';
import type { HouseFunction, TableRef } from './house-function';

export interface StorageProps {
  readonly removalPolicy: RemovalPolicy;
  /** Keep the configs table's former `byUser` index (config `storage.legacyConfigsIndex`). */
  readonly legacyConfigsIndex: boolean;
}

/**
 * The configs table's former index by owner: it projected every attribute, secrets included. It is
 * replaced by `byOwner`; no function may read it, and it goes with `storage.legacyConfigsIndex: false`.
 */
export const LEGACY_CONFIGS_BY_USER_INDEX = 'byUser';

/**
 * The hot, keyed DynamoDB state: the webhook event log, the per-minute metric counters, the
 * WebSocket connections, the webhook configurations, the per-config rate-limit counters and the
 * refused deliveries, all on demand. Tables are encrypted with the AWS managed key except the configs
 * table, which has its own customer-managed key. The secrets in its items (signing secrets, provider
 * credentials) are encrypted once more, field by field, with the secrets key (shared/secret-cipher.ts):
 * reading a config item is not reading its secrets, which takes a grant on that key for that field.
 */
export class Storage extends Construct {
  public readonly eventLog: dynamodb.Table;
  public readonly connections: dynamodb.Table;
  /**
   * Per-minute counters, keyed by counter (`pk`) and minute (`minute`): the processors add to them
   * once per batch (UpdateItem alone); readers query a counter over a range of minutes.
   */
  public readonly metrics: dynamodb.Table;
  /** Webhook configurations (`id`), with their signing secrets; `byUser` lists one user's, newest last. */
  public readonly configs: dynamodb.Table;
  /** The customer-managed key of the configs table. */
  public readonly configsKey: kms.Key;
  /** The key the config secrets are encrypted with, field by field (see grantConfigSecrets). */
  public readonly secretsKey: kms.Key;
  /** Refused deliveries and their per-minute counts (shared/stores/rejections.ts), kept a week. */
  public readonly rejections: dynamodb.Table;
  /** Rate-limit counters (`pk`), incremented by the ingest functions and expiring on `expiresAt`. */
  public readonly rateLimits: dynamodb.Table;
  /** The tables with the indexes functions may use, for HouseFunction.bindTable. */
  public readonly eventLogRef: TableRef;
  public readonly connectionsRef: TableRef;
  public readonly metricsRef: TableRef;
  public readonly configsRef: TableRef;
  public readonly rateLimitsRef: TableRef;
  public readonly rejectionsRef: TableRef;

  constructor(scope: Construct, id: string, props: StorageProps) {
    super(scope, id);
    const base = {
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      removalPolicy: props.removalPolicy,
      deletionProtection: props.removalPolicy === RemovalPolicy.RETAIN,
    } satisfies Partial<dynamodb.TableProps>;
    const common = {
      ...base,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: 'expiresAt',
    } satisfies Partial<dynamodb.TableProps>;

    this.eventLog = new dynamodb.Table(this, 'EventLog', {
      ...common,
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
    });
    // One owner's deliveries (`userId` holds the owner: a user, or the system owner) and every
    // owner's by day, for operators. The list attributes only, never the payload, so each index
    // costs a small write per delivery.
    this.eventLog.addGlobalSecondaryIndex({
      indexName: EVENTS_BY_USER_INDEX,
      partitionKey: { name: 'userId', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'receivedAt', type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.INCLUDE,
      nonKeyAttributes: [...EVENT_LIST_ATTRIBUTES],
    });
    this.eventLog.addGlobalSecondaryIndex({
      indexName: EVENTS_BY_DAY_INDEX,
      partitionKey: { name: 'receivedDay', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'receivedAt', type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.INCLUDE,
      nonKeyAttributes: [...EVENT_DAY_LIST_ATTRIBUTES],
    });

    this.metrics = new dynamodb.Table(this, 'Metrics', {
      ...common,
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'minute', type: dynamodb.AttributeType.STRING },
    });

    this.connections = new dynamodb.Table(this, 'Connections', {
      ...common,
      partitionKey: { name: 'connectionId', type: dynamodb.AttributeType.STRING },
    });
    this.connections.addGlobalSecondaryIndex({
      indexName: CONNECTIONS_BY_USER_INDEX,
      partitionKey: { name: 'userId', type: dynamodb.AttributeType.STRING },
    });
    // Sparse: only operators' connections carry `role`; every owner's pushes reach them.
    this.connections.addGlobalSecondaryIndex({
      indexName: CONNECTIONS_BY_ROLE_INDEX,
      partitionKey: { name: 'role', type: dynamodb.AttributeType.STRING },
    });

    this.configsKey = new kms.Key(this, 'ConfigsKey', {
      description: 'Encrypts the webhook configurations table (its items hold webhook signing secrets)',
      enableKeyRotation: true,
      removalPolicy: props.removalPolicy,
    });
    this.configs = new dynamodb.Table(this, 'Configs', {
      ...base,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.configsKey,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      partitionKey: { name: 'id', type: dynamodb.AttributeType.STRING },
    });
    this.secretsKey = new kms.Key(this, 'SecretsKey', {
      description:
        'Encrypts the secrets in webhook configurations field by field (signing secrets, provider credentials)',
      enableKeyRotation: true,
      removalPolicy: props.removalPolicy,
    });
    // One owner's configs for listings: everything but the secrets, not even their ciphertexts.
    this.configs.addGlobalSecondaryIndex({
      indexName: CONFIGS_BY_OWNER_INDEX,
      partitionKey: { name: 'userId', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'createdAt', type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.INCLUDE,
      nonKeyAttributes: [...CONFIGS_BY_OWNER_PROJECTION],
    });
    if (props.legacyConfigsIndex) {
      this.configs.addGlobalSecondaryIndex({
        indexName: LEGACY_CONFIGS_BY_USER_INDEX,
        partitionKey: { name: 'userId', type: dynamodb.AttributeType.STRING },
        sortKey: { name: 'createdAt', type: dynamodb.AttributeType.STRING },
        projectionType: dynamodb.ProjectionType.ALL,
      });
    }

    this.rejections = new dynamodb.Table(this, 'Rejections', {
      ...common,
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
    });
    // Every owner's rejections by UTC day, for operators (items are small: all attributes).
    this.rejections.addGlobalSecondaryIndex({
      indexName: REJECTIONS_BY_DAY_INDEX,
      partitionKey: { name: 'receivedDay', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });

    this.rateLimits = new dynamodb.Table(this, 'RateLimits', {
      ...base,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      timeToLiveAttribute: 'expiresAt',
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
    });
    Validations.of(this.rateLimits).acknowledge({
      id: 'AwsSolutions-DDB3',
      reason:
        'The rate-limit table holds only short-lived counters (one window each, expiring on expiresAt); a restore would bring back stale windows and nothing of value, so point-in-time recovery is not paid for.',
    });

    this.eventLogRef = { table: this.eventLog, indexNames: [EVENTS_BY_USER_INDEX, EVENTS_BY_DAY_INDEX] };
    this.connectionsRef = {
      table: this.connections,
      indexNames: [CONNECTIONS_BY_USER_INDEX, CONNECTIONS_BY_ROLE_INDEX],
    };
    this.metricsRef = { table: this.metrics };
    // The legacy index is in no ref: no function is granted it.
    this.configsRef = { table: this.configs, indexNames: [CONFIGS_BY_OWNER_INDEX] };
    this.rateLimitsRef = { table: this.rateLimits };
    this.rejectionsRef = { table: this.rejections, indexNames: [REJECTIONS_BY_DAY_INDEX] };
  }

  /**
   * Lets a function use the secrets key on config secrets only (encryption context `purpose`) and
   * only for the given fields: the ingest functions decrypt signing secrets, the management API
   * encrypts and decrypts every field, the deploy-time migration only encrypts. Sets SECRETS_KEY_ID.
   */
  grantConfigSecrets(
    fn: HouseFunction,
    actions: readonly ('kms:Encrypt' | 'kms:Decrypt')[],
    fields: readonly SecretField[],
  ): void {
    fn.addEnvironment('SECRETS_KEY_ID', this.secretsKey.keyArn);
    iam.Grant.addToPrincipal({
      grantee: fn,
      actions: [...actions],
      resourceArns: [this.secretsKey.keyArn],
      conditions: {
        StringEquals: {
          'kms:EncryptionContext:purpose': SECRET_PURPOSE,
          'kms:EncryptionContext:field': [...fields],
        },
      },
    });
  }
}
