import type { ScheduledEvent } from 'aws-lambda';
import { dynamoDb, sqsClient } from '../shared/aws';
import { numberEnv, requireEnv } from '../shared/env';
import { PRIORITIES } from '../shared/envelope';
import {
  type DeadLetterSweepDeps,
  type SweepSummary,
  sweepDeadLetters,
} from '../shared/process/dead-letter-sweep';
import { broadcasterFromEnv } from '../shared/realtime/broadcaster';
import { ConnectionStore } from '../shared/stores/connections';
import { EventLog } from '../shared/stores/event-log';
import { MetricCounters } from '../shared/stores/metric-counters';

let deps: DeadLetterSweepDeps | undefined;

/**
 * The DLQ sweep (an EventBridge schedule in AWS; a timer in the local stack, which calls it without
 * an event): every priority's DLQ (DLQ_URL_HIGH, DLQ_ARN_HIGH...), marking each dead letter's
 * delivery dead in the event log and leaving the message for a redrive.
 */
export const handler = async (_event?: ScheduledEvent): Promise<SweepSummary[]> => {
  deps ??= {
    sqs: sqsClient(),
    dlqs: PRIORITIES.map((priority) => ({
      priority,
      url: requireEnv(`DLQ_URL_${priority.toUpperCase()}`),
      arn: requireEnv(`DLQ_ARN_${priority.toUpperCase()}`),
    })),
    eventLog: new EventLog(dynamoDb, requireEnv('EVENT_LOG_TABLE'), {
      retentionDays: numberEnv('EVENT_LOG_RETENTION_DAYS', 30),
    }),
    broadcaster: broadcasterFromEnv(new ConnectionStore(dynamoDb, requireEnv('CONNECTIONS_TABLE'))),
    counters: new MetricCounters(dynamoDb, requireEnv('METRICS_TABLE')),
    holdSeconds: numberEnv('DLQ_SWEEP_HOLD_SECONDS', 300),
  };
  return sweepDeadLetters(deps);
};
