import { makeManagementHandler } from '../../shared/api/handlers';
import { tokenVerifierFromEnv } from '../../shared/auth/tokens';
import { dynamoDb } from '../../shared/aws';
import { numberEnv, requireEnv } from '../../shared/env';
import { logger } from '../../shared/observability';
import { WebhookConfigStore } from '../../shared/stores/webhook-configs';

/** The management API's Lambda: register, list, read, update, delete and rotate webhook configs. */
export const handler = makeManagementHandler({
  configs: new WebhookConfigStore(dynamoDb, requireEnv('CONFIGS_TABLE')),
  verifier: tokenVerifierFromEnv(),
  webhookBaseUrl: requireEnv('WEBHOOK_BASE_URL'),
  secretGraceHours: numberEnv('SECRET_GRACE_HOURS', 24),
  log: (message, error) => logger.error(message, { error: error as Error }),
});
