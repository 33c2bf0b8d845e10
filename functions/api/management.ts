import { AlertStore } from '../../shared/alerts/store';
import { makeManagementHandler } from '../../shared/api/handlers';
import { tokenVerifierFromEnv } from '../../shared/auth/tokens';
import { dynamoDb, eventBridgeClient, payloadStoreFromEnv, sqsClient } from '../../shared/aws';
import { dbFromEnv } from '../../shared/db/client';
import { providersFromEnv } from '../../shared/deployment';
import { numberEnv, requireEnv } from '../../shared/env';
import { PRIORITIES, type Priority } from '../../shared/envelope';
import { EventBridgePublisher } from '../../shared/events/publisher';
import { MetricsHistory } from '../../shared/metrics/history';
import { logger } from '../../shared/observability';
import { priorityOverridesFromEnv } from '../../shared/priority';
import { envelopePublisherFromEnv } from '../../shared/queue/publisher';
import { type RedriveQueue, SqsDlqRedrive } from '../../shared/queue/redrive';
import { EventLog } from '../../shared/stores/event-log';
import { MetricCounters } from '../../shared/stores/metric-counters';
import { WebhookConfigStore } from '../../shared/stores/webhook-configs';

/** Each priority's queue and DLQ from QUEUE_ARN_HIGH, DLQ_ARN_HIGH, DLQ_URL_HIGH... */
function redriveQueuesFromEnv(): Record<Priority, RedriveQueue> {
  return Object.fromEntries(
    PRIORITIES.map((priority) => {
      const suffix = priority.toUpperCase();
      return [
        priority,
        {
          queueArn: requireEnv(`QUEUE_ARN_${suffix}`),
          queueUrl: requireEnv(`QUEUE_URL_${suffix}`),
          dlqArn: requireEnv(`DLQ_ARN_${suffix}`),
          dlqUrl: requireEnv(`DLQ_URL_${suffix}`),
        },
      ];
    }),
  ) as Record<Priority, RedriveQueue>;
}

const db = dbFromEnv();

/** The management API's Lambda: configs, status, the event log with replay, DLQ redrive and alerting. */
export const handler = makeManagementHandler({
  configs: new WebhookConfigStore(dynamoDb, requireEnv('CONFIGS_TABLE')),
  alerts: new AlertStore(db),
  history: new MetricsHistory(db),
  bus: new EventBridgePublisher(eventBridgeClient(), requireEnv('EVENT_BUS_NAME')),
  verifier: tokenVerifierFromEnv(),
  events: new EventLog(dynamoDb, requireEnv('EVENT_LOG_TABLE'), {
    retentionDays: numberEnv('EVENT_LOG_RETENTION_DAYS', 30),
    payloadMaxBytes: numberEnv('EVENT_LOG_PAYLOAD_MAX_BYTES', 65_536),
  }),
  payloads: payloadStoreFromEnv(),
  priorities: priorityOverridesFromEnv(),
  counters: new MetricCounters(dynamoDb, requireEnv('METRICS_TABLE')),
  publisher: envelopePublisherFromEnv(sqsClient(), payloadStoreFromEnv()),
  redrive: new SqsDlqRedrive(sqsClient(), redriveQueuesFromEnv()),
  registration: { fetch: globalThis.fetch, timeoutMs: numberEnv('PROVIDER_TIMEOUT_MS', 5000) },
  webhookBaseUrl: requireEnv('WEBHOOK_BASE_URL'),
  providers: providersFromEnv(),
  secretGraceHours: numberEnv('SECRET_GRACE_HOURS', 24),
  statusCacheTtlMs: numberEnv('STATUS_CACHE_TTL_SECONDS', 60) * 1000,
  log: (message, error) => logger.error(message, { error: error as Error }),
});
