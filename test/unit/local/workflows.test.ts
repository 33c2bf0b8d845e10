import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { CreateQueueCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { workflowEventPattern } from '../../../lib/workflows';
import {
  matchesPattern,
  parseLocalWorkflows,
  startWorkflowDeliveries,
  type TargetEvent,
} from '../../../local/workflows';

const event = (detail: Record<string, unknown>, source = 'webhooks.shopify'): TargetEvent => ({
  version: '0',
  id: 'e-1',
  'detail-type': 'order.created',
  source,
  account: '000000000000',
  time: new Date().toISOString(),
  region: 'us-east-1',
  resources: [],
  detail,
});

describe('workflow matching', () => {
  it('matches provider, event type or prefix and change type, as the EventBridge rule would', () => {
    const pattern = (match: Record<string, unknown>) =>
      workflowEventPattern(
        parseLocalWorkflows({
          workflows: [
            {
              name: 'w',
              match,
              target: { type: 'lambda', functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:f' },
            },
          ],
        }).workflows[0]?.match ?? {},
      );
    const order = event({ eventType: 'orders/create', changeType: 'created' });
    expect(matchesPattern(pattern({}), order)).toBe(true);
    expect(matchesPattern(pattern({ provider: 'shopify', eventType: 'orders/create' }), order)).toBe(true);
    expect(matchesPattern(pattern({ provider: ['hubspot', 'shopify'], eventType: 'orders/*' }), order)).toBe(
      true,
    );
    expect(matchesPattern(pattern({ provider: 'hubspot' }), order)).toBe(false);
    expect(matchesPattern(pattern({ eventType: 'orders/updated' }), order)).toBe(false);
    expect(matchesPattern(pattern({ changeType: ['deleted', 'created'] }), order)).toBe(true);
    expect(matchesPattern(pattern({ eventType: 'orders/*', changeType: 'paid' }), order)).toBe(false);
    expect(matchesPattern(pattern({ eventType: 'orders/*' }), event({}))).toBe(false);
  });

  it('refuses a local file whose HTTPS target has no stand-in secret, and accepts plain http', () => {
    const workflow = {
      name: 'fulfillment',
      target: {
        type: 'https',
        endpoint: 'http://localhost:4000/fulfillment',
        authorization: { type: 'apiKey', headerName: 'X-Api-Key', secretName: 'workflows/fulfillment' },
      },
    };
    expect(() => parseLocalWorkflows({ workflows: [workflow] })).toThrow(
      /"secrets" must hold a value for workflows\/fulfillment/,
    );
    const parsed = parseLocalWorkflows({ workflows: [workflow], secrets: { 'workflows/fulfillment': 'k' } });
    expect(parsed.workflows[0]?.retry).toEqual({ maximumRetryAttempts: 8, maximumEventAgeSeconds: 3600 });
  });
});

describe('workflow deliveries', () => {
  const sqsMock = mockClient(SQSClient);
  let cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const step of cleanup) await step();
    cleanup = [];
    sqsMock.reset();
  });

  async function setup(status: number, retry: Record<string, number>, authorization: Record<string, string>) {
    const calls: { headers: Record<string, unknown>; body: string }[] = [];
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        calls.push({ headers: request.headers, body: Buffer.concat(chunks).toString() });
        response.writeHead(status).end();
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const dir = mkdtempSync(path.join(tmpdir(), 'workflows-unit-'));
    const file = path.join(dir, 'workflows.json');
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    writeFileSync(
      file,
      JSON.stringify({
        workflows: [{ name: 'w', target: { type: 'https', endpoint, authorization }, retry }],
        secrets: { s: 'secret-value' },
      }),
    );
    sqsMock.on(CreateQueueCommand).resolves({ QueueUrl: 'http://sqs/workflow-w-dlq' });
    sqsMock.on(SendMessageCommand).resolves({});
    const deliveries = startWorkflowDeliveries({
      file,
      sqs: new SQSClient({ region: 'us-east-1' }),
      account: '000000000000',
      region: 'us-east-1',
      retryBaseDelayMs: 1,
      log: () => undefined,
    });
    cleanup.push(async () => {
      await deliveries.stop();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    });
    return { calls, deliveries };
  }

  const deadLetters = () => sqsMock.commandCalls(SendMessageCommand).map((call) => call.args[0].input);

  it('retries a 5xx until its attempts are spent, then dead-letters the event with EventBridge attributes', async () => {
    const { calls, deliveries } = await setup(
      500,
      { maximumRetryAttempts: 2, maximumEventAgeSeconds: 60 },
      {
        type: 'basic',
        username: 'svc',
        secretName: 's',
      },
    );
    deliveries.deliver(event({ eventType: 'orders/create' }));
    await expect.poll(deadLetters).toHaveLength(1);
    expect(calls).toHaveLength(3);
    expect(calls[0]?.headers.authorization).toBe(
      `Basic ${Buffer.from('svc:secret-value').toString('base64')}`,
    );
    expect(JSON.parse(calls[0]?.body ?? '')).toMatchObject({
      id: 'e-1',
      detail: { eventType: 'orders/create' },
    });
    expect(deadLetters()[0]).toMatchObject({
      QueueUrl: 'http://sqs/workflow-w-dlq',
      MessageAttributes: {
        ERROR_CODE: { StringValue: '500' },
        EXHAUSTED_RETRY_CONDITION: { StringValue: 'MaximumRetryAttemptsExhausted' },
        RETRY_ATTEMPTS: { StringValue: '2' },
      },
    });
  });

  it('dead-letters at once an event refused with a status EventBridge does not retry (400)', async () => {
    const refused = await setup(400, {}, { type: 'apiKey', headerName: 'X-Key', secretName: 's' });
    refused.deliveries.deliver(event({}));
    await expect.poll(deadLetters).toHaveLength(1);
    expect(refused.calls).toHaveLength(1);
    expect(refused.calls[0]?.headers['x-key']).toBe('secret-value');
  });
});
