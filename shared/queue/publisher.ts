import {
  type BatchResultErrorEntry,
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { numberEnv, requireEnv } from '../env';
import { type Envelope, PRIORITIES, type Priority, sqsDedupKeyOf, toSqsId } from '../envelope';
import { EnqueueFailedError, EnqueueRefusedError } from '../errors';
import type { PayloadRef, PayloadStore } from '../stores/payload-store';
import { toSqsJson } from './sqs-json';

export interface EnvelopePublisher {
  /**
   * Resolves only once SQS has acknowledged every envelope. Otherwise throws EnqueueFailedError
   * (a passing failure: the provider retries), or EnqueueRefusedError once every other envelope is
   * enqueued, if SQS refused some as the sender's fault.
   */
  publish(envelopes: readonly Envelope[]): Promise<void>;
}

export type QueueUrls = Readonly<Record<Priority, string>>;

/**
 * Payloads whose copies in SQS would add up to more than `thresholdBytes` (one message takes at
 * most 256 KiB) travel through the store instead.
 */
export interface ClaimCheck {
  store: PayloadStore;
  thresholdBytes: number;
}

/** SendMessageBatch takes at most 10 entries, and 1 MiB of message bodies in all. */
const MAX_BATCH_ENTRIES = 10;
export const MAX_BATCH_BYTES = 1024 * 1024;

/** Payloads above this go through S3; SQS's limit is 256 KiB per message. */
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

/** One envelope's message, as a batch entry without its id (its index in the batch). */
type Message = Omit<SendMessageBatchRequestEntry, 'Id'>;

/** Why SQS refused a message as the sender's fault: sending it again unchanged cannot help. */
interface Refusal {
  code: string;
  tooLong: boolean;
}

/** Sends envelopes to the FIFO queue of their priority, ordered per object and deduplicated per delivery. */
export class SqsEnvelopePublisher implements EnvelopePublisher {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrls: QueueUrls,
    private readonly claimCheck?: ClaimCheck,
  ) {}

  async publish(envelopes: readonly Envelope[]): Promise<void> {
    const refused: Refusal[] = [];
    // Queues in parallel; within a queue, batches one after another so each message group keeps
    // the provider's order (processing is monotonic anyway; this avoids needless stale writes).
    // A refused message does not stop the others: only it is lost, and the answer says so.
    await Promise.all(
      [...groupBy(envelopes, (e) => e.priority)].map(async ([priority, group]) => {
        for (const batch of packed(await this.toMessages(group)))
          refused.push(...(await this.sendBatch(this.queueUrls[priority], batch)));
      }),
    );
    if (refused.length > 0) throw refusalError(refused, envelopes.length);
  }

  /**
   * One SQS-safe message per envelope. A payload goes through the claim check when its copies
   * would carry more than the threshold through SQS: one large delivery, or the payload every
   * record of a fan-out shares (a Salesforce change event naming many records), stored once.
   */
  private async toMessages(envelopes: readonly Envelope[]): Promise<Message[]> {
    const bodies = new Map<Envelope, string>();
    await Promise.all(
      [...groupBy(envelopes, (e) => e.payload)].map(async ([payload, sharing]) => {
        const ref = await this.storedPayload(payload, sharing);
        for (const envelope of sharing)
          bodies.set(
            envelope,
            toSqsJson(ref ? { ...envelope, payload: undefined, payloadRef: ref } : envelope),
          );
      }),
    );
    return envelopes.map((envelope) => ({
      MessageBody: bodies.get(envelope) as string,
      MessageGroupId: toSqsId(envelope.orderingKey),
      MessageDeduplicationId: toSqsId(sqsDedupKeyOf(envelope)),
    }));
  }

  /**
   * Where `payload` is stored for `sharing`, if it must be. Under the first envelope's key, which
   * is unique per delivery and owner: the object a key names always holds that delivery's payload.
   */
  private async storedPayload(payload: unknown, sharing: Envelope[]): Promise<PayloadRef | undefined> {
    const [first] = sharing;
    if (!this.claimCheck || payload === undefined || !first) return undefined;
    const { store, thresholdBytes } = this.claimCheck;
    if (sharing.length * Buffer.byteLength(toSqsJson(payload)) <= thresholdBytes) return undefined;
    return store
      .put(first.provider, first.dedupKey, payload, new Date(first.receivedAt))
      .catch((error: unknown) => {
        throw new EnqueueFailedError('Could not store a large payload, retry later', { cause: error });
      });
  }

  /**
   * Sends one batch and returns what SQS refused as the sender's fault. Entries it failed for a
   * passing reason are sent once more (FIFO deduplication makes a resend harmless); a batch it
   * finds too long is sent again one message at a time.
   */
  private async sendBatch(queueUrl: string, batch: Message[]): Promise<Refusal[]> {
    let pending: SendMessageBatchRequestEntry[] = batch.map((message, index) => ({
      ...message,
      Id: String(index),
    }));
    const refused: Refusal[] = [];
    for (let attempt = 0; attempt < 2 && pending.length > 0; attempt++) {
      let failed: BatchResultErrorEntry[];
      try {
        const result = await this.sqs.send(
          new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: pending }),
        );
        failed = result.Failed ?? [];
      } catch (error) {
        const refusal = callRefusal(error);
        if (!refusal)
          throw new EnqueueFailedError(`SQS SendMessageBatch failed: ${(error as Error).name}`, {
            cause: error,
          });
        if (refusal.code !== 'BatchRequestTooLong' || pending.length === 1)
          return [...refused, ...pending.map(() => refusal)];
        for (const entry of pending) refused.push(...(await this.sendBatch(queueUrl, [entry])));
        return refused;
      }
      const failures = new Map(failed.map((failure) => [failure.Id, failure]));
      const retry: SendMessageBatchRequestEntry[] = [];
      for (const entry of pending) {
        const failure = failures.get(entry.Id);
        if (!failure) continue;
        if (failure.SenderFault) refused.push(entryRefusal(failure));
        else retry.push(entry);
      }
      pending = retry;
    }
    if (pending.length > 0) throw new EnqueueFailedError(`${pending.length} message(s) were not enqueued`);
    return refused;
  }
}

