/**
 * Workflow targets on the local stack: every event type the seed lists per provider goes through
 * ingest and processing (half of the processing attempts fail and are retried) and reaches the
 * HTTP endpoint of its workflow once, as EventBridge delivers it, with the connection's credentials.
 * A target answering 503 gets the event again; one answering 400 sends it to the workflow's DLQ.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { GetQueueUrlCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signedSample } from '../../bin/samples';
import type { ProviderName } from '../../shared/envelope';
import { type E2eStack, startE2eStack } from '../support/e2e-stack';
import { scanEventLog } from '../support/event-log';

const SECRETS: Record<ProviderName, string> = {
  hubspot: 'e2e-hubspot-secret',
  shopify: 'e2e-shopify-secret',
  salesforce: 'e2e-salesforce-secret',
};
const ORG_ID = '00D5g000004XyZ1EAK';
const API_KEY = 'e2e-workflow-key';

/** The seed's provider event lists (SEED.md): provider, event type, the workflow it triggers, object id. */
const SEED_EVENTS = (
  [
    ['hubspot', 'contact.propertyChange', 'contact-update', '5101'],
    ['hubspot', 'deal.stageChange', 'deal-stage', '5102'],
    ['hubspot', 'company.creation', 'company-created', '5103'],
    ['hubspot', 'contact.deletion', 'contact-deleted', '5104'],
    ['shopify', 'orders/create', 'fulfillment', '820982911946155001'],
    ['shopify', 'orders/updated', 'order-updated', '820982911946155002'],
    ['shopify', 'customers/create', 'customer-metrics', '5105'],
    ['shopify', 'inventory_levels/update', 'stock', '5106'],
    ['salesforce', 'OpportunityChangeEvent', 'follow-up', '006AAAAAAAAAAAAAA1'],
    ['salesforce', 'LeadChangeEvent', 'lead-routing', '00QAAAAAAAAAAAAAA2'],
    ['salesforce', 'AccountChangeEvent', 'account-sync', '001AAAAAAAAAAAAAA3'],
    ['salesforce', 'TaskChangeEvent', 'agent-notify', '00TAAAAAAAAAAAAAA4'],
  ] as const
).map(([provider, eventType, workflow, objectId]) => ({ provider, eventType, workflow, objectId }));

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  event: { id: string; source: string; 'detail-type': string; detail: Record<string, unknown> };
}

let e2e: E2eStack;
let receiver: Server;
const received: Received[] = [];
/** Paths answered with this status the first time they are called. */
const failFirst = new Map<string, number>([
  ['/flaky', 503],
  ['/broken', 400],
]);
let dir: string;

beforeAll(async () => {
  receiver = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const url = request.url ?? '/';
      received.push({
        path: url,
        headers: request.headers,
        event: JSON.parse(Buffer.concat(chunks).toString()),
      });
      const status = failFirst.get(url);
      if (status !== undefined && url !== '/broken') failFirst.delete(url);
      response.writeHead(status ?? 200).end();
    });
  });
  receiver.listen(0, '127.0.0.1');
  await once(receiver, 'listening');
  const base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  const endpoint = (pathName: string) => ({
    type: 'https',
    endpoint: `${base}${pathName}`,
    authorization: { type: 'apiKey', headerName: 'X-Api-Key', secretName: 'workflows/e2e' },
  });
  const workflows = [
    ...SEED_EVENTS.map(({ provider, eventType, workflow }) => ({
      name: workflow,
      match: { provider, eventType },
      target: endpoint(`/${workflow}`),
    })),
    // A prefix and a change type: every HubSpot contact event that deleted the contact.
    {
      name: 'contact-removed',
      match: { eventType: 'contact.*', changeType: 'deleted' },
      target: endpoint('/removed'),
    },
    { name: 'flaky', match: { provider: 'shopify', eventType: 'orders/paid' }, target: endpoint('/flaky') },
    {
      name: 'broken',
      match: { provider: 'shopify', eventType: 'orders/cancelled' },
      target: endpoint('/broken'),
    },
    // Only in AWS: skipped locally.
    {
      name: 'queue-only',
      match: {},
      target: { type: 'sqs', queueArn: 'arn:aws:sqs:us-east-1:000000000000:somewhere' },
    },
  ];
  dir = mkdtempSync(path.join(tmpdir(), 'workflows-e2e-'));
  const file = path.join(dir, 'workflows.json');
  writeFileSync(file, JSON.stringify({ workflows, secrets: { 'workflows/e2e': API_KEY } }));
  e2e = await startE2eStack({
    secrets: SECRETS,
    env: {
      SALESFORCE_ORG_ID: ORG_ID,
      WORKFLOWS_FILE: file,
      WORKFLOW_RETRY_BASE_DELAY_MS: '50',
      // Half of the processing attempts fail before writing anything and are retried, up to 20 times
      // a second apart.
      CHAOS_FAILURE_RATE: '0.5',
      RETRY_BASE_DELAY_MS: '50',
      MAX_RETRY_DELAY_MS: '1000',
      RETRY_ATTEMPTS: '19',
      POWERTOOLS_LOG_LEVEL: 'CRITICAL',
    },
  });
});

