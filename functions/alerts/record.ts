import * as z from 'zod';
import { Notifier } from '../../shared/alerts/notifier';
import { AlertRecorder, stateChangeOf } from '../../shared/alerts/recorder';
import { alertRuleSchema } from '../../shared/alerts/rules';
import { AlertStore } from '../../shared/alerts/store';
import { dynamoDb } from '../../shared/aws';
import { dbFromEnv } from '../../shared/db/client';
import { optionalEnv, requireEnv } from '../../shared/env';
import { logger } from '../../shared/observability';
import { broadcasterFromEnv } from '../../shared/realtime/broadcaster';
import { secretSource } from '../../shared/secrets';
import { ConnectionStore } from '../../shared/stores/connections';

const webhookUrlsSchema = z.array(z.url({ protocol: /^https?$/ }));

/** The first secret of a source, or undefined when none is configured. */
const first = (source: () => Promise<readonly string[]>) => async () => (await source())[0];

/**
 * The recorder with its ports from the environment; the local alert evaluator builds the same one.
 * Slack: SLACK_WEBHOOK_SECRET_ARN (Secrets Manager) or SLACK_WEBHOOK_URL (local); the `webhook`
 * channel: ALERT_WEBHOOK_URLS_JSON and ALERT_WEBHOOK_SIGNING_SECRET_ARN or ALERT_WEBHOOK_SIGNING_SECRET;
 * the stack's default rules (their alarms are `${ALARM_PREFIX}default-<index>`): DEFAULT_ALERT_RULES_JSON.
 */
export function recorderFromEnv(
  options: {
    store?: AlertStore;
    otherChannel?: ConstructorParameters<typeof Notifier>[0]['otherChannel'];
  } = {},
): AlertRecorder {
  const log = (message: string, detail?: Record<string, unknown>) => logger.warn(message, { ...detail });
  const notifier = new Notifier({
    fetch: globalThis.fetch,
    slackWebhookUrl: first(
      secretSource({
        secretArn: optionalEnv('SLACK_WEBHOOK_SECRET_ARN'),
        envValue: optionalEnv('SLACK_WEBHOOK_URL'),
      }),
    ),
    webhookUrls: webhookUrlsSchema.parse(JSON.parse(optionalEnv('ALERT_WEBHOOK_URLS_JSON') ?? '[]')),
    signingSecret: first(
      secretSource({
        secretArn: optionalEnv('ALERT_WEBHOOK_SIGNING_SECRET_ARN'),
        envValue: optionalEnv('ALERT_WEBHOOK_SIGNING_SECRET'),
      }),
    ),
    otherChannel: options.otherChannel,
    log,
  });
  return new AlertRecorder({
    store: options.store ?? new AlertStore(dbFromEnv()),
    broadcaster: broadcasterFromEnv(new ConnectionStore(dynamoDb, requireEnv('CONNECTIONS_TABLE'))),
    notifier,
    prefix: requireEnv('ALARM_PREFIX'),
    defaultRules: z.array(alertRuleSchema).parse(JSON.parse(optionalEnv('DEFAULT_ALERT_RULES_JSON') ?? '[]')),
    dashboardUrl: optionalEnv('DASHBOARD_URL'),
    log,
  });
}

let recorder: AlertRecorder | undefined;

/**
 * EventBridge "CloudWatch Alarm State Change" events of the stack's alarms (ALARM_PREFIX). Built on
 * the first event, so importing this module (the local stack does) reads no environment.
 */
export const handler = async (event: unknown): Promise<void> => {
  recorder ??= recorderFromEnv();
  const alert = await recorder.record(stateChangeOf(event));
  if (alert)
    logger.info('alert recorded', { alertId: alert.id, ruleId: alert.ruleId, severity: alert.severity });
};
