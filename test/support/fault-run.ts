import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalStack, STAND_INS, type StandIn } from '../../local/stack';
import type { ProviderName } from '../../shared/envelope';
import { UNFINISHED_ATTEMPT } from '../../shared/stores/event-log';
import { type E2eStack, messagesInDlqs, messagesInMainQueues, startE2eStack } from './e2e-stack';
import {
  type Delivery,
  type DlqMessage,
  dlqMessages,
  eventLog,
  expectedOrderRow,
  type LogItem,
  percentile,
  sendAll,
  settled,
  storedOrders,
  type TrackedObject,
  trackedObjects,
} from './processing-run';

export interface FaultRun {
  name: string;
  /** Workload size: about 170 deliveries per unit. */
  scale: number;
  /** CHAOS_FAILURE_RATE, CHAOS_CRASH_RATE, CHAOS_KILL_RATE. */
  chaos: string;
  crash: string;
  kill: string;
  /** Objects sent in parallel. */
  concurrency: number;
  settleTimeoutMs: number;
  /** More environment for the stack (a short processor timeout, say). */
  env?: Record<string, string>;
  outages?: Outages;
}

/**
 * Every `everyMs` one stand-in (SQS, DynamoDB, Postgres, EventBridge in turn) goes down for
 * `downMs` and comes back with its data (LocalStack.interrupt): while the deliveries are sent, and
 * on until each has been down `rounds` times.
 */
export interface Outages {
  everyMs: number;
  downMs: number;
  rounds: number;
}

const SECRETS: Record<ProviderName, string> = {
  hubspot: 'faults-hubspot-secret',
  shopify: 'faults-shopify-secret',
  salesforce: 'faults-salesforce-secret',
};
const ORG_ID = '00D5g000004XyZ1EAK';

/**
 * The processing workload (objects with out-of-order versions, some deliveries sent twice) on one
 * local stack with injected failures, crashes after a batch's work and kills mid-batch, and the
 * invariants that must hold whatever happened:
 *  - accepted = processed + dead, a dead one in the DLQ; nothing left in a queue (nothing lost);
 *  - no delivery applied twice: one domain event per delivery logged `applied`, none for the
 *    others, except that a killed attempt may have published once before it died (same eventId);
 *  - final state equals in-order application (Shopify orders, Salesforce opportunities).
 * The soak (`npm run soak`) runs it at scale; test/e2e/faults.test.ts runs a small one in npm test.
 */
