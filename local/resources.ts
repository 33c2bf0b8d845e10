import { CreateTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { PRIORITIES, type Priority } from '../shared/envelope';

export interface LocalQueue {
  url: string;
  arn: string;
  dlqUrl: string;
}

/** Creates the same FIFO queues and DLQs as lib/constructs/queues.ts, through the SQS API. */
export async function createQueues(
  sqs: SQSClient,
  options: { visibilityTimeoutSeconds: number; maxReceiveCount: number },
): Promise<Record<Priority, LocalQueue>> {
  const fifo = { FifoQueue: 'true', ContentBasedDeduplication: 'false' };
  const entries = await Promise.all(
    PRIORITIES.map(async (priority) => {
      const dlqUrl = await createQueue(sqs, `webhooks-${priority}-dlq.fifo`, fifo);
      const url = await createQueue(sqs, `webhooks-${priority}.fifo`, {
        ...fifo,
        DeduplicationScope: 'messageGroup',
        FifoThroughputLimit: 'perMessageGroupId',
        VisibilityTimeout: String(options.visibilityTimeoutSeconds),
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: await queueArn(sqs, dlqUrl),
          maxReceiveCount: String(options.maxReceiveCount),
        }),
      });
      return [priority, { url, arn: await queueArn(sqs, url), dlqUrl }] as const;
    }),
  );
  return Object.fromEntries(entries) as Record<Priority, LocalQueue>;
}

async function createQueue(
  sqs: SQSClient,
  name: string,
  attributes: Record<string, string>,
): Promise<string> {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  if (!QueueUrl) throw new Error(`Could not create queue ${name}`);
  return QueueUrl;
}

async function queueArn(sqs: SQSClient, url: string): Promise<string> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
  );
  return Attributes?.QueueArn ?? '';
}

export const TABLES = {
  eventLog: 'webhook-events',
  connections: 'websocket-connections',
  metrics: 'webhook-metric-counters',
  configs: 'webhook-configs',
  rateLimits: 'webhook-rate-limits',
} as const;

/** Creates the same DynamoDB tables (keys and indexes) as lib/constructs/storage.ts. */
export async function createTables(ddb: DynamoDBClient): Promise<void> {
  await ddb.send(
    new CreateTableCommand({
      TableName: TABLES.eventLog,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
    }),
  );
  await ddb.send(
    new CreateTableCommand({
      TableName: TABLES.connections,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'connectionId', AttributeType: 'S' },
        { AttributeName: 'userId', AttributeType: 'S' },
      ],
      KeySchema: [{ AttributeName: 'connectionId', KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [
        {
          IndexName: 'byUser',
          KeySchema: [{ AttributeName: 'userId', KeyType: 'HASH' }],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    }),
  );
  // Per-minute counters: one item per provider and minute (TTL expiresAt, which dynalite ignores).
  await ddb.send(
    new CreateTableCommand({
      TableName: TABLES.metrics,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'minute', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'minute', KeyType: 'RANGE' },
      ],
    }),
  );
  // Webhook configs: pk id, GSI byUser (userId + createdAt) for a user's list.
  await ddb.send(
    new CreateTableCommand({
      TableName: TABLES.configs,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'id', AttributeType: 'S' },
        { AttributeName: 'userId', AttributeType: 'S' },
        { AttributeName: 'createdAt', AttributeType: 'S' },
      ],
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [
        {
          IndexName: 'byUser',
          KeySchema: [
            { AttributeName: 'userId', KeyType: 'HASH' },
            { AttributeName: 'createdAt', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    }),
  );
  // Sliding-window rate-limit counters: one item per config and minute (TTL expiresAt).
  await ddb.send(
    new CreateTableCommand({
      TableName: TABLES.rateLimits,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
    }),
  );
}
