import type { Db } from '../db/client';
import type { Envelope } from '../envelope';
import { ValidationError } from '../errors';
import { toDomainEvent } from '../events/domain-events';
import { type DomainEventPublisher, putEventsBatches } from '../events/publisher';
import { logger } from '../observability';
import type { Broadcaster } from '../realtime/broadcaster';
import { deliveryPush } from '../realtime/delivery-push';
import type { ServerMessage } from '../realtime/messages';
import type { AppliedOutcome, Begun, EventLogPort } from '../stores/event-log';
import type { PayloadStore } from '../stores/payload-store';
import { entityHandlerFor } from './entities';
import type { SyncedWriter } from './entities/upsert';
import { writeTogether } from './entities/write-together';

export interface ProcessorDeps {
  eventLog: EventLogPort;
  db: Db;
  broadcaster: Broadcaster;
  /** Domain events for downstream workflows, published for every applied change. */
  events: DomainEventPublisher;
  /** Resolves claim-check pointers of payloads too large for SQS. */
  payloads?: PayloadStore;
  now?: () => Date;
}

/** applied: the row changed; stale: a newer state was already stored; ignored: no table for it. */
export type Outcome = 'applied' | 'stale' | 'ignored' | 'duplicate';

export interface Processed {
  outcome: Outcome;
  /** From the event log's begin to just before its completion; 0 for a duplicate. */
  processingTimeMs: number;
  processedAt: Date;
  /** The live push for dashboards (none for a duplicate): sent by the caller, see pushLive. */
  push?: ServerMessage<'webhook-event'>;
}

/** An attempt that `begin` counted (not a duplicate). */
export type BegunAttempt = Extract<Begun, { duplicate: false }>;

/** Hooks of the caller into one attempt (the batch: its budget and deadline). */
export interface AttemptHooks {
  /** Called once `begin` counted the attempt; throws to stop before anything is applied. */
  onBegun?(begun: BegunAttempt): void;
}

/**
 * Applies one envelope exactly once in effect: the event log recognises processed deliveries, and
 * the monotonic upsert makes a retry after a crash harmless. Throws on failures so the record is
 * retried (or, for a ValidationError, dead-lettered). Pushes the result to live dashboards.
 */
export async function processEnvelope(deps: ProcessorDeps, received: Envelope): Promise<Outcome> {
  const processed = await applyEnvelope(deps, received);
  if (processed.push) await pushLive(deps.broadcaster, processed.push);
  return processed.outcome;
}

/** processEnvelope without the live push, which the caller sends (the batch: after its records). */
export function applyEnvelope(
  deps: ProcessorDeps,
  received: Envelope,
  hooks: AttemptHooks = {},
): Promise<Processed> {
  return applyEnvelopes(deps, [{ envelope: received, hooks }])[0] as Promise<Processed>;
}

/** One envelope of applyEnvelopes, with the caller's hooks into its attempt. */
export interface EnvelopeAttempt {
  envelope: Envelope;
  hooks?: AttemptHooks;
  /** The event log says this delivery was processed already: a duplicate, no write needed. */
  knownProcessed?: boolean;
  /** How many records were begun together, this one included (see EventLog.begin). */
  together?: number;
}

/**
 * Applies envelopes of distinct message groups together, each exactly once in effect: the event
 * log recognises processed deliveries, and the monotonic upsert makes a retry after a crash
 * harmless. The calls are made per batch where the services allow it: the event log's writes go
 * out together, the entity writes make one statement per table, the domain events one PutEvents per
 * ten (or 256 KiB). Answers one promise per envelope, settled as soon as its own work is done: it rejects on
 * the envelope's failure (the record is retried or, for a ValidationError, dead-lettered) and
 * never because of another's.
 */
