import type { EventLogPort } from '../shared/stores/event-log';

/** A failure injected by the local stack (CHAOS_FAILURE_RATE); processing treats it as transient. */
export class ChaosError extends Error {
  override name = 'ChaosError';
}

/**
 * Wraps the event log so that a fraction of processing attempts fails at their very first step,
 * before anything is written: the production handler then runs its real retry path (backoff,
 * `failed` log entry, DLQ after the last receive) against the local stand-ins.
 */
export function withChaos(
  eventLog: EventLogPort,
  rate: number,
  random: () => number = Math.random,
): EventLogPort {
  if (!(rate >= 0 && rate <= 1)) throw new Error(`CHAOS_FAILURE_RATE must be between 0 and 1, got ${rate}`);
  return {
    begin: async (envelope, attempt, now) => {
      if (random() < rate)
        throw new ChaosError(`Injected failure before attempt ${attempt} (CHAOS_FAILURE_RATE=${rate})`);
      return eventLog.begin(envelope, attempt, now);
    },
    complete: (envelope, completion) => eventLog.complete(envelope, completion),
    fail: (delivery, failure) => eventLog.fail(delivery, failure),
  };
}
