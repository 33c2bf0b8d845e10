import { AsyncLocalStorage } from 'node:async_hooks';
import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';

/** One local invocation of a handler, as the code running in it sees it. */
export interface LocalInvocation {
  /** Set once the invocation was killed: whatever it still does is lost, as in a dead Lambda. */
  readonly killed: boolean;
  /** Ends the invocation at once, as a crash would: no answer, nothing deleted. */
  kill(): void;
}

const invocations = new AsyncLocalStorage<LocalInvocation>();

/** The local invocation the caller runs in, if any (local/chaos.ts kills it). */
export function currentInvocation(): LocalInvocation | undefined {
  return invocations.getStore();
}

export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | undefined>;

export interface PollerOptions {
  sqs: SQSClient;
  queueUrl: string;
  queueArn: string;
  region: string;
  handler: SqsHandler;
  batchSize: number;
  /** Concurrent batches, like the event source mapping's maximum concurrency. */
  concurrency: number;
  /** The Lambda timeout the handler sees through context.getRemainingTimeInMillis(). */
  timeoutMs: number;
  onError?: (error: unknown) => void;
}

/**
 * A local stand-in for the Lambda SQS event source mapping: long-polls the queue, invokes the
 * handler with the same event shape, deletes the records that succeeded and leaves reported batch
 * item failures (or a whole failed batch) to reappear after their visibility timeout.
 *
 * One receive loop feeds up to `concurrency` invocations, as the mapping's pollers do: one long
 * poll per concurrent invocation instead would have every waiting poll answer (empty) each time a
 * message arrives, a dozen wasted receives per message on the local SQS.
 */
export function startSqsPoller(options: PollerOptions): { stop: () => Promise<void> } {
  const abort = new AbortController();
  const invocations = new Set<Promise<void>>();
  const loop = pollLoop(options, abort.signal, invocations);
  return {
    stop: async () => {
      abort.abort();
      await loop;
      await Promise.allSettled(invocations);
    },
  };
}

async function pollLoop(
  options: PollerOptions,
  signal: AbortSignal,
  invocations: Set<Promise<void>>,
): Promise<void> {
  while (!signal.aborted) {
    // Every invocation busy: the messages wait in the queue (not in flight) until one finishes.
    if (invocations.size >= options.concurrency) {
      await Promise.race(invocations);
      continue;
    }
    try {
      const { Messages } = await options.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: options.queueUrl,
          MaxNumberOfMessages: options.batchSize,
          WaitTimeSeconds: 1,
          MessageSystemAttributeNames: ['All'],
          MessageAttributeNames: ['All'],
        }),
        { abortSignal: signal },
      );
      if (!Messages?.length) continue;
      const invocation: Promise<void> = deliver(options, Messages)
        .catch((error: unknown) => options.onError?.(error))
        .finally(() => invocations.delete(invocation));
      invocations.add(invocation);
    } catch (error) {
      if (signal.aborted) return;
      options.onError?.(error);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

async function deliver(options: PollerOptions, messages: Message[]): Promise<void> {
  const records = messages.map((message) => toRecord(message, options));
  let failed: Set<string>;
  let timer: NodeJS.Timeout | undefined;
  try {
    // Lambda ends an invocation at its timeout (or when it crashes) whatever it was doing: no
    // answer, nothing deleted.
    let end: (error: Error) => void = () => undefined;
    const ended = new Promise<never>((_, reject) => {
      end = reject;
      timer = setTimeout(
        () => reject(new Error(`Invocation timed out after ${options.timeoutMs} ms`)),
        options.timeoutMs,
      );
    });
    const invocation = {
      killed: false,
      kill() {
        invocation.killed = true;
        end(new Error('Invocation killed'));
      },
    };
    const running = invocations.run(invocation, () =>
      options.handler({ Records: records }, lambdaContext(options.timeoutMs)),
    );
    // What an invocation that ended says later is nobody's to hear.
    running.catch(() => undefined);
    const response = await Promise.race([running, ended]);
    failed = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
  } catch (error) {
    // A thrown (or timed-out) handler fails the whole batch, as with Lambda.
    options.onError?.(error);
    return;
  } finally {
    clearTimeout(timer);
  }
  const done = messages.filter((m) => !failed.has(m.MessageId ?? ''));
  if (done.length === 0) return;
  await options.sqs.send(
    new DeleteMessageBatchCommand({
      QueueUrl: options.queueUrl,
      Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
    }),
  );
}

function toRecord(message: Message, options: PollerOptions): SQSRecord {
  const attributes = (message.Attributes ?? {}) as Record<string, string>;
  return {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? '1',
      SentTimestamp: attributes.SentTimestamp ?? String(Date.now()),
      SenderId: attributes.SenderId ?? 'local',
      ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      ...(attributes.SequenceNumber ? { SequenceNumber: attributes.SequenceNumber } : {}),
      ...(attributes.MessageGroupId ? { MessageGroupId: attributes.MessageGroupId } : {}),
      ...(attributes.MessageDeduplicationId
        ? { MessageDeduplicationId: attributes.MessageDeduplicationId }
        : {}),
    },
    messageAttributes: {},
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: options.queueArn,
    awsRegion: options.region,
  };
}

function lambdaContext(timeoutMs: number): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'local-processor',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:local:000000000000:function:local-processor',
    memoryLimitInMB: '512',
    awsRequestId: crypto.randomUUID(),
    logGroupName: 'local',
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
