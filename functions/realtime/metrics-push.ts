import type { ScheduledEvent } from 'aws-lambda';
import { dynamoDb, managementApi } from '../../shared/aws';
import { dbFromEnv } from '../../shared/db/client';
import { providersFromEnv } from '../../shared/deployment';
import { requireEnv } from '../../shared/env';
import { MetricsHistory, recordMinuteMetrics } from '../../shared/metrics/history';
import { logger } from '../../shared/observability';
import { broadcasterFromEnv } from '../../shared/realtime/broadcaster';
import { closeExpiredConnections } from '../../shared/realtime/expiry';
import { type MetricsPushSummary, pushMetrics } from '../../shared/realtime/metrics-push';
import { ConnectionStore } from '../../shared/stores/connections';
import { MetricCounters } from '../../shared/stores/metric-counters';
import { WebhookConfigStore } from '../../shared/stores/webhook-configs';

/**
 * One run: the dashboards' push, the minute history (rows written, or null if that failed) and the
 * connections closed because their token expired (null if that failed).
 */
export interface MetricsRunSummary extends MetricsPushSummary {
  recorded: { series: number; rows: number } | null;
  closed: number | null;
}

/**
 * One run of the minute metrics job with its ports from the environment: CONNECTIONS_TABLE,
 * CONFIGS_TABLE, METRICS_TABLE, WEBSOCKET_ENDPOINT (the stage's @connections endpoint), PROVIDERS,
 * and the database (webhook_metrics). The push and the history are independent: one failing does not
 * stop the other.
 */
export function metricsJobFromEnv(): () => Promise<MetricsRunSummary> {
  const connections = new ConnectionStore(dynamoDb, requireEnv('CONNECTIONS_TABLE'));
  const configs = new WebhookConfigStore(dynamoDb, requireEnv('CONFIGS_TABLE'));
  const counters = new MetricCounters(dynamoDb, requireEnv('METRICS_TABLE'));
  const providers = providersFromEnv();
  const now = () => new Date();
  const history = new MetricsHistory(dbFromEnv());
  const broadcaster = broadcasterFromEnv(connections);
  const api = managementApi(requireEnv('WEBSOCKET_ENDPOINT'));
  return async () => {
    const [pushed, recorded, closed] = await Promise.all([
      pushMetrics({ connections, configs, counters, broadcaster, providers, now }),
      recordMinuteMetrics({ configs, counters, history, providers, now }).catch((error: unknown) => {
        logger.error('could not write the minute history (webhook_metrics)', { error: error as Error });
        return null;
      }),
      closeExpiredConnections(connections, api, now()).catch((error: unknown) => {
        logger.error('could not close expired connections', { error: error as Error });
        return null;
      }),
    ]);
    return { ...pushed, recorded, closed };
  };
}

let fromEnv: (() => Promise<MetricsRunSummary>) | undefined;

/**
 * The entry point of the EventBridge schedule (every minute in AWS; every
 * METRICS_PUSH_INTERVAL_SECONDS in the local stack, which calls it without an event). Built on the
 * first run, so importing this module reads no environment.
 */
export const handler = async (_event?: ScheduledEvent): Promise<MetricsRunSummary> => {
  fromEnv ??= metricsJobFromEnv();
  const summary = await fromEnv();
  // A run with nothing to push or record (most runs of an idle local stack) is not worth a log line.
  if (summary.users > 0 || (summary.recorded?.rows ?? 0) > 0 || (summary.closed ?? 0) > 0)
    logger.info('metrics pushed', { ...summary });
  return summary;
};
