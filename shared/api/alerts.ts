import * as z from 'zod';
import type { AlertQuery } from '../alerts/store';
import { PROVIDER_NAMES } from '../envelope';
import { TIME_RANGE_MS, timeRange } from './time-range';

/** An alert's `provider`: one provider, `all` (a rule over every provider) or `system` (ops alarms). */
export const ALERT_PROVIDERS = [...PROVIDER_NAMES, 'all', 'system'] as const;

/** `GET /api/webhooks/alerts` query parameters. */
export const alertQuerySchema = z
  .strictObject({
    acknowledged: z
      .enum(['true', 'false'])
      .transform((value) => value === 'true')
      .optional(),
    provider: z.enum(ALERT_PROVIDERS).optional(),
    /** The last hour, day or week; or explicit bounds with `since`/`until`. */
    time_range: timeRange.optional(),
    since: z.iso.datetime({ offset: true }).optional(),
    until: z.iso.datetime({ offset: true }).optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
  })
  .refine((query) => !(query.time_range && (query.since || query.until)), {
    message: 'Use time_range or since/until, not both',
    path: ['time_range'],
  });

export function toAlertQuery(
  operator: boolean,
  params: z.output<typeof alertQuerySchema>,
  now: Date,
): AlertQuery {
  const since = params.time_range
    ? new Date(now.getTime() - TIME_RANGE_MS[params.time_range]).toISOString()
    : params.since && new Date(params.since).toISOString();
  return {
    operator,
    acknowledged: params.acknowledged,
    provider: params.provider,
    since,
    until: params.until && new Date(params.until).toISOString(),
    limit: params.limit,
  };
}
