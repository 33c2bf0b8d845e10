import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { AlertStore } from '../alerts/store';
import type { TokenVerifier } from '../auth/tokens';
import type { Priority, ProviderName } from '../envelope';
import { HttpError } from '../errors';
import type { BusEvent } from '../events/publisher';
import { errorResponse, jsonResponse } from '../http/api-gateway';
import type { MetricsHistory } from '../metrics/history';
import type { EnvelopePublisher } from '../queue/publisher';
import type { SqsDlqRedrive } from '../queue/redrive';
import type { RegistrationDeps } from '../registration';
import type { EventLog } from '../stores/event-log';
import type { MetricCounters } from '../stores/metric-counters';
import type { PayloadStore } from '../stores/payload-store';
import type { WebhookConfigStore } from '../stores/webhook-configs';
import { addAlertRoutes } from './alert-routes';
import { authenticate } from './auth';
import { addConfigRoutes, generateSecret } from './config-routes';
import { ForbiddenError, ValidationFailedError } from './errors';
import { openApiDocument } from './openapi';
import { addOperationRoutes } from './operation-routes';
import { isOperator, type RouteContext } from './route-context';
import { Router } from './router';

/** What the API does with the configs table. */
export type ConfigsPort = Pick<
  WebhookConfigStore,
  | 'create'
  | 'getOwned'
  | 'listByUser'
  | 'listAll'
  | 'update'
  | 'delete'
  | 'rotateSecret'
  | 'recordRegistration'
>;

/** What the API does with the alert rules and alerts tables. */
export type AlertsPort = Pick<
  AlertStore,
  'createRule' | 'getRule' | 'listRules' | 'updateRule' | 'deleteRule' | 'listAlerts' | 'acknowledge'
>;

export interface ManagementDeps {
  configs: ConfigsPort;
  /** Alert rules and the alerts they raised (Postgres). */
  alerts: AlertsPort;
  /** The domain bus: rule changes are announced (AlertRulesChanged) for the alarm reconciler. */
  bus: { publish(events: readonly BusEvent[]): Promise<void> };
  verifier: TokenVerifier;
  /**
   * The event log: listing, reading and replaying a user's deliveries (a quarantined one is released
   * into deliveries of its own, which carry its receipts), and the ledger.
   */
  events: Pick<EventLog, 'get' | 'list' | 'noteReplay' | 'receive' | 'release' | 'ledger'>;
  /** Where quarantined requests are kept (the payload bucket), for their replay. */
  payloads?: Pick<PayloadStore, 'get'>;
  /** The priority overrides ingest applies (PRIORITY_OVERRIDES), for released deliveries. */
  priorities?: Readonly<Record<string, Priority>>;
  counters: Pick<MetricCounters, 'read'>;
  /** The minute history (webhook_metrics): the status API's `30d` and the dashboards' history. */
  history: Pick<MetricsHistory, 'read' | 'summarize'>;
  /** Puts replayed deliveries back on their queues. */
  publisher: EnvelopePublisher;
  /** DLQ redrive with SQS message move tasks. */
  redrive: Pick<SqsDlqRedrive, 'start' | 'progress'>;
  /** How provider-side registration calls the providers (fetch is a port for tests). */
  registration: RegistrationDeps;
  /** Public base URL of the REST API; a config's endpoint is `${base}/api/webhooks/{provider}/{id}`. */
  webhookBaseUrl: string;
  /** The providers this deployment serves (each has a provider-wide endpoint); default all. */
  providers?: readonly ProviderName[];
  /** How long the secret replaced by a rotation stays valid. */
  secretGraceHours: number;
  /** How long a computed status document is served again. */
  statusCacheTtlMs?: number;
  now?: () => Date;
  newId?: () => string;
  newSecret?: () => string;
  log?: (message: string, error: unknown) => void;
}

/**
 * The management API: one Lambda, a small router. Every route but the OpenAPI document needs a
 * valid bearer token, and everything belongs to its creator: another user's config or event is
 * answered exactly like a missing one (404). The DLQs and alert rules are operators' only.
 */
export function makeManagementHandler(deps: ManagementDeps) {
  const identity = (event: APIGatewayProxyEvent) => authenticate(event, deps.verifier);
  const context: RouteContext = {
    deps,
    now: deps.now ?? (() => new Date()),
    newId: deps.newId ?? randomUUID,
    log: deps.log ?? (() => {}),
    identity,
    user: async (event) => (await identity(event)).userId,
    caller: async (event) => {
      const { userId, groups } = await identity(event);
      return { userId, operator: isOperator(groups) };
    },
    operator: async (event, what) => {
      const caller = await identity(event);
      if (!isOperator(caller.groups)) throw new ForbiddenError(`Only operators may ${what}`);
      return caller.userId;
    },
  };
  const router = new Router()
    .on('GET', '/api/webhooks/openapi.json', async () =>
      jsonResponse(200, openApiDocument(deps.webhookBaseUrl), { 'Cache-Control': 'public, max-age=300' }),
    )
    // What a dashboard may ask for: operators' panels (queues, every owner) only for operators.
    .on('GET', '/api/webhooks/me', async ({ event }) => {
      const caller = await context.caller(event);
      return jsonResponse(200, { success: true, user_id: caller.userId, operator: caller.operator });
    });
  addConfigRoutes(router, context, deps.newSecret ?? generateSecret);
  addOperationRoutes(router, context);
  addAlertRoutes(router, context);

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
