import { randomBytes, randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type * as z from 'zod';
import {
  type AlertRule,
  alertRuleSchema,
  alertRuleUpdateSchema,
  bodyOfRule,
  ruleFromBody,
  rulesChanged,
  toPublicRule,
} from '../alerts/rules';
import { type AlertStore, toPublicAlert } from '../alerts/store';
import { OPERATORS_GROUP, type TokenVerifier } from '../auth/tokens';
import { PRIORITIES } from '../envelope';
import { BadRequestError, HttpError, NotFoundError } from '../errors';
import type { BusEvent } from '../events/publisher';
import { errorResponse, jsonResponse } from '../http/api-gateway';
import type { EnvelopePublisher } from '../queue/publisher';
import { RedriveConflictError, type SqsDlqRedrive } from '../queue/redrive';
import {
  type ProviderCredentials,
  type RegistrationDeps,
  registerWithProvider,
  unregisterWithProvider,
} from '../registration';
import type { EventLog } from '../stores/event-log';
import type { MetricCounters } from '../stores/metric-counters';
import type { WebhookConfig, WebhookConfigChanges, WebhookConfigStore } from '../stores/webhook-configs';
import { alertQuerySchema, toAlertQuery } from './alerts';
import { authenticate } from './auth';
import { ForbiddenError, ValidationFailedError } from './errors';
import {
  encodeCursor,
  eventQuerySchema,
  replayEvent,
  toEventQuery,
  toPublicEvent,
  toPublicEventDetail,
} from './events';
import { openApiDocument } from './openapi';
import { Router } from './router';
import { redriveSchema, registerSchema, updateSchema } from './schemas';
import { StatusService, statusQuerySchema } from './status';

/** What the API does with the configs table. */
export type ConfigsPort = Pick<
  WebhookConfigStore,
  'create' | 'getOwned' | 'listByUser' | 'update' | 'delete' | 'rotateSecret' | 'recordRegistration'
>;

/** What the API does with the alert rules and alerts tables. */
export type AlertsPort = Pick<
  AlertStore,
  'createRule' | 'getOwnedRule' | 'listRules' | 'updateRule' | 'deleteRule' | 'listAlerts' | 'acknowledge'
>;

export interface ManagementDeps {
  configs: ConfigsPort;
  /** Alert rules and the alerts they raised (Postgres). */
  alerts: AlertsPort;
  /** The domain bus: rule changes are announced (AlertRulesChanged) for the alarm reconciler. */
  bus: { publish(events: readonly BusEvent[]): Promise<void> };
  verifier: TokenVerifier;
  /** The event log: listing, reading and replaying a user's deliveries. */
  events: Pick<EventLog, 'get' | 'list' | 'noteReplay'>;
  counters: Pick<MetricCounters, 'read'>;
  /** Puts replayed deliveries back on their queues. */
  publisher: EnvelopePublisher;
  /** DLQ redrive with SQS message move tasks. */
  redrive: Pick<SqsDlqRedrive, 'start' | 'progress'>;
  /** How provider-side registration calls the providers (fetch is a port for tests). */
  registration: RegistrationDeps;
  /** Public base URL of the REST API; a config's endpoint is `${base}/api/webhooks/{provider}/{id}`. */
  webhookBaseUrl: string;
  /** How long the secret replaced by a rotation stays valid. */
  secretGraceHours: number;
  /** How long a computed status document is served again. */
  statusCacheTtlMs?: number;
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
    webhook_url: endpointUrl(baseUrl, config),
    ...(withSecret ? { secret: config.secret } : {}),
    rate_limit: config.rateLimit,
    timeout_ms: config.timeoutMs,
    retry_attempts: config.retryAttempts,
    ip_whitelist: config.ipWhitelist,
    active: config.active,
    registration_status: config.registrationStatus,
    external_webhook_id: config.externalWebhookId ?? null,
    registration_error: config.registrationError ?? null,
    registration_instructions: config.registrationInstructions ?? null,
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
 * The management API: one Lambda, a small router. Every route but the OpenAPI document needs a
 * valid bearer token, and everything belongs to its creator: another user's config or event is
 * answered exactly like a missing one (404). DLQ redrive acts on shared queues: operators only.
 */
export function makeManagementHandler(deps: ManagementDeps) {
  const now = deps.now ?? (() => new Date());
  const newId = deps.newId ?? randomUUID;
  const newSecret = deps.newSecret ?? generateSecret;
  const log = deps.log ?? (() => {});
  const publicConfig = (config: WebhookConfig, withSecret = false) =>
    toPublicConfig(config, deps.webhookBaseUrl, withSecret);
  const status = new StatusService({ ...deps, now, cacheTtlMs: deps.statusCacheTtlMs });
  const user = async (event: APIGatewayProxyEvent) => (await authenticate(event, deps.verifier)).userId;

  const router = new Router()
    .on('GET', '/api/webhooks/openapi.json', async () =>
      jsonResponse(200, openApiDocument(deps.webhookBaseUrl), { 'Cache-Control': 'public, max-age=300' }),
    )
    .on('POST', '/api/webhooks/register', async ({ event }) => {
      const userId = await user(event);
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
        registrationStatus: 'pending',
        ...(body.provider_credentials ? { providerCredentials: { ...body.provider_credentials } } : {}),
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
      const changes: WebhookConfigChanges = {
        events: body.events,
        rateLimit: body.rate_limit,
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
      const at = now();
      const graceEnds = new Date(at.getTime() + deps.secretGraceHours * 3_600_000);
      const rotated = await deps.configs.rotateSecret(current, newSecret(), graceEnds, at);
      // Deleted meanwhile, or another rotation won the race: the caller retries and sees which.
      if (!rotated) throw new HttpError(409, 'conflict', 'The config changed meanwhile, retry');
      return jsonResponse(200, { success: true, webhook: publicConfig(rotated, true) });
    })
    .on('GET', '/api/webhooks/status', async ({ event }) => {
      const userId = await user(event);
      const query = parseQuery(event, statusQuerySchema);
      return jsonResponse(200, await status.status(userId, query));
    })
    .on('GET', '/api/webhooks/events', async ({ event }) => {
      const userId = await user(event);
      const query = toEventQuery(userId, parseQuery(event, eventQuerySchema), now());
      const page = await deps.events.list(query);
      return jsonResponse(200, {
        success: true,
        events: page.items.map(toPublicEvent),
        next_cursor: encodeCursor(page.next),
      });
    })
    .on('GET', '/api/webhooks/events/{id}', async ({ event, params }) => {
      const userId = await user(event);
      const item = await deps.events.get(eventIdParam(params));
      if (!item || item.userId !== userId) throw new NotFoundError('No such event');
      return jsonResponse(200, { success: true, event: toPublicEventDetail(item) });
    })
    .on('POST', '/api/webhooks/events/{id}/replay', async ({ event, params }) => {
      const userId = await user(event);
      const replay = await replayEvent({ ...deps, now, log }, eventIdParam(params), userId);
      return jsonResponse(202, { success: true, replay });
    })
    .on('GET', '/api/webhooks/dlq', async ({ event }) => {
      await requireOperator(event);
      const queues = await Promise.all(PRIORITIES.map((priority) => deps.redrive.progress(priority)));
      return jsonResponse(200, { success: true, queues });
    })
    .on('POST', '/api/webhooks/dlq/redrive', async ({ event }) => {
      await requireOperator(event);
      const body = parseBody(event, redriveSchema);
      try {
        const task = await deps.redrive.start(body.priority, { maxPerSecond: body.max_messages_per_second });
        return jsonResponse(202, { success: true, task });
      } catch (error) {
        if (error instanceof RedriveConflictError)
          throw new HttpError(409, 'redrive_running', 'A redrive of this DLQ is already running');
        throw error;
      }
    })
    .on('POST', '/api/webhooks/alert-rules', async ({ event }) => {
      const userId = await ruleOwner(event);
      const body = parseBody(event, alertRuleSchema);
      const rule = await deps.alerts.createRule(ruleFromBody(body, newId(), userId, now().toISOString()));
      await announce(rule, 'created');
      return jsonResponse(201, { success: true, rule: toPublicRule(rule) });
    })
    .on('GET', '/api/webhooks/alert-rules', async ({ event }) => {
      const rules = await deps.alerts.listRules(await ruleOwner(event));
      return jsonResponse(200, { success: true, rules: rules.map(toPublicRule) });
    })
    .on('GET', '/api/webhooks/alert-rules/{id}', async ({ event, params }) => {
      const rule = await deps.alerts.getOwnedRule(uuidParam(params, 'alert rule'), await ruleOwner(event));
      if (!rule) throw new NotFoundError('No such alert rule');
      return jsonResponse(200, { success: true, rule: toPublicRule(rule) });
    })
    .on('PATCH', '/api/webhooks/alert-rules/{id}', async ({ event, params }) => {
      const userId = await ruleOwner(event);
      const changes = parseBody(event, alertRuleUpdateSchema);
      const id = uuidParam(params, 'alert rule');
      const current = await deps.alerts.getOwnedRule(id, userId);
      if (!current) throw new NotFoundError('No such alert rule');
      // The changed rule must be valid as a whole (a threshold of 150 is fine for a volume, not a rate).
      const merged = alertRuleSchema.safeParse({ ...bodyOfRule(current), ...definedOnly(changes) });
      if (!merged.success) throw ValidationFailedError.fromZod(merged.error);
      const { id: _, userId: __, createdAt: ___, ...fields } = ruleFromBody(merged.data, id, userId, '');
      const rule = await deps.alerts.updateRule(id, userId, fields);
      if (!rule) throw new NotFoundError('No such alert rule');
      await announce(rule, 'updated');
      return jsonResponse(200, { success: true, rule: toPublicRule(rule) });
    })
    .on('DELETE', '/api/webhooks/alert-rules/{id}', async ({ event, params }) => {
      const userId = await ruleOwner(event);
      const id = uuidParam(params, 'alert rule');
      if (!(await deps.alerts.deleteRule(id, userId))) throw new NotFoundError('No such alert rule');
      await announce({ id, userId }, 'deleted');
      return { statusCode: 204, headers: { 'Cache-Control': 'no-store' }, body: '' };
    })
    .on('GET', '/api/webhooks/alerts', async ({ event }) => {
      const identity = await authenticate(event, deps.verifier);
      const params = parseQuery(event, alertQuerySchema);
      const query = toAlertQuery(identity.userId, isOperator(identity.groups), params, now());
      const alerts = await deps.alerts.listAlerts(query);
      return jsonResponse(200, { success: true, alerts: alerts.map(toPublicAlert) });
    })
    .on('POST', '/api/webhooks/alerts/{id}/acknowledge', async ({ event, params }) => {
      const identity = await authenticate(event, deps.verifier);
      const id = uuidParam(params, 'alert');
      const alert = await deps.alerts.acknowledge(id, identity.userId, isOperator(identity.groups), now());
      if (!alert) throw new NotFoundError('No such alert');
      return jsonResponse(200, { success: true, alert: toPublicAlert(alert) });
    });

  /**
   * Tells the reconciler a rule changed. The change is stored either way: if the bus refuses, the
   * reconciler's schedule (every 15 minutes) catches up, so the request does not fail for it.
   */
  async function announce(rule: Pick<AlertRule, 'id' | 'userId'>, change: 'created' | 'updated' | 'deleted') {
    try {
      await deps.bus.publish([rulesChanged(rule.id, rule.userId ?? '', change)]);
    } catch (error) {
      log('could not announce the alert rule change', error);
    }
  }

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
      return (await deps.configs.recordRegistration(config, registration, now())) ?? config;
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

  /**
   * The caller's user id, if they are an operator. The DLQs are shared by every tenant, and alert
   * rules watch the provider-wide metrics of every tenant's traffic: both are operator tools.
   */
  async function operator(event: APIGatewayProxyEvent, what: string): Promise<string> {
    const identity = await authenticate(event, deps.verifier);
    if (!isOperator(identity.groups)) throw new ForbiddenError(`Only operators may ${what}`);
    return identity.userId;
  }
  const requireOperator = (event: APIGatewayProxyEvent) => operator(event, 'act on the dead-letter queues');
  const ruleOwner = (event: APIGatewayProxyEvent) =>
    operator(event, "manage alert rules (they watch every tenant's provider metrics)");

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

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Operators also see (and acknowledge) the alerts of the built-in ops alarms. */
const isOperator = (groups: readonly string[]) => groups.includes(OPERATORS_GROUP);

function uuidParam(params: Record<string, string>, what: string): string {
  const id = params.id ?? '';
  // Not a UUID: it cannot name a row (and need not cost a read).
  if (!UUID.test(id)) throw new NotFoundError(`No such ${what}`);
  return id.toLowerCase();
}

const configIdParam = (params: Record<string, string>) => uuidParam(params, 'webhook config');

function definedOnly<T extends object>(record: T): Partial<T> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/** An event id is its dedup key (`shopify:<webhook id>`), URL-encoded in the path. */
function eventIdParam(params: Record<string, string>): string {
  const id = params.id ?? '';
  if (id.length === 0 || id.length > 1024) throw new NotFoundError('No such event');
  return id;
}

/** Query parameters (the last value of a repeated one) against a schema: 400 with field errors. */
function parseQuery<T extends z.ZodType>(event: APIGatewayProxyEvent, schema: T): z.output<T> {
  const result = schema.safeParse(event.queryStringParameters ?? {});
  if (!result.success) throw ValidationFailedError.fromZod(result.error);
  return result.data;
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
