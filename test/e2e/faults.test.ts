/**
 * The fault run (test/support/fault-run.ts) small enough for npm test: about 170 deliveries and the
 * inputs of issue 15, with 10% failed attempts, 5% of invocations crashing after their batch's work
 * and 2% of records killing their processor mid-batch; meanwhile every stand-in (SQS, DynamoDB,
 * Postgres, EventBridge in turn, a second apart) goes down for 10 s, twice the seed's old retry
 * budget at the run's schedule (about 5 s), while the deliveries keep arriving: every delivery
 * still ends processed, none dead-lettered, every input quarantined, and the ledger balances. A short processor timeout
 * and visibility timeout bring a killed batch back within seconds. (The processing suite checks the
 * failure path's exact bookkeeping; this one, the invariants under crashes, kills and outages.)
 */
import { describeFaultRun } from '../support/fault-run';

describeFaultRun({
  name: 'faults',
  scale: 1,
  chaos: '0.1',
  crash: '0.05',
  kill: '0.02',
  concurrency: 32,
  settleTimeoutMs: 180_000,
  env: { PROCESSOR_TIMEOUT_MS: '8000', VISIBILITY_TIMEOUT_SECONDS: '10' },
  outages: { everyMs: 1000, downMs: 10_000, rounds: 1 },
  // 10% failed attempts and 2% kills leave a delivery all 6 of its own attempts failed about
  // once in 300,000: every one must end processed.
  noneDead: true,
});
