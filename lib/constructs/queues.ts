import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { PRIORITIES, type Priority } from '../config';
import { visibilityTimeoutSeconds } from '../processor-defaults';

export interface PriorityQueue {
  readonly queue: sqs.Queue;
  readonly dlq: sqs.Queue;
}

export interface PriorityQueuesProps {
  /** Timeout of the processor consuming each priority; the visibility timeout is derived from it. */
  readonly processorTimeouts: Record<Priority, Duration>;
  readonly maxReceiveCount: number;
  readonly retention: Duration;
  readonly removalPolicy: RemovalPolicy;
}

/** Dead letters stay long enough for on-call to inspect and replay them. */
export const DLQ_RETENTION = Duration.days(14);

/** Visibility timeout for a queue whose consumer has the given timeout (see visibilityTimeoutSeconds). */
export function visibilityTimeoutFor(processorTimeout: Duration): Duration {
  return Duration.seconds(visibilityTimeoutSeconds(processorTimeout.toSeconds()));
}

/**
 * One high-throughput FIFO queue per priority, each with its own FIFO dead-letter queue: ordering
 * per message group, deduplication per group on the provider's delivery id, SSE and TLS only.
 */
export class PriorityQueues extends Construct {
  public readonly queues: Record<Priority, PriorityQueue>;

  constructor(scope: Construct, id: string, props: PriorityQueuesProps) {
    super(scope, id);
    const entries = PRIORITIES.map((priority): [Priority, PriorityQueue] => {
      const name = priority.charAt(0).toUpperCase() + priority.slice(1);
      const dlq = new sqs.Queue(this, `${name}Dlq`, {
        fifo: true,
        retentionPeriod: DLQ_RETENTION,
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        removalPolicy: props.removalPolicy,
      });
      const queue = new sqs.Queue(this, name, {
        fifo: true,
        contentBasedDeduplication: false,
        deduplicationScope: sqs.DeduplicationScope.MESSAGE_GROUP,
        fifoThroughputLimit: sqs.FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
        visibilityTimeout: visibilityTimeoutFor(props.processorTimeouts[priority]),
        retentionPeriod: props.retention,
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        deadLetterQueue: { queue: dlq, maxReceiveCount: props.maxReceiveCount },
        removalPolicy: props.removalPolicy,
      });
      return [priority, { queue, dlq }];
    });
    this.queues = Object.fromEntries(entries) as Record<Priority, PriorityQueue>;
  }
}
