/**
 * `npm run soak`: the fault run of test/support/fault-run.ts at scale, on one local stack: by
 * default SOAK_SCALE=15, about 2,500 distinct deliveries across the three providers and every
 * entity kind, with SOAK_CHAOS=0.2 of processing attempts failing before they write anything,
 * SOAK_CRASH=0.05 of processor invocations dying after their batch's work, before answering SQS,
 * and SOAK_KILL=0.01 of records killing their processor mid-batch (after their writes, before
 * they are marked processed). SOAK_CONCURRENCY (64) objects are sent in parallel, with the inputs
 * of issue 15. Meanwhile every SOAK_OUTAGE_EVERY_MS (3000) one stand-in (SQS, DynamoDB, Postgres,
 * EventBridge in turn) goes down for SOAK_OUTAGE_DOWN_MS (15000, three times the seed's old retry
 * budget at the run's schedule) and comes back with its data, SOAK_OUTAGE_ROUNDS (3) times each
 * (0: no outages). Afterwards the ledger must balance, every delivery be processed (or dead by its
 * own failures) and every input quarantined.
 */
import { describeFaultRun } from '../test/support/fault-run';

describeFaultRun({
  name: 'soak',
  scale: Number(process.env.SOAK_SCALE ?? 15),
  chaos: process.env.SOAK_CHAOS ?? '0.2',
  crash: process.env.SOAK_CRASH ?? '0.05',
  kill: process.env.SOAK_KILL ?? '0.01',
  concurrency: Number(process.env.SOAK_CONCURRENCY ?? 64),
  settleTimeoutMs: 600_000,
  // Thousands of deliveries a minute from one address: the bench's reason too (bench/lib/stack.ts).
  edgeLimits: false,
  outages:
    process.env.SOAK_OUTAGE_ROUNDS === '0'
      ? undefined
      : {
          everyMs: Number(process.env.SOAK_OUTAGE_EVERY_MS ?? 3000),
          downMs: Number(process.env.SOAK_OUTAGE_DOWN_MS ?? 15_000),
          rounds: Number(process.env.SOAK_OUTAGE_ROUNDS ?? 3),
        },
});
