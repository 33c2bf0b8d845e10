import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RETRY,
  retryDelaySeconds,
  retrySpanMs,
  retryWindowMs,
} from '../../../../shared/process/retry-schedule';

const SCHEDULE = { baseDelayMs: DEFAULT_RETRY.baseDelayMs, maxDelayMs: DEFAULT_RETRY.maxDelayMs };

describe('the retry schedule', () => {
  it("keeps the seed's schedule, at once then 5, 10, 20, 40 s, and goes on doubling up to 15 minutes", () => {
    const delays = Array.from({ length: 12 }, (_, index) => retryDelaySeconds(SCHEDULE, index + 1));
    expect(delays).toEqual([0, 5, 10, 20, 40, 80, 160, 320, 640, 900, 900, 900]);
  });

  it('never asks SQS for more than its 12 hours of visibility', () => {
    expect(retryDelaySeconds({ baseDelayMs: 5000, maxDelayMs: 10 * 86_400_000 }, 1000)).toBe(43_200);
  });

  it('retries a dependency down for an hour within 15 minutes of its return', () => {
    // The attempts of an hour-long outage: every wait until an attempt falls after the hour.
    let elapsed = 0;
    let failures = 0;
    while (elapsed < 3_600_000) elapsed += retryDelaySeconds(SCHEDULE, ++failures) * 1000;
    expect(elapsed - 3_600_000).toBeLessThanOrEqual(900_000);
    expect(retrySpanMs(SCHEDULE, failures)).toBe(elapsed);
  });

  it('adds up the waits, from the cap on without looping through each', () => {
    expect(retrySpanMs(SCHEDULE, 6)).toBe((0 + 5 + 10 + 20 + 40 + 80) * 1000);
    expect(retrySpanMs(SCHEDULE, 1000)).toBe((1275 + 991 * 900) * 1000);
    // Whole seconds: 200 ms waits round up, 1, 1, 1, 2...
    expect(retrySpanMs({ baseDelayMs: 200, maxDelayMs: 10_000 }, 5)).toBe((0 + 1 + 1 + 1 + 2) * 1000);
  });

  it('ends the retry window before the queue would expire a message, with room for a wait and a receive', () => {
    expect(
      retryWindowMs({ retentionMs: 4 * 86_400_000, schedule: SCHEDULE, visibilityTimeoutMs: 210_000 }),
    ).toBe(4 * 86_400_000 - 900_000 - 210_000 - 3_600_000);
    expect(DEFAULT_RETRY.windowSeconds).toBe((4 * 86_400_000 - 900_000 - 210_000 - 3_600_000) / 1000);
  });
});