export function describeFaultRun(run: FaultRun): void {
  let e2e: E2eStack;
  let stack: LocalStack;
  let db: pg.Pool;
  let objects: TrackedObject[];
  let log: Map<string, LogItem>;
  let dlq: DlqMessage[];
  let outages: Record<StandIn, number> | undefined;

  beforeAll(async () => {
    e2e = await startE2eStack({
      secrets: SECRETS,
      env: {
        SALESFORCE_ORG_ID: ORG_ID,
        CHAOS_FAILURE_RATE: run.chaos,
        CHAOS_CRASH_RATE: run.crash,
        CHAOS_KILL_RATE: run.kill,
        RETRY_BASE_DELAY_MS: '200',
        ...run.env,
        POWERTOOLS_LOG_LEVEL: 'CRITICAL',
      },
    });
    ({ stack, db } = e2e);

    const started = performance.now();
    objects = await trackedObjects({
      baseUrl: stack.httpUrl,
      secrets: SECRETS,
      orgId: ORG_ID,
      baseTime: Date.now() - 24 * 3600_000,
      scale: run.scale,
    });
    const keys = objects.flatMap((object) => object.versions.map((version) => version.dedupKey));
    const interruptions = run.outages && startOutages(stack, run.outages);
    const sent = await sendAll(objects, {
      concurrency: run.concurrency,
      redeliverOnServerError: run.outages !== undefined,
    }).finally(async () => {
      outages = await interruptions?.finish();
    });
    const sentIn = performance.now() - started;
    await settled(
      stack,
      // With the main queues empty, a delivery not logged processed or dead is in a DLQ, its last
      // receive unable to say so (killed, or the event log down): the assertions check which.
      async () => {
        const current = await eventLog();
        const open = keys.filter((key) => !['processed', 'dead'].includes(String(current.get(key)?.status)));
        return open.length === 0 || open.length <= (await messagesInDlqs(stack));
      },
      run.settleTimeoutMs,
      2000,
    );
    log = await eventLog();
    dlq = await dlqMessages(stack);

    const items = [...log.values()];
    const processed = items.filter((item) => item.status === 'processed');
    const times = processed.map((item) => Number(item.processingTimeMs)).sort((a, b) => a - b);
    const attempts = processed.reduce<Record<number, number>>((histogram, item) => {
      histogram[item.attempts] = (histogram[item.attempts] ?? 0) + 1;
      return histogram;
    }, {});
    console.log(
      `${run.name}: ${keys.length} deliveries in ${sent.requests} requests (scale ${run.scale}, chaos ${run.chaos}), ` +
        `${sent.redelivered} redelivered after a 5xx; outages ${JSON.stringify(outages ?? {})}; sent (outages over) in ` +
        `${Math.round(sentIn / 1000)} s, settled after ${Math.round((performance.now() - started) / 1000)} s; ` +
        `processed ${processed.length}, dead ${items.filter((item) => item.status === 'dead').length} ` +
        `(${items.filter((item) => item.errorMessage === UNFINISHED_ATTEMPT).length} on a final attempt that died); ` +
        `processingTimeMs p50=${percentile(times, 50)} p99=${percentile(times, 99)}; attempts ${JSON.stringify(attempts)}`,
    );
  }, run.settleTimeoutMs + 300_000);

  afterAll(async () => {
    await e2e?.stop();
  });

  describe(`${run.name}: processing at scale ${run.scale} under failures, crashes and kills`, () => {
    it('accepts deliveries from all three providers', () => {
      const deliveries = objects.flatMap((object) => object.versions);
      expect(deliveries.length).toBeGreaterThanOrEqual(Math.min(2000, 150 * run.scale));
      expect(new Set(deliveries.map((d) => d.provider))).toEqual(
        new Set(['shopify', 'hubspot', 'salesforce']),
      );
    });

    it('ends every accepted delivery processed or dead (accepted = processed + dead), and loses none', async () => {
      const dlqKeys = new Set(dlq.map((message) => String(JSON.parse(message.body).dedupKey)));
      const deliveries = objects.flatMap((object) => object.versions);
      let processed = 0;
      let dead = 0;
      for (const delivery of deliveries) {
        const item = log.get(delivery.dedupKey);
        if (item?.status === 'processed') {
          processed++;
          expect(item).toMatchObject({ provider: delivery.provider });
          continue;
        }
        dead++;
        expect(
          dlqKeys.has(delivery.dedupKey),
          `${delivery.dedupKey} is ${item?.status ?? 'not in the event log'}, and not in the DLQ`,
        ).toBe(true);
        if (item?.status === 'dead') {
          // Its receives ran out: to failures, or to attempts stopped short of the processor timeout.
          expect(item).toMatchObject({ attempts: 5 });
          expect(['processing', 'timeout']).toContain(item?.errorCategory);
        } else {
          // In the DLQ, but its last receive could not say so: the event log was down (it may not
          // even have the first). A kill on the final attempt leaves it dead (begin marks it so).
          expect(
            outages?.dynamodb ?? 0,
            `${delivery.dedupKey} stuck in '${item?.status ?? 'not logged'}'`,
          ).toBeGreaterThan(0);
        }
      }
      expect(processed + dead).toBe(deliveries.length);
      // Nothing but the accepted deliveries in the log and the DLQ, nothing left behind in a queue.
      const accepted = new Set(deliveries.map((delivery) => delivery.dedupKey));
      for (const key of log.keys()) expect(accepted.has(key), key).toBe(true);
      if (!outages) expect(log.size).toBe(deliveries.length);
      // The DLQ holds the dead deliveries, and may hold processed ones too: a batch that crashed on a
      // message's last receive leaves it to SQS's redrive policy, processed or not (redriving such a
      // message is a duplicate, a no-op).
      const deadInDlq = dlq.filter(
        (message) => log.get(String(JSON.parse(message.body).dedupKey))?.status !== 'processed',
      );
      expect(deadInDlq).toHaveLength(dead);
      for (const key of dlqKeys) expect(accepted.has(key), key).toBe(true);
      expect(await messagesInMainQueues(stack)).toBe(0);
      // The injected failures did happen and were retried.
      expect([...log.values()].some((item) => item.status === 'processed' && item.attempts > 1)).toBe(true);
    });

    it('applies no delivery twice: one domain event per applied delivery, none otherwise', () => {
      const published = new Map<string, number>();
      for (const event of stack.domainEvents) {
        const id = String(event.detail.eventId);
        published.set(id, (published.get(id) ?? 0) + 1);
      }
      const kills = new Map<string, number>();
      for (const key of stack.killedRecords) kills.set(key, (kills.get(key) ?? 0) + 1);
      let applied = 0;
      for (const item of log.values()) {
        const expected = item.status === 'processed' && item.outcome === 'applied' ? 1 : 0;
        applied += expected;
        const count = published.get(item.pk) ?? 0;
        const killed = kills.get(item.pk) ?? 0;
        // An attempt cut short by an outage after publishing (the event log down, say) is retried
        // and publishes again, as a killed one may: at most once per failed attempt.
        const cut = outages ? Math.max(0, item.attempts - 1) : 0;
        const what = `${item.pk} (${item.status}, ${item.outcome}, killed ${killed}x, attempts ${item.attempts})`;
        expect(count, what).toBeGreaterThanOrEqual(expected);
        expect(count, what).toBeLessThanOrEqual(expected + Math.max(killed, cut));
      }
      expect(stack.domainEvents.length).toBeGreaterThanOrEqual(applied);
      if (!outages)
        expect(stack.domainEvents.length).toBeLessThanOrEqual(applied + stack.killedRecords.length);
      console.log(`${run.name}: ${stack.killedRecords.length} records killed their processor mid-batch`);
    });

    // A delivery that ended in a DLQ may have written before it failed for good (the event bus or
    // the event log down after the upsert, a kill): a dead-lettered version newer than the newest
    // processed one may be what a row shows. Redriving it is then a no-op that completes it.
    it('leaves every Shopify order as if its processed versions had been applied in source order', async () => {
      const orders = objects.filter((object) => object.kind === 'order');
      const byId = await storedOrders(db, orders);
      let checked = 0;
      for (const order of orders) {
        const candidates = fromNewestProcessed(order, log);
        const [newest] = candidates;
        if (!newest) continue;
        const row = byId.get(newest.objectId);
        expect(candidates.map(expectedOrderRow), newest.objectId).toContainEqual(row);
        checked++;
      }
      expect(checked).toBeGreaterThan(orders.length * 0.9);
    });

    it('leaves every Salesforce opportunity at the source time of its newest processed version', async () => {
      const opportunities = objects.filter((object) => object.kind === 'opportunity');
      const { rows } = await db.query(
        'SELECT id, source_updated_at FROM synced_opportunities WHERE id = ANY($1)',
        [opportunities.map((o) => o.versions[0]?.objectId)],
      );
      const byId = new Map(rows.map((row) => [row.id, row.source_updated_at]));
      for (const opportunity of opportunities) {
        const candidates = fromNewestProcessed(opportunity, log);
        const [newest] = candidates;
        if (newest)
          expect(
            candidates.map((version) => version.at),
            newest.objectId,
          ).toContainEqual(byId.get(newest.objectId));
      }
    });
  });
}

