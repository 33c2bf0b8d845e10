import { GetQueueAttributesCommand, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { CrashError, withCrashes, withKills } from '../../../local/chaos';
import { startSqsPoller } from '../../../local/sqs-poller';
import type { EventLogPort } from '../../../shared/stores/event-log';
import { envelope } from '../support/envelopes';
import { LOCAL_SQS_REGION, useLocalSqs } from '../support/local-sqs';

/*
 * CHAOS_CRASH_RATE: a processor that dies after its batch's work never answers the event source,
 * so nothing is deleted and every message of the batch comes back after its visibility timeout
 * with one more receive, processed ones included (which processing must then recognise).
 */

const local = useLocalSqs();

describe('a crashing processor (CHAOS_CRASH_RATE)', () => {
  it('throws after the work, whatever the work returned', async () => {
    const crashing = withCrashes(async () => ({ batchItemFailures: [] }), 1);
    await expect(crashing({}, {})).rejects.toBeInstanceOf(CrashError);
    await expect(withCrashes(async () => 'answer', 0)({}, {})).resolves.toBe('answer');
    expect(() => withCrashes(async () => 0, 1.5)).toThrow(/between 0 and 1/);
  });

  it('gets every message of the crashed batch again, with one more receive, then deletes them', async () => {
    const { url: queueUrl, arn: queueArn } = await local.fifoQueue('crash', { VisibilityTimeout: '1' });
    await local.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: ['a', 'b', 'c'].map((id) => ({
          Id: id,
          MessageBody: id,
          MessageGroupId: 'group',
          MessageDeduplicationId: id,
        })),
      }),
    );
    // Each invocation's records as `body@receive`.
    const batches: string[][] = [];
    const processor = async (event: SQSEvent): Promise<SQSBatchResponse> => {
      batches.push(
        event.Records.map((record) => `${record.body}@${record.attributes.ApproximateReceiveCount}`),
      );
      return { batchItemFailures: [] };
    };
    // The first invocation crashes, the next ones do not.
    const handler = withCrashes(processor, 1, () => (batches.length === 1 ? 0 : 1));
    const poller = startSqsPoller({
      sqs: local.sqs,
      queueUrl,
      queueArn,
      region: LOCAL_SQS_REGION,
      handler,
      batchSize: 10,
      concurrency: 1,
      timeoutMs: 5_000,
    });
    try {
      const answered = () =>
        batches
          .slice(1)
          .flat()
          .map((record) => record.split('@')[0]);
      const deadline = Date.now() + 15_000;
      while (answered().sort().join() !== 'a,b,c' && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 100));
      const [crashed = [], ...later] = batches;
      expect(crashed.length).toBeGreaterThan(0);
      // Every message of the crashed batch came back once more, with its second receive.
      for (const record of crashed) {
        const [body] = record.split('@');
        expect(later.flat(), record).toContain(`${body}@2`);
      }
      expect(answered().sort()).toEqual(['a', 'b', 'c']);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const { Attributes } = await local.sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: queueUrl,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      );
      expect(Attributes).toMatchObject({
        ApproximateNumberOfMessages: '0',
        ApproximateNumberOfMessagesNotVisible: '0',
      });
    } finally {
      await poller.stop();
    }
  });
});

describe('a processor killed mid-batch (CHAOS_KILL_RATE)', () => {
  it("ends its invocation at a record's completion, after its writes, and says which record", async () => {
    const completed: string[] = [];
    const failed: string[] = [];
    const log: EventLogPort = {
      begin: async () => ({ duplicate: false, failedAttempts: 0, unfinished: false }),
      complete: async (delivery) => {
        completed.push(delivery.dedupKey);
      },
      fail: async (delivery) => {
        failed.push(delivery.key);
        return { attempts: 1, failedAttempts: 1, dependencyFailures: 0 };
      },
    };
    const killed: string[] = [];
    const dying = withKills(
      log,
      1,
      (delivery) => killed.push(delivery.dedupKey),
      () => 0,
    );
    const completion = { outcome: 'applied' as const, processingTimeMs: 1, processedAt: new Date() };
    const { url: queueUrl, arn: queueArn } = await local.fifoQueue('kill-now', { VisibilityTimeout: '1' });
    await local.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: [{ Id: 'x', MessageBody: 'x', MessageGroupId: 'g', MessageDeduplicationId: 'x' }],
      }),
    );
    const after: string[] = [];
    const errors: unknown[] = [];
    let invocations = 0;
    const poller = startSqsPoller({
      sqs: local.sqs,
      queueUrl,
      queueArn,
      region: LOCAL_SQS_REGION,
      handler: async () => {
        invocations++;
        if (invocations > 1) return { batchItemFailures: [] };
        // What a batch does after the record that kills it: none of it reaches the event log.
        const completing = dying.complete(envelope(), completion).then(() => after.push('completed'));
        const failing = dying
          .fail(
            { key: 'later' },
            {
              status: 'failed',
              counts: 'own',
              begun: true,
              category: 'processing',
              message: 'x',
              now: new Date(),
            },
          )
          .then(() => after.push('failed'));
        await Promise.race([completing, failing]);
        return { batchItemFailures: [] };
      },
      batchSize: 10,
      concurrency: 1,
      timeoutMs: 30_000,
      onError: (error) => errors.push(error),
    });
    try {
      const deadline = Date.now() + 10_000;
      while (invocations < 2 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 50));
      // Ended at once (not at its 30 s timeout), nothing deleted: the message came back.
      expect(invocations).toBe(2);
      expect(String(errors[0])).toMatch(/Invocation killed/);
      expect(killed).toEqual([envelope().dedupKey]);
      expect(completed).toEqual([]);
      expect(failed).toEqual([]);
      expect(after).toEqual([]);
    } finally {
      await poller.stop();
    }
    // Outside a killed invocation, and with rate 0, the log is the log.
    await withKills(log, 0).complete(envelope(), completion);
    expect(completed).toEqual([envelope().dedupKey]);
  });

  it('is timed out by the event source like Lambda: nothing deleted, the batch comes back', async () => {
    const { url: queueUrl, arn: queueArn } = await local.fifoQueue('killed', { VisibilityTimeout: '1' });
    await local.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: [{ Id: 'x', MessageBody: 'x', MessageGroupId: 'g', MessageDeduplicationId: 'x' }],
      }),
    );
    const receives: string[] = [];
    const handler = async (event: SQSEvent): Promise<SQSBatchResponse> => {
      receives.push(event.Records.map((record) => record.attributes.ApproximateReceiveCount).join());
      // The first invocation never answers (killed); the next one does.
      if (receives.length === 1) return new Promise<never>(() => {});
      return { batchItemFailures: [] };
    };
    const errors: unknown[] = [];
    const poller = startSqsPoller({
      sqs: local.sqs,
      queueUrl,
      queueArn,
      region: LOCAL_SQS_REGION,
      handler,
      batchSize: 10,
      concurrency: 1,
      timeoutMs: 300,
      onError: (error) => errors.push(error),
    });
    try {
      const deadline = Date.now() + 10_000;
      while (receives.length < 2 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 50));
      expect(receives).toEqual(['1', '2']);
      expect(String(errors[0])).toMatch(/timed out after 300 ms/);
    } finally {
      await poller.stop();
    }
  });
});
