import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import * as z from 'zod';
import type { AlarmSettings } from '../../shared/alerts/alarms';
import { type ReconcileResult, reconcileAlarms } from '../../shared/alerts/reconciler';
import { AlertStore } from '../../shared/alerts/store';
import { dbFromEnv } from '../../shared/db/client';
import { optionalEnv, requireEnv } from '../../shared/env';
import { logger } from '../../shared/observability';

/** ALARM_TOPIC_ARNS_JSON: the SNS topic of each alarm-delivered channel; `default` always. */
const topicsSchema = z.object({
  default: z.string().min(1),
  email: z.string().optional(),
  sms: z.string().optional(),
});

export function alarmSettingsFromEnv(): AlarmSettings {
  return {
    prefix: requireEnv('ALARM_PREFIX'),
    namespace: optionalEnv('METRICS_NAMESPACE') ?? 'Webhooks',
    topics: topicsSchema.parse(JSON.parse(requireEnv('ALARM_TOPIC_ARNS_JSON'))),
  };
}

const cloudwatch = new CloudWatchClient({});
const store = new AlertStore(dbFromEnv());
const settings = alarmSettingsFromEnv();

/**
 * Reconciles every enabled alert rule into its CloudWatch alarm. Triggered by AlertRulesChanged
 * (the management API) and by a 15-minute schedule that repairs drift; the event's content does not
 * matter, each run converges on the whole table.
 */
export const handler = async (_event?: unknown): Promise<ReconcileResult> => {
  const result = await reconcileAlarms(await store.enabledRules(), cloudwatch, settings);
  logger.info('alert alarms reconciled', { ...result });
  return result;
};
