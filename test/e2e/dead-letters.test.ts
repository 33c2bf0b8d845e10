/**
 * The DLQ sweep on the local stack (the same handler as the scheduled function in AWS, on a timer
 * here, every second): a delivery SQS moved to a DLQ on its own (its redrive backstop, here a
 * message put straight into the DLQ) while the event log said `failed` becomes `dead` in the log,
 * counted and pushed like any dead letter, and its message stays in the DLQ for a redrive.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATORS_GROUP } from '../../shared/auth/tokens';
import { EventLog } from '../../shared/stores/event-log';
import { type E2eStack, eventually, putOnQueue, startE2eStack } from '../support/e2e-stack';
import { scanTable } from '../support/processing-run';
import { envelope } from '../unit/support/envelopes';

let e2e: E2eStack;

beforeAll(async () => {
  e2e = await startE2eStack({
    secrets: { shopify: 'e2e-dead-letters-secret' },
    env: { DLQ_SWEEP_INTERVAL_SECONDS: '1', POWERTOOLS_LOG_LEVEL: 'CRITICAL' },
  });
});

afterAll(async () => {
  await e2e?.stop();
});

describe('the DLQ sweep', () => {
  it('marks dead, counts and pushes a dead letter the event log did not know of, and leaves it for a redrive', async () => {
    const { stack } = e2e;
    const stranded = envelope({
      dedupKey: 'alice:shopify:stranded-1',
      orderingKey: 'alice:shopify:order:9090',
      deliveryId: 'stranded-1',
      objectId: '9090',
      ownerId: 'alice',
      receivedAt: new Date().toISOString(),
    });
    // The log last heard of it failing (an outage, say); then SQS's redrive took it unlogged.
    const log = new EventLog(
      DynamoDBDocumentClient.from(new DynamoDBClient({})),
      process.env.EVENT_LOG_TABLE ?? '',
      30,
    );
    await log.fail(
      { key: stranded.dedupKey, envelope: stranded },
      {
        status: 'failed',
        counts: 'dependency',
        begun: true,
        category: 'dependency',
        message: 'connect ECONNREFUSED',
        now: new Date(),
      },
    );
    await putOnQueue(stack, stack.queues.high.dlqUrl, stranded);

    const pushed = await e2e.client.next(
      (message) =>
        message.type === 'webhook-event' && (message.data as { id?: string }).id === stranded.dedupKey,
      15_000,
    );
    expect(pushed.data).toMatchObject({
      status: 'dead',
      ownerId: 'alice',
      errorMessage: 'In the DLQ: moved there by SQS after its queue maxReceiveCount receives',
    });
    const dead = await e2e.api('alice', 'GET', '/api/webhooks/events?status=dead');
    expect(dead.body.events.map((event: { id: string }) => event.id)).toEqual([stranded.dedupKey]);
    const ledger = await e2e.api('oncall', 'GET', '/api/webhooks/ledger?owner=alice', {
      groups: [OPERATORS_GROUP],
    });
    expect(ledger.body).toMatchObject({ dead: 1, in_flight: 0 });
    const counters = await scanTable(process.env.METRICS_TABLE ?? '');
    expect(counters.filter((item) => item.pk === 'owner#alice#shopify')).toEqual([
      expect.objectContaining({ dead: 1 }),
    ]);

    // Still there, visible, for a redrive.
    await eventually(
      () =>
        stack.sqs.send(
          new GetQueueAttributesCommand({
            QueueUrl: stack.queues.high.dlqUrl,
            AttributeNames: ['ApproximateNumberOfMessages'],
          }),
        ),
      ({ Attributes }) => Attributes?.ApproximateNumberOfMessages === '1',
      'the dead letter visible in the DLQ',
    );
  });
});
