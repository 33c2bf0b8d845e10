import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import {
  ChangeMessageVisibilityBatchCommand,
  type ChangeMessageVisibilityBatchRequestEntry,
  GetQueueUrlCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { type Envelope, toSqsId } from '../envelope';
import {
  type ErrorCategory,
  errorCategoryOf,
  reportableError,
  shortErrorMessage,
  TimeoutError,
  ValidationError,
} from '../errors';
import { logger } from '../observability';
import { deliveryPush } from '../realtime/delivery-push';
import type { ServerMessage } from '../realtime/messages';
import type { DeliveryState, FailureCounts } from '../stores/event-log';
import {
  type CountedResult,
  type CountedSubject,
  CounterTally,
  type MetricCounters,
} from '../stores/metric-counters';
import { fieldsOf, type ReadDelivery, readDelivery } from './delivery';
import {
  applyEnvelopes,
  type BegunAttempt,
  type Processed,
  type ProcessorDeps,
  pushAllLive,
} from './processor';
import { type RetrySchedule, retryDelaySeconds } from './retry-schedule';

/**
 * When a failing delivery is tried again and when it is dead-lettered (README, Processing):
 * the schedule, the system's limits for deliveries without a config, and the two limits of the
 * queue (its retention, through `windowMs`, and SQS's own redrive, `maxReceiveCount`).
 */
export interface RetryPolicy {
  schedule: RetrySchedule;
  /** Failed attempts of the delivery's own after the first (a config's `retry_attempts`). */
  retryAttempts: number;
  /** The longest one attempt may take (a config's `timeout_ms`). */
  timeoutMs: number;
  /** How long a message may keep failing, for any reason, before it is dead-lettered (retryWindowMs). */
  windowMs: number;
  /** The queue's redrive maxReceiveCount: SQS's backstop, which this handler dead-letters before. */
  maxReceiveCount: number;
}

export interface BatchDeps extends ProcessorDeps {
  sqs: SQSClient;
  /** This processor's queue's dead-letter queue: the handler sends dead letters there itself. */
  dlqUrl: string;
  counters: Pick<MetricCounters, 'add'>;
  /** EMF metrics, flushed once per invocation with the `provider` dimension. */
  metrics: Metrics;
  retry: RetryPolicy;
  /** The least time kept in reserve before taking another record (default 3000 ms). */
  minSafetyMarginMs?: number;
}

export type BatchHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

const DEFAULT_SAFETY_MARGIN_MS = 3000;
/** Before each record, keep this many times the slowest record so far in reserve. */
const SLOWEST_RECORD_FACTOR = 3;

/**
 * The SQS handler's core. The batch's message groups run concurrently, in rounds: each round
 * takes the next record of every group still going and applies them together (applyEnvelopes: the
 * event log's reads and writes together, a statement per table, a PutEvents per ten), so a group's
 * records stay strictly in order and a failure holds back only its own group. Per record:
 * - success (applied, stale, ignored, duplicate): reported as such, SQS deletes it;
 * - a failure is recorded in the event log: a dependency's (`dependency`) is not charged to the
 *   delivery, any other is (its `failedAttempts`); the record comes back after the schedule's
 *   delay (its visibility timeout), its group's held-back records with it;
 * - the handler dead-letters a record itself (sends it to the DLQ, logs it `dead`, reports it a
 *   success) when it can never succeed (ValidationError), when its charged failures exceed its
 *   `retry_attempts`, when it has been failing for the retry window (before the queue would
 *   expire it) or when SQS's redrive would take it on the next receive;
 * - when the invocation is close to its timeout, the remaining records are not started and come
 *   back without being charged anything.
 * Held-back records are never attempted, so they use up nothing. An attempt the invocation died on
 * along with others is charged to none of them; such a record is tried alone (EventLog.states).
 * Counters and metrics are written once per batch, after the records; the live pushes (processed,
 * failed, dead) go out last.
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
    // A batch per invocation: it holds the batch's state, and the local stack may run batches concurrently.
    return new Batch(deps, context, queueUrlOf).run(event.Records);
  };
}

/** The attempts of a delivery's own are used up (by attempts that never finished): dead-lettered unattempted. */
class AttemptsUsedUpError extends TimeoutError {
  override name = 'AttemptsUsedUpError';
}

/** A failed record's retry: when it comes back. */
interface NotedRetry {
  record: SQSRecord;
  delaySeconds: number;
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
  private readonly retries = new Map<string, NotedRetry>();
  /** The first failure's delay per message group: the group's skipped records come back with it. */
  private readonly groupDelays = new Map<string, number>();
  private readonly counters = new CounterTally();
  private readonly counted: { order: number; subject: CountedSubject; result: CountedResult; at: Date }[] =
    [];
  private readonly perProvider = new Map<string, ProviderMetrics>();
  private readonly pushes: { order: number; message: ServerMessage<'webhook-event'> }[] = [];
  /** Each record's place in the batch: the pushes go out in record order. */
  private readonly order = new Map<string, number>();
  private slowestMs = 0;
  private outOfTime = false;

  constructor(
    private readonly deps: BatchDeps,
    private readonly context: Context,
    private readonly queueUrlOf: (arn: string) => Promise<string>,
  ) {
    this.now = deps.now ?? (() => new Date());
  }

  private get marginMs(): number {
    return this.deps.minSafetyMarginMs ?? DEFAULT_SAFETY_MARGIN_MS;
  }

  /** The batch's records, group by group in rounds (see makeBatchHandler); answers the records to retry. */
  async run(records: SQSRecord[]): Promise<SQSBatchResponse> {
    for (const [index, record] of records.entries()) this.order.set(record.messageId, index);
    const deliveries = records.map((record) => readDelivery(record));
    const states = await this.readStates(deliveries);
    const groups = new Map<string, number[]>();
    records.forEach((record, index) => {
      const group = record.attributes.MessageGroupId ?? record.messageId;
      groups.set(group, [...(groups.get(group) ?? []), index]);
    });
    const reported = new Set<number>();
    let queues = [...groups.values()];
    while (queues.length > 0) {
      const round = queues.map((queue) => queue[0] as number);
      // Those whose last attempt died along with others go alone, each in a round of its own.
      const alone = round.filter((index) => states.get(deliveries[index]?.key ?? '')?.unfinishedTogether);
      const parts = [round.filter((index) => !alone.includes(index)), ...alone.map((index) => [index])];
      const succeeded = new Set<number>();
      for (const part of parts.filter((indexes) => indexes.length > 0)) {
        const results = await this.runRound(
          part.map((index) => ({
            record: records[index] as SQSRecord,
            delivery: deliveries[index] as ReadDelivery,
          })),
          states,
        );
        for (const [i, index] of part.entries()) if (results[i]) succeeded.add(index);
      }
      queues = queues.flatMap((queue) => {
        const [first, ...rest] = queue as [number, ...number[]];
        if (succeeded.has(first)) return rest.length > 0 ? [rest] : [];
        // The failed record and the group's records behind it come back together.
        for (const index of queue) reported.add(index);
        return [];
      });
    }
    const response: SQSBatchResponse = {
      batchItemFailures: records
        .filter((_, index) => reported.has(index))
        .map((record) => ({ itemIdentifier: record.messageId })),
    };
    await this.settle(records, response);
    return response;
  }

  /**
   * What the log says of the deliveries before they are begun: one read for the batch (none for a
   * batch of one, which has nothing to gain from it). A failed read leaves everything to `begin`.
   */
  private async readStates(deliveries: readonly ReadDelivery[]): Promise<Map<string, DeliveryState>> {
    const { eventLog } = this.deps;
    const keys = deliveries.filter((delivery) => delivery.envelope).map((delivery) => delivery.key);
    if (!eventLog.states || keys.length < 2) return new Map();
    try {
      return await eventLog.states(keys);
    } catch (error) {
      logger.warn('could not read the event log ahead of the batch', { error: error as Error });
      return new Map();
    }
  }

  /** One record of each of some groups, applied together; answers, per record, whether it is done with. */
  private async runRound(
    round: readonly { record: SQSRecord; delivery: ReadDelivery }[],
    states: ReadonlyMap<string, DeliveryState>,
  ): Promise<boolean[]> {
    const margin = Math.max(this.marginMs, SLOWEST_RECORD_FACTOR * this.slowestMs);
    const remaining = this.context.getRemainingTimeInMillis();
    if (!this.outOfTime && remaining < margin) {
      this.outOfTime = true;
      logger.warn('close to the timeout: the remaining records are left for a retry', {
        remainingMs: remaining,
        marginMs: margin,
      });
    }
    if (this.outOfTime) {
      // Not attempted, so nothing is charged: they come back after the first backoff.
      for (const { record } of round) this.noteRetry(record, retryDelaySeconds(this.deps.retry.schedule, 2));
      return round.map(() => false);
    }

    const started = performance.now();
    const begun = new Map<number, BegunAttempt>();
    const valid = round.flatMap(({ delivery }, index) =>
      delivery.envelope ? [{ index, envelope: delivery.envelope }] : [],
    );
    const known = valid.map(({ envelope }) => isProcessed(states.get(envelope.dedupKey), envelope));
    const together = known.filter((processed) => !processed).length;
    const work = applyEnvelopes(
      this.deps,
      valid.map(({ index, envelope }, i) => {
        const limits = this.limitsOf(envelope);
        return {
          envelope,
          knownProcessed: known[i],
          together,
          hooks: {
            onBegun: (attempt: BegunAttempt) => {
              begun.set(index, attempt);
              if (attempt.failedAttempts > limits.retryAttempts)
                throw new AttemptsUsedUpError(
                  `${attempt.failedAttempts} attempts did not finish (the invocation timed out or died on them)`,
                );
            },
          },
        };
      }),
    );
    const workOf = new Map(valid.map(({ index }, i) => [index, work[i] as Promise<Processed>]));
    try {
      return await Promise.all(
        round.map(({ record, delivery }, index) =>
          this.finish(record, delivery, workOf.get(index), remaining, () => begun.has(index)),
        ),
      );
    } finally {
      this.slowestMs = Math.max(this.slowestMs, performance.now() - started);
    }
  }

  /** A record's attempt to its end: counted, or its failure recorded. True if the record is done with. */
  private async finish(
    record: SQSRecord,
    delivery: ReadDelivery,
    work: Promise<Processed> | undefined,
    remaining: number,
    wasBegun: () => boolean,
  ): Promise<boolean> {
    try {
      if (!delivery.envelope || !work) throw delivery.invalid ?? new ValidationError('Invalid envelope');
      const result = await this.attempt(work, this.limitsOf(delivery.envelope), remaining);
      this.countSuccess(record, delivery.envelope, result);
      if (result.push) this.push(record, result.push);
      logger.debug('record processed', { dedupKey: delivery.envelope.dedupKey, outcome: result.outcome });
      return true;
    } catch (error) {
      const begun = wasBegun();
      const category = errorCategoryOf(error);
      if (category === 'validation' || error instanceof AttemptsUsedUpError) {
        logger.error('record can never succeed: sending it to the DLQ', {
          messageId: record.messageId,
          dedupKey: delivery.key,
          reason: shortErrorMessage(error),
        });
        const counts = error instanceof AttemptsUsedUpError ? 'none' : 'own';
        return this.deadLetter(record, delivery, { category, error, counts, begun });
      }
      logger.error('record failed', {
        messageId: record.messageId,
        dedupKey: delivery.key,
        receives: receivesOf(record),
        error: reportableError(error) as Error,
      });
      return this.recordFailure(record, delivery, error, category, begun);
    }
  }

  /** The delivery's limits: its config's, or the system's. */
  private limitsOf(envelope: Envelope): { retryAttempts: number; timeoutMs: number } {
    return envelope.limits ?? this.deps.retry;
  }

  /**
   * One attempt, cut short at the delivery's `timeout_ms` or before the invocation's end, whichever
   * comes first (a TimeoutError, charged to the delivery). The work cut short may still finish on
   * its own; a processed delivery is never applied twice.
   */
  private async attempt(
    work: Promise<Processed>,
    limits: { timeoutMs: number },
    remainingMs: number,
  ): Promise<Processed> {
    const invocationMs = remainingMs - this.marginMs / 2;
    const deadlineMs = Math.max(0, Math.min(limits.timeoutMs, invocationMs));
    // What the cut-short work throws later is nobody's to handle.
    work.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new TimeoutError(
              limits.timeoutMs <= invocationMs
                ? `The attempt took longer than its ${limits.timeoutMs} ms (timeout_ms)`
                : `The attempt was cut short with ${remainingMs - deadlineMs} ms of the invocation left`,
            ),
          ),
        deadlineMs,
      );
    });
    try {
      return await Promise.race([work, expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * A failed attempt: recorded (charged to the delivery or to a dependency), then either
   * dead-lettered (see makeBatchHandler) or noted for a retry after the schedule's delay. Returns
   * true when the record is done with (dead-lettered, or found processed meanwhile).
   */
  private async recordFailure(
    record: SQSRecord,
    delivery: ReadDelivery,
    error: unknown,
    category: ErrorCategory,
    begun: boolean,
  ): Promise<boolean> {
    const { retry } = this.deps;
    const receives = receivesOf(record);
    const message = shortErrorMessage(error);
    const counts = category === 'dependency' ? 'dependency' : 'own';
    let logged: FailureCounts | undefined;
    try {
      logged = await this.deps.eventLog.fail(delivery, {
        status: 'failed',
        counts,
        begun,
        category,
        message,
        now: this.now(),
      });
      // Processed already (a redelivery that failed before its begin, or an attempt cut short
      // that finished after all): a duplicate, nothing left to do.
      if (!logged) {
        if (delivery.envelope) this.count(record, delivery.envelope, { kind: 'duplicates' });
        return true;
      }
    } catch (logError) {
      logger.error('could not record the failed attempt in the event log', {
        dedupKey: delivery.key,
        error: logError as Error,
      });
    }
    // Without the log, the receives stand in for the failures (they count held-back ones too).
    const failures = logged ? logged.failedAttempts + logged.dependencyFailures : receives;
    const delaySeconds = retryDelaySeconds(retry.schedule, failures);
    const ageMs = this.now().getTime() - Number(record.attributes.SentTimestamp ?? this.now().getTime());
    const limits = delivery.envelope ? this.limitsOf(delivery.envelope) : retry;

    let reason: string | undefined;
    if (logged && counts === 'own' && logged.failedAttempts > limits.retryAttempts)
      reason = `${message} (attempt ${logged.failedAttempts} of ${limits.retryAttempts + 1})`;
    else if (ageMs + delaySeconds * 1000 > retry.windowMs)
      reason = `${message} (still failing after ${hours(ageMs)}: the queue would expire it)`;
    else if (receives >= retry.maxReceiveCount)
      reason = `${message} (received ${receives} times: SQS would dead-letter it on its own)`;
    // The budget is known from the log only; the queue's limits apply even while the log is down
    // (the DLQ copy keeps the message from expiring; the record stays until the log says dead).
    if (reason) return this.deadLetter(record, delivery, { category, error: reason, counts: 'none', begun });

    this.noteRetry(record, delaySeconds);
    this.count(record, subjectOf(delivery), { kind: 'failed' });
    this.push(
      record,
      deliveryPush(
        fieldsOf(delivery),
        { status: 'failed', errorCategory: category, errorMessage: message, failures },
        this.now(),
      ),
    );
    return false;
  }

  /**
   * Sends a record to the DLQ and logs it `dead`, in that order: a delivery the log calls dead is
   * always in a DLQ. Returns true once both are done (the record is then reported a success, so
   * SQS deletes it). If the DLQ refuses it, or the log cannot say so, the record stays in its queue
   * and is retried (a copy may then wait in the DLQ, which redriving turns into a duplicate).
   */
  private async deadLetter(
    record: SQSRecord,
    delivery: ReadDelivery,
    failure: {
      category: ErrorCategory;
      error: unknown;
      counts: 'own' | 'none';
      begun: boolean;
    },
  ): Promise<boolean> {
    const message = typeof failure.error === 'string' ? failure.error : shortErrorMessage(failure.error);
    const retryLater = (what: string, error: unknown) => {
      logger.error(`${what}: the record stays in its queue and is retried`, {
        messageId: record.messageId,
        dedupKey: delivery.key,
        error: error as Error,
      });
      this.noteRetry(record, retryDelaySeconds(this.deps.retry.schedule, receivesOf(record)));
      return false;
    };
    try {
      await this.deps.sqs.send(
        new SendMessageCommand({
          QueueUrl: this.deps.dlqUrl,
          MessageBody: record.body,
          MessageGroupId: record.attributes.MessageGroupId,
          // Unique per receive: a delivery dead-lettered again after a redrive is never dropped as
          // a duplicate of its earlier dead letter.
          MessageDeduplicationId: record.attributes.MessageGroupId
            ? toSqsId(`${record.messageId}#${receivesOf(record)}`)
            : undefined,
          MessageAttributes: {
            errorCategory: { DataType: 'String', StringValue: failure.category },
            errorMessage: { DataType: 'String', StringValue: message },
            sourceQueueArn: { DataType: 'String', StringValue: record.eventSourceARN || 'unknown' },
          },
        }),
      );
    } catch (sendError) {
      return retryLater('could not send the record to the DLQ', sendError);
    }
    try {
      await this.deps.eventLog.fail(delivery, {
        status: 'dead',
        counts: failure.counts,
        begun: failure.begun,
        category: failure.category,
        message,
        now: this.now(),
      });
    } catch (logError) {
      return retryLater('could not log the dead-lettered record dead', logError);
    }
    this.count(record, subjectOf(delivery), { kind: 'dead' });
    this.push(
      record,
      deliveryPush(
        fieldsOf(delivery),
        { status: 'dead', errorCategory: failure.category, errorMessage: message },
        this.now(),
      ),
    );
    return true;
  }

  private push(record: SQSRecord, message: ServerMessage<'webhook-event'>): void {
    this.pushes.push({ order: this.order.get(record.messageId) ?? 0, message });
  }

  /** A record that comes back after `delaySeconds`; its group's skipped records come back with it. */
  private noteRetry(record: SQSRecord, delaySeconds: number): void {
    const group = record.attributes.MessageGroupId;
    if (group !== undefined && !this.groupDelays.has(group)) this.groupDelays.set(group, delaySeconds);
    this.retries.set(record.messageId, { record, delaySeconds });
  }

  private countSuccess(record: SQSRecord, envelope: Envelope, result: Processed): void {
    if (result.outcome === 'duplicate') {
      this.count(record, envelope, { kind: 'duplicates' });
      return;
    }
    const latencyMs = Math.max(0, result.processedAt.getTime() - Date.parse(envelope.receivedAt));
    this.count(record, envelope, {
      kind: 'succeeded',
      processingMs: result.processingTimeMs,
      latencyMs,
    });
  }

  /** Noted now, tallied at the end in record order (the records finish in any order). */
  private count(record: SQSRecord, subject: CountedSubject, result: CountedResult): void {
    this.counted.push({ order: this.order.get(record.messageId) ?? 0, subject, result, at: this.now() });
  }

  private tally({ subject, result, at }: (typeof this.counted)[number]): void {
    this.counters.add(subject, at, result);
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

  /**
   * After the records: held-back records (dead-lettered if SQS's redrive would take them next,
   * else back with their group), retry delays, counters and metrics, then the live pushes.
   */
  async settle(records: SQSRecord[], response: SQSBatchResponse): Promise<void> {
    const reported = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier));
    const skipped = records.filter(
      (record) => reported.has(record.messageId) && !this.retries.has(record.messageId),
    );
    for (const record of skipped) {
      if (await this.settleSkipped(record)) reported.delete(record.messageId);
    }
    response.batchItemFailures = response.batchItemFailures.filter((failure) =>
      reported.has(failure.itemIdentifier),
    );
    const retries = records
      .filter((record) => reported.has(record.messageId))
      .map((record) => this.retries.get(record.messageId))
      .filter((retry): retry is NotedRetry => retry !== undefined);
    for (const counted of this.counted.sort((a, b) => a.order - b.order)) this.tally(counted);
    await Promise.all([this.changeVisibility(retries), this.writeCounters()]);
    this.publishMetrics();
    // Last, in record order: a dashboard hears of an event only once everything about it is written.
    const pushes = this.pushes.sort((a, b) => a.order - b.order).map(({ message }) => message);
    await pushAllLive(this.deps.broadcaster, pushes);
  }

  /**
   * A record Powertools did not hand over because an earlier record of its group failed: not
   * attempted, so nothing is charged; it comes back with its group. Its receive still counts,
   * though: before SQS's redrive would move it unlogged, it is dead-lettered here. True if so.
   */
  private async settleSkipped(record: SQSRecord): Promise<boolean> {
    const receives = receivesOf(record);
    if (receives >= this.deps.retry.maxReceiveCount) {
      const held = `Held back behind a failing message of its group for ${receives} receives: SQS would dead-letter it on its own`;
      return this.deadLetter(record, readDelivery(record), {
        category: 'processing',
        error: held,
        counts: 'none',
        begun: false,
      });
    }
    const group = record.attributes.MessageGroupId;
    const delay = (group !== undefined ? this.groupDelays.get(group) : undefined) ?? 0;
    this.noteRetry(record, delay);
    return false;
  }

  /** FIFO queues have no per-message delay: a failed record's visibility timeout is its backoff. */
  private async changeVisibility(retries: readonly NotedRetry[]): Promise<void> {
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

/** A delivery is counted under its provider and owner, and its webhook config when it came through one. */
function subjectOf(delivery: ReadDelivery): CountedSubject {
  return { provider: delivery.provider, ownerId: delivery.ownerId, configId: delivery.envelope?.configId };
}

/** How many times SQS has handed this message out, this receive included. */
function receivesOf(record: SQSRecord): number {
  const count = Number(record.attributes.ApproximateReceiveCount);
  return Number.isInteger(count) && count > 0 ? count : 1;
}

function hours(ms: number): string {
  return ms >= 3_600_000 ? `${Math.round(ms / 360_000) / 10} h` : `${Math.round(ms / 1000)} s`;
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

/** The log says the delivery (or this replay of it) was processed: a duplicate, as begin would find. */
function isProcessed(state: DeliveryState | undefined, envelope: Envelope): boolean {
  if (!state?.processed) return false;
  return !envelope.replay || state.appliedReplay === envelope.replay.id;
}
