import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { LocalStack } from '../../local/stack';

export interface EventLogItem {
  pk: string;
  status: string;
  provider: string;
  eventType: string;
  objectId: string;
  deliveryId: string;
}

/** Every item of the local stack's event log (dynalite; endpoint and table from the stack's environment). */
export async function scanEventLog(): Promise<EventLogItem[]> {
  const endpoint = process.env.AWS_ENDPOINT_URL_DYNAMODB;
  const table = process.env.EVENT_LOG_TABLE;
  if (!endpoint || !table)
    throw new Error('The local stack has not set AWS_ENDPOINT_URL_DYNAMODB/EVENT_LOG_TABLE');
  const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint, region: process.env.AWS_REGION }));
  try {
    const items: EventLogItem[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await ddb.send(new ScanCommand({ TableName: table, ExclusiveStartKey: start }));
      items.push(...((page.Items ?? []) as EventLogItem[]));
      start = page.LastEvaluatedKey;
    } while (start);
    return items;
  } finally {
    ddb.destroy();
  }
}

/** Messages in every queue and dead-letter queue, visible or in flight. */
export async function messagesInQueues(stack: LocalStack): Promise<number> {
  let total = 0;
  for (const queue of Object.values(stack.queues)) {
    for (const url of [queue.url, queue.dlqUrl]) {
      const { Attributes } = await stack.sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: url,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      );
      total +=
        Number(Attributes?.ApproximateNumberOfMessages ?? 0) +
        Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
    }
  }
  return total;
}
