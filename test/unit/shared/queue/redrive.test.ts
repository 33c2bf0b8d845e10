import {
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  SQSClient,
  SQSServiceException,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { RedriveConflictError, type RedriveQueues, SqsDlqRedrive } from '../../../../shared/queue/redrive';

const ACCOUNT = 'arn:aws:sqs:eu-west-1:123456789012';
const URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012';
const QUEUES: RedriveQueues = {
  high: {
    queueArn: `${ACCOUNT}:webhooks-high.fifo`,
    queueUrl: `${URL}/webhooks-high.fifo`,
    dlqArn: `${ACCOUNT}:webhooks-high-dlq.fifo`,
    dlqUrl: `${URL}/webhooks-high-dlq.fifo`,
  },
  medium: {
    queueArn: `${ACCOUNT}:webhooks-medium.fifo`,
    queueUrl: `${URL}/webhooks-medium.fifo`,
    dlqArn: `${ACCOUNT}:webhooks-medium-dlq.fifo`,
    dlqUrl: `${URL}/webhooks-medium-dlq.fifo`,
  },
  low: {
    queueArn: `${ACCOUNT}:webhooks-low.fifo`,
    queueUrl: `${URL}/webhooks-low.fifo`,
    dlqArn: `${ACCOUNT}:webhooks-low-dlq.fifo`,
    dlqUrl: `${URL}/webhooks-low-dlq.fifo`,
  },
};

const sqsMock = mockClient(SQSClient);

afterEach(() => {
  sqsMock.reset();
});

function redrive() {
  return new SqsDlqRedrive(new SQSClient({ region: 'eu-west-1' }), QUEUES);
}

/** What the SDK throws for an SQS JSON error it has no class for. */
function sqsError(name: string, message: string) {
  return new SQSServiceException({ name, message, $fault: 'client', $metadata: { httpStatusCode: 400 } });
}

const ALREADY_RUNNING = sqsError(
  'InvalidParameterValue',
  'There is already a task running. Only one active task is allowed for a source queue arn at a given time.',
);

describe('SqsDlqRedrive.start', () => {
  it("starts a move task from the priority's DLQ to its queue", async () => {
    sqsMock.on(StartMessageMoveTaskCommand).resolves({ TaskHandle: 'handle-1' });

    const task = await redrive().start('medium');

    expect(sqsMock.commandCalls(StartMessageMoveTaskCommand).map((c) => c.args[0].input)).toEqual([
      { SourceArn: QUEUES.medium.dlqArn, DestinationArn: QUEUES.medium.queueArn },
    ]);
    expect(task).toEqual({
      priority: 'medium',
      task_handle: 'handle-1',
      status: 'RUNNING',
      messages_moved: 0,
    });
  });

  it('passes a rate limit as MaxNumberOfMessagesPerSecond', async () => {
    sqsMock.on(StartMessageMoveTaskCommand).resolves({ TaskHandle: 'handle-2' });

    await redrive().start('high', { maxPerSecond: 25 });

    expect(sqsMock.commandCalls(StartMessageMoveTaskCommand)[0]?.args[0].input).toEqual({
      SourceArn: QUEUES.high.dlqArn,
      DestinationArn: QUEUES.high.queueArn,
      MaxNumberOfMessagesPerSecond: 25,
    });
  });

  it('throws RedriveConflictError when a task is already running', async () => {
    sqsMock.on(StartMessageMoveTaskCommand).rejects(ALREADY_RUNNING);

    const error = await redrive()
      .start('low')
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RedriveConflictError);
    expect(error).toMatchObject({ name: 'RedriveConflictError', priority: 'low', cause: ALREADY_RUNNING });
    // A conflict needs no look at the DLQ.
    expect(sqsMock.commandCalls(GetQueueAttributesCommand)).toHaveLength(0);
  });

  it('reports an empty DLQ that SQS refuses as a completed move of nothing', async () => {
    sqsMock
      .on(StartMessageMoveTaskCommand)
      .rejects(sqsError('InvalidParameterValue', 'The source queue has no messages.'));
    sqsMock.on(GetQueueAttributesCommand).resolves({
      Attributes: {
        ApproximateNumberOfMessages: '0',
        ApproximateNumberOfMessagesNotVisible: '0',
        ApproximateNumberOfMessagesDelayed: '0',
      },
    });

    await expect(redrive().start('high')).resolves.toEqual({
      priority: 'high',
      status: 'COMPLETED',
      messages_moved: 0,
      messages_to_move: 0,
    });
    expect(sqsMock.commandCalls(GetQueueAttributesCommand)[0]?.args[0].input).toEqual({
      QueueUrl: QUEUES.high.dlqUrl,
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    });
  });

  it('rethrows a validation error when the DLQ holds messages', async () => {
    const refused = sqsError(
      'InvalidParameterValue',
      'Source queue must be configured as a Dead Letter Queue.',
    );
    sqsMock.on(StartMessageMoveTaskCommand).rejects(refused);
    sqsMock.on(GetQueueAttributesCommand).resolves({
      Attributes: {
        ApproximateNumberOfMessages: '0',
        ApproximateNumberOfMessagesNotVisible: '2',
        ApproximateNumberOfMessagesDelayed: '0',
      },
    });

    await expect(redrive().start('high')).rejects.toBe(refused);
  });

  it('rethrows other errors without looking at the DLQ', async () => {
    const denied = sqsError('AccessDenied', 'not allowed');
    sqsMock.on(StartMessageMoveTaskCommand).rejects(denied);

    await expect(redrive().start('high')).rejects.toBe(denied);
    expect(sqsMock.commandCalls(GetQueueAttributesCommand)).toHaveLength(0);
  });
});

