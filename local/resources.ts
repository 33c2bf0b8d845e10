import { CreateTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { PRIORITIES, type Priority } from '../shared/envelope';
import { CONNECTIONS_BY_ROLE_INDEX, CONNECTIONS_BY_USER_INDEX } from '../shared/stores/connections';
import {
  EVENT_DAY_LIST_ATTRIBUTES,
  EVENT_LIST_ATTRIBUTES,
  EVENTS_BY_DAY_INDEX,
  EVENTS_BY_USER_INDEX,
} from '../shared/stores/event-log';

export interface LocalQueue {
  url: string;
  arn: string;
  dlqUrl: string;
  dlqArn: string;
}

/** As lib/constructs/queues.ts: dead letters wait 14 days for a redrive. */
const DLQ_RETENTION_SECONDS = 14 * 86_400;

/** Creates the same FIFO queues and DLQs as lib/constructs/queues.ts, through the SQS API. */
export async function createQueues(
  sqs: SQSClient,
  options: { visibilityTimeoutSeconds: number; maxReceiveCount: number; retentionDays: number },
): Promise<Record<Priority, LocalQueue>> {
  const fifo = { FifoQueue: 'true', ContentBasedDeduplication: 'false' };
  const entries = await Promise.all(
    PRIORITIES.map(async (priority) => {
      const dlqUrl = await createQueue(sqs, `webhooks-${priority}-dlq.fifo`, {
        ...fifo,
        MessageRetentionPeriod: String(DLQ_RETENTION_SECONDS),
      });
      const dlqArn = await queueArn(sqs, dlqUrl);
      const url = await createQueue(sqs, `webhooks-${priority}.fifo`, {
        ...fifo,
        DeduplicationScope: 'messageGroup',
        FifoThroughputLimit: 'perMessageGroupId',
        VisibilityTimeout: String(options.visibilityTimeoutSeconds),
        MessageRetentionPeriod: String(options.retentionDays * 86_400),
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: dlqArn,
          maxReceiveCount: String(options.maxReceiveCount),
        }),
      });
      return [priority, { url, arn: await queueArn(sqs, url), dlqUrl, dlqArn }] as const;
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

type Key = string | [partition: string, sort: string];
/** An index's key, projecting ALL; or its key and the attributes it INCLUDEs. */
type Index = Key | { key: Key; include: readonly string[] };

/** A string-keyed, on-demand table with optional indexes. */
async function createTable(
  ddb: DynamoDBClient,
  name: string,
  key: Key,
  indexes: Record<string, Index> = {},
): Promise<void> {
  const keyOf = (index: Index) => (typeof index === 'object' && !Array.isArray(index) ? index.key : index);
  const schema = (k: Key) =>
    typeof k === 'string'
      ? [{ AttributeName: k, KeyType: 'HASH' as const }]
      : [
          { AttributeName: k[0], KeyType: 'HASH' as const },
          { AttributeName: k[1], KeyType: 'RANGE' as const },
        ];
  const attributes = new Set([key, ...Object.values(indexes).map(keyOf)].flat());
  const gsis = Object.entries(indexes).map(([IndexName, index]) => ({
    IndexName,
    KeySchema: schema(keyOf(index)),
    Projection:
      typeof index === 'object' && !Array.isArray(index)
        ? { ProjectionType: 'INCLUDE' as const, NonKeyAttributes: [...index.include] }
        : { ProjectionType: 'ALL' as const },
  }));
  await ddb.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [...attributes].map((AttributeName) => ({ AttributeName, AttributeType: 'S' })),
      KeySchema: schema(key),
      ...(gsis.length > 0 && { GlobalSecondaryIndexes: gsis }),
    }),
  );
}

/** Creates the same DynamoDB tables (keys and indexes) as lib/constructs/storage.ts (TTLs aside: dynalite ignores them). */
export async function createTables(ddb: DynamoDBClient): Promise<void> {
  await createTable(ddb, TABLES.eventLog, 'pk', {
    [EVENTS_BY_USER_INDEX]: { key: ['userId', 'receivedAt'], include: EVENT_LIST_ATTRIBUTES },
    [EVENTS_BY_DAY_INDEX]: { key: ['receivedDay', 'receivedAt'], include: EVENT_DAY_LIST_ATTRIBUTES },
  });
  await createTable(ddb, TABLES.connections, 'connectionId', {
    [CONNECTIONS_BY_USER_INDEX]: 'userId',
    [CONNECTIONS_BY_ROLE_INDEX]: 'role',
  });
  await createTable(ddb, TABLES.metrics, ['pk', 'minute']);
  await createTable(ddb, TABLES.configs, 'id', { byUser: ['userId', 'createdAt'] });
  await createTable(ddb, TABLES.rateLimits, 'pk');
}
