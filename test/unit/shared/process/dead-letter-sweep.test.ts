import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { type FauxqsServer, interceptLocalhostDns, startFauxqs } from 'fauxqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SqsMoveTaskProxy, startSqsMoveTaskProxy } from '../../../../local/sqs-move-tasks';
import { type SweptQueue, sweepDeadLetters } from '../../../../shared/process/dead-letter-sweep';
import type { ServerMessage } from '../../../../shared/realtime/messages';
import type { FailedDelivery } from '../../../../shared/stores/event-log';
import { envelope } from '../../support/envelopes';

/*
 * The DLQ sweep against the local SQS (fauxqs, behind the stand-in that adds message move tasks):
 * FIFO receive semantics, visibility, and the move tasks it must not compete with.
 */

const REGION = 'us-east-1';
let restoreDns: () => void;
let fauxqs: FauxqsServer;
let proxy: SqsMoveTaskProxy;
let sqs: SQSClient;

beforeAll(async () => {
  restoreDns = interceptLocalhostDns();
  fauxqs = await startFauxqs({ port: 0, logger: false, defaultRegion: REGION });
  proxy = await startSqsMoveTaskProxy({ fauxqsPort: fauxqs.port, region: REGION });
  sqs = new SQSClient({
    region: REGION,
    endpoint: proxy.endpoint,
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
});

afterAll(async () => {
  await proxy?.stop();
  await fauxqs?.stop();
  sqs?.destroy();
  restoreDns?.();
});

/** A FIFO queue and its DLQ (as local/resources.ts makes them); the DLQ is what is swept. */
async function dlqOf(name: string): Promise<SweptQueue> {
  const fifo = { FifoQueue: 'true', ContentBasedDeduplication: 'false' };
  const { QueueUrl: url = '' } = await sqs.send(
    new CreateQueueCommand({ QueueName: `${name}-dlq.fifo`, Attributes: fifo }),
  );
  const arn = `arn:aws:sqs:${REGION}:000000000000:${name}-dlq.fifo`;
  await sqs.send(
    new CreateQueueCommand({
      QueueName: `${name}.fifo`,
      Attributes: {
        ...fifo,
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: arn, maxReceiveCount: '5' }),
      },
    }),
  );
  return { priority: 'high', url, arn };
}

async function deadLetter(
  dlq: SweptQueue,
  body: string,
  group: string,
  attributes: Record<string, string> = {},
) {
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: dlq.url,
      MessageBody: body,
      MessageGroupId: group,
      MessageDeduplicationId: `${group}-${Math.random()}`,
      MessageAttributes: Object.fromEntries(
        Object.entries(attributes).map(([name, value]) => [name, { DataType: 'String', StringValue: value }]),
      ),
    }),
  );
}

async function visible(dlq: SweptQueue): Promise<number> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: dlq.url, AttributeNames: ['ApproximateNumberOfMessages'] }),
  );
  return Number(Attributes?.ApproximateNumberOfMessages);
}

/** The event log's statuses; markDeadLettered changes any but processed and dead. */
function fakeLog(statuses: Record<string, string>) {
  const marked: FailedDelivery[] = [];
  return {
    marked,
    eventLog: {
      markDeadLettered: async (delivery: FailedDelivery) => {
        if (['processed', 'dead'].includes(statuses[delivery.key] ?? '')) return false;
        statuses[delivery.key] = 'dead';
        marked.push(delivery);
        return true;
      },
    },
  };
}