/** Batches in order, each within SendMessageBatch's limits (a message too long for any goes alone). */
function* packed(messages: Message[]): Generator<Message[]> {
  let batch: Message[] = [];
  let bytes = 0;
  for (const message of messages) {
    const size = Buffer.byteLength(message.MessageBody as string);
    if (batch.length === MAX_BATCH_ENTRIES || (batch.length > 0 && bytes + size > MAX_BATCH_BYTES)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(message);
    bytes += size;
  }
  if (batch.length > 0) yield batch;
}

const TOO_LONG = /must be shorter than|too long/i;

/** An entry SQS failed as the sender's fault: content it does not take, a body too long... */
function entryRefusal(failure: BatchResultErrorEntry): Refusal {
  return { code: failure.Code ?? 'SenderFault', tooLong: TOO_LONG.test(failure.Message ?? '') };
}

/**
 * A whole call SQS refused because of the messages themselves. Its other client errors (access
 * denied, a missing queue, throttling) are the system's, not the event's: they stay 503s.
 */
function callRefusal(error: unknown): Refusal | undefined {
  const { name, message } = error as Error;
  if (name === 'InvalidMessageContents') return { code: name, tooLong: false };
  if (name === 'BatchRequestTooLong' || (name === 'InvalidParameterValue' && TOO_LONG.test(message)))
    return { code: name, tooLong: true };
  return undefined;
}

function refusalError(refused: Refusal[], total: number): EnqueueRefusedError {
  const codes = [...new Set(refused.map((refusal) => refusal.code))].join(', ');
  const tooLong = refused.every((refusal) => refusal.tooLong);
  return new EnqueueRefusedError(
    tooLong,
    `SQS refused ${refused.length} of ${total} event(s) as ${tooLong ? 'too long' : 'invalid'} (${codes}); any others were enqueued`,
  );
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