describe('SqsDlqRedrive.progress', () => {
  it('lists the latest tasks of the DLQ and its depth', async () => {
    const started = Date.UTC(2025, 0, 2, 3, 4, 5, 678);
    sqsMock.on(ListMessageMoveTasksCommand).resolves({
      Results: [
        {
          TaskHandle: 'handle-3',
          Status: 'RUNNING',
          SourceArn: QUEUES.low.dlqArn,
          DestinationArn: QUEUES.low.queueArn,
          MaxNumberOfMessagesPerSecond: 5,
          ApproximateNumberOfMessagesMoved: 4,
          ApproximateNumberOfMessagesToMove: 10,
          StartedTimestamp: started,
        },
        {
          Status: 'FAILED',
          SourceArn: QUEUES.low.dlqArn,
          ApproximateNumberOfMessagesMoved: 3,
          ApproximateNumberOfMessagesToMove: 10,
          FailureReason: 'AWS.SimpleQueueService.NonExistentQueue',
          StartedTimestamp: started - 60_000,
        },
        { Status: 'COMPLETED', SourceArn: QUEUES.low.dlqArn },
      ],
    });
    sqsMock
      .on(GetQueueAttributesCommand, { QueueUrl: QUEUES.low.dlqUrl })
      .resolves({ Attributes: { ApproximateNumberOfMessages: '6' } })
      .on(GetQueueAttributesCommand, { QueueUrl: QUEUES.low.queueUrl })
      .resolves({
        Attributes: { ApproximateNumberOfMessages: '12', ApproximateNumberOfMessagesNotVisible: '3' },
      });

    const progress = await redrive().progress('low');

    expect(sqsMock.commandCalls(ListMessageMoveTasksCommand).map((c) => c.args[0].input)).toEqual([
      { SourceArn: QUEUES.low.dlqArn, MaxResults: 10 },
    ]);
    expect(sqsMock.commandCalls(GetQueueAttributesCommand).map((c) => c.args[0].input)).toEqual([
      { QueueUrl: QUEUES.low.dlqUrl, AttributeNames: ['ApproximateNumberOfMessages'] },
      {
        QueueUrl: QUEUES.low.queueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      },
    ]);
    expect(progress).toEqual({
      priority: 'low',
      queue_depth: 12,
      queue_in_flight: 3,
      dlq_depth: 6,
      tasks: [
        {
          priority: 'low',
          task_handle: 'handle-3',
          status: 'RUNNING',
          messages_moved: 4,
          messages_to_move: 10,
          started_at: '2025-01-02T03:04:05.678Z',
        },
        {
          priority: 'low',
          status: 'FAILED',
          messages_moved: 3,
          messages_to_move: 10,
          failure_reason: 'AWS.SimpleQueueService.NonExistentQueue',
          started_at: '2025-01-02T03:03:05.678Z',
        },
        { priority: 'low', status: 'COMPLETED', messages_moved: 0 },
      ],
    });
  });

  it('reports no tasks and depth 0 for a DLQ never redriven', async () => {
    sqsMock.on(ListMessageMoveTasksCommand).resolves({});
    sqsMock.on(GetQueueAttributesCommand).resolves({});

    await expect(redrive().progress('high')).resolves.toEqual({
      priority: 'high',
      queue_depth: 0,
      queue_in_flight: 0,
      dlq_depth: 0,
      tasks: [],
    });
  });

  it('reports a status it does not know as a failure with the reason', async () => {
    sqsMock.on(ListMessageMoveTasksCommand).resolves({ Results: [{ Status: 'PAUSED' }] });
    sqsMock.on(GetQueueAttributesCommand).resolves({ Attributes: { ApproximateNumberOfMessages: '1' } });

    const { tasks } = await redrive().progress('high');

    expect(tasks).toEqual([
      { priority: 'high', status: 'FAILED', messages_moved: 0, failure_reason: 'Unknown task status PAUSED' },
    ]);
  });
});
