import { SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { numberEnv, optionalEnv, requireEnv } from '../../shared/env';
import type { ProviderName } from '../../shared/envelope';
import { HttpError } from '../../shared/errors';
import { errorResponse, jsonResponse, toWebhookRequest } from '../../shared/http/api-gateway';
import { type IngestDeps, ingest } from '../../shared/ingest';
import { logger } from '../../shared/observability';
import { providerNamed } from '../../shared/providers/registry';
import { SqsEnvelopePublisher } from '../../shared/queue/publisher';
import { secretSource } from '../../shared/secrets';

/** SQS rejects messages over 256 KiB; bodies above this limit are refused before any work. */
const DEFAULT_MAX_BODY_BYTES = 200 * 1024;

export type IngestHandler = (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;

export function makeIngestHandler(deps: IngestDeps, publicBaseUrl: string): IngestHandler {
  return async (event) => {
    const request = toWebhookRequest(event, publicBaseUrl);
    try {
      const result = await ingest(deps, request);
      logger.info('webhook accepted', {
        provider: deps.provider.name,
        accepted: result.accepted,
        deliveryIds: result.deliveryIds,
      });
      return jsonResponse(200, { success: true, accepted: result.accepted });
    } catch (error) {
      if (error instanceof HttpError && error.statusCode < 500) {
        logger.warn('webhook rejected', {
          provider: deps.provider.name,
          status: error.statusCode,
          reason: error.message,
          sourceIp: request.sourceIp,
        });
      } else {
        logger.error('webhook not accepted', { provider: deps.provider.name, error: error as Error });
      }
      return errorResponse(error);
    }
  };
}

const sqs = new SQSClient({});

/** Builds the handler of one provider's ingest Lambda from its environment. */
export function ingestHandlerFromEnv(providerName: ProviderName): IngestHandler {
  const provider = providerNamed(providerName);
  if (!provider) throw new Error(`Unknown provider ${providerName}`);
  const envPrefix = providerName.toUpperCase();
  const deps: IngestDeps = {
    provider,
    secrets: secretSource({
      secretArn: optionalEnv(`${envPrefix}_SECRET_ARN`),
      envValue: optionalEnv(`${envPrefix}_WEBHOOK_SECRET`),
    }),
    publisher: new SqsEnvelopePublisher(sqs, {
      high: requireEnv('QUEUE_URL_HIGH'),
      medium: requireEnv('QUEUE_URL_MEDIUM'),
      low: requireEnv('QUEUE_URL_LOW'),
    }),
    maxBodyBytes: numberEnv('MAX_BODY_BYTES', DEFAULT_MAX_BODY_BYTES),
  };
  return makeIngestHandler(deps, requireEnv('WEBHOOK_BASE_URL'));
}
