import type { MinuteCounts } from '../stores/metric-counters';

/**
 * How the events of some counter buckets ended. An event counts once, by how it ended: processed
 * or dead-lettered; retried attempts (`failed`) and duplicate deliveries are not events. The status
 * API and the alert rules (locally, and as CloudWatch metric math in shared/alerts/alarms.ts) read
 * their rates from here, so a rule and the status document never disagree.
 */
export interface Outcomes {
  processed: number;
  dead: number;
  /** Summed over the processed events. */
  processingMsSum: number;
}

export function outcomesOf(buckets: readonly { counts: MinuteCounts }[]): Outcomes {
  const outcomes: Outcomes = { processed: 0, dead: 0, processingMsSum: 0 };
  for (const { counts } of buckets) {
    outcomes.processed += counts.succeeded;
    outcomes.dead += counts.dead;
    outcomes.processingMsSum += counts.processingMsSum;
  }
  return outcomes;
}

export const eventCount = (o: Outcomes): number => o.processed + o.dead;

/** Percent of events processed; undefined with no events (nothing to judge). */
export function successRate(o: Outcomes): number | undefined {
  const total = eventCount(o);
  return total === 0 ? undefined : (100 * o.processed) / total;
}

/** Percent of events dead-lettered; undefined with no events. */
export function errorRate(o: Outcomes): number | undefined {
  const total = eventCount(o);
  return total === 0 ? undefined : (100 * o.dead) / total;
}

/** Mean processing time (ms) of the processed events; undefined when none was processed. */
export function averageProcessingMs(o: Outcomes): number | undefined {
  return o.processed === 0 ? undefined : o.processingMsSum / o.processed;
}
