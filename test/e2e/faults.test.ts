/**
 * The fault run (test/support/fault-run.ts) small enough for npm test: about 170 deliveries with
 * 10% failed attempts, 5% of invocations crashing after their batch's work and 2% of records
 * killing their processor mid-batch; meanwhile every second one stand-in (SQS, DynamoDB, Postgres,
 * EventBridge in turn) goes down for half a second, twice each. A short processor timeout and
 * visibility timeout bring a killed batch back within seconds. (The processing suite checks the failure path's exact
 * bookkeeping; this one, the invariants under crashes and kills.)
 */
import { describeFaultRun } from '../support/fault-run';

describeFaultRun({
  name: 'faults',
  scale: 1,
  chaos: '0.1',
  crash: '0.05',
  kill: '0.02',
  concurrency: 32,
  settleTimeoutMs: 120_000,
  env: { PROCESSOR_TIMEOUT_MS: '8000', VISIBILITY_TIMEOUT_SECONDS: '10' },
  outages: { everyMs: 1000, downMs: 500, rounds: 2 },
});
