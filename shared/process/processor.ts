import type { Db } from '../db/client';
import type { Envelope } from '../envelope';
import { ValidationError } from '../errors';
import { toDomainEvent } from '../events/domain-events';
import type { DomainEventPublisher } from '../events/publisher';
import { logger } from '../observability';
import type { Broadcaster } from '../realtime/broadcaster';
import { deliveryPush } from '../realtime/delivery-push';
import type { ServerMessage } from '../realtime/messages';
import type { Begun, EventLogPort } from '../stores/event-log';
import type { PayloadStore } from '../stores/payload-store';
import { entityHandlerFor } from './entities';

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
export async function applyEnvelope(
  deps: ProcessorDeps,
  received: Envelope,
  hooks: AttemptHooks = {},
): Promise<Processed> {
  const now = deps.now ?? (() => new Date());
  const started = performance.now();
  const begun = await deps.eventLog.begin(received, now());
  if (begun.duplicate) return { outcome: 'duplicate', processingTimeMs: 0, processedAt: now() };
  hooks.onBegun?.(begun);
  const envelope = await withPayload(deps, received);

  const handler = entityHandlerFor(envelope);
  const outcome = handler ? ((await handler(deps.db, envelope)) ? 'applied' : 'stale') : 'ignored';
  const processedAt = now();
  // Published before the delivery is marked processed: if publishing fails, the record is retried,
  // re-applying the same state is a no-op that reports 'applied' again, and the event goes out then.
  if (outcome === 'applied') await deps.events.publish([toDomainEvent(envelope, processedAt)]);
  const processingTimeMs = Math.round(performance.now() - started);
  await deps.eventLog.complete(envelope, { outcome, processingTimeMs, processedAt });

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
  return { outcome, processingTimeMs, processedAt, push };
}

/** The change is durable: a failed live push is logged and never makes the record retry. */
export async function pushLive(
  broadcaster: Broadcaster,
  message: ServerMessage<'webhook-event'>,
): Promise<void> {
  await broadcaster
    .broadcast(message)
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