/**
 * The states an object may be left in: its newest processed version, or a later one that was
 * dead-lettered (none of the later ones was processed). Empty when no version was processed.
 */
function fromNewestProcessed(object: TrackedObject, log: Map<string, LogItem>): Delivery[] {
  let newest = -1;
  object.versions.forEach((version, index) => {
    if (log.get(version.dedupKey)?.status === 'processed') newest = index;
  });
  return newest < 0 ? [] : object.versions.slice(newest);
}

/**
 * One stand-in down at a time, in turn. finish() lets the outages go on until each stand-in has
 * been down `rounds` times (the processors are still at work then), and returns the counts.
 */
function startOutages(
  stack: LocalStack,
  { everyMs, downMs, rounds }: Outages,
): { finish(): Promise<Record<StandIn, number>> } {
  const counts = Object.fromEntries(STAND_INS.map((standIn) => [standIn, 0])) as Record<StandIn, number>;
  let finishing = false;
  const loop = (async () => {
    for (let turn = 0; !finishing || turn < rounds * STAND_INS.length; turn++) {
      await new Promise((resolve) => setTimeout(resolve, everyMs));
      const standIn = STAND_INS[turn % STAND_INS.length] as StandIn;
      await stack.interrupt(standIn, downMs);
      counts[standIn]++;
    }
  })();
  return {
    finish: async () => {
      finishing = true;
      await loop;
      return counts;
    },
  };
}
