import {
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { numberEnv, requireEnv } from '../env';
import { type Envelope, PRIORITIES, type Priority, sqsDedupKeyOf, toSqsId } from '../envelope';
import { EnqueueFailedError } from '../errors';
import type { PayloadStore } from '../stores/payload-store';

export interface EnvelopePublisher {
  /** Resolves only once SQS has acknowledged every envelope; otherwise throws EnqueueFailedError. */
  publish(envelopes: readonly Envelope[]): Promise<void>;
}

export type QueueUrls = Readonly<Record<Priority, string>>;

/** Messages over `thresholdBytes` (SQS takes at most 256 KiB) leave their payload in the store. */
export interface ClaimCheck {
  store: PayloadStore;
  thresholdBytes: number;
}

const BATCH_SIZE = 10;

/** Envelopes above this go through S3; SQS's limit is 256 KiB per message. */
export const DEFAULT_CLAIM_CHECK_BYTES = 192 * 1024;

/** The queue of each priority from QUEUE_URL_HIGH/_MEDIUM/_LOW. */
export function queueUrlsFromEnv(): QueueUrls {
  return Object.fromEntries(
    PRIORITIES.map((priority) => [priority, requireEnv(`QUEUE_URL_${priority.toUpperCase()}`)]),
  ) as Record<Priority, string>;
}

/** The publisher of the ingest functions and of replays: the queues, and the claim check if configured. */
export function envelopePublisherFromEnv(
  sqs: SQSClient,
  payloads: PayloadStore | undefined,
): SqsEnvelopePublisher {
  return new SqsEnvelopePublisher(
    sqs,
    queueUrlsFromEnv(),
    payloads && {
      store: payloads,
      thresholdBytes: numberEnv('CLAIM_CHECK_BYTES', DEFAULT_CLAIM_CHECK_BYTES),
    },
  );
}

/** Sends envelopes to the FIFO queue of their priority, ordered per object and deduplicated per delivery. */
export class SqsEnvelopePublisher implements EnvelopePublisher {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrls: QueueUrls,
    private readonly claimCheck?: ClaimCheck,
  ) {}

  async publish(envelopes: readonly Envelope[]): Promise<void> {
    // Queues in parallel; within a queue, batches one after another so each message group keeps
    // the provider's order (processing is monotonic anyway; this avoids needless stale writes).
    await Promise.all(
      [...groupBy(envelopes, (e) => e.priority)].map(async ([priority, group]) => {
        for (let start = 0; start < group.length; start += BATCH_SIZE) {
          const batch = group.slice(start, start + BATCH_SIZE);
          const entries = await Promise.all(batch.map((envelope, index) => this.toEntry(envelope, index)));
          await this.sendAll(this.queueUrls[priority], entries);
        }
      }),
    );
  }

  /** Each envelope is serialized once; only one over the threshold goes through the claim check. */
  private async toEntry(envelope: Envelope, index: number): Promise<SendMessageBatchRequestEntry> {
    let body = JSON.stringify(envelope);
    if (this.claimCheck && Buffer.byteLength(body) > this.claimCheck.thresholdBytes) {
      const payloadRef = await this.claimCheck.store
        .put(envelope.provider, envelope.dedupKey, envelope.payload, new Date(envelope.receivedAt))
        .catch((error: unknown) => {
          throw new EnqueueFailedError('Could not store a large payload, retry later', { cause: error });
        });
      body = JSON.stringify({ ...envelope, payload: undefined, payloadRef });
    }
    return {
      Id: String(index),
      MessageBody: body,
      MessageGroupId: toSqsId(envelope.orderingKey),
      MessageDeduplicationId: toSqsId(sqsDedupKeyOf(envelope)),
    };
  }

  /** Retries the entries SQS reported as failed once; FIFO deduplication makes a resend harmless. */
  private async sendAll(queueUrl: string, entries: SendMessageBatchRequestEntry[]): Promise<void> {
    let pending = entries;
    for (let attempt = 0; attempt < 2 && pending.length > 0; attempt++) {
      const result = await this.sqs
        .send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: pending }))
        .catch((error: unknown) => {
          throw new EnqueueFailedError(`SQS SendMessageBatch failed: ${(error as Error).name}`, {
            cause: error,
          });
        });
      const failed = new Set((result.Failed ?? []).map((f) => f.Id));
      pending = pending.filter((entry) => failed.has(entry.Id));
    }
    if (pending.length > 0) throw new EnqueueFailedError(`${pending.length} message(s) were not enqueued`);
  }
}

function groupBy<T, K>(items: readonly T[], keyOf: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}
