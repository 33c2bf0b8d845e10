import { processPartialResponse, SqsFifoPartialProcessorAsync } from '@aws-lambda-powertools/batch';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import {
  ChangeMessageVisibilityBatchCommand,
  type ChangeMessageVisibilityBatchRequestEntry,
  GetQueueUrlCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { type Envelope, envelopeSchema, PROVIDER_NAMES } from '../envelope';
import {
  type ErrorCategory,
  errorCategoryOf,
  reportableError,
  shortErrorMessage,
  TimeoutError,
  TransientError,
  ValidationError,
} from '../errors';
import { logger } from '../observability';
import { SYSTEM_OWNER } from '../owner';
import type { ServerMessage } from '../realtime/messages';
import type { FailedDelivery } from '../stores/event-log';
import {
  type CountedResult,
  type CountedSubject,
  CounterTally,
  type MetricCounters,
} from '../stores/metric-counters';
import { applyEnvelope, type Processed, type ProcessorDeps, pushLive } from './processor';

export interface BatchDeps extends ProcessorDeps {
  sqs: SQSClient;
  /** This processor's queue's dead-letter queue: records that can never succeed go there at once. */
  dlqUrl: string;
  counters: Pick<MetricCounters, 'add'>;
  /** EMF metrics, flushed once per invocation with the `provider` dimension. */
  metrics: Metrics;
  /** The queue's redrive maxReceiveCount: the receive that SQS will not repeat. */
  maxReceiveCount: number;
  /** Delay before the first retry; it doubles with each attempt. */
  retryBaseDelayMs: number;
  /** The least time kept in reserve before taking another record (default 3000 ms). */
  minSafetyMarginMs?: number;
}

export type BatchHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

/** SQS refuses a visibility timeout above 12 hours. */
const MAX_VISIBILITY_SECONDS = 43_200;
const DEFAULT_SAFETY_MARGIN_MS = 3000;
/** Before each record, keep this many times the slowest record so far in reserve. */
const SLOWEST_RECORD_FACTOR = 3;

/** The wait before attempt + 1: base * 2^(attempt - 1), in whole seconds (5, 10, 20, 40 s by default). */
export function retryDelaySeconds(retryBaseDelayMs: number, attempt: number): number {
  const delayMs = retryBaseDelayMs * 2 ** Math.max(0, attempt - 1);
  return Math.min(Math.ceil(delayMs / 1000), MAX_VISIBILITY_SECONDS);
}

/**
 * The SQS handler's core. Records are taken in order by Powertools' FIFO processor with
 * `skipGroupOnError`, so a failure holds back only its own message group. Per record:
 * - success (applied, stale, ignored, duplicate): reported as such, SQS deletes it;
 * - ValidationError (bad envelope, missing claim-check object, data the entity handler rejects):
 *   logged `dead`, sent to the DLQ and reported a success, so it is not retried (if the DLQ
 *   refuses it, it is reported a failure instead, so nothing is lost);
 * - anything else is transient: logged `failed` (or `dead` on the queue's last receive, after
 *   which SQS moves it to the DLQ), its visibility set to the backoff, reported a failure;
 * - when the invocation is close to its timeout, the remaining records are not started
 *   (TimeoutError) and come back like transient failures.
 * The failure bookkeeping (event log, visibility), the per-minute counters and the metrics are
 * written once per batch, after the records; the live pushes go out last.
 */
export function makeBatchHandler(deps: BatchDeps): BatchHandler {
  const queueUrls = new Map<string, Promise<string>>();
  const queueUrlOf = (arn: string): Promise<string> => {
    let url = queueUrls.get(arn);
    if (!url) {
      url = resolveQueueUrl(deps.sqs, arn);
      // A failed lookup is not cached: the next batch asks again.
      url.catch(() => queueUrls.delete(arn));
      queueUrls.set(arn, url);
    }
    return url;
  };
  return async (event, context) => {
    const batch = new Batch(deps, context, queueUrlOf);
    // A processor per invocation: it holds the batch's state, and the local stack may run batches concurrently.
    const processor = new SqsFifoPartialProcessorAsync();
    const response = await processPartialResponse(
      event,
      (record: SQSRecord) => batch.handle(record),
      processor,
      {
        context,
        skipGroupOnError: true,
        // A batch whose every record failed is still answered record by record: the retry delays were set.
        throwOnFullBatchFailure: false,
      },
    );
    await batch.settle(event.Records, response);
    return response;
  };
}

interface NotedFailure {
  record: SQSRecord;
  delivery: FailedDelivery;
  attempt: number;
  status: 'failed' | 'dead';
  category: ErrorCategory;
  message: string;
  delaySeconds: number;
  /** Whether the event log hears of it (a record skipped before its last receive was never tried). */
  log: boolean;
}

interface ProviderMetrics {
  processed: number;
  duplicate: number;
  failed: number;
  dead: number;
  processingTimes: number[];
  latencies: number[];
}

class Batch {
  private readonly now: () => Date;
  private readonly failures = new Map<string, NotedFailure>();
  /** The first failure's delay per message group: the group's skipped records come back with it. */
  private readonly groupDelays = new Map<string, number>();
  private readonly counters = new CounterTally();
  private readonly perProvider = new Map<string, ProviderMetrics>();
  private readonly pushes: ServerMessage<'webhook-event'>[] = [];
  private slowestMs = 0;
  private outOfTime = false;

  constructor(
    private readonly deps: BatchDeps,
    private readonly context: Context,
    private readonly queueUrlOf: (arn: string) => Promise<string>,
  ) {
    this.now = deps.now ?? (() => new Date());
  }

  async handle(record: SQSRecord): Promise<void> {
    const attempt = attemptOf(record);
    const margin = Math.max(
      this.deps.minSafetyMarginMs ?? DEFAULT_SAFETY_MARGIN_MS,
      SLOWEST_RECORD_FACTOR * this.slowestMs,
    );
    const remaining = this.context.getRemainingTimeInMillis();
    if (!this.outOfTime && remaining < margin) {
      this.outOfTime = true;
      logger.warn('close to the timeout: the remaining records are left for a retry', {
        remainingMs: remaining,
        marginMs: margin,
      });
    }
    if (this.outOfTime) {
      const error = new TimeoutError(`Not started: ${remaining} ms left, ${margin} ms kept in reserve`);
      this.noteFailure(record, attempt, readDelivery(record), error);
      throw error;
    }

    const started = performance.now();
    const delivery = readDelivery(record);
    try {
      if (!delivery.envelope) throw delivery.invalid ?? new ValidationError('Invalid envelope');
      const result = await applyEnvelope(this.deps, delivery.envelope, attempt);
      this.countSuccess(delivery.envelope, result);
      if (result.push) this.pushes.push(result.push);
      logger.debug('record processed', { dedupKey: delivery.envelope.dedupKey, outcome: result.outcome });
    } catch (error) {
      if (errorCategoryOf(error) === 'validation') {
        await this.deadLetter(record, attempt, delivery, error);
        return;
      }
      // The batch processor turns this into a batch item failure; say why, once, here.
      logger.error('record failed', {
        messageId: record.messageId,
        dedupKey: delivery.key,
        attempt,
        error: reportableError(error) as Error,
      });
      this.noteFailure(record, attempt, delivery, error);
      throw error;
    } finally {
      this.slowestMs = Math.max(this.slowestMs, performance.now() - started);
    }
  }

  /** A record that can never succeed: to the DLQ now, and a success for SQS so it is not retried. */
  private async deadLetter(
    record: SQSRecord,
    attempt: number,
    delivery: ReadDelivery,
    error: unknown,
  ): Promise<void> {
    const message = shortErrorMessage(error);
    logger.error('record is invalid: sending it to the DLQ', {
      messageId: record.messageId,
      dedupKey: delivery.key,
      reason: message,
    });
    try {
      await this.deps.sqs.send(
        new SendMessageCommand({
          QueueUrl: this.deps.dlqUrl,
          MessageBody: record.body,
          MessageGroupId: record.attributes.MessageGroupId,
          MessageDeduplicationId: record.attributes.MessageGroupId
            ? (record.attributes.MessageDeduplicationId ?? record.messageId)
            : undefined,
          MessageAttributes: {
            errorCategory: { DataType: 'String', StringValue: 'validation' },
            errorMessage: { DataType: 'String', StringValue: message },
            sourceQueueArn: { DataType: 'String', StringValue: record.eventSourceARN || 'unknown' },
          },
        }),
      );
    } catch (sendError) {
      logger.error('could not send the invalid record to the DLQ: it will be retried', {
        messageId: record.messageId,
        error: sendError as Error,
      });
      this.noteFailure(
        record,
        attempt,
        delivery,
        new TransientError(`${message} (and the DLQ refused it: ${shortErrorMessage(sendError)})`),
        'validation',
      );
      throw sendError;
    }
    await this.deps.eventLog
      .fail(delivery, { status: 'dead', attempt, category: 'validation', message, now: this.now() })
      .catch((logError: unknown) =>
        logger.error('could not mark the dead-lettered record dead in the event log', {
          dedupKey: delivery.key,
          error: logError as Error,
        }),
      );
    this.count(subjectOf(delivery), { kind: 'dead' });
  }

  private noteFailure(
    record: SQSRecord,
    attempt: number,
    delivery: ReadDelivery,
    error: unknown,
    category: ErrorCategory = errorCategoryOf(error),
  ): void {
    const status = attempt >= this.deps.maxReceiveCount ? 'dead' : 'failed';
    // A last attempt comes back at once, so that SQS moves it to the DLQ without a wait.
    const delaySeconds = status === 'dead' ? 0 : retryDelaySeconds(this.deps.retryBaseDelayMs, attempt);
    const group = record.attributes.MessageGroupId;
    if (group !== undefined && !this.groupDelays.has(group)) this.groupDelays.set(group, delaySeconds);
    this.failures.set(record.messageId, {
      record,
      delivery,
      attempt,
      status,
      category,
      message: shortErrorMessage(error),
      delaySeconds,
      log: true,
    });
    this.count(subjectOf(delivery), { kind: status });
  }

  private countSuccess(envelope: Envelope, result: Processed): void {
    if (result.outcome === 'duplicate') {
      this.count(envelope, { kind: 'duplicates' });
      return;
    }
    const latencyMs = Math.max(0, result.processedAt.getTime() - Date.parse(envelope.receivedAt));
    this.count(envelope, {
      kind: 'succeeded',
      processingMs: result.processingTimeMs,
      latencyMs,
    });
  }

  private count(subject: CountedSubject, result: CountedResult): void {
    this.counters.add(subject, this.now(), result);
    const { provider } = subject;
    let tally = this.perProvider.get(provider);
    if (!tally) {
      tally = { processed: 0, duplicate: 0, failed: 0, dead: 0, processingTimes: [], latencies: [] };
      this.perProvider.set(provider, tally);
    }
    if (result.kind === 'succeeded') {
      tally.processed++;
      tally.processingTimes.push(result.processingMs);
      tally.latencies.push(result.latencyMs);
    } else if (result.kind === 'duplicates') tally.duplicate++;
    else tally[result.kind]++;
  }

  /** After the records: failure bookkeeping, retry delays, counters and metrics, each written once. */
  async settle(records: SQSRecord[], response: SQSBatchResponse): Promise<void> {
    const reported = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier));
    const failed = records
      .filter((record) => reported.has(record.messageId))
      .map((record) => this.failures.get(record.messageId) ?? this.skipped(record));
    await Promise.all([
      ...failed.filter((noted) => noted.log).map((noted) => this.logFailure(noted)),
      this.changeVisibility(failed),
      this.writeCounters(),
    ]);
    this.publishMetrics();
    // Last, in record order: a dashboard hears of an event only once everything about it is written.
    for (const message of this.pushes) await pushLive(this.deps.broadcaster, message);
  }

  /**
   * A record Powertools did not hand over because an earlier record of its group failed: it was
   * not attempted, but its receive still counts, so on the last one it goes to the DLQ too.
   */
  private skipped(record: SQSRecord): NotedFailure {
    const attempt = attemptOf(record);
    const delivery = readDelivery(record);
    const status = attempt >= this.deps.maxReceiveCount ? 'dead' : 'failed';
    const group = record.attributes.MessageGroupId;
    const delaySeconds =
      status === 'dead'
        ? 0
        : ((group !== undefined ? this.groupDelays.get(group) : undefined) ??
          retryDelaySeconds(this.deps.retryBaseDelayMs, attempt));
    // Never tried, so only its last receive is worth a log entry and a count.
    if (status === 'dead') this.count(subjectOf(delivery), { kind: 'dead' });
    return {
      record,
      delivery,
      attempt,
      status,
      category: 'processing',
      message: 'Not attempted: an earlier message of its group failed in the same batch',
      delaySeconds,
      log: status === 'dead',
    };
  }

  private async logFailure(noted: NotedFailure): Promise<void> {
    try {
      await this.deps.eventLog.fail(noted.delivery, {
        status: noted.status,
        attempt: noted.attempt,
        category: noted.category,
        message: noted.message,
        now: this.now(),
      });
    } catch (error) {
      logger.error('could not record the failed attempt in the event log', {
        dedupKey: noted.delivery.key,
        error: error as Error,
      });
    }
  }

  /** FIFO queues have no per-message delay: a failed record's visibility timeout is its backoff. */
  private async changeVisibility(retries: readonly NotedFailure[]): Promise<void> {
    const byQueue = new Map<string, ChangeMessageVisibilityBatchRequestEntry[]>();
    for (const { record, delaySeconds } of retries) {
      const entries = byQueue.get(record.eventSourceARN) ?? [];
      entries.push({
        Id: String(entries.length),
        ReceiptHandle: record.receiptHandle,
        VisibilityTimeout: delaySeconds,
      });
      byQueue.set(record.eventSourceARN, entries);
    }
    await Promise.all(
      [...byQueue].map(async ([arn, entries]) => {
        try {
          const queueUrl = await this.queueUrlOf(arn);
          for (let start = 0; start < entries.length; start += 10) {
            const result = await this.deps.sqs.send(
              new ChangeMessageVisibilityBatchCommand({
                QueueUrl: queueUrl,
                Entries: entries.slice(start, start + 10),
              }),
            );
            if (result.Failed?.length)
              logger.warn('some retry delays were not set: those records wait out the visibility timeout', {
                failed: result.Failed,
              });
          }
        } catch (error) {
          logger.warn('could not set the retry delays: the records wait out the visibility timeout', {
            error: error as Error,
          });
        }
      }),
    );
  }

  /** One UpdateItem per counter and bucket; a counter that cannot be written must not fail records. */
  private async writeCounters(): Promise<void> {
    await Promise.all(
      this.counters.entries().map(({ pk, minute, counts, lastEventAt }) =>
        this.deps.counters.add(pk, minute, counts, lastEventAt).catch((error: unknown) =>
          logger.warn('could not write the counters', {
            counter: pk,
            minute,
            counts,
            error: error as Error,
          }),
        ),
      ),
    );
  }

  /** One EMF document per provider (its only dimension), all written at the end of the invocation. */
  private publishMetrics(): void {
    const { metrics } = this.deps;
    for (const [provider, tally] of this.perProvider) {
      try {
        metrics.addDimension('provider', provider);
        metrics.addMetric('EventsProcessed', MetricUnit.Count, tally.processed);
        metrics.addMetric('EventsFailed', MetricUnit.Count, tally.failed);
        metrics.addMetric('EventsDead', MetricUnit.Count, tally.dead);
        metrics.addMetric('EventsDuplicate', MetricUnit.Count, tally.duplicate);
        for (const value of tally.processingTimes)
          metrics.addMetric('ProcessingTime', MetricUnit.Milliseconds, value);
        for (const value of tally.latencies)
          metrics.addMetric('EndToEndLatency', MetricUnit.Milliseconds, value);
        metrics.publishStoredMetrics();
      } catch (error) {
        logger.warn('could not publish metrics', { provider, error: error as Error });
        metrics.clearMetrics();
        metrics.clearDimensions();
      }
    }
  }
}

