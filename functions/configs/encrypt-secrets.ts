import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { dynamoDb } from '../../shared/aws';
import { requireEnv } from '../../shared/env';
import { logger } from '../../shared/observability';
import { secretCipherFromEnv } from '../../shared/secret-cipher';
import { WebhookConfigStore } from '../../shared/stores/webhook-configs';

/**
 * Custom resource (Provider framework onEvent) run at every deploy: encrypts the secrets of configs
 * stored before they were encrypted (shared/stores/webhook-configs.ts encryptLegacySecrets). It only
 * encrypts (kms:Encrypt under the config-secret context), never decrypts, and does nothing once
 * every config is encrypted. Deleting the resource changes nothing.
 */
export const handler = async (event: CloudFormationCustomResourceEvent) => {
  const physicalResourceId = 'PhysicalResourceId' in event ? event.PhysicalResourceId : 'config-secrets';
  if (event.RequestType === 'Delete') return { PhysicalResourceId: physicalResourceId };
  const store = new WebhookConfigStore(dynamoDb, requireEnv('CONFIGS_TABLE'), secretCipherFromEnv());
  const encrypted = await store.encryptLegacySecrets();
  logger.info('config secrets encrypted', { encrypted });
  return { PhysicalResourceId: physicalResourceId, Data: { Encrypted: String(encrypted) } };
};
