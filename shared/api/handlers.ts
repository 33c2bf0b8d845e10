import { randomBytes, randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { z } from 'zod';
import type { TokenVerifier } from '../auth/tokens';
import { BadRequestError, HttpError, NotFoundError } from '../errors';
import { errorResponse, jsonResponse } from '../http/api-gateway';
import type { WebhookConfig, WebhookConfigChanges, WebhookConfigStore } from '../stores/webhook-configs';
import { authenticate } from './auth';
import { ValidationFailedError } from './errors';
import { Router } from './router';
import { registerSchema, updateSchema } from './schemas';

export interface ManagementDeps {
  configs: WebhookConfigStore;
  verifier: TokenVerifier;
  /** Public base URL of the REST API; a config's endpoint is `${base}/api/webhooks/{provider}/{id}`. */
  webhookBaseUrl: string;
  /** How long the secret replaced by a rotation stays valid. */
  secretGraceHours: number;
  now?: () => Date;
  newId?: () => string;
  newSecret?: () => string;
  log?: (message: string, error: unknown) => void;
}

/** 32 random bytes, base64url: 256 bits, as strong as the HMAC-SHA256 key can use. */
export function generateSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** The snake_case shape of the seed; the secret only when it was just created or rotated. */
export function toPublicConfig(config: WebhookConfig, baseUrl: string, withSecret = false) {
  return {
    id: config.id,
    provider: config.provider,
    events: config.events,
    webhook_url: `${baseUrl.replace(/\/+$/, '')}/api/webhooks/${config.provider}/${config.id}`,
    ...(withSecret ? { secret: config.secret } : {}),
    rate_limit: config.rateLimit,
    timeout_ms: config.timeoutMs,
    retry_attempts: config.retryAttempts,
    ip_whitelist: config.ipWhitelist,
    active: config.active,
    registration_status: config.registrationStatus,
    ...(withSecret && config.previousSecretExpiresAt
      ? { previous_secret_expires_at: config.previousSecretExpiresAt }
      : {}),
    created_at: config.createdAt,
    updated_at: config.updatedAt,
  };
}

/**
 * The management API: one Lambda, a small router. Every route needs a valid bearer token, and every
 * config belongs to its creator: another user's config is answered exactly like a missing one (404).
 */
export function makeManagementHandler(deps: ManagementDeps) {
  const now = deps.now ?? (() => new Date());
  const newId = deps.newId ?? randomUUID;
  const newSecret = deps.newSecret ?? generateSecret;
  const publicConfig = (config: WebhookConfig, withSecret = false) =>
    toPublicConfig(config, deps.webhookBaseUrl, withSecret);

  const router = new Router()
    .on('POST', '/api/webhooks/register', async ({ event }) => {
      const userId = await authenticate(event, deps.verifier);
      const body = parseBody(event, registerSchema);
      const at = now().toISOString();
      const config: WebhookConfig = {
        id: newId(),
        userId,
        provider: body.provider,
        events: body.events,
        secret: body.secret ?? newSecret(),
        rateLimit: body.rate_limit,
        timeoutMs: body.timeout_ms,
        retryAttempts: body.retry_attempts,
        ipWhitelist: body.ip_whitelist,
        active: true,
        // Registering the endpoint with the provider is a later step; Salesforce is always set up by hand.
        registrationStatus: body.provider === 'salesforce' ? 'manual' : 'pending',
        createdAt: at,
        updatedAt: at,
      };
      await deps.configs.create(config);
      return jsonResponse(201, { success: true, webhook: publicConfig(config, true) });
    })
    .on('GET', '/api/webhooks/configs', async ({ event }) => {
      const userId = await authenticate(event, deps.verifier);
      const configs = await deps.configs.listByUser(userId);
      return jsonResponse(200, { success: true, webhooks: configs.map((config) => publicConfig(config)) });
    })
    .on('GET', '/api/webhooks/configs/{id}', async ({ event, params }) => {
      const userId = await authenticate(event, deps.verifier);
      const config = await deps.configs.getOwned(idParam(params), userId);
      if (!config) throw new NotFoundError('No such webhook config');
      return jsonResponse(200, { success: true, webhook: publicConfig(config) });
    })
    .on('PATCH', '/api/webhooks/configs/{id}', async ({ event, params }) => {
      const userId = await authenticate(event, deps.verifier);
      const body = parseBody(event, updateSchema);
      const changes: WebhookConfigChanges = {
        events: body.events,
        rateLimit: body.rate_limit,
        timeoutMs: body.timeout_ms,
        retryAttempts: body.retry_attempts,
        ipWhitelist: body.ip_whitelist,
        active: body.active,
      };
      const config = await deps.configs.update(idParam(params), userId, changes, now());
      if (!config) throw new NotFoundError('No such webhook config');
      return jsonResponse(200, { success: true, webhook: publicConfig(config) });
    })
    .on('DELETE', '/api/webhooks/configs/{id}', async ({ event, params }) => {
      const userId = await authenticate(event, deps.verifier);
      if (!(await deps.configs.delete(idParam(params), userId)))
        throw new NotFoundError('No such webhook config');
      return { statusCode: 204, headers: { 'Cache-Control': 'no-store' }, body: '' };
    })
    .on('POST', '/api/webhooks/configs/{id}/rotate-secret', async ({ event, params }) => {
      const userId = await authenticate(event, deps.verifier);
      const current = await deps.configs.getOwned(idParam(params), userId);
      if (!current) throw new NotFoundError('No such webhook config');
      const at = now();
      const graceEnds = new Date(at.getTime() + deps.secretGraceHours * 3_600_000);
      const rotated = await deps.configs.rotateSecret(current, newSecret(), graceEnds, at);
      // Deleted meanwhile, or another rotation won the race: the caller retries and sees which.
      if (!rotated) throw new HttpError(409, 'conflict', 'The config changed meanwhile, retry');
      return jsonResponse(200, { success: true, webhook: publicConfig(rotated, true) });
    });

  return async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
    try {
      const { handler, params } = router.resolve(event);
      return await handler({ event, params });
    } catch (error) {
      return managementErrorResponse(error, deps.log);
    }
  };
}

/** The API's one error shape; validation errors add `fields`. */
export function managementErrorResponse(
  error: unknown,
  log?: (message: string, error: unknown) => void,
): APIGatewayProxyResult {
  if (error instanceof ValidationFailedError) {
    return jsonResponse(400, {
      success: false,
      error: { code: error.code, message: error.message, fields: error.fields },
    });
  }
  if (!(error instanceof HttpError)) log?.('management request failed', error);
  return errorResponse(error);
}

function idParam(params: Record<string, string>): string {
  const id = params.id ?? '';
  // Not a UUID: it cannot name a config (and need not cost a read).
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id))
    throw new NotFoundError('No such webhook config');
  return id.toLowerCase();
}

function parseBody<T extends z.ZodType>(event: APIGatewayProxyEvent, schema: T): z.output<T> {
  const raw =
    event.body == null
      ? ''
      : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8').toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new BadRequestError('The body must be JSON');
  }
  const result = schema.safeParse(json);
  if (!result.success) throw ValidationFailedError.fromZod(result.error);
  return result.data;
}
