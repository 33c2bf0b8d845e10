/**
 * When a failed delivery is tried again, and for how long: one schedule for the processors, the
 * stack configuration's checks (lib/config.ts) and the local stack.
 *
 * After the first failed attempt the delivery is retried at once, then after the base delay (5 s),
 * doubling each time (10, 20, 40 s... the seed's schedule) up to the cap (15 minutes), so that a
 * dependency down for an hour is retried within 15 minutes of its return. Attempts that fail by the
 * delivery's own fault are limited (its config's `retry_attempts`); failures of a dependency are
 * not, but no delivery is retried past the retry window: before its queue would expire it, it is
 * dead-lettered, where it waits 14 days for a redrive.
 */
export interface RetrySchedule {
  /** The wait after the second failed attempt; each further one doubles it. */
  baseDelayMs: number;
  /** The longest wait between two attempts. */
  maxDelayMs: number;
}

/** The most `retry_attempts` a webhook config may set (the management API's limit). */
export const MAX_CONFIG_RETRY_ATTEMPTS = 10;

/** SQS refuses a visibility timeout (the retry delay of a FIFO message) above 12 hours. */
export const SQS_MAX_VISIBILITY_SECONDS = 43_200;

/** Room kept between the last retry and the queue's retention, on top of a delay and a receive. */
const RETENTION_MARGIN_MS = 3_600_000;

/**
 * The wait in whole seconds after `failures` consecutive failed attempts: 0 after the first (the
 * immediate retry), then base, 2 x base... capped at maxDelayMs and at SQS's 12 hours.
 */
export function retryDelaySeconds(schedule: RetrySchedule, failures: number): number {
  if (failures <= 1) return 0;
  const delayMs = Math.min(schedule.baseDelayMs * 2 ** Math.min(failures - 2, 40), schedule.maxDelayMs);
  return Math.min(Math.ceil(delayMs / 1000), SQS_MAX_VISIBILITY_SECONDS);
}

/** The time the waits after `failures` consecutive failed attempts add up to (ms, whole seconds each). */
export function retrySpanMs(schedule: RetrySchedule, failures: number): number {
  const capSeconds = retryDelaySeconds(schedule, Number.MAX_SAFE_INTEGER);
  let total = 0;
  for (let failure = 1; failure <= failures; failure++) {
    const seconds = retryDelaySeconds(schedule, failure);
    // From the cap on every wait is the same: no need to loop through a thousand of them.
    if (failure > 1 && seconds === capSeconds) return (total + (failures - failure + 1) * seconds) * 1000;
    total += seconds;
  }
  return total * 1000;
}

/**
 * How long a message may keep failing before the processor dead-letters it: its queue's retention,
 * less the longest wait, the longest time a receive holds it (the visibility timeout) and an hour.
 * Past this a retry could find the message expired, and an expired message is lost.
 */
export function retryWindowMs(options: {
  retentionMs: number;
  schedule: RetrySchedule;
  visibilityTimeoutMs: number;
}): number {
  const longestWaitMs = retryDelaySeconds(options.schedule, Number.MAX_SAFE_INTEGER) * 1000;
  return options.retentionMs - longestWaitMs - options.visibilityTimeoutMs - RETENTION_MARGIN_MS;
}

/**
 * The system's defaults (the stack configuration's `processing` and `queues` defaults): the seed's
 * schedule (at once, then 5, 10, 20, 40 s) for deliveries without a config, continued up to 15
 * minutes between attempts for failures of a dependency; SQS's own redrive as a backstop only.
 */
export const DEFAULT_RETRY = {
  baseDelayMs: 5000,
  maxDelayMs: 900_000,
  retryAttempts: 5,
  timeoutMs: 30_000,
  maxReceiveCount: 1000,
  /** The window of the default queue (4 days' retention, a 30 s processor's visibility timeout). */
  windowSeconds:
    retryWindowMs({
      retentionMs: 4 * 86_400_000,
      schedule: { baseDelayMs: 5000, maxDelayMs: 900_000 },
      visibilityTimeoutMs: 210_000,
    }) / 1000,
} as const;
