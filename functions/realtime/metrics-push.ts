import type { ScheduledEvent } from 'aws-lambda';
import { dynamoDb } from '../../shared/aws';
import { providersFromEnv } from '../../shared/deployment';
import { requireEnv } from '../../shared/env';
import { logger } from '../../shared/observability';
import { broadcasterFromEnv } from '../../shared/realtime/broadcaster';
import { type MetricsPushSummary, pushMetrics } from '../../shared/realtime/metrics-push';
import { ConnectionStore } from '../../shared/stores/connections';
import { MetricCounters } from '../../shared/stores/metric-counters';
import { WebhookConfigStore } from '../../shared/stores/webhook-configs';

/**
 * One run of the minute metrics push with its ports from the environment: CONNECTIONS_TABLE,
 * CONFIGS_TABLE, METRICS_TABLE, WEBSOCKET_ENDPOINT (the stage's @connections endpoint) and PROVIDERS.
 */
export function metricsPushFromEnv(): () => Promise<MetricsPushSummary> {
  const connections = new ConnectionStore(dynamoDb, requireEnv('CONNECTIONS_TABLE'));
  const deps = {
    connections,
    configs: new WebhookConfigStore(dynamoDb, requireEnv('CONFIGS_TABLE')),
    counters: new MetricCounters(dynamoDb, requireEnv('METRICS_TABLE')),
    broadcaster: broadcasterFromEnv(connections),
    providers: providersFromEnv(),
    now: () => new Date(),
  };
  return () => pushMetrics(deps);
}

let fromEnv: (() => Promise<MetricsPushSummary>) | undefined;

/**
 * The entry point of the EventBridge schedule (every minute in AWS; every
 * METRICS_PUSH_INTERVAL_SECONDS in the local stack, which calls it without an event). Built on the
 * first run, so importing this module reads no environment.
 */
export const handler = async (_event?: ScheduledEvent): Promise<MetricsPushSummary> => {
  fromEnv ??= metricsPushFromEnv();
  const summary = await fromEnv();
  // A run with nobody to push to (most runs of an idle local stack) is not worth a log line.
  if (summary.users > 0) logger.info('metrics pushed', { ...summary });
  return summary;
};
