import { Duration } from 'aws-cdk-lib';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { DatabaseCluster } from 'aws-cdk-lib/aws-rds';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { retryWindowMs } from '../../shared/process/retry-schedule';
import { PRIORITIES, type Priority, type ProcessingConfig, type ProcessorConfig } from '../config';
import { visibilityTimeoutSeconds } from '../processor-defaults';
import { type FunctionDefaults, HouseFunction, type TableRef } from './house-function';
import type { PriorityQueue } from './queues';
import type { Realtime } from './realtime';

export interface ProcessingProps {
  readonly queues: Record<Priority, PriorityQueue>;
  readonly processors: Record<Priority, ProcessorConfig>;
  /** The retry policy and the event log's inline payload limit, the same for every priority. */
  readonly processing: ProcessingConfig;
  /** How long the queues keep a message: the processors dead-letter a failing one well before. */
  readonly queueRetentionDays: number;
  readonly eventLog: TableRef;
  /** Per-minute counters: processors may only increment them (UpdateItem). */
  readonly metrics: TableRef;
  /** The domain event bus: processors may only put events on it. */
  readonly eventBus: IEventBus;
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
 * (partial batch response), so only their message group waits for the retry; the handler delays
 * that retry itself (ChangeMessageVisibility on its own queue, which the event source's consume
 * grant includes) and dead-letters records itself (SendMessage to its queue's DLQ, then the event
 * log): when they can never succeed, when their own attempts are used up, before the retry window
 * ends (ahead of the queue's retention) and before SQS's redrive would take them unlogged.
 */
export class Processing extends Construct {
  public readonly processors: Record<Priority, HouseFunction>;

  constructor(scope: Construct, id: string, props: ProcessingProps) {
    super(scope, id);
    const entries = PRIORITIES.map((priority): [Priority, HouseFunction] => {
      const config = props.processors[priority];
      const { queue, dlq } = props.queues[priority];
      // Read from the queue's redrive policy, so the handler dead-letters before SQS would.
      const maxReceiveCount = queue.deadLetterQueue?.maxReceiveCount;
      if (maxReceiveCount === undefined) throw new Error(`The ${priority} queue has no dead-letter queue`);
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
          EVENT_LOG_PAYLOAD_MAX_BYTES: String(props.processing.eventLogPayloadMaxBytes),
          MAX_RECEIVE_COUNT: String(maxReceiveCount),
          RETRY_BASE_DELAY_MS: String(props.processing.retryBaseDelayMs),
          MAX_RETRY_DELAY_MS: String(props.processing.maxRetryDelayMs),
          RETRY_ATTEMPTS: String(props.processing.retryAttempts),
          ATTEMPT_TIMEOUT_MS: String(props.processing.attemptTimeoutMs),
          RETRY_WINDOW_SECONDS: String(
            retryWindowMs({
              retentionMs: props.queueRetentionDays * 86_400_000,
              schedule: {
                baseDelayMs: props.processing.retryBaseDelayMs,
                maxDelayMs: props.processing.maxRetryDelayMs,
              },
              visibilityTimeoutMs: visibilityTimeoutSeconds(config.timeoutSeconds) * 1000,
            }) / 1000,
          ),
        },
      })
        .bindTable('EVENT_LOG_TABLE', props.eventLog, 'updateBatchGet')
        .bindTable('METRICS_TABLE', props.metrics, 'update')
        // Broadcasting reads the subscribed connections and deletes the ones API Gateway reports gone.
        .bindTable('CONNECTIONS_TABLE', props.connections, 'readDelete')
        .bindBucket('PAYLOAD_BUCKET', props.payloadBucket, 'get')
        .bindQueue('DLQ_URL', dlq)
        .bindEventBus('EVENT_BUS_NAME', props.eventBus);
      props.database.cluster.grantDataApiAccess(fn);
      props.realtime.grantPostToConnections(fn);

      fn.addEventSource(
        new SqsEventSource(queue, {
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
