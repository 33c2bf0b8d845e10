import { SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { dynamoDb, payloadStoreFromEnv } from '../../shared/aws';
import { numberEnv, optionalEnv, requireEnv } from '../../shared/env';
import { HttpError, NotFoundError } from '../../shared/errors';
import { errorResponse, jsonResponse, toWebhookRequest } from '../../shared/http/api-gateway';
import { type IngestDeps, ingest, type TenantDeps } from '../../shared/ingest';
import { logger } from '../../shared/observability';
import { priorityOverridesFromEnv } from '../../shared/priority';
import type { WebhookProvider } from '../../shared/providers/types';
import { Quarantine } from '../../shared/quarantine';
import { DEFAULT_CLAIM_CHECK_BYTES, envelopePublisherFromEnv } from '../../shared/queue/publisher';
import { type Broadcaster, broadcasterFromEnv } from '../../shared/realtime/broadcaster';
import { secretSource } from '../../shared/secrets';
import { ConnectionStore } from '../../shared/stores/connections';
import { EventLog } from '../../shared/stores/event-log';
import { DynamoDbRateLimiter } from '../../shared/stores/rate-limiter';
import { cachedConfigLookup, WebhookConfigStore } from '../../shared/stores/webhook-configs';

/** Lambda's 6 MB synchronous payload limit holds about 4 MiB once API Gateway base64-encodes the body. */
const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;

export type IngestHandler = (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;

export function makeIngestHandler(deps: IngestDeps, publicBaseUrl: string): IngestHandler {
  return async (event) => {
    const request = toWebhookRequest(event, publicBaseUrl);
    const configId = event.pathParameters?.configId;
    try {
      // A `{provider}` path parameter (one resource for every provider) must name this Lambda's provider.
      const routedProvider = event.pathParameters?.provider;
      if (routedProvider !== undefined && routedProvider !== deps.provider.name)
        throw new NotFoundError('No such webhook endpoint');
      const result = await ingest(deps, request, configId);
      const ack = deps.provider.acknowledge?.(request);
      if (result.quarantined) {
        // Verified and kept: a 2xx, so the provider does not retry and then drop it.
        if (ack) return { statusCode: 200, headers: { 'Content-Type': ack.contentType }, body: ack.body };
        return jsonResponse(202, {
          success: true,
          accepted: 0,
          ...(configId === undefined ? {} : { ignored: 0 }),
          quarantined: 1,
          event_id: result.quarantined.id,
          reason: result.quarantined.reason,
        });
      }
      logger.info('webhook accepted', {
        provider: deps.provider.name,
        configId,
        accepted: result.accepted,
        ignored: result.ignored,
        deliveryIds: result.deliveryIds,
      });
      if (ack) return { statusCode: 200, headers: { 'Content-Type': ack.contentType }, body: ack.body };
      // The per-config endpoints also say how many events the config's `events` filter left out.
      return jsonResponse(
        200,
        configId === undefined
          ? { success: true, accepted: result.accepted }
          : { success: true, accepted: result.accepted, ignored: result.ignored ?? 0 },
      );
    } catch (error) {
      if (error instanceof HttpError && error.statusCode < 500) {
        logger.warn('webhook rejected', {
          provider: deps.provider.name,
          configId,
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

/**
 * Builds the handler of one provider's ingest Lambda from its environment. Settings are named
 * after the provider: SHOPIFY_SECRET_ARN (or SHOPIFY_WEBHOOK_SECRET locally), SALESFORCE_ORG_ID...
 * The provider is passed in, so each Lambda bundles its own provider's code only.
 */
export function ingestHandlerFromEnv(provider: WebhookProvider): IngestHandler {
  const prefix = provider.name.toUpperCase();
  const payloads = payloadStoreFromEnv();
  const eventLog = eventLogFromEnv();
  const deps: IngestDeps = {
    provider,
    secrets: secretSource({
      secretArn: optionalEnv(`${prefix}_SECRET_ARN`),
      envValue: optionalEnv(`${prefix}_WEBHOOK_SECRET`),
    }),
    settings: {
      publicKey: optionalEnv(`${prefix}_PUBLIC_KEY`),
      audience: optionalEnv(`${prefix}_AUDIENCE`),
      orgId: optionalEnv(`${prefix}_ORG_ID`),
      acceptLegacySignatures: optionalEnv(`${prefix}_ACCEPT_LEGACY_SIGNATURES`) !== 'false',
    },
    publisher: envelopePublisherFromEnv(sqs, payloads),
    // Without a claim-check bucket, nothing larger than one SQS message can be accepted.
    maxBodyBytes: payloads
      ? numberEnv('MAX_BODY_BYTES', DEFAULT_MAX_BODY_BYTES)
      : Math.min(numberEnv('MAX_BODY_BYTES', DEFAULT_MAX_BODY_BYTES), DEFAULT_CLAIM_CHECK_BYTES),
    priorities: priorityOverridesFromEnv(),
    tenants: tenantDepsFromEnv(),
    receipts: eventLog,
    quarantine:
      payloads && eventLog
        ? new Quarantine({ payloads, eventLog, broadcaster: broadcasterFromEnvIfSet() })
        : undefined,
  };
  return makeIngestHandler(deps, requireEnv('WEBHOOK_BASE_URL'));
}

/** The event log, when EVENT_LOG_TABLE is set: receipts of what was accepted, and the quarantine. */
function eventLogFromEnv(): EventLog | undefined {
  const table = optionalEnv('EVENT_LOG_TABLE');
  return table
    ? new EventLog(dynamoDb, table, {
        retentionDays: numberEnv('EVENT_LOG_RETENTION_DAYS', 30),
        payloadMaxBytes: numberEnv('EVENT_LOG_PAYLOAD_MAX_BYTES', 65_536),
      })
    : undefined;
}

/** Live pushes of quarantined deliveries, when CONNECTIONS_TABLE and WEBSOCKET_ENDPOINT are set. */
function broadcasterFromEnvIfSet(): Broadcaster | undefined {
  const table = optionalEnv('CONNECTIONS_TABLE');
  return table && optionalEnv('WEBSOCKET_ENDPOINT')
    ? broadcasterFromEnv(new ConnectionStore(dynamoDb, table))
    : undefined;
}

/** Config lookups cached for CONFIG_CACHE_TTL_SECONDS (60 by default): changes apply within that time. */
const DEFAULT_CONFIG_CACHE_TTL_SECONDS = 60;

/**
 * The per-config endpoints' ports, when CONFIGS_TABLE (read; UpdateItem of `sourceAccount` only) and
 * RATE_LIMIT_TABLE (UpdateItem) are set.
 */
function tenantDepsFromEnv(): TenantDeps | undefined {
  const configsTable = optionalEnv('CONFIGS_TABLE');
  if (!configsTable) return undefined;
  const store = new WebhookConfigStore(dynamoDb, configsTable);
  const configs = cachedConfigLookup((id) => store.get(id), {
    ttlMs: numberEnv('CONFIG_CACHE_TTL_SECONDS', DEFAULT_CONFIG_CACHE_TTL_SECONDS) * 1000,
  });
  return {
    configs,
    rateLimiter: new DynamoDbRateLimiter(dynamoDb, requireEnv('RATE_LIMIT_TABLE')),
    bindSourceAccount: async (id, account) => {
      const bound = await store.bindSourceAccount(id, account);
      // The next deliveries see the binding now, not when the cached config expires.
      configs.invalidate(id);
      return bound;
    },
  };
}