export function applyEnvelopes(
  deps: ProcessorDeps,
  attempts: readonly EnvelopeAttempt[],
): Promise<Processed>[] {
  const now = deps.now ?? (() => new Date());
  const started = performance.now();
  const settlers = attempts.map(() => deferred<Processed>());
  const fail = (index: number) => (error: unknown) => settlers[index]?.reject(error);

  const run = async () => {
    // The attempts: begun in the log, their payloads at hand.
    const prepared = await Promise.all(
      attempts.map(async ({ envelope, hooks, knownProcessed, together }, index) => {
        try {
          if (knownProcessed) return duplicateOf(index);
          const begun = await deps.eventLog.begin(envelope, now(), { together });
          if (begun.duplicate) return duplicateOf(index);
          hooks?.onBegun?.(begun);
          return { index, envelope: await withPayload(deps, envelope) };
        } catch (error) {
          fail(index)(error);
          return undefined;
        }
      }),
    );
    function duplicateOf(index: number): undefined {
      settlers[index]?.resolve({ outcome: 'duplicate', processingTimeMs: 0, processedAt: now() });
      return undefined;
    }
    const live = prepared.filter((item): item is { index: number; envelope: Envelope } => item !== undefined);
    if (live.length === 0) return;

    // The rows: one statement per table.
    const handlers = live.map(({ envelope }) => entityHandlerFor(envelope));
    const written = await writeTogether(
      deps.db,
      live.flatMap(({ envelope }, i) => {
        const handler = handlers[i];
        return handler ? [(writer: SyncedWriter) => handler(writer, envelope)] : [];
      }),
    );
    const processedAt = now();
    let next = 0;
    const applied = live.flatMap(({ index, envelope }, i) => {
      if (!handlers[i]) return [{ index, envelope, outcome: 'ignored' as AppliedOutcome }];
      const result = written[next++] as PromiseSettledResult<boolean>;
      if (result.status === 'rejected') {
        fail(index)(result.reason);
        return [];
      }
      return [{ index, envelope, outcome: (result.value ? 'applied' : 'stale') as AppliedOutcome }];
    });

    // Published before the deliveries are marked processed: if publishing fails, those records are
    // retried, re-applying the same state is a no-op that reports 'applied' again, and the event
    // goes out then. A failed PutEvents fails its own ten records only.
    const toPublish = applied
      .filter((item) => item.outcome === 'applied')
      .map(({ index, envelope }) => ({ index, ...toDomainEvent(envelope, processedAt) }));
    const unpublished = new Set<number>();
    await Promise.all(
      putEventsBatches(toPublish).map((batch) =>
        deps.events.publish(batch.map(({ index: _, ...event }) => event)).catch((error: unknown) => {
          for (const { index } of batch) {
            unpublished.add(index);
            fail(index)(error);
          }
        }),
      ),
    );

    // The log's completions, all at once.
    await Promise.all(
      applied
        .filter(({ index }) => !unpublished.has(index))
        .map(async ({ index, envelope, outcome }) => {
          const processingTimeMs = Math.round(performance.now() - started);
          try {
            await deps.eventLog.complete(envelope, { outcome, processingTimeMs, processedAt });
          } catch (error) {
            fail(index)(error);
            return;
          }
          const push = deliveryPush(
            envelope,
            {
              status: 'processed',
              outcome,
              processedAt: processedAt.toISOString(),
              processingTimeMs,
            },
            processedAt,
          );
          settlers[index]?.resolve({ outcome, processingTimeMs, processedAt, push });
        }),
    );
  };
  // Whatever escapes (a bug) fails every record still open; settled ones stay as they are.
  run().catch((error: unknown) => {
    for (const settler of settlers) settler.reject(error);
  });
  return settlers.map((settler) => settler.promise);
}

/** The change is durable: a failed live push is logged and never makes the record retry. */
export async function pushLive(
  broadcaster: Broadcaster,
  message: ServerMessage<'webhook-event'>,
): Promise<void> {
  await pushAllLive(broadcaster, [message]);
}

/** pushLive for a batch's pushes: each connection's subscribers looked up once, pushes in order. */
export async function pushAllLive(
  broadcaster: Broadcaster,
  messages: readonly ServerMessage<'webhook-event'>[],
): Promise<void> {
  if (messages.length === 0) return;
  await broadcaster
    .broadcastAll(messages)
    .catch((error: unknown) => logger.warn('live push failed', { error: error as Error }));
}

async function withPayload(deps: ProcessorDeps, envelope: Envelope): Promise<Envelope> {
  if (!envelope.payloadRef) return envelope;
  if (!deps.payloads)
    throw new Error('Envelope has a claim-check pointer but no payload store is configured');
  try {
    return { ...envelope, payload: await deps.payloads.get(envelope.payloadRef) };
  } catch (error) {
    // The ingest path writes the object before it enqueues the pointer: a missing one never appears.
    if ((error as Error)?.name === 'NoSuchKey')
      throw new ValidationError(`Claim-check object ${envelope.payloadRef.key} does not exist`, {
        cause: error,
      });
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// One SQS batch: partial failures, retries with backoff, dead-lettering, counters and metrics.
// ---------------------------------------------------------------------------------------------

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