describe('the DLQ sweep', () => {
  it('marks dead every delivery in a DLQ the event log did not know was, pushes it, and leaves every message', async () => {
    const dlq = await dlqOf('sweep');
    const failed = envelope({ dedupKey: 'system:shopify:failed', orderingKey: 'order-1' });
    const processed = envelope({ dedupKey: 'system:shopify:processed', orderingKey: 'order-4' });
    const known = envelope({ dedupKey: 'system:shopify:known', orderingKey: 'order-2' });
    await deadLetter(dlq, JSON.stringify(failed), 'order-1');
    await deadLetter(dlq, JSON.stringify(processed), 'order-4');
    await deadLetter(dlq, JSON.stringify(known), 'order-2', { errorMessage: 'Error: boom (attempt 6 of 6)' });
    await deadLetter(dlq, 'not an envelope', 'order-3');
    const { marked, eventLog } = fakeLog({
      [failed.dedupKey]: 'failed',
      [processed.dedupKey]: 'processed',
      [known.dedupKey]: 'dead',
    });
    const pushed: ServerMessage[] = [];
    const broadcaster = {
      broadcast: async (message: ServerMessage) => {
        pushed.push(message);
        return { delivered: 1, gone: 0, failed: 0 };
      },
    };

    const counted: [string, number][] = [];
    const counters = {
      add: async (pk: string, _minute: string, counts: { dead: number }) =>
        void counted.push([pk, counts.dead]),
    };

    const summary = await sweepDeadLetters({ sqs, dlqs: [dlq], eventLog, broadcaster, counters });

    expect(summary).toEqual([{ priority: 'high', read: 4, marked: 2 }]);
    // Counted dead like the processors' dead letters: per provider and per owner.
    expect(counted).toContainEqual(['provider#shopify', 1]);
    expect(counted).toContainEqual(['owner#system#shopify', 1]);
    expect(marked.map((delivery) => delivery.key).sort()).toEqual(
      [failed.dedupKey, expect.stringMatching(/^sqs:/)].sort(),
    );
    expect(pushed.map((message) => message.data)).toContainEqual(
      expect.objectContaining({
        id: failed.dedupKey,
        status: 'dead',
        errorMessage: 'In the DLQ: moved there by SQS after its queue maxReceiveCount receives',
        ownerId: 'system',
      }),
    );
    // Released, for a redrive and the next sweep, which finds nothing new.
    expect(await visible(dlq)).toBe(4);
    expect(await sweepDeadLetters({ sqs, dlqs: [dlq], eventLog, broadcaster })).toEqual([
      { priority: 'high', read: 4, marked: 0 },
    ]);
  });

  it('reads a dead letter behind another of its object once that one has left the DLQ', async () => {
    const dlq = await dlqOf('sweep-behind');
    const front = envelope({ dedupKey: 'system:shopify:front', orderingKey: 'order-1' });
    const behind = envelope({ dedupKey: 'system:shopify:behind', orderingKey: 'order-1' });
    await deadLetter(dlq, JSON.stringify(front), 'order-1');
    await deadLetter(dlq, JSON.stringify(behind), 'order-1');
    const { marked, eventLog } = fakeLog({ [front.dedupKey]: 'dead', [behind.dedupKey]: 'failed' });

    await sweepDeadLetters({ sqs, dlqs: [dlq], eventLog });
    // Redriven (here: taken) from the front of its group, the next one is read.
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: dlq.url, MaxNumberOfMessages: 1, VisibilityTimeout: 60 }),
    );
    expect(JSON.parse(Messages[0]?.Body ?? '{}').dedupKey).toBe(front.dedupKey);
    await sqs.send(
      new DeleteMessageCommand({ QueueUrl: dlq.url, ReceiptHandle: Messages[0]?.ReceiptHandle }),
    );
    await sweepDeadLetters({ sqs, dlqs: [dlq], eventLog });

    expect(marked.map((delivery) => delivery.key)).toEqual([behind.dedupKey]);
  });

  it('reads nothing from an empty DLQ, nor from one a redrive is moving', async () => {
    const empty = await dlqOf('sweep-empty');
    const { eventLog } = fakeLog({});
    expect(await sweepDeadLetters({ sqs, dlqs: [empty], eventLog })).toEqual([
      { priority: 'high', read: 0, marked: 0, skipped: 'empty' },
    ]);

    const moving = await dlqOf('sweep-moving');
    for (let n = 0; n < 20; n++) await deadLetter(moving, JSON.stringify(envelope()), `g-${n}`);
    await sqs.send(
      new StartMessageMoveTaskCommand({ SourceArn: moving.arn, MaxNumberOfMessagesPerSecond: 1 }),
    );
    const [summary] = await sweepDeadLetters({ sqs, dlqs: [moving], eventLog });
    expect(summary).toMatchObject({ read: 0, skipped: 'a redrive is running' });
  });
});
