/**
 * End-to-end bad-input corpus: every case goes over real HTTP to one local stack, and for each one
 * the test checks the status, the error body (shape, no stack trace, path or secret), the Allow
 * header of 405s, that a 2xx enqueued exactly what it accepted and a non-2xx enqueued nothing.
 *
 * How "nothing was enqueued" is observed. Queue depths cannot show it: the pollers consume within
 * milliseconds, so a stray message may already be gone when the depth is read. Two independent
 * oracles replace them:
 *  1. Per case, exactly: an enqueue spy (test/support/enqueue-spy.ts) counts every message handed
 *     to SQS by any SQSClient in this process, which includes the ingest handler's own client. The
 *     cases run one after another and the handler answers only after SQS took everything, so the
 *     count's change across one request is that request's enqueues. The valid controls prove the spy
 *     sees real publishes (their count must equal `accepted`).
 *  2. End to end, after the corpus: once the queues and DLQs have drained, the DynamoDB event log
 *     (one item per processed delivery) must hold exactly the controls' events and nothing whose
 *     object id is a rejected case's marker. This would also catch an enqueue made after answering.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack';
import {
  type BadInputCase,
  type CaseGroup,
  corpus,
  markerOf,
  ORG_ID,
  SECRETS,
} from '../fixtures/bad-input/corpus';
import { type EnqueueSpy, spyOnEnqueues } from '../support/enqueue-spy';
import { ERROR_CODES, errorBodyProblems } from '../support/error-body';
import { type EventLogItem, messagesInQueues, scanEventLog } from '../support/event-log';
import { sendRaw } from '../support/raw-http';

const DEFAULT_MAX_MS = 3_000;
const DRAIN_TIMEOUT_MS = 10_000;
/** After the event log is complete, how long a late (post-response) enqueue gets to show up. */
const SETTLE_MS = 1_500;

let stack: LocalStack;
let spy: EnqueueSpy;
let prototypeKeys: string[];
/** What each case that ran actually did, by marker. */
const outcomes = new Map<string, { testCase: BadInputCase; status: number }>();

beforeAll(async () => {
  // Read by ingestHandlerFromEnv when the stack starts: Outbound Messages are refused without it.
  process.env.SALESFORCE_ORG_ID = ORG_ID;
  // The limits under test are the handler's defaults; settings a developer may have exported would change the cases.
  for (const name of ['MAX_BODY_BYTES', 'CLAIM_CHECK_BYTES', 'PRIORITY_OVERRIDES']) delete process.env[name];
  for (const provider of ['SHOPIFY', 'HUBSPOT', 'SALESFORCE'])
    for (const setting of ['SECRET_ARN', 'PUBLIC_KEY', 'AUDIENCE', 'ACCEPT_LEGACY_SIGNATURES'])
      delete process.env[`${provider}_${setting}`];
  prototypeKeys = Object.getOwnPropertyNames(Object.prototype).sort();
  spy = spyOnEnqueues();
  const { startLocalStack } = await import('../../local/stack');
  stack = await startLocalStack({ port: 0, wsPort: 0, secrets: { ...SECRETS } });
});

afterAll(async () => {
  spy?.restore();
  await stack?.stop();
});

const isSuccess = (status: number) => status >= 200 && status < 300;

/** Everything that must never appear in a response: the provider secrets and the dev-token secret. */
function secretValues(): string[] {
  return [...Object.values(SECRETS), process.env.DEV_TOKEN_SECRET ?? ''].filter((s) => s.length >= 8);
}

const table = corpus.map((testCase, index) => ({ ...testCase, marker: markerOf(index), testCase }));
const countBy = (group: CaseGroup) => corpus.filter((c) => c.group === group).length;

describe(`bad-input corpus (${corpus.length} cases: shopify ${countBy('shopify')}, hubspot ${countBy('hubspot')}, salesforce ${countBy('salesforce')}, routing ${countBy('routing')})`, () => {
  it.each(table)('$group: $name -> $expectedStatus', async ({ testCase, marker }) => {
    const request = await testCase.request({ baseUrl: stack.httpUrl, marker });
    const enqueuedBefore = spy.count;
    const response = await sendRaw(stack.httpUrl, request);
    const enqueued = spy.count - enqueuedBefore;
    outcomes.set(marker, { testCase, status: response.status });

    expect([testCase.expectedStatus].flat(), response.text.slice(0, 300)).toContain(response.status);
    expect(response.durationMs).toBeLessThan(testCase.maxMs ?? DEFAULT_MAX_MS);

    if (isSuccess(response.status)) {
      expect(enqueued).toBe(testCase.enqueues);
      if (String(response.headers['content-type']).startsWith('text/xml')) {
        expect(response.text).toContain('<Ack>true</Ack>');
      } else {
        expect(JSON.parse(response.text)).toEqual({ success: true, accepted: testCase.enqueues });
      }
    } else {
      expect(enqueued, 'a rejected request enqueued messages').toBe(0);
      expect(response.headers['content-type']).toMatch(/^application\/json/);
      expect(errorBodyProblems(response.text, secretValues())).toEqual([]);
      expect(JSON.parse(response.text).error.code).toBe(ERROR_CODES[response.status]);
    }
    if (response.status === 405) expect(response.headers.allow).toBe('POST');

    // JSON.parse and the XML parser must keep __proto__/constructor keys as data.
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeKeys);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('processed exactly the accepted events, and nothing a rejected request carried', async () => {
    // Judged over the cases that ran (all of them, unless filtered with -t).
    const accepted = new Map<string, BadInputCase>();
    const rejected = new Map<string, BadInputCase>();
    for (const [marker, { testCase, status }] of outcomes)
      (isSuccess(status) ? accepted : rejected).set(marker, testCase);
    const expectedTotal = [...accepted.values()].reduce((sum, c) => sum + (c.enqueues ?? 0), 0);

    // Wait for the pollers to drain every queue, then give a late enqueue time to be processed too.
    const deadline = Date.now() + DRAIN_TIMEOUT_MS;
    let items: EventLogItem[] = [];
    for (;;) {
      items = await scanEventLog();
      const processed = items.filter((item) => item.status === 'processed').length;
      if ((processed >= expectedTotal && (await messagesInQueues(stack)) === 0) || Date.now() > deadline)
        break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    items = await scanEventLog();

    // An object id is a case marker, or marker:location for inventory levels.
    const markerOfItem = (item: EventLogItem) => item.objectId.split(':')[0] ?? '';
    const fromRejected = items
      .filter((item) => rejected.has(markerOfItem(item)))
      .map((item) => `${rejected.get(markerOfItem(item))?.name}: ${item.pk}`);
    expect(fromRejected, 'events of rejected requests were processed').toEqual([]);
    const unattributed = items.filter((item) => !accepted.has(markerOfItem(item))).map((item) => item.pk);
    expect(unattributed, 'events that no accepted case sent').toEqual([]);

    const perCase = new Map<string, number>();
    for (const item of items) perCase.set(markerOfItem(item), (perCase.get(markerOfItem(item)) ?? 0) + 1);
    for (const [marker, testCase] of accepted)
      expect(perCase.get(marker), testCase.name).toBe(testCase.enqueues);
    expect(items.filter((item) => item.status !== 'processed').map((item) => item.pk)).toEqual([]);
    expect(items).toHaveLength(expectedTotal);
    expect(await messagesInQueues(stack), 'messages left in a queue or DLQ').toBe(0);
  });

  it('still answers after the corpus', async () => {
    const health = await sendRaw(stack.httpUrl, { method: 'GET', path: '/health', headers: {} });
    expect(health.status).toBe(200);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
