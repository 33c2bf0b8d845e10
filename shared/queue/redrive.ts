import {
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  type ListMessageMoveTasksResultEntry,
  type SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import type { Priority } from '../envelope';

/** A priority's queue and its dead-letter queue, as the redrive needs them. */
export interface RedriveQueue {
  queueArn: string;
  queueUrl: string;
  dlqArn: string;
  dlqUrl: string;
}

export type RedriveQueues = Readonly<Record<Priority, RedriveQueue>>;

export const REDRIVE_STATUSES = ['RUNNING', 'COMPLETED', 'CANCELLING', 'CANCELLED', 'FAILED'] as const;
export type RedriveStatus = (typeof REDRIVE_STATUSES)[number];

/** One SQS message move task, in the shape the management API returns. */
export interface RedriveTask {
  priority: Priority;
  /** Only while the task runs: SQS lists the handle of RUNNING tasks only. */
  task_handle?: string;
  status: RedriveStatus;
  messages_moved: number;
  /** The DLQ depth SQS saw when the task started (absent until SQS has taken it). */
  messages_to_move?: number;
  failure_reason?: string;
  /** ISO 8601. */
  started_at?: string;
}

export interface RedriveProgress {
  priority: Priority;
  /** The priority's own queue: messages waiting, and in flight (being processed or waiting for a retry). */
  queue_depth: number;
  queue_in_flight: number;
  /** ApproximateNumberOfMessages of the DLQ: visible messages still waiting. */
  dlq_depth: number;
  /** The most recent tasks (at most 10), newest first, as SQS lists them. */
  tasks: RedriveTask[];
}

/** A move task is already running for this DLQ; SQS allows one per source queue. */
export class RedriveConflictError extends Error {
  override name = 'RedriveConflictError';
  constructor(
    readonly priority: Priority,
    options?: ErrorOptions,
  ) {
    super(`A redrive of the ${priority} dead-letter queue is already running`, options);
  }
}

/**
 * SQS answers a second StartMessageMoveTask on the same source with InvalidParameterValue (HTTP 400)
 * and this message (recorded against AWS in LocalStack's snapshot tests); the error code is shared
 * with every other validation failure, so the message is what tells them apart.
 */
const ALREADY_RUNNING = /already a task running|only one active task/i;

/** Validation errors SQS answers for a source it will not start a task on. */
const VALIDATION_ERRORS = new Set(['InvalidParameterValue', 'UnsupportedOperation']);

/**
 * Dead-letter queue redrive through SQS's own message move tasks (FIFO DLQs included): SQS moves
 * the messages back to the priority's queue, keeping body, attributes and message group.
 */
export class SqsDlqRedrive {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queues: RedriveQueues,
  ) {}

  async start(priority: Priority, options: { maxPerSecond?: number } = {}): Promise<RedriveTask> {
    const { queueArn, dlqArn } = this.queues[priority];
    try {
      const { TaskHandle } = await this.sqs.send(
        new StartMessageMoveTaskCommand({
          SourceArn: dlqArn,
          DestinationArn: queueArn,
          ...(options.maxPerSecond !== undefined && { MaxNumberOfMessagesPerSecond: options.maxPerSecond }),
        }),
      );
      return {
        priority,
        ...(TaskHandle && { task_handle: TaskHandle }),
        status: 'RUNNING',
        messages_moved: 0,
      };
    } catch (error) {
      const { name, message } = error as Error;
      if (ALREADY_RUNNING.test(message ?? '')) throw new RedriveConflictError(priority, { cause: error });
      // Nothing to move is not a failure: should SQS refuse a task on an empty DLQ, say it is done.
      if (VALIDATION_ERRORS.has(name) && (await this.isEmpty(priority))) {
        return { priority, status: 'COMPLETED', messages_moved: 0, messages_to_move: 0 };
      }
      throw error;
    }
  }

  async progress(priority: Priority): Promise<RedriveProgress> {
    const { dlqArn, dlqUrl, queueUrl } = this.queues[priority];
    const [listed, depth, queue] = await Promise.all([
      this.sqs.send(new ListMessageMoveTasksCommand({ SourceArn: dlqArn, MaxResults: 10 })),
      this.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['ApproximateNumberOfMessages'] }),
      ),
      this.sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: queueUrl,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      ),
    ]);
    return {
      priority,
      queue_depth: count(queue.Attributes?.ApproximateNumberOfMessages),
      queue_in_flight: count(queue.Attributes?.ApproximateNumberOfMessagesNotVisible),
      dlq_depth: count(depth.Attributes?.ApproximateNumberOfMessages),
      tasks: (listed.Results ?? []).map((entry) => toTask(priority, entry)),
    };
  }

  /** Visible, in flight and delayed: a DLQ with messages in any of them is not empty. */
  private async isEmpty(priority: Priority): Promise<boolean> {
    const { Attributes } = await this.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: this.queues[priority].dlqUrl,
        AttributeNames: [
          'ApproximateNumberOfMessages',
          'ApproximateNumberOfMessagesNotVisible',
          'ApproximateNumberOfMessagesDelayed',
        ],
      }),
    );
    return (
      count(Attributes?.ApproximateNumberOfMessages) +
        count(Attributes?.ApproximateNumberOfMessagesNotVisible) +
        count(Attributes?.ApproximateNumberOfMessagesDelayed) ===
      0
    );
  }
}

function toTask(priority: Priority, entry: ListMessageMoveTasksResultEntry): RedriveTask {
  const status = REDRIVE_STATUSES.find((s) => s === entry.Status);
  return {
    priority,
    ...(entry.TaskHandle && { task_handle: entry.TaskHandle }),
    // A status this code does not know yet is reported, not hidden.
    status: status ?? 'FAILED',
    messages_moved: entry.ApproximateNumberOfMessagesMoved ?? 0,
    ...(entry.ApproximateNumberOfMessagesToMove !== undefined && {
      messages_to_move: entry.ApproximateNumberOfMessagesToMove,
    }),
    ...((entry.FailureReason || !status) && {
      failure_reason: entry.FailureReason ?? `Unknown task status ${entry.Status}`,
    }),
    ...(entry.StartedTimestamp !== undefined && { started_at: toIso(entry.StartedTimestamp) }),
  };
}

/** StartedTimestamp is epoch milliseconds; a value too small to be that is read as seconds. */
function toIso(timestamp: number): string {
  return new Date(timestamp < 1e11 ? timestamp * 1000 : timestamp).toISOString();
}

function count(value: string | undefined): number {
  const n = Number(value ?? 0);
  return Number.isFinite(n) && n > 0 ? n : 0;
}
