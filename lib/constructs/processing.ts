import { Duration } from 'aws-cdk-lib';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { DatabaseCluster } from 'aws-cdk-lib/aws-rds';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { PRIORITIES, type Priority, type ProcessorConfig } from '../config';
import { type FunctionDefaults, HouseFunction, type TableRef } from './house-function';
import type { PriorityQueue } from './queues';
import type { Realtime } from './realtime';

export interface ProcessingProps {
  readonly queues: Record<Priority, PriorityQueue>;
  readonly processors: Record<Priority, ProcessorConfig>;
  readonly eventLog: TableRef;
  readonly connections: TableRef;
  /** The claim-check bucket: processors may only read objects from it. */
  readonly payloadBucket: IBucket;
  readonly database: {
    readonly cluster: DatabaseCluster;
    readonly secret: ISecret;
    readonly databaseName: string;
  };
  readonly realtime: Realtime;
  readonly eventLogRetentionDays: number;
  readonly functionDefaults: FunctionDefaults;
}

/**
 * One processor per priority (same code, `functions/process.ts`): priority is realized by each
 * event source's batch size and maximum concurrency. Failed records are reported individually
 * (partial batch response), so only their message group waits for the retry.
 */
export class Processing extends Construct {
  public readonly processors: Record<Priority, HouseFunction>;

  constructor(scope: Construct, id: string, props: ProcessingProps) {
    super(scope, id);
    const entries = PRIORITIES.map((priority): [Priority, HouseFunction] => {
      const config = props.processors[priority];
      const name = priority.charAt(0).toUpperCase() + priority.slice(1);
      const fn = new HouseFunction(this, `${name}Processor`, {
        entry: 'process.ts',
        serviceName: 'process',
        defaults: props.functionDefaults,
        description: `Processes ${priority}-priority webhook events`,
        timeout: Duration.seconds(config.timeoutSeconds),
        environment: {
          DB_CLUSTER_ARN: props.database.cluster.clusterArn,
          DB_SECRET_ARN: props.database.secret.secretArn,
          DB_NAME: props.database.databaseName,
          WEBSOCKET_ENDPOINT: props.realtime.callbackUrl,
          EVENT_LOG_RETENTION_DAYS: String(props.eventLogRetentionDays),
        },
      })
        .bindTable('EVENT_LOG_TABLE', props.eventLog, 'readWrite')
        // Broadcasting reads the subscribed connections and deletes the ones API Gateway reports gone.
        .bindTable('CONNECTIONS_TABLE', props.connections, 'readDelete')
        .bindBucket('PAYLOAD_BUCKET', props.payloadBucket, 'get');
      props.database.cluster.grantDataApiAccess(fn);
      props.realtime.grantPostToConnections(fn);

      fn.addEventSource(
        new SqsEventSource(props.queues[priority].queue, {
          batchSize: config.batchSize,
          maxConcurrency: config.maxConcurrency,
          reportBatchItemFailures: true,
        }),
      );
      return [priority, fn];
    });
    this.processors = Object.fromEntries(entries) as Record<Priority, HouseFunction>;
  }
}
