import {
  ChangeMessageVisibilityBatchCommand,
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import type { Priority } from '../envelope';
import { logger } from '../observability';
import type { Broadcaster } from '../realtime/broadcaster';
import { deliveryPush } from '../realtime/delivery-push';
import type { EventLog } from '../stores/event-log';
import { CounterTally, type MetricCounters } from '../stores/metric-counters';
import { fieldsOf, readDelivery } from './delivery';

/** One priority's dead-letter queue. */
export interface SweptQueue {
  priority: Priority;
  url: string;
  arn: string;
}

export interface DeadLetterSweepDeps {
  sqs: SQSClient;
  dlqs: readonly SweptQueue[];
  eventLog: Pick<EventLog, 'markDeadLettered'>;
  /** Pushes each delivery the sweep marks dead, like the processors' dead letters. */
  broadcaster?: Pick<Broadcaster, 'broadcast'>;
  /** Counts each one dead in the per-minute counters (the status API's failed events). */
  counters?: Pick<MetricCounters, 'add'>;
  now?: () => Date;
  /**
   * How long a message read by the sweep stays invisible should the sweep die before releasing it
   * (more than the function's timeout); every read message is released at the end.
   */
  holdSeconds?: number;
  /** The most messages one sweep reads per DLQ. */
  maxMessages?: number;
}

export interface SweepSummary {
  priority: Priority;
  /** Messages read from the DLQ. */
  read: number;
  /** Of them, deliveries the event log did not know were dead (now it does). */
  marked: number;
  /** Why the DLQ was not read (empty, a redrive running). */
  skipped?: string;
}

const DEFAULT_HOLD_SECONDS = 300;
const DEFAULT_MAX_MESSAGES = 10_000;

/**
 * The DLQ sweep (a schedule in AWS, a timer locally, the same handler): the event log learns of
 * every dead letter, whoever put it there. The processors dead-letter records themselves and log
 * them dead first; this catches the rest, messages SQS's redrive moved on its own (its backstop,
 * maxReceiveCount) or whose `dead` the log could not take. Each message of a DLQ is read (held
 * invisible meanwhile), its delivery marked `dead` unless the log says processed or dead already
 * (a change is pushed like any dead letter), and then released: it stays for a redrive.
 *
 * FIFO: a receive hands out a message group's messages in order and no more of a group while some
 * are held, so the sweep holds what it read until the end, and reads the first messages of each
 * group (up to ten, one receive's worth): a dead letter behind ten others of its object is read
 * once those leave the DLQ (redriven). Dead letters SQS moves on its own are rare (the processors
 * dead-letter before its maxReceiveCount), and the processors' own are logged.
 */
export async function sweepDeadLetters(deps: DeadLetterSweepDeps): Promise<SweepSummary[]> {
  const summaries: SweepSummary[] = [];
  const tally = new CounterTally();
  for (const dlq of deps.dlqs) summaries.push(await sweep(deps, dlq, tally));
  await Promise.all(
    tally
      .entries()
      .map(({ pk, minute, counts, lastEventAt }) =>
        deps.counters
          ?.add(pk, minute, counts, lastEventAt)
          .catch((error: unknown) =>
            logger.warn('could not write the counters', { counter: pk, error: error as Error }),
          ),
      ),
  );
  return summaries;
}

async function sweep(deps: DeadLetterSweepDeps, dlq: SweptQueue, tally: CounterTally): Promise<SweepSummary> {
  const summary: SweepSummary = { priority: dlq.priority, read: 0, marked: 0 };
  const { Attributes } = await deps.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: dlq.url, AttributeNames: ['ApproximateNumberOfMessages'] }),
  );
  if (Number(Attributes?.ApproximateNumberOfMessages ?? 0) === 0) return { ...summary, skipped: 'empty' };
  // A redrive takes visible messages only: the sweep waits rather than hold them from it.
  const { Results } = await deps.sqs.send(
    new ListMessageMoveTasksCommand({ SourceArn: dlq.arn, MaxResults: 1 }),
  );
  if (Results?.some((task) => task.Status === 'RUNNING'))
    return { ...summary, skipped: 'a redrive is running' };

  const held: Message[] = [];
  try {
    for (;;) {
      const { Messages } = await deps.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: dlq.url,
          MaxNumberOfMessages: 10,
          VisibilityTimeout: deps.holdSeconds ?? DEFAULT_HOLD_SECONDS,
          WaitTimeSeconds: 0,
          MessageSystemAttributeNames: ['All'],
          MessageAttributeNames: ['All'],
        }),
      );
      if (!Messages?.length) break;
      held.push(...Messages);
      for (const message of Messages) if (await markDead(deps, message, tally)) summary.marked++;
      if (held.length >= (deps.maxMessages ?? DEFAULT_MAX_MESSAGES)) break;
    }
  } finally {
    summary.read = held.length;
    await release(deps.sqs, dlq.url, held);
  }
  if (summary.marked > 0) logger.warn('dead letters the event log did not know of, now dead', { ...summary });
  return summary;
}

/** Marks one dead letter's delivery dead, pushing the change; false if the log knew (or cannot say now). */
async function markDead(deps: DeadLetterSweepDeps, message: Message, tally: CounterTally): Promise<boolean> {
  const now = deps.now?.() ?? new Date();
  const delivery = readDelivery({
    body: message.Body ?? '',
    messageId: message.MessageId ?? '',
    attributes: (message.Attributes ?? {}) as SQSRecord['attributes'],
  });
  const reason =
    message.MessageAttributes?.errorMessage?.StringValue ??
    'In the DLQ: moved there by SQS after its queue maxReceiveCount receives';
  try {
    if (!(await deps.eventLog.markDeadLettered(delivery, reason, now))) return false;
  } catch (error) {
    // The next sweep tries again.
    logger.error('could not mark a dead letter dead in the event log', {
      dedupKey: delivery.key,
      error: error as Error,
    });
    return false;
  }
  tally.add(
    { provider: delivery.provider, ownerId: delivery.ownerId, configId: delivery.envelope?.configId },
    now,
    { kind: 'dead' },
  );
  await deps.broadcaster
    ?.broadcast(deliveryPush(fieldsOf(delivery), { status: 'dead', errorMessage: reason }, now))
    .catch((error: unknown) => logger.warn('live push failed', { error: error as Error }));
  return true;
}

/** Makes the read messages visible again at once, for the next sweep and for a redrive. */
async function release(sqs: SQSClient, url: string, messages: readonly Message[]): Promise<void> {
  for (let start = 0; start < messages.length; start += 10) {
    await sqs
      .send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: url,
          Entries: messages.slice(start, start + 10).map((message, index) => ({
            Id: String(index),
            ReceiptHandle: message.ReceiptHandle,
            VisibilityTimeout: 0,
          })),
        }),
      )
      .catch((error: unknown) =>
        // They come back by themselves after the hold.
        logger.warn('could not release dead letters after the sweep', { error: error as Error }),
      );
  }
}
