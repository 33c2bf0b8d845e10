import * as z from 'zod';
import { PROVIDER_NAMES } from '../envelope';
import { jsonResponse } from '../http/api-gateway';
import { REJECTION_CAUSES } from '../rejections/causes';
import type { RejectionCounts, RejectionStore, StoredRejection } from '../stores/rejections';
import { totalOf } from '../stores/rejections';
import { ValidationFailedError } from './errors';
import { parseQuery } from './request';
import { ownerScope, type RouteContext } from './route-context';
import type { Router } from './router';
import { TIME_RANGE_MS } from './time-range';

/** `GET /api/webhooks/rejections`: refused deliveries, newest first, and their counts per cause. */
export const rejectionQuerySchema = z.strictObject({
  /** Operators: one owner's (`system` for the provider-wide endpoints); default every owner's. */
  owner: z.string().min(1).max(200).optional(),
  provider: z.enum(PROVIDER_NAMES).optional(),
  cause: z.enum(REJECTION_CAUSES).optional(),
  config_id: z.uuid().optional(),
  /** Rejections are kept 7 days; their counts cover at most the last 24 hours. */
  time_range: z.enum(['1h', '24h']).default('24h'),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().min(1).max(2048).optional(),
});

/** The API's snake_case view of a rejection. */
export function toPublicRejection(rejection: StoredRejection) {
  return {
    id: rejection.id,
    owner_id: rejection.ownerId,
    provider: rejection.provider,
    config_id: rejection.configId ?? null,
    status: rejection.status,
    cause: rejection.cause,
    detail: rejection.detail ?? {},
    message: rejection.message,
    source_ip: rejection.sourceIp,
    user_agent: rejection.userAgent ?? null,
    body_bytes: rejection.bodyBytes,
    received_at: rejection.receivedAt,
  };
}

/** Counts per cause (every provider together) and per provider and cause. */
export function toPublicCounts(counts: RejectionCounts) {
  const byCause: Record<string, number> = {};
  for (const causes of Object.values(counts))
    for (const [cause, count] of Object.entries(causes ?? {}))
      byCause[cause] = (byCause[cause] ?? 0) + (count ?? 0);
  return { total: totalOf(counts), by_cause: byCause, by_provider: counts };
}

/**
 * Refused deliveries: a user sees those sent to their own configs, an operator everyone's (or one
 * owner's). The counts are those of the owner (or everyone) over the range, whatever the filters.
 */
export function addRejectionRoutes(router: Router, context: RouteContext): void {
  const { deps, now, caller } = context;
  router.on('GET', '/api/webhooks/rejections', async ({ event }) => {
    const who = await caller(event);
    const query = parseQuery(event, rejectionQuerySchema);
    const ownerId = ownerScope(who, query.owner);
    const until = now();
    const since = new Date(until.getTime() - TIME_RANGE_MS[query.time_range]);
    const [page, counts] = await Promise.all([
      deps.rejections.list({
        ownerId,
        provider: query.provider,
        cause: query.cause,
        configId: query.config_id,
        since: since.toISOString(),
        until: until.toISOString(),
        limit: query.limit,
        after: query.cursor === undefined ? undefined : decodeCursor(query.cursor, ownerId),
      }),
      deps.rejections.counts(ownerId, since, until),
    ]);
    return jsonResponse(200, {
      success: true,
      rejections: page.items.map(toPublicRejection),
      counts: toPublicCounts(counts),
      next_cursor: page.next ? Buffer.from(JSON.stringify(page.next)).toString('base64url') : null,
    });
  });
}

/** A cursor of the same listing: a key within the owner's partition, or (every owner) a byDay key. */
function decodeCursor(cursor: string, ownerId: string | undefined): Record<string, unknown> {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    key = undefined;
  }
  const schema =
    ownerId === undefined
      ? z.strictObject({
          pk: z.string().min(1),
          sk: z.string().min(1),
          receivedDay: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
        })
      : z.strictObject({ pk: z.literal(`owner#${encodeURIComponent(ownerId)}`), sk: z.string().min(1) });
  const parsed = schema.safeParse(key);
  if (!parsed.success) throw new ValidationFailedError({ cursor: 'Invalid cursor' }, 'query');
  return parsed.data;
}

export type RejectionsPort = Pick<RejectionStore, 'list' | 'counts'>;
