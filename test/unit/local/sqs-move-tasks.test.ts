import {
  CancelMessageMoveTaskCommand,
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListMessageMoveTasksCommand,
  ListQueuesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { type FauxqsServer, interceptLocalhostDns, startFauxqs } from 'fauxqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SqsMoveTaskProxy, startSqsMoveTaskProxy } from '../../../local/sqs-move-tasks';
import type { Priority } from '../../../shared/envelope';
import {
  RedriveConflictError,
  type RedriveProgress,
  type RedriveQueue,
  type RedriveQueues,
  SqsDlqRedrive,
} from '../../../shared/queue/redrive';

const REGION = 'us-east-1';
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

interface Pair extends RedriveQueue {
  queueUrl: string;
}

let restoreDns: () => void;
let fauxqs: FauxqsServer;
let proxy: SqsMoveTaskProxy;
let sqs: SQSClient;
let pairs: Record<Priority, Pair>;

beforeAll(async () => {
  restoreDns = interceptLocalhostDns();
  fauxqs = await startFauxqs({ port: 0, logger: false, defaultRegion: REGION });
  proxy = await startSqsMoveTaskProxy({ fauxqsPort: fauxqs.port, region: REGION });
  sqs = new SQSClient({ region: REGION, endpoint: proxy.endpoint, credentials });
  pairs = {
    high: await createPair(sqs, 'redrive-high'),
    medium: await createPair(sqs, 'redrive-medium'),
    low: await createPair(sqs, 'redrive-low'),
  };
});

afterAll(async () => {
  await proxy?.stop();
  await fauxqs?.stop();
  sqs?.destroy();
  restoreDns?.();
});

/** A FIFO queue whose FIFO DLQ takes a message on its second receive, as in local/resources.ts. */
async function createPair(client: SQSClient, name: string): Promise<Pair> {
  const fifo = { FifoQueue: 'true', ContentBasedDeduplication: 'false' };
  const dlq = await client.send(new CreateQueueCommand({ QueueName: `${name}-dlq.fifo`, Attributes: fifo }));
  const dlqUrl = dlq.QueueUrl as string;
  const dlqArn = await arnOf(client, dlqUrl);
  const queue = await client.send(
    new CreateQueueCommand({
      QueueName: `${name}.fifo`,
      Attributes: {
        ...fifo,
        DeduplicationScope: 'messageGroup',
        FifoThroughputLimit: 'perMessageGroupId',
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: '1' }),
      },
    }),
  );
  const queueUrl = queue.QueueUrl as string;
  return { queueUrl, queueArn: await arnOf(client, queueUrl), dlqUrl, dlqArn };
}

async function arnOf(client: SQSClient, url: string): Promise<string> {
  const { Attributes } = await client.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
  );
  return Attributes?.QueueArn as string;
}

function redrive(): SqsDlqRedrive {
  const queues: RedriveQueues = pairs;
  return new SqsDlqRedrive(sqs, queues);
}

async function depth(url: string): Promise<number> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(Attributes?.ApproximateNumberOfMessages) +
    Number(Attributes?.ApproximateNumberOfMessagesNotVisible)
  );
}

/** Everything in a queue, receiving (and deleting) until it is empty. */
async function drain(url: string): Promise<Message[]> {
  const all: Message[] = [];
  for (;;) {
    const { Messages } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['All'],
      }),
    );
    if (!Messages?.length) return all;
    all.push(...Messages);
    for (const m of Messages) {
      await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle }));
    }
  }
}

async function sendToDlq(pair: Pair, bodies: { body: string; group: string }[]): Promise<void> {
  for (const [i, { body, group }] of bodies.entries()) {
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: pair.dlqUrl,
        MessageBody: body,
        MessageGroupId: group,
        MessageDeduplicationId: `direct-${i}-${body}`,
      }),
    );
  }
}

