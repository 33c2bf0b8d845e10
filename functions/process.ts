import { processPartialResponse, SqsFifoPartialProcessorAsync } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { dynamoDb, managementApi, payloadStoreFromEnv } from '../shared/aws';
import { dbFromEnv } from '../shared/db/client';
import { numberEnv, requireEnv } from '../shared/env';
import { envelopeSchema } from '../shared/envelope';
import { ValidationError } from '../shared/errors';
import { logger } from '../shared/observability';
import { type ProcessorDeps, processEnvelope } from '../shared/process/processor';
import { Broadcaster } from '../shared/realtime/broadcaster';
import { ConnectionStore } from '../shared/stores/connections';
import { EventLog } from '../shared/stores/event-log';

export type ProcessHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

export function makeProcessHandler(deps: ProcessorDeps): ProcessHandler {
  const recordHandler = async (record: SQSRecord) => {
    const parsed = envelopeSchema.safeParse(safeJson(record.body));
    const attempt = Number(record.attributes.ApproximateReceiveCount ?? '1');
    try {
      if (!parsed.success) throw new ValidationError(`Invalid envelope in message ${record.messageId}`);
      const outcome = await processEnvelope(deps, parsed.data, attempt);
      logger.debug('record processed', { dedupKey: parsed.data.dedupKey, outcome });
    } catch (error) {
      // The batch processor turns this into a batch item failure; say why, once, here.
      logger.error('record failed', { messageId: record.messageId, attempt, error: error as Error });
      throw error;
    }
  };
  return async (event, context) => {
    // A processor per invocation: it holds the batch's state, and the local stack may run batches concurrently.
    const processor = new SqsFifoPartialProcessorAsync();
    return processPartialResponse(event, recordHandler, processor, { context, skipGroupOnError: true });
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function processDepsFromEnv(): ProcessorDeps {
  const connections = new ConnectionStore(dynamoDb, requireEnv('CONNECTIONS_TABLE'));
  return {
    eventLog: new EventLog(
      dynamoDb,
      requireEnv('EVENT_LOG_TABLE'),
      numberEnv('EVENT_LOG_RETENTION_DAYS', 30),
    ),
    db: dbFromEnv(),
    broadcaster: new Broadcaster(connections, managementApi(requireEnv('WEBSOCKET_ENDPOINT'))),
    payloads: payloadStoreFromEnv(),
  };
}

export const handler = makeProcessHandler(processDepsFromEnv());
