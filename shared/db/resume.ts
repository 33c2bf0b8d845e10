/**
 * An Aurora Serverless v2 writer paused at 0 ACU answers the first Data API call with
 * DatabaseResumingException while it resumes (usually well under a minute): the call is to be
 * repeated after a few seconds. Drizzle wraps driver errors, so the whole `cause` chain is read.
 */
export function isDatabaseResuming(error: unknown): boolean {
  for (let current = error; current instanceof Error; current = current.cause) {
    if (current.name === 'DatabaseResumingException') return true;
  }
  return false;
}

export interface ResumeRetryOptions {
  /** Epoch ms after which no attempt starts (the caller's own timeout, less a margin). */
  readonly deadline: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly log?: (message: string, detail: Record<string, unknown>) => void;
  /** First wait; each further one doubles, up to maxDelayMs. */
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
}

/**
 * Runs `work`, again after 2, 4, 8, 16, 20, 20... s for as long as the database is resuming and the
 * next attempt can still start before the deadline; any other error, or the deadline, ends it.
 * `work` must be safe to repeat (the migrator is: each migration commits with its record).
 */
export async function retryWhileResuming<T>(work: () => Promise<T>, options: ResumeRetryOptions): Promise<T> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const maxDelayMs = options.maxDelayMs ?? 20_000;
  for (
    let attempt = 1, delay = options.baseDelayMs ?? 2000;
    ;
    attempt++, delay = Math.min(delay * 2, maxDelayMs)
  ) {
    try {
      return await work();
    } catch (error) {
      if (!isDatabaseResuming(error) || now() + delay > options.deadline) throw error;
      options.log?.('database resuming, retrying', { attempt, delayMs: delay });
      await sleep(delay);
    }
  }
}
