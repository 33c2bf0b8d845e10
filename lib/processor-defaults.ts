import type { Priority } from '../shared/envelope';

/**
 * Each priority's processor settings unless the stack config says otherwise; the local stack runs
 * its pollers with the same batch sizes and concurrency. (No CDK import: the local stack loads it.)
 */
export const PROCESSOR_DEFAULTS: Readonly<
  Record<Priority, { batchSize: number; maxConcurrency: number; timeoutSeconds: number }>
> = {
  high: { batchSize: 5, maxConcurrency: 20, timeoutSeconds: 30 },
  medium: { batchSize: 10, maxConcurrency: 10, timeoutSeconds: 30 },
  low: { batchSize: 10, maxConcurrency: 2, timeoutSeconds: 60 },
};

/**
 * The visibility timeout of a queue whose processor has this timeout: strictly more than six times
 * it, as AWS recommends for Lambda event sources (retries and batching must not make a message
 * visible while a function still holds it).
 */
export function visibilityTimeoutSeconds(processorTimeoutSeconds: number): number {
  return processorTimeoutSeconds * 6 + 30;
}