afterAll(async () => {
  await e2e?.stop();
  receiver?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function send(provider: ProviderName, eventType: string, objectId: string): Promise<void> {
  const sample = await signedSample(provider, eventType, {
    url: `${e2e.stack.httpUrl}/api/webhooks/${provider}`,
    secret: SECRETS[provider],
    objectId,
    orgId: ORG_ID,
  });
  const response = await fetch(sample.url, { method: 'POST', headers: sample.headers, body: sample.body });
  expect(response.status, await response.text()).toBe(200);
}

async function until<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  ms = 30_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('workflow targets on the local stack', () => {
  it('calls the workflow of each seed event type once, with the published event, after processing retries', async () => {
    for (const { provider, eventType, objectId } of SEED_EVENTS) await send(provider, eventType, objectId);
    const paths = [...SEED_EVENTS.map((e) => `/${e.workflow}`), '/removed'];
    await until('every workflow to be called', () =>
      paths.every((p) => received.some((r) => r.path === p)) ? true : undefined,
    );
    // Processing is done: nothing more may arrive (a second call would come right after the first).
    const log = await until('every delivery processed', async () => {
      const items = await scanEventLog();
      return items.length >= SEED_EVENTS.length && items.every((item) => item.status === 'processed')
        ? items
        : undefined;
    });
    expect(log.some((item) => Number((item as unknown as { attempts: number }).attempts) > 1)).toBe(true);

    for (const { provider, eventType, workflow, objectId } of SEED_EVENTS) {
      const calls = received.filter((r) => r.path === `/${workflow}`);
      expect(calls, workflow).toHaveLength(1);
      const [{ headers, event }] = calls as [Received];
      expect(headers['x-api-key']).toBe(API_KEY);
      expect(headers['content-type']).toMatch(/^application\/json/);
      // Exactly what the processor put on the bus, passed through.
      const published = e2e.stack.domainEvents.filter((d) => d.detail.eventId === event.detail.eventId);
      expect(published).toHaveLength(1);
      expect(event).toMatchObject({
        version: '0',
        id: published[0]?.id,
        source: `webhooks.${provider}`,
        'detail-type': published[0]?.detailType,
        detail: published[0]?.detail,
      });
      expect(event.detail).toMatchObject({ provider, eventType });
      expect(String(event.detail.objectId)).toContain(objectId);
      expect(event.detail.data).toBeDefined();
    }
    const removed = received.filter((r) => r.path === '/removed');
    expect(removed.map((r) => r.event.detail.eventType)).toEqual(['contact.deletion']);
  });

  it('retries a target that answered 503, and dead-letters an event its target refuses with 400', async () => {
    await send('shopify', 'orders/paid', '820982911946155101');
    await send('shopify', 'orders/cancelled', '820982911946155102');
    const flaky = await until('the retried call', () => {
      const calls = received.filter((r) => r.path === '/flaky');
      return calls.length >= 2 ? calls : undefined;
    });
    expect(new Set(flaky.map((r) => r.event.id)).size).toBe(1);

    const QueueUrl = await until('the DLQ', () =>
      e2e.stack.sqs
        .send(new GetQueueUrlCommand({ QueueName: 'workflow-broken-dlq' }))
        .then((out) => out.QueueUrl)
        .catch(() => undefined),
    );
    const { Messages } = await e2e.stack.sqs.send(
      new ReceiveMessageCommand({ QueueUrl, MessageAttributeNames: ['All'], WaitTimeSeconds: 5 }),
    );
    expect(Messages).toHaveLength(1);
    const [message] = Messages ?? [];
    expect(JSON.parse(message?.Body ?? '{}')).toMatchObject({ detail: { eventType: 'orders/cancelled' } });
    expect(message?.MessageAttributes?.ERROR_CODE?.StringValue).toBe('400');
    expect(received.filter((r) => r.path === '/broken')).toHaveLength(1);
  });
});
