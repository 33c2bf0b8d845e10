import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import { type Envelope, envelopeSchema, PROVIDER_NAMES } from '../envelope';
import { HttpError, NotFoundError } from '../errors';
import { parseJsonExact } from '../json';
import type { EnvelopePublisher } from '../queue/publisher';
import type { EventLog, EventQuery, StoredEvent } from '../stores/event-log';
import { ValidationFailedError } from './errors';
import { TIME_RANGE_MS, timeRange } from './time-range';

export const EVENT_STATUSES = ['received', 'processed', 'failed', 'dead'] as const;

/** `GET /api/webhooks/events` query parameters. */
export const eventQuerySchema = z
  .strictObject({
    provider: z.enum(PROVIDER_NAMES).optional(),
    status: z.enum(EVENT_STATUSES).optional(),
    event_type: z.string().min(1).max(200).optional(),
    /** The last hour, day or week; or explicit bounds with `since`/`until`. */
    time_range: timeRange.optional(),
    since: z.iso.datetime({ offset: true }).optional(),
    until: z.iso.datetime({ offset: true }).optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
    /** The `next_cursor` of the previous page. */
    cursor: z.string().min(1).max(2048).optional(),
  })
  .refine((query) => !(query.time_range && (query.since || query.until)), {
    message: 'Use time_range or since/until, not both',
    path: ['time_range'],
  });

export type EventQueryParams = z.output<typeof eventQuerySchema>;

/** The parameters as an event log query for one user; `now` anchors `time_range`. */
export function toEventQuery(userId: string, params: EventQueryParams, now: Date): EventQuery {
  const since = params.time_range
    ? new Date(now.getTime() - TIME_RANGE_MS[params.time_range]).toISOString()
    : params.since && new Date(params.since).toISOString();
  return {
    userId,
    provider: params.provider,
    status: params.status,
    eventType: params.event_type,
    since,
    until: params.until && new Date(params.until).toISOString(),
    limit: params.limit,
    after: params.cursor === undefined ? undefined : decodeCursor(params.cursor, userId),
  };
}

/** An opaque page cursor: the index key the page stopped at, base64url JSON. */
export function encodeCursor(key: Record<string, unknown> | undefined): string | null {
  return key ? Buffer.from(JSON.stringify(key)).toString('base64url') : null;
}

/** Only a key of the caller's own partition is accepted (DynamoDB would refuse another anyway). */
function decodeCursor(cursor: string, userId: string): Record<string, unknown> {
  const invalid = () => new ValidationFailedError({ cursor: 'Invalid cursor' }, 'query');
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  const parsed = z
    .strictObject({ pk: z.string().min(1), userId: z.literal(userId), receivedAt: z.string().min(1) })
    .safeParse(key);
  if (!parsed.success) throw invalid();
  return parsed.data;
}

/** The API's snake_case view of a delivery (list items; the detail adds payload and meta). */
export function toPublicEvent(item: StoredEvent) {
  return {
    id: item.pk,
    provider: item.provider ?? null,
    event_type: item.eventType ?? null,
    object_type: item.objectType ?? null,
    object_id: item.objectId ?? null,
    delivery_id: item.deliveryId ?? null,
    config_id: item.configId ?? null,
    status: item.status,
    attempts: item.attempts ?? 0,
    priority: item.priority ?? null,
    outcome: item.outcome ?? null,
    error_category: item.errorCategory ?? null,
    error_message: item.errorMessage ?? null,
    occurred_at: item.occurredAt ?? null,
    received_at: item.receivedAt ?? null,
    last_attempt_at: item.lastAttemptAt ?? null,
    processed_at: item.processedAt ?? null,
    processing_time_ms: item.processingTimeMs ?? null,
    payload_bytes: item.payloadBytes ?? null,
    replay_count: item.replayCount ?? 0,
  };
}

export function toPublicEventDetail(item: StoredEvent) {
  return {
    ...toPublicEvent(item),
    meta: item.meta ?? {},
    replayed_at: item.replayedAt ?? null,
    /** Where the payload is kept: in the log, in S3 (too large for SQS), or not at all (too large for the log). */
    payload_storage: item.payload !== undefined ? 'log' : item.payloadRef ? 's3' : 'none',
    payload: item.payload !== undefined ? parseJsonExact(item.payload) : null,
  };
}

export interface ReplayDeps {
  events: Pick<EventLog, 'get' | 'noteReplay'>;
  publisher: EnvelopePublisher;
  now: () => Date;
  newId?: () => string;
  log?: (message: string, error: unknown) => void;
}

/**
 * The envelope of a logged delivery, as the log holds it (for envelopeSchema to check), with the
 * replay it is for, if any.
 */
export function envelopeFields(
  item: StoredEvent,
  replay?: Envelope['replay'],
): Record<keyof Envelope, unknown> {
  return {
    version: 1,
    provider: item.provider,
    eventType: item.eventType,
    objectType: item.objectType,
    objectId: item.objectId,
    occurredAt: item.occurredAt,
    deliveryId: item.deliveryId,
    dedupKey: item.pk,
    orderingKey: item.orderingKey,
    priority: item.priority,
    receivedAt: item.receivedAt,
    meta: item.meta ?? {},
    payload: item.payload === undefined ? undefined : parseJsonExact(item.payload),
    payloadRef: item.payloadRef,
    configId: item.configId,
    userId: item.userId,
    replay,
  };
}

/**
 * Puts a stored delivery back on its queue. The envelope is rebuilt from the log with a replay id:
 * the processor applies it once more even if it was processed (the monotonic upserts make that a
 * no-op for state already stored), and SQS does not drop it as a duplicate of the original.
 */
export async function replayEvent(deps: ReplayDeps, id: string, userId: string) {
  const item = await deps.events.get(id);
  // Another user's delivery, or a provider-wide one nobody owns, is answered like a missing one.
  if (!item || item.userId !== userId) throw new NotFoundError('No such event');
  if (item.status === 'received')
    throw new HttpError(409, 'in_progress', 'The event is being processed; replay it once it is done');
  if (item.payload === undefined && !item.payloadRef)
    throw new HttpError(409, 'payload_not_retained', 'The payload was too large to keep in the event log');

  const requestedAt = deps.now();
  const replay = { id: (deps.newId ?? randomUUID)(), requestedAt: requestedAt.toISOString() };
  const parsed = envelopeSchema.safeParse(envelopeFields(item, replay));
  if (!parsed.success)
    throw new HttpError(
      409,
      'not_replayable',
      'The event log does not hold enough of this event to replay it',
    );

  await deps.publisher.publish([parsed.data]);
  // The replay is queued either way; the counter is for the operator.
  await deps.events
    .noteReplay(id, requestedAt)
    .catch((error: unknown) => deps.log?.('could not note the replay in the event log', error));
  return { replay_id: replay.id, event_id: id, status: 'queued' as const, requested_at: replay.requestedAt };
}
