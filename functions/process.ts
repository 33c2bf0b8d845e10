import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { dynamoDb, eventBridgeClient, payloadStoreFromEnv, sqsClient } from '../shared/aws';
import { dbFromEnv } from '../shared/db/client';
import { numberEnv, optionalEnv, requireEnv } from '../shared/env';
import { EventBridgePublisher } from '../shared/events/publisher';
import { type BatchDeps, makeBatchHandler, type RetryPolicy } from '../shared/process/batch';
import { DEFAULT_RETRY } from '../shared/process/retry-schedule';
import { broadcasterFromEnv } from '../shared/realtime/broadcaster';
import { ConnectionStore } from '../shared/stores/connections';
import { EventLog } from '../shared/stores/event-log';
import { MetricCounters } from '../shared/stores/metric-counters';

export type ProcessHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

/** The SQS event source handler of one priority queue; see makeBatchHandler for the semantics. */
export function makeProcessHandler(deps: BatchDeps): ProcessHandler {
  return makeBatchHandler(deps);
}

/**
 * Everything but the DLQ from the environment. DLQ_URL belongs to one queue: in Lambda it is this
 * function's own (`handler` below), the local stack builds one handler per queue with its DLQ.
 */
export function processDepsFromEnv(): Omit<BatchDeps, 'dlqUrl'> {
  const connections = new ConnectionStore(dynamoDb, requireEnv('CONNECTIONS_TABLE'));
  return {
    eventLog: new EventLog(dynamoDb, requireEnv('EVENT_LOG_TABLE'), {
      retentionDays: numberEnv('EVENT_LOG_RETENTION_DAYS', 30),
      payloadMaxBytes: numberEnv('EVENT_LOG_PAYLOAD_MAX_BYTES', 65_536),
    }),
    db: dbFromEnv(),
    broadcaster: broadcasterFromEnv(connections),
    events: new EventBridgePublisher(eventBridgeClient(), requireEnv('EVENT_BUS_NAME')),
    payloads: payloadStoreFromEnv(),
    sqs: sqsClient(),
    counters: new MetricCounters(dynamoDb, requireEnv('METRICS_TABLE')),
    metrics: providerMetrics(),
    retry: retryPolicyFromEnv(),
  };
}

/**
 * The retry policy the stack sets (lib/constructs/processing.ts; the local stack the same): the
 * schedule, the system's limits for deliveries without a config, and the queue's limits.
 */
export function retryPolicyFromEnv(): RetryPolicy {
  const schedule = {
    baseDelayMs: numberEnv('RETRY_BASE_DELAY_MS', DEFAULT_RETRY.baseDelayMs),
    maxDelayMs: numberEnv('MAX_RETRY_DELAY_MS', DEFAULT_RETRY.maxDelayMs),
  };
  return {
    schedule,
    retryAttempts: numberEnv('RETRY_ATTEMPTS', DEFAULT_RETRY.retryAttempts),
    timeoutMs: numberEnv('ATTEMPT_TIMEOUT_MS', DEFAULT_RETRY.timeoutMs),
    windowMs: numberEnv('RETRY_WINDOW_SECONDS', DEFAULT_RETRY.windowSeconds) * 1000,
    maxReceiveCount: numberEnv('MAX_RECEIVE_COUNT', DEFAULT_RETRY.maxReceiveCount),
  };
}

/**
 * EMF metrics whose only dimension is `provider`: Powertools' default `service` dimension is
 * dropped, so the alarms' metric (name + provider) is exactly what is emitted.
 */
function providerMetrics(): Metrics {
  const metrics = new Metrics({ namespace: optionalEnv('POWERTOOLS_METRICS_NAMESPACE') ?? 'Webhooks' });
  metrics.clearDefaultDimensions();
  return metrics;
}

let fromEnv: ProcessHandler | undefined;

/**
 * The Lambda entry point. Built on the first invocation (once per execution environment), so that
 * importing this module has no side effect and reads no environment: the local stack imports the
 * factory above and wires a handler per queue.
 */
export const handler: ProcessHandler = async (event, context) => {
  if (!fromEnv) {
    const dlqUrl = requireEnv('DLQ_URL');
    fromEnv = makeProcessHandler({ ...processDepsFromEnv(), dlqUrl });
  }
  return fromEnv(event, context);
};
