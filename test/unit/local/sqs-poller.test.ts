import { GetQueueAttributesCommand, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { startSqsPoller } from '../../../local/sqs-poller';
import { LOCAL_SQS_REGION, useLocalSqs } from '../support/local-sqs';

/*
 * The local event source: one receive loop per queue feeding at most `concurrency` invocations,
 * like Lambda's pollers, rather than one long poll per invocation (which the local SQS answers,
 * empty, every time a message arrives).
 */

const local = useLocalSqs();
let receives = 0;

beforeAll(() => {
  local.sqs.middlewareStack.add(
    (next, context) => (args) => {
      if (context.commandName === 'ReceiveMessageCommand') receives++;
      return next(args);
    },
    { step: 'initialize' },
  );
});

async function send(url: string, groups: number, from = 0): Promise<void> {
  for (let start = 0; start < groups; start += 10) {
    const ids = Array.from({ length: Math.min(10, groups - start) }, (_, i) => from + start + i);
    await local.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: ids.map((id) => ({
          Id: String(id),
          MessageBody: String(id),
          MessageGroupId: `g${id}`,
          MessageDeduplicationId: `d${id}`,
        })),
      }),
    );
  }
}

describe('startSqsPoller', () => {
  it('runs at most `concurrency` invocations and receives nothing while all of them are busy', async () => {
    const queue = await local.fifoQueue('bounded', { VisibilityTimeout: '30' });
    const seen: string[] = [];
    let running = 0;
    let peak = 0;
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const poller = startSqsPoller({
      sqs: local.sqs,
      queueUrl: queue.url,
      queueArn: queue.arn,
      region: LOCAL_SQS_REGION,
      batchSize: 1,
      concurrency: 3,
      timeoutMs: 30_000,
      handler: async (event: SQSEvent) => {
        running++;
        peak = Math.max(peak, running);
        seen.push(...event.Records.map((record) => record.body));
        await released;
        running--;
        return { batchItemFailures: [] };
      },
    });
    try {
      await send(queue.url, 8);
      await expect.poll(() => running, { timeout: 5000 }).toBe(3);
      const receivesWhileBusy = receives;
      await new Promise((resolve) => setTimeout(resolve, 1500));
      // Saturated: no receive, so the other messages stay in the queue instead of in flight.
      expect(receives).toBe(receivesWhileBusy);
      const { Attributes } = await local.sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: queue.url,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      );
      expect(Attributes).toMatchObject({
        ApproximateNumberOfMessages: '5',
        ApproximateNumberOfMessagesNotVisible: '3',
      });
      release();
      await expect.poll(() => seen.length, { timeout: 5000 }).toBe(8);
      expect(peak).toBe(3);
      expect(new Set(seen).size).toBe(8);
    } finally {
      release();
      await poller.stop();
    }
  });

  it('receives about once per message, not once per waiting invocation', async () => {
    const queue = await local.fifoQueue('thrift', { VisibilityTimeout: '30' });
    let handled = 0;
    const poller = startSqsPoller({
      sqs: local.sqs,
      queueUrl: queue.url,
      queueArn: queue.arn,
      region: LOCAL_SQS_REGION,
      batchSize: 10,
      concurrency: 20,
      timeoutMs: 30_000,
      handler: async (event: SQSEvent) => {
        handled += event.Records.length;
        return { batchItemFailures: [] };
      },
    });
    try {
      // Let the loop settle into its long poll, then send messages one at a time.
      await new Promise((resolve) => setTimeout(resolve, 200));
      const before = receives;
      for (let i = 0; i < 10; i++) {
        await send(queue.url, 1, 100 + i);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await expect.poll(() => handled, { timeout: 5000 }).toBe(10);
      // One receive per message plus the long polls that were waiting; twenty concurrent long
      // polls would have made it about 200.
      expect(receives - before).toBeLessThanOrEqual(13);
    } finally {
      await poller.stop();
    }
  });
});
