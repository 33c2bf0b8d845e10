import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack';
import type { ProviderName } from '../../shared/envelope';
import { type E2eStack, messagesInMainQueues, startE2eStack } from './e2e-stack';
import {
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
  let db: pg.Client;
  let objects: TrackedObject[];
  let log: Map<string, LogItem>;
  let dlq: DlqMessage[];

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
    const sent = await sendAll(objects, run.concurrency);
    const sentIn = performance.now() - started;
    await settled(
      stack,
      async () => {
        const current = await eventLog();
        return keys.every((key) => ['processed', 'dead'].includes(String(current.get(key)?.status)));
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
      `${run.name}: ${keys.length} deliveries in ${sent} requests (scale ${run.scale}, chaos ${run.chaos}); sent in ` +
        `${Math.round(sentIn / 1000)} s, settled after ${Math.round((performance.now() - started) / 1000)} s; ` +
        `processed ${processed.length}, dead ${items.filter((item) => item.status === 'dead').length}; ` +
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
        expect(item, `accepted ${delivery.dedupKey} is not in the event log`).toBeDefined();
        if (item?.status === 'received') {
          // Killed on its last receive: SQS moved it to the DLQ, and nothing was left to mark it dead.
          dead++;
          expect(stack.killedRecords, `${delivery.dedupKey} stuck in 'received'`).toContain(
            delivery.dedupKey,
          );
          expect(dlqKeys.has(delivery.dedupKey), `${delivery.dedupKey} is stuck but not in the DLQ`).toBe(
            true,
          );
        } else if (item?.status === 'dead') {
          dead++;
          // Its receives ran out: to failures, or to attempts stopped short of the processor timeout.
          expect(item).toMatchObject({ attempts: 5 });
          expect(['processing', 'timeout']).toContain(item?.errorCategory);
          expect(dlqKeys.has(delivery.dedupKey), `${delivery.dedupKey} is dead but not in the DLQ`).toBe(
            true,
          );
        } else {
          processed++;
          expect(item).toMatchObject({ status: 'processed', provider: delivery.provider });
        }
      }
      expect(processed + dead).toBe(deliveries.length);
      // Nothing but the accepted deliveries in the log, nothing left behind in a queue.
      expect(log.size).toBe(deliveries.length);
      // The DLQ holds the dead deliveries, and may hold processed ones too: a batch that crashed on a
      // message's last receive leaves it to SQS's redrive policy, processed or not (redriving such a
      // message is a duplicate, a no-op).
      const deadInDlq = dlq.filter((message) =>
        ['dead', 'received'].includes(String(log.get(String(JSON.parse(message.body).dedupKey))?.status)),
      );
      expect(deadInDlq).toHaveLength(dead);
      for (const message of dlq) {
        const key = String(JSON.parse(message.body).dedupKey);
        expect(['dead', 'received', 'processed'], key).toContain(log.get(key)?.status);
      }
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
        const what = `${item.pk} (${item.status}, ${item.outcome}, killed ${killed}x)`;
        // A killed attempt may have published before it died; nothing else publishes twice.
        expect(count, what).toBeGreaterThanOrEqual(expected);
        expect(count, what).toBeLessThanOrEqual(expected + killed);
      }
      expect(stack.domainEvents.length).toBeGreaterThanOrEqual(applied);
      expect(stack.domainEvents.length).toBeLessThanOrEqual(applied + stack.killedRecords.length);
      console.log(`${run.name}: ${stack.killedRecords.length} records killed their processor mid-batch`);
    });

    it('leaves every Shopify order as if its processed versions had been applied in source order', async () => {
      const orders = objects.filter((object) => object.kind === 'order');
      const byId = await storedOrders(db, orders);
      let checked = 0;
      for (const order of orders) {
        const newest = order.versions.filter((v) => log.get(v.dedupKey)?.status === 'processed').at(-1);
        if (!newest) continue;
        expect(byId.get(newest.objectId), newest.objectId).toEqual(expectedOrderRow(newest));
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
        const newest = opportunity.versions.filter((v) => log.get(v.dedupKey)?.status === 'processed').at(-1);
        if (newest) expect(byId.get(newest.objectId), newest.objectId).toEqual(newest.at);
      }
    });
  });
}
