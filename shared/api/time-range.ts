import * as z from 'zod';

/**
 * The windows the status and events APIs accept, as in the seed (`time_range=24h`). The status API
 * reads `30d` from the minute history (webhook_metrics), the others from the counters.
 */
export const timeRange = z.enum(['1h', '24h', '7d', '30d']);
export type TimeRange = z.infer<typeof timeRange>;

export const TIME_RANGE_MS: Readonly<Record<TimeRange, number>> = {
  '1h': 3_600_000,
  '24h': 24 * 3_600_000,
  '7d': 7 * 24 * 3_600_000,
  '30d': 30 * 24 * 3_600_000,
};
