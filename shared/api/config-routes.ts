import { randomBytes } from 'node:crypto';
import { HttpError, NotFoundError } from '../errors';
import { jsonResponse } from '../http/api-gateway';
import { outboundMessageUrl } from '../providers/outbound-message-token';
import { type ProviderCredentials, registerWithProvider, unregisterWithProvider } from '../registration';
import { normalizeSourceAccount } from '../source-account';
import {
  type ConfigView,
  DEFAULT_MAX_EVENTS_PER_REQUEST,
  type WebhookConfig,
  type WebhookConfigChanges,
} from '../stores/webhook-configs';
import { ValidationFailedError } from './errors';
import { configIdParam, parseBody } from './request';
import type { RouteContext } from './route-context';
import type { Router } from './router';
import { type RegisterRequest, registerSchema, sourceAccountMessage, updateSchema } from './schemas';

/** 32 random bytes, base64url: 256 bits, as strong as the HMAC-SHA256 key can use. */
export function generateSecret(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * The snake_case shape of the seed; the secret only when it was just created or rotated (and with
 * it, for Salesforce, the Outbound Message URL, whose token is derived from the secret).
 */
export function toPublicConfig(
  config: ConfigView & { secret?: string },
  baseUrl: string,
  withSecret = false,
) {
  const url = endpointUrl(baseUrl, config);
  const secret = withSecret ? config.secret : undefined;
  return {
    id: config.id,
    provider: config.provider,
    events: config.events,
    webhook_url: url,
    ...(secret !== undefined && { secret }),
    ...(secret !== undefined &&
      config.provider === 'salesforce' && {
        outbound_message_url: outboundMessageUrl(url, secret, config.id),
      }),
    rate_limit: config.rateLimit,
    max_events_per_request: config.maxEventsPerRequest ?? DEFAULT_MAX_EVENTS_PER_REQUEST,
    timeout_ms: config.timeoutMs,
    retry_attempts: config.retryAttempts,
    ip_whitelist: config.ipWhitelist,
    active: config.active,
    registration_status: config.registrationStatus,
    external_webhook_id: config.externalWebhookId ?? null,
    registration_error: config.registrationError ?? null,
    registration_instructions: config.registrationInstructions ?? null,
    source_account: config.sourceAccount ?? null,
    ...(withSecret && config.previousSecretExpiresAt
      ? { previous_secret_expires_at: config.previousSecretExpiresAt }
      : {}),
    created_at: config.createdAt,
    updated_at: config.updatedAt,
  };
}

function endpointUrl(baseUrl: string, config: Pick<WebhookConfig, 'provider' | 'id'>): string {
  return `${baseUrl.replace(/\/+$/, '')}/api/webhooks/${config.provider}/${config.id}`;
}

/**
 * The account a new config is bound to: the one given, or the shop its Shopify credentials are for;
 * else it is learned from the first verified delivery.
 */
function sourceAccountOf(body: RegisterRequest): string | undefined {
  if (body.source_account !== undefined) return body.source_account;
  const credentials = body.provider_credentials;
  return credentials?.provider === 'shopify'
    ? normalizeSourceAccount('shopify', credentials.shop_domain)
    : undefined;
}

/** Webhook configs: register (and register at the provider), list, read, change, delete, rotate. */
export function addConfigRoutes(router: Router, context: RouteContext, newSecret: () => string): void {
  const { deps, now, newId, log, user } = context;
  const publicConfig = (config: ConfigView & { secret?: string }, withSecret = false) =>
    toPublicConfig(config, deps.webhookBaseUrl, withSecret);

  router
    .on('POST', '/api/webhooks/register', async ({ event }) => {
      const userId = await user(event);
      const body = parseBody(event, registerSchema);
      const at = now().toISOString();
      const sourceAccount = sourceAccountOf(body);
      const config: WebhookConfig = {
        id: newId(),
        userId,
        provider: body.provider,
        events: body.events,
        secret: body.secret ?? newSecret(),
        rateLimit: body.rate_limit,
        maxEventsPerRequest: body.max_events_per_request,
        timeoutMs: body.timeout_ms,
        retryAttempts: body.retry_attempts,
        ipWhitelist: body.ip_whitelist,
        active: true,
        registrationStatus: 'pending',
        ...(body.provider_credentials ? { providerCredentials: { ...body.provider_credentials } } : {}),
        ...(sourceAccount !== undefined && { sourceAccount }),
        createdAt: at,
        updatedAt: at,
      };
      await deps.configs.create(config);
      const registered = await registerAtProvider(config);
      return jsonResponse(201, { success: true, webhook: publicConfig(registered, true) });
    })
    .on('GET', '/api/webhooks/configs', async ({ event }) => {
      const configs = await deps.configs.listByUser(await user(event));
      return jsonResponse(200, { success: true, webhooks: configs.map((config) => publicConfig(config)) });
    })
    .on('GET', '/api/webhooks/configs/{id}', async ({ event, params }) => {
      const config = await deps.configs.getOwned(configIdParam(params), await user(event));
      if (!config) throw new NotFoundError('No such webhook config');
      return jsonResponse(200, { success: true, webhook: publicConfig(config) });
    })
    .on('PATCH', '/api/webhooks/configs/{id}', async ({ event, params }) => {
      const userId = await user(event);
      const body = parseBody(event, updateSchema);
      let sourceAccount: string | undefined;
      if (body.source_account !== undefined) {
        const current = await deps.configs.getOwned(configIdParam(params), userId);
        if (!current) throw new NotFoundError('No such webhook config');
        sourceAccount = normalizeSourceAccount(current.provider, body.source_account);
        if (sourceAccount === undefined)
          throw new ValidationFailedError({ source_account: sourceAccountMessage(current.provider) });
      }
      const changes: WebhookConfigChanges = {
        sourceAccount,
        events: body.events,
        rateLimit: body.rate_limit,
        maxEventsPerRequest: body.max_events_per_request,
        timeoutMs: body.timeout_ms,
        retryAttempts: body.retry_attempts,
        ipWhitelist: body.ip_whitelist,
        active: body.active,
      };
      const config = await deps.configs.update(configIdParam(params), userId, changes, now());
      if (!config) throw new NotFoundError('No such webhook config');
      return jsonResponse(200, { success: true, webhook: publicConfig(config) });
    })
    .on('DELETE', '/api/webhooks/configs/{id}', async ({ event, params }) => {
      const userId = await user(event);
      const id = configIdParam(params);
      const config = await deps.configs.getOwned(id, userId);
      if (!config || !(await deps.configs.delete(id, userId)))
        throw new NotFoundError('No such webhook config');
      await unregisterAtProvider(config);
      return { statusCode: 204, headers: { 'Cache-Control': 'no-store' }, body: '' };
    })
    .on('POST', '/api/webhooks/configs/{id}/rotate-secret', async ({ event, params }) => {
      const current = await deps.configs.getOwned(configIdParam(params), await user(event));
      if (!current) throw new NotFoundError('No such webhook config');
      if (current.providerCredentials) {
        throw new HttpError(
          409,
          'conflict',
          "This config's subscription is the app's, signed with the app's client secret: rotate that secret at the provider, then register again",
        );
      }
      const at = now();
      const graceEnds = new Date(at.getTime() + deps.secretGraceHours * 3_600_000);
      const rotated = await deps.configs.rotateSecret(current, newSecret(), graceEnds, at);
      // Deleted meanwhile, or another rotation won the race: the caller retries and sees which.
      if (!rotated) throw new HttpError(409, 'conflict', 'The config changed meanwhile, retry');
      return jsonResponse(200, { success: true, webhook: publicConfig(rotated, true) });
    });

  /** Registers the new endpoint at the provider; the config is kept whatever the provider says. */
  async function registerAtProvider(config: WebhookConfig): Promise<WebhookConfig> {
    const result = await registerWithProvider(
      {
        provider: config.provider,
        events: config.events,
        endpointUrl: endpointUrl(deps.webhookBaseUrl, config),
        credentials: config.providerCredentials as ProviderCredentials | undefined,
      },
      deps.registration,
    );
    const registration = {
      registrationStatus: result.status,
      externalWebhookId: result.status === 'registered' ? result.externalWebhookId : undefined,
      registrationError: result.status === 'failed' ? result.reason : undefined,
      registrationInstructions: result.status === 'manual' ? result.instructions : undefined,
    };
    try {
      const recorded = await deps.configs.recordRegistration(config, registration, now());
      return { ...config, ...(recorded ?? registration) };
    } catch (error) {
      // The config exists and its endpoint works; only the registration outcome is unrecorded.
      log('could not record the provider registration', error);
      return { ...config, ...registration };
    }
  }

  /** Removes the provider's subscription of a deleted config; a failure is logged, not returned. */
  async function unregisterAtProvider(config: WebhookConfig): Promise<void> {
    if (!config.externalWebhookId || !config.providerCredentials) return;
    const result = await unregisterWithProvider(
      config.provider,
      config.externalWebhookId,
      config.providerCredentials as ProviderCredentials,
      deps.registration,
    );
    if (!result.ok) log('could not remove the subscription at the provider', new Error(result.reason));
  }
}
