import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import { type Envelope, envelopeSchema, PROVIDER_NAMES } from '../envelope';
import { HttpError, NotFoundError } from '../errors';
import { parseJsonExact } from '../json';
import { SYSTEM_OWNER } from '../owner';
import type { EventLog, EventQuery, StoredEvent } from '../stores/event-log';
import { ValidationFailedError } from './errors';
import { type ReleaseDeps, releaseQuarantined } from './quarantine-replay';
import { type Caller, maySee, ownerScope } from './route-context';
import { TIME_RANGE_MS, timeRange } from './time-range';

export const EVENT_STATUSES = ['received', 'processed', 'failed', 'dead', 'quarantined', 'released'] as const;

/** `GET /api/webhooks/events` query parameters. */
export const eventQuerySchema = z
  .strictObject({
    /** Operators: one owner's deliveries (`system` for the provider-wide endpoints); default every owner's. */
    owner: z.string().min(1).max(200).optional(),
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

/**
 * The parameters as an event log query for the caller: a user's own deliveries, or an operator's
 * choice of owner (every owner's by default). `now` anchors `time_range`.
 */
export function toEventQuery(caller: Caller, params: EventQueryParams, now: Date): EventQuery {
  const since = params.time_range
    ? new Date(now.getTime() - TIME_RANGE_MS[params.time_range]).toISOString()
    : params.since && new Date(params.since).toISOString();
  const ownerId = ownerScope(caller, params.owner);
  return {
    ownerId,
    now,
    provider: params.provider,
    status: params.status,
    eventType: params.event_type,
    since,
    until: params.until && new Date(params.until).toISOString(),
    limit: params.limit,
    after: params.cursor === undefined ? undefined : decodeCursor(params.cursor, ownerId),
  };
}

/** An opaque page cursor: the index key the page stopped at, base64url JSON. */
export function encodeCursor(key: Record<string, unknown> | undefined): string | null {
  return key ? Buffer.from(JSON.stringify(key)).toString('base64url') : null;
}

const DAY = z.string().regex(/^\d{4}-\d{2}-\d{2}$/);

/**
 * A cursor of the same listing only: an owner's index key within that owner's partition, or for
 * every owner, a byDay index key or the day to start from.
 */
function decodeCursor(cursor: string, ownerId: string | undefined): Record<string, unknown> {
  const invalid = () => new ValidationFailedError({ cursor: 'Invalid cursor' }, 'query');
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  const schema =
    ownerId === undefined
      ? z.union([
          z.strictObject({ pk: z.string().min(1), receivedDay: DAY, receivedAt: z.string().min(1) }),
          z.strictObject({ receivedDay: DAY }),
        ])
      : z.strictObject({ pk: z.string().min(1), userId: z.literal(ownerId), receivedAt: z.string().min(1) });
  const parsed = schema.safeParse(key);
  if (!parsed.success) throw invalid();
  return parsed.data;
}

/** The owner of a logged delivery; entries from before owners were recorded are provider-wide ones. */
export function ownerOf(item: Pick<StoredEvent, 'userId'>): string {
  return item.userId ?? SYSTEM_OWNER;
}

/** A delivery the caller may see, or 404 exactly like a missing one. */
export async function visibleEvent(
  events: Pick<EventLog, 'get'>,
  id: string,
  caller: Caller,
): Promise<StoredEvent> {
  const item = await events.get(id);
  if (!item || !maySee(caller, ownerOf(item))) throw new NotFoundError('No such event');
  return item;
}

/** The API's snake_case view of a delivery (list items; the detail adds payload and meta). */
export function toPublicEvent(item: StoredEvent) {
  return {
    id: item.pk,
    owner_id: ownerOf(item),
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
    /** Attempts that failed by the delivery's own fault (its retry_attempts count these), and by a dependency's. */
    failed_attempts: item.failedAttempts ?? 0,
    dependency_failures: item.dependencyFailures ?? 0,
    /** Times ingest accepted it: each provider redelivery after the first is a duplicate. */
    receipts: item.receipts?.size ?? 0,
  };
}

export function toPublicEventDetail(item: StoredEvent) {
  return {
    ...toPublicEvent(item),
    signature: item.signature ?? null,
    source_ip: item.sourceIp ?? null,
    user_agent: item.userAgent ?? null,
    meta: item.meta ?? {},
    replayed_at: item.replayedAt ?? null,
    /** A released quarantined delivery: when, and into how many deliveries of its own. */
    released_at: item.releasedAt ?? null,
    released_events: item.releasedEvents ?? null,
    /** Where the payload is kept: in the log, in S3 (too large for SQS), or not at all (too large for the log). */
    payload_storage: item.payload !== undefined ? 'log' : item.payloadRef ? 's3' : 'none',
    payload: item.payload !== undefined ? parseJsonExact(item.payload) : null,
  };
}

export interface ReplayDeps extends Omit<ReleaseDeps, 'events'> {
  events: Pick<EventLog, 'get' | 'noteReplay' | 'receive' | 'release'>;
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
    limits: item.limits,
    ownerId: ownerOf(item),
    source:
      item.sourceIp === undefined
        ? undefined
        : {
            ip: item.sourceIp,
            ...(item.userAgent !== undefined && { userAgent: item.userAgent }),
            ...(item.signature !== undefined && { signature: item.signature }),
          },
    replay,
  };
}

/**
 * Puts a stored delivery back on its queue. The envelope is rebuilt from the log with a replay id:
 * the processor applies it once more even if it was processed (the monotonic upserts make that a
 * no-op for state already stored), and SQS does not drop it as a duplicate of the original.
 */
export async function replayEvent(deps: ReplayDeps, id: string, caller: Caller) {
  // Another owner's delivery is answered like a missing one (operators may replay any).
  const item = await visibleEvent(deps.events, id, caller);
  if (item.status === 'received')
    throw new HttpError(409, 'in_progress', 'The event is being processed; replay it once it is done');
  if (item.status === 'released')
    throw new HttpError(
      409,
      'already_released',
      'The quarantined delivery was released; replay its deliveries',
    );
  if (item.status === 'quarantined') {
    const requestedAt = deps.now();
    const released = await releaseQuarantined(deps, { ...item, userId: ownerOf(item) });
    await deps.events
      .noteReplay(id, requestedAt)
      .catch((error: unknown) => deps.log?.('could not note the replay in the event log', error));
    return {
      replay_id: (deps.newId ?? randomUUID)(),
      event_id: id,
      status: 'queued' as const,
      requested_at: requestedAt.toISOString(),
      released_events: released,
    };
  }
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