interface ReadDelivery extends FailedDelivery {
  /** The provider for counters and metrics: the envelope's, or `unknown` for an unreadable message. */
  provider: string;
  /** The owner for counters: the envelope's, the one an unreadable message names, or the system. */
  ownerId: string;
  invalid?: ValidationError;
}

/** The envelope in a record, or what the log can say about a body that is not one. */
function readDelivery(record: SQSRecord): ReadDelivery {
  const body = safeJson(record.body);
  const parsed = envelopeSchema.safeParse(body);
  if (parsed.success)
    return {
      key: parsed.data.dedupKey,
      envelope: parsed.data,
      provider: parsed.data.provider,
      ownerId: parsed.data.ownerId,
    };
  const fields = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const text = (name: string) => {
    const value = fields[name];
    return typeof value === 'string' && value.length > 0 && value.length <= 512 ? value : undefined;
  };
  const provider = text('provider');
  const ownerId = text('ownerId') ?? text('userId');
  const issue = parsed.error.issues[0];
  return {
    key: text('dedupKey') ?? `sqs:${record.attributes.MessageDeduplicationId ?? record.messageId}`,
    raw: {
      provider,
      eventType: text('eventType'),
      objectType: text('objectType'),
      objectId: text('objectId'),
      deliveryId: text('deliveryId'),
      ownerId,
    },
    provider: provider && (PROVIDER_NAMES as readonly string[]).includes(provider) ? provider : 'unknown',
    ownerId: ownerId ?? SYSTEM_OWNER,
    invalid: new ValidationError(
      body === undefined
        ? 'Invalid envelope: the message body is not JSON'
        : `Invalid envelope: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'rejected'}`,
    ),
  };
}

/** A delivery is counted under its provider and owner, and its webhook config when it came through one. */
function subjectOf(delivery: ReadDelivery): CountedSubject {
  return { provider: delivery.provider, ownerId: delivery.ownerId, configId: delivery.envelope?.configId };
}

function attemptOf(record: SQSRecord): number {
  const count = Number(record.attributes.ApproximateReceiveCount);
  return Number.isInteger(count) && count > 0 ? count : 1;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The URL of the queue an event source ARN names (`arn:aws:sqs:<region>:<account>:<name>`). */
async function resolveQueueUrl(sqs: SQSClient, arn: string): Promise<string> {
  const [, , , , account, name] = arn.split(':');
  if (!account || !name) throw new Error(`Not an SQS queue ARN: ${arn}`);
  const { QueueUrl } = await sqs.send(
    new GetQueueUrlCommand({ QueueName: name, QueueOwnerAWSAccountId: account }),
  );
  if (!QueueUrl) throw new Error(`No URL for queue ${arn}`);
  return QueueUrl;
}
