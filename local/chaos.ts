import type { Envelope } from '../shared/envelope';
import type { EventLogPort } from '../shared/stores/event-log';
import { currentInvocation } from './sqs-poller';

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
    begin: async (envelope, now, options) => {
      if (random() < rate)
        throw new ChaosError(`Injected failure before an attempt (CHAOS_FAILURE_RATE=${rate})`);
      return eventLog.begin(envelope, now, options);
    },
    states: eventLog.states && ((keys) => eventLog.states?.(keys) ?? Promise.resolve(new Map())),
    complete: (envelope, completion) => eventLog.complete(envelope, completion),
    fail: (delivery, failure) => eventLog.fail(delivery, failure),
  };
}

/**
 * Wraps the event log so that a fraction of records kill their processor mid-batch
 * (CHAOS_KILL_RATE): at the worst moment, after the record's rows and domain event are written but
 * before it is marked processed, the invocation dies (local/sqs-poller.ts ends it without an
 * answer). As in a dead Lambda nothing after that point happens: the record's completion and every
 * later call of that invocation to the event log never return. Every message of the batch comes
 * back after its visibility timeout, the killed record half done.
 */
export function withKills(
  eventLog: EventLogPort,
  rate: number,
  onKill: (envelope: Envelope) => void = () => {},
  random: () => number = Math.random,
): EventLogPort {
  if (!(rate >= 0 && rate <= 1)) throw new Error(`CHAOS_KILL_RATE must be between 0 and 1, got ${rate}`);
  const never = () => new Promise<never>(() => {});
  const alive = () => currentInvocation()?.killed !== true;
  return {
    begin: (envelope, now, options) => (alive() ? eventLog.begin(envelope, now, options) : never()),
    states: eventLog.states && ((keys) => (alive() ? (eventLog.states?.(keys) ?? never()) : never())),
    complete: (envelope, completion) => {
      if (!alive()) return never();
      if (random() >= rate) return eventLog.complete(envelope, completion);
      onKill(envelope);
      currentInvocation()?.kill();
      return never();
    },
    fail: (delivery, failure) => (alive() ? eventLog.fail(delivery, failure) : never()),
  };
}

/** A processor "killed" by the local stack (CHAOS_CRASH_RATE) after its batch's work. */
export class CrashError extends Error {
  override name = 'CrashError';
}

/**
 * Wraps a processor so that a fraction of its invocations die after doing their batch's work but
 * before answering the event source: nothing is deleted, and every message of the batch, processed
 * or not, comes back after its visibility timeout with one more receive, as after a Lambda crash.
 */
export function withCrashes<E, C, R>(
  handler: (event: E, context: C) => Promise<R>,
  rate: number,
  random: () => number = Math.random,
): (event: E, context: C) => Promise<R> {
  if (!(rate >= 0 && rate <= 1)) throw new Error(`CHAOS_CRASH_RATE must be between 0 and 1, got ${rate}`);
  return async (event, context) => {
    const response = await handler(event, context);
    if (random() < rate)
      throw new CrashError(`Injected crash after the batch's work (CHAOS_CRASH_RATE=${rate})`);
    return response;
  };
}
