import type { Db } from '../db/client';
import type { Envelope } from '../envelope';
import { logger } from '../observability';
import type { Broadcaster } from '../realtime/broadcaster';
import { serverMessage } from '../realtime/messages';
import type { EventLog } from '../stores/event-log';
import type { PayloadStore } from '../stores/payload-store';
import { entityHandlerFor } from './entities';

export interface ProcessorDeps {
  eventLog: EventLog;
  db: Db;
  broadcaster: Broadcaster;
  /** Resolves claim-check pointers of payloads too large for SQS. */
  payloads?: PayloadStore;
  now?: () => Date;
}

/** applied: the row changed; stale: an newer state was already stored; ignored: no table for it. */
export type Outcome = 'applied' | 'stale' | 'ignored' | 'duplicate';

/**
 * Applies one envelope exactly once in effect: the event log recognises processed deliveries, and
 * the monotonic upsert makes a retry after a crash harmless. Throws on transient failures so the
 * record is retried.
 */
export async function processEnvelope(
  deps: ProcessorDeps,
  received: Envelope,
  attempt: number,
): Promise<Outcome> {
  const now = deps.now ?? (() => new Date());
  const started = performance.now();
  if (!(await deps.eventLog.begin(received, attempt, now()))) return 'duplicate';
  const envelope = await withPayload(deps, received);

  const handler = entityHandlerFor(envelope);
  const outcome: Outcome = handler ? ((await handler(deps.db, envelope)) ? 'applied' : 'stale') : 'ignored';
  const processingTimeMs = Math.round(performance.now() - started);
  const processedAt = now();
  await deps.eventLog.complete(envelope, processingTimeMs, processedAt);

  // The change is durable; a failed live push must not make the record retry.
  await deps.broadcaster
    .broadcast(
      serverMessage(
        'webhook-event',
        {
          provider: envelope.provider,
          eventType: envelope.eventType,
          objectType: envelope.objectType,
          objectId: envelope.objectId,
          deliveryId: envelope.deliveryId,
          status: 'processed',
          outcome,
          occurredAt: envelope.occurredAt,
          receivedAt: envelope.receivedAt,
          processedAt: processedAt.toISOString(),
          processingTimeMs,
        },
        processedAt,
      ),
    )
    .catch((error: unknown) => logger.warn('live push failed', { error: error as Error }));
  return outcome;
}

async function withPayload(deps: ProcessorDeps, envelope: Envelope): Promise<Envelope> {
  if (!envelope.payloadRef) return envelope;
  if (!deps.payloads)
    throw new Error('Envelope has a claim-check pointer but no payload store is configured');
  return { ...envelope, payload: await deps.payloads.get(envelope.payloadRef) };
}