async function waitFor(priority: Priority, done: (p: RedriveProgress) => boolean): Promise<RedriveProgress> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const progress = await redrive().progress(priority);
    if (done(progress)) return progress;
    if (Date.now() > deadline) throw new Error(`gave up waiting: ${JSON.stringify(progress)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('SQS message move task stand-in', () => {
  it('forwards ordinary SQS calls unchanged, keeping its own port in queue URLs', async () => {
    expect(pairs.high.queueUrl).toBe(
      `http://sqs.${REGION}.localhost:${proxy.port}/000000000000/redrive-high.fifo`,
    );
    const { QueueUrls } = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: 'redrive-' }));
    expect(QueueUrls).toHaveLength(6);
    // fauxqs's own errors come through as fauxqs sent them.
    const error = await sqs
      .send(new GetQueueUrlCommand({ QueueName: 'no-such-queue' }))
      .catch((e: unknown) => e as Error & { $metadata: { httpStatusCode?: number } });
    expect(error).toMatchObject({ name: 'QueueDoesNotExist', $metadata: { httpStatusCode: 400 } });
    // Non-SQS routes too.
    const health = await fetch(`http://127.0.0.1:${proxy.port}/health`);
    expect(await health.json()).toEqual({ status: 'ok' });
  });

  it('redrives a FIFO DLQ back to its queue: bodies, groups, attributes and order kept', async () => {
    const pair = pairs.high;
    // A message dead-lettered the real way: its deduplication id is still in the queue's 5-minute
    // window, so a redrive that reused it would be silently dropped.
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: pair.queueUrl,
        MessageBody: 'dead-lettered',
        MessageGroupId: 'group-a',
        MessageDeduplicationId: 'dedup-1',
        MessageAttributes: { kind: { DataType: 'String', StringValue: 'order' } },
      }),
    );
    for (let receive = 0; receive < 2; receive++) {
      await sqs.send(new ReceiveMessageCommand({ QueueUrl: pair.queueUrl, VisibilityTimeout: 0 }));
    }
    expect(await depth(pair.dlqUrl)).toBe(1);
    await sendToDlq(pair, [
      { body: 'a-2', group: 'group-a' },
      { body: 'b-1', group: 'group-b' },
      { body: 'a-3', group: 'group-a' },
      { body: 'b-2', group: 'group-b' },
    ]);

    const started = await redrive().start('high');
    expect(started).toMatchObject({ priority: 'high', status: 'RUNNING', messages_moved: 0 });
    expect(started.task_handle).toEqual(expect.any(String));

    const progress = await waitFor('high', (p) => p.tasks[0]?.status === 'COMPLETED');
    expect(progress).toEqual({
      priority: 'high',
      // The five moved messages wait in the queue (nothing consumes it in this test).
      queue_depth: 5,
      queue_in_flight: 0,
      dlq_depth: 0,
      tasks: [
        {
          priority: 'high',
          status: 'COMPLETED',
          messages_moved: 5,
          messages_to_move: 5,
          started_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        },
      ],
    });
    expect(await depth(pair.dlqUrl)).toBe(0);

    const moved = await drain(pair.queueUrl);
    const byGroup = (group: string) =>
      moved.filter((m) => m.Attributes?.MessageGroupId === group).map((m) => m.Body);
    expect(byGroup('group-a')).toEqual(['dead-lettered', 'a-2', 'a-3']);
    expect(byGroup('group-b')).toEqual(['b-1', 'b-2']);
    expect(moved.find((m) => m.Body === 'dead-lettered')?.MessageAttributes).toEqual({
      kind: { DataType: 'String', StringValue: 'order' },
    });
    // New messages, as in SQS: received afresh, not carrying their DLQ receive count.
    expect(moved.every((m) => m.Attributes?.ApproximateReceiveCount === '1')).toBe(true);
  });

  it('allows one running task per DLQ, and cancels', async () => {
    const pair = pairs.medium;
    await sendToDlq(
      pair,
      Array.from({ length: 5 }, (_, i) => ({ body: `m-${i}`, group: `g-${i}` })),
    );

    const first = await redrive().start('medium', { maxPerSecond: 1 });
    await expect(redrive().start('medium')).rejects.toBeInstanceOf(RedriveConflictError);
    // The raw SQS answer, as the SDK surfaces it.
    const raw = await sqs
      .send(new StartMessageMoveTaskCommand({ SourceArn: pair.dlqArn, DestinationArn: pair.queueArn }))
      .catch((e: unknown) => e as Error & { $metadata: { httpStatusCode?: number } });
    expect(raw).toMatchObject({
      name: 'InvalidParameterValue',
      message:
        'There is already a task running. Only one active task is allowed for a source queue arn at a given time.',
      $metadata: { httpStatusCode: 400 },
    });

    const running = await redrive().progress('medium');
    expect(running.tasks[0]).toMatchObject({
      status: 'RUNNING',
      task_handle: first.task_handle,
      messages_to_move: 5,
    });
    const { Results } = await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: pair.dlqArn }));
    expect(Results?.[0]).toMatchObject({
      SourceArn: pair.dlqArn,
      DestinationArn: pair.queueArn,
      MaxNumberOfMessagesPerSecond: 1,
      Status: 'RUNNING',
      StartedTimestamp: expect.any(Number),
    });

    const cancelled = await sqs.send(new CancelMessageMoveTaskCommand({ TaskHandle: first.task_handle }));
    expect(cancelled.ApproximateNumberOfMessagesMoved).toBeLessThan(5);
    const after = await waitFor('medium', (p) => p.tasks[0]?.status === 'CANCELLED');
    const movedCount = after.tasks[0]?.messages_moved ?? 0;
    expect(movedCount).toBeLessThan(5);
    expect(after.tasks[0]?.task_handle).toBeUndefined();
    // Unmoved messages are back in the DLQ at once, and a new task may start.
    expect(await depth(pair.dlqUrl)).toBe(5 - movedCount);
    expect(await depth(pair.queueUrl)).toBe(movedCount);
    await redrive().start('medium');
    await waitFor('medium', (p) => p.tasks[0]?.status === 'COMPLETED');
    expect(await depth(pair.dlqUrl)).toBe(0);
    expect((await drain(pair.queueUrl)).map((m) => m.Body).sort()).toEqual([
      'm-0',
      'm-1',
      'm-2',
      'm-3',
      'm-4',
    ]);
  });

  it('completes a task on an empty DLQ at once, moving nothing', async () => {
    await redrive().start('low');
    const progress = await waitFor('low', (p) => p.tasks[0]?.status === 'COMPLETED');
    expect(progress.tasks[0]).toMatchObject({ messages_moved: 0, messages_to_move: 0 });
  });

  it('answers invalid requests with SQS error shapes', async () => {
    const failure = (promise: Promise<unknown>) =>
      promise.then(
        () => {
          throw new Error('expected an error');
        },
        (e: Error & { $metadata: { httpStatusCode?: number } }) => ({
          name: e.name,
          message: e.message,
          status: e.$metadata.httpStatusCode,
        }),
      );

    expect(
      await failure(sqs.send(new StartMessageMoveTaskCommand({ SourceArn: pairs.high.queueArn }))),
    ).toEqual({
      name: 'InvalidParameterValue',
      message: 'Source queue must be configured as a Dead Letter Queue.',
      status: 400,
    });
    expect(
      await failure(
        sqs.send(new ListMessageMoveTasksCommand({ SourceArn: 'arn:aws:sqs:us-east-1:000000000000:nope' })),
      ),
    ).toEqual({
      name: 'ResourceNotFoundException',
      message: "The resource that you specified for the SourceArn parameter doesn't exist.",
      status: 404,
    });
    expect(await failure(sqs.send(new CancelMessageMoveTaskCommand({ TaskHandle: 'garbage' })))).toEqual({
      name: 'InvalidParameterValue',
      message: 'Value for parameter TaskHandle is invalid.',
      status: 400,
    });
  });

  it('stop() cancels running tasks and closes the server', async () => {
    const second = await startSqsMoveTaskProxy({ fauxqsPort: fauxqs.port, region: REGION });
    const client = new SQSClient({ region: REGION, endpoint: second.endpoint, credentials });
    try {
      const pair = await createPair(client, 'redrive-stop');
      await sendToDlq(
        pair,
        Array.from({ length: 5 }, (_, i) => ({ body: `s-${i}`, group: `g-${i}` })),
      );
      await client.send(
        new StartMessageMoveTaskCommand({
          SourceArn: pair.dlqArn,
          DestinationArn: pair.queueArn,
          MaxNumberOfMessagesPerSecond: 1,
        }),
      );
      const before = Date.now();
      await second.stop();
      expect(Date.now() - before).toBeLessThan(2_000);
      await expect(fetch(`http://127.0.0.1:${second.port}/health`)).rejects.toThrow();
      // The rest stays in the DLQ (read through the first proxy: same fauxqs).
      expect(await depth(pair.dlqUrl)).toBeGreaterThan(0);
    } finally {
      client.destroy();
    }
  });
});
