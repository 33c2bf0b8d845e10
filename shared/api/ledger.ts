import * as z from 'zod';
import type { EventLog } from '../stores/event-log';
import { ValidationFailedError } from './errors';
import { type Caller, ownerScope } from './route-context';
import { TIME_RANGE_MS, timeRange } from './time-range';

/** The longest window one ledger reads (every entry of it): a week, as the status API's longest range. */
export const LEDGER_MAX_WINDOW_MS = TIME_RANGE_MS['7d'];

/** `GET /api/webhooks/ledger` query parameters: a window (default the last 24 hours) and, for operators, an owner. */
export const ledgerQuerySchema = z
  .strictObject({
    /** Operators: one owner's deliveries (`system` for the provider-wide endpoints); default every owner's. */
    owner: z.string().min(1).max(200).optional(),
    /** The last hour, day or week; or explicit bounds with `since`/`until` (until: now by default). */
    time_range: timeRange.optional(),
    since: z.iso.datetime({ offset: true }).optional(),
    until: z.iso.datetime({ offset: true }).optional(),
  })
  .refine((query) => !(query.time_range && (query.since || query.until)), {
    message: 'Use time_range or since/until, not both',
    path: ['time_range'],
  });

/**
 * How the deliveries received in a window ended, for a user (their own) or an operator (every
 * owner's, or one). Every receipt (acceptance by ingest, redeliveries included) is counted once:
 * the first of a delivery in the bucket of its status, the others as `duplicate`; so `received`
 * equals the sum of the buckets, which the answer checks (`balanced`). Entries with no receipt
 * (logged before receipts were kept, or put on a queue by something else) unbalance it, and are
 * counted in `unreceipted`.
 */
export async function ledger(
  events: Pick<EventLog, 'ledger'>,
  caller: Caller,
  params: z.output<typeof ledgerQuerySchema>,
  now: Date,
) {
  const until = params.until ? new Date(params.until) : now;
  const since = params.since
    ? new Date(params.since)
    : new Date(until.getTime() - TIME_RANGE_MS[params.time_range ?? '24h']);
  if (since.getTime() > until.getTime())
    throw new ValidationFailedError({ since: 'Must not be after until' }, 'query');
  if (until.getTime() - since.getTime() > LEDGER_MAX_WINDOW_MS)
    throw new ValidationFailedError({ since: 'The window must not be longer than 7 days' }, 'query');
  const owner = ownerScope(caller, params.owner);
  const counts = await events.ledger({
    ownerId: owner,
    since: since.toISOString(),
    until: until.toISOString(),
  });
  const ended = counts.processed + counts.duplicate + counts.quarantined + counts.dead + counts.in_flight;
  return {
    success: true as const,
    owner: owner ?? null,
    since: since.toISOString(),
    until: until.toISOString(),
    received: counts.received,
    processed: counts.processed,
    duplicate: counts.duplicate,
    quarantined: counts.quarantined,
    dead: counts.dead,
    in_flight: counts.in_flight,
    processed_outcomes: counts.processed_outcomes,
    balanced: counts.received === ended,
    unreceipted: counts.unreceipted,
    oldest_in_flight_at: counts.oldest_in_flight_at,
  };
}
