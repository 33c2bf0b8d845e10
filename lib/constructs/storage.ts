import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import type { TableRef } from './house-function';

export interface StorageProps {
  readonly removalPolicy: RemovalPolicy;
}

/** Name of the connections table's index by user (connections of one user). */
export const CONNECTIONS_BY_USER_INDEX = 'byUser';

/**
 * The hot, keyed DynamoDB state: the webhook event log, the per-minute metric counters and the
 * WebSocket connections, all on demand, encrypted with the AWS managed key, with point-in-time
 * recovery and TTL on `expiresAt`.
 */
export class Storage extends Construct {
  public readonly eventLog: dynamodb.Table;
  public readonly connections: dynamodb.Table;
  /**
   * Per-minute counters, keyed by counter (`pk`) and minute (`minute`): the processors add to them
   * once per batch (UpdateItem alone); readers query a counter over a range of minutes.
   */
  public readonly metrics: dynamodb.Table;
  /** The tables with the indexes functions may use, for HouseFunction.bindTable. */
  public readonly eventLogRef: TableRef;
  public readonly connectionsRef: TableRef;
  public readonly metricsRef: TableRef;

  constructor(scope: Construct, id: string, props: StorageProps) {
    super(scope, id);
    const common = {
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: 'expiresAt',
      removalPolicy: props.removalPolicy,
      deletionProtection: props.removalPolicy === RemovalPolicy.RETAIN,
    } satisfies Partial<dynamodb.TableProps>;

    this.eventLog = new dynamodb.Table(this, 'EventLog', {
      ...common,
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
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

    this.eventLogRef = { table: this.eventLog };
    this.connectionsRef = { table: this.connections, indexNames: [CONNECTIONS_BY_USER_INDEX] };
    this.metricsRef = { table: this.metrics };
  }
}
