import * as z from 'zod';
import {
  ALERT_METRICS,
  alertRuleSchema,
  alertRuleUpdateSchema,
  CHANNELS,
  COMPARISONS,
} from '../alerts/rules';
import { PRIORITIES, PROVIDER_NAMES } from '../envelope';
import { ALERT_PROVIDERS, alertQuerySchema } from './alerts';
import { EVENT_STATUSES, eventQuerySchema } from './events';
import { ledgerQuerySchema } from './ledger';
import { metricsQuerySchema } from './metrics';
import { redriveSchema, registerSchema, updateSchema } from './schemas';
import { statusQuerySchema } from './status';

/*
 * The response shapes, as zod schemas: they document the API here, and the handler tests parse
 * real responses with them, so the document cannot drift from what the API returns.
 */
const nullable = <T extends z.ZodType>(schema: T) => schema.nullable();

export const errorBodySchema = z.object({
  success: z.literal(false),
  error: z.object({
    code: z.string(),
    message: z.string(),
    /** Validation errors only: one message per field path. */
    fields: z.record(z.string(), z.string()).optional(),
  }),
});

export const webhookConfigSchema = z.object({
  id: z.uuid(),
  provider: z.enum(PROVIDER_NAMES),
  events: z.array(z.string()),
  webhook_url: z.url(),
  /** Only in the responses that create it: registration and rotation. */
  secret: z.string().optional(),
  rate_limit: z.int(),
  timeout_ms: z.int(),
  retry_attempts: z.int(),
  ip_whitelist: z.array(z.string()),
  active: z.boolean(),
  registration_status: z.enum(['pending', 'manual', 'registered', 'failed']),
  external_webhook_id: nullable(z.string()),
  registration_error: nullable(z.string()),
  registration_instructions: nullable(z.string()),
  /** The provider account (shop, portal, org) the config takes deliveries from; null until learned. */
  source_account: nullable(z.string()),
  previous_secret_expires_at: z.iso.datetime().optional(),
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
});

export const webhookEventSchema = z.object({
  id: z.string(),
  /** A user's id, or `system` for the provider-wide endpoints. */
  owner_id: z.string(),
  provider: nullable(z.string()),
  event_type: nullable(z.string()),
  object_type: nullable(z.string()),
  object_id: nullable(z.string()),
  delivery_id: nullable(z.string()),
  config_id: nullable(z.string()),
  status: z.enum(EVENT_STATUSES),
  attempts: z.int(),
  priority: nullable(z.string()),
  outcome: nullable(z.enum(['applied', 'stale', 'ignored'])),
  error_category: nullable(z.string()),
  error_message: nullable(z.string()),
  occurred_at: nullable(z.string()),
  received_at: nullable(z.string()),
  last_attempt_at: nullable(z.string()),
  processed_at: nullable(z.string()),
  processing_time_ms: nullable(z.number()),
  payload_bytes: nullable(z.int()),
  replay_count: z.int(),
  /** Attempts that failed by the delivery's own fault (its retry_attempts count these), and by a dependency's. */
  failed_attempts: z.int(),
  dependency_failures: z.int(),
  /** Times ingest accepted it: every one after the first is a provider's redelivery (a duplicate). */
  receipts: z.int(),
});

export const webhookEventDetailSchema = webhookEventSchema.extend({
  /** The signature header's value (a bearer token's signature part only); not a secret. */
  signature: nullable(z.string()),
  source_ip: nullable(z.string()),
  user_agent: nullable(z.string()),
  meta: z.record(z.string(), z.string()),
  replayed_at: nullable(z.string()),
  /** A quarantined delivery released by a replay: when, and into how many deliveries. */
  released_at: nullable(z.string()),
  released_events: nullable(z.int()),
  payload_storage: z.enum(['log', 's3', 'none']),
  payload: z.unknown(),
});

const statisticsSchema = z.object({
  total_events: z.int(),
  successful_events: z.int(),
  failed_events: z.int(),
  success_rate: z.number(),
  average_processing_time_ms: z.number(),
});

export const statusResponseSchema = z.strictObject({
  success: z.literal(true),
  webhooks: z.array(
    z.strictObject({
      /** A config's id, or the provider's name for its provider-wide endpoint. */
      id: z.string(),
      provider: z.enum(PROVIDER_NAMES),
      /** The config's user, or `system` for a provider-wide endpoint. */
      owner_id: z.string(),
      health_status: z.enum(['healthy', 'degraded', 'unhealthy']),
      statistics: statisticsSchema.strict(),
    }),
  ),
  overall_stats: z.strictObject({
    total_webhooks: z.int(),
    active_webhooks: z.int(),
    success_rate: z.number(),
    average_processing_time_ms: z.number(),
  }),
});

const redriveTaskSchema = z.object({
  priority: z.enum(PRIORITIES),
  task_handle: z.string().optional(),
  status: z.enum(['RUNNING', 'COMPLETED', 'CANCELLING', 'CANCELLED', 'FAILED']),
  messages_moved: z.int(),
  messages_to_move: z.int().optional(),
  failure_reason: z.string().optional(),
  started_at: z.string().optional(),
});

export const publicAlertRuleSchema = z.strictObject({
  id: z.uuid(),
  name: z.string(),
  provider: nullable(z.enum(PROVIDER_NAMES)),
  metric: z.enum(ALERT_METRICS),
  threshold: z.number(),
  comparison: z.enum(COMPARISONS),
  time_window_minutes: z.int(),
  notification_channels: z.array(z.enum(CHANNELS)),
  enabled: z.boolean(),
  /** The operator who created the rule (rules are the on-call team's). */
  created_by: nullable(z.string()),
  created_at: z.iso.datetime(),
});

export const publicAlertSchema = z.strictObject({
  id: z.uuid(),
  rule_id: nullable(z.uuid()),
  provider: z.enum(ALERT_PROVIDERS),
  metric: z.string(),
  current_value: z.number(),
  threshold: z.number(),
  severity: z.enum(['warning', 'critical']),
  message: z.string(),
  acknowledged: z.boolean(),
  acknowledged_by: nullable(z.string()),
  acknowledged_at: nullable(z.iso.datetime()),
  created_at: z.iso.datetime(),
});

const ok = <T extends z.ZodRawShape>(shape: T) => z.object({ success: z.literal(true), ...shape });

export const metricsRowSchema = z.strictObject({
  provider: z.enum(PROVIDER_NAMES),
  /** Whose figures: an owner, or null for every owner together (operators). */
  owner_id: nullable(z.string()),
  /** The minute the row covers (its start). */
  minute: z.iso.datetime(),
  total_events: z.int(),
  successful_events: z.int(),
  failed_events: z.int(),
  success_rate: z.number(),
  average_processing_time: z.int(),
  events_per_minute: z.number(),
  error_rate: z.number(),
  last_event_at: z.iso.datetime(),
});

export const responseSchemas = {
  me: ok({ user_id: z.string(), operator: z.boolean() }),
  metrics: ok({ metrics: z.array(metricsRowSchema) }),
  config: ok({ webhook: webhookConfigSchema }),
  configs: ok({ webhooks: z.array(webhookConfigSchema) }),
  status: statusResponseSchema,
  events: ok({ events: z.array(webhookEventSchema), next_cursor: z.string().nullable() }),
  event: ok({ event: webhookEventDetailSchema }),
  replay: ok({
    replay: z.object({
      replay_id: z.string(),
      event_id: z.string(),
      status: z.literal('queued'),
      requested_at: z.iso.datetime(),
      /** A quarantined delivery: how many deliveries its request was parsed into and enqueued as. */
      released_events: z.int().optional(),
    }),
  }),
  ledger: z.strictObject({
    success: z.literal(true),
    /** The owner the ledger covers; null: every owner (operators). */
    owner: nullable(z.string()),
    since: z.iso.datetime(),
    until: z.iso.datetime(),
    /** Acceptances by ingest of deliveries first received in the window, redeliveries included. */
    received: z.int(),
    processed: z.int(),
    /** Redeliveries of a delivery already received (the event log applies it once). */
    duplicate: z.int(),
    quarantined: z.int(),
    dead: z.int(),
    /** Received, failed or waiting for a retry: not ended yet. */
    in_flight: z.int(),
    processed_outcomes: z.strictObject({ applied: z.int(), stale: z.int(), ignored: z.int() }),
    /** received = processed + duplicate + quarantined + dead + in_flight. */
    balanced: z.boolean(),
    /** Entries without a receipt (logged before receipts were kept, or not enqueued by ingest). */
    unreceipted: z.int(),
    oldest_in_flight_at: nullable(z.string()),
  }),
  dlq: ok({
    queues: z.array(
      z.object({
        priority: z.enum(PRIORITIES),
        queue_depth: z.int(),
        queue_in_flight: z.int(),
        dlq_depth: z.int(),
        tasks: z.array(redriveTaskSchema),
      }),
    ),
  }),
  redrive: ok({ task: redriveTaskSchema }),
  alertRule: ok({ rule: publicAlertRuleSchema }),
  alertRules: ok({ rules: z.array(publicAlertRuleSchema) }),
  alerts: ok({ alerts: z.array(publicAlertSchema) }),
  alert: ok({ alert: publicAlertSchema }),
};

interface Operation {
  summary: string;
  query?: z.ZodType;
  body?: z.ZodType;
  /** Status code -> [description, schema]. */
  responses: Record<number, [string, z.ZodType | undefined]>;
  public?: boolean;
  pathParams?: string[];
}

const errors = (...codes: number[]): Record<number, [string, z.ZodType]> => {
  const text: Record<number, string> = {
    400: 'Invalid request (fields name the problems)',
    401: 'Missing or invalid bearer token',
    403: 'Not allowed',
    404: 'Not found, or not yours',
    409: 'Conflict',
    503: 'Could not enqueue, retry later',
  };
  return Object.fromEntries(codes.map((code) => [code, [text[code] ?? 'Error', errorBodySchema]]));
};

const OPERATIONS: Record<string, Record<string, Operation>> = {
  '/api/webhooks/openapi.json': {
    get: { summary: 'This document', public: true, responses: { 200: ['OpenAPI 3.1 document', undefined] } },
  },
  '/api/webhooks/me': {
    get: {
      summary: 'Who the token speaks for, and whether they are an operator (who sees every owner)',
      responses: { 200: ['OK', responseSchemas.me], ...errors(401) },
    },
  },
  '/api/webhooks/register': {
    post: {
      summary: 'Register a webhook config; returns its endpoint and secret (shown once)',
      body: registerSchema,
      responses: { 201: ['Created', responseSchemas.config], ...errors(400, 401) },
    },
  },
  '/api/webhooks/configs': {
    get: {
      summary: "The caller's webhook configs",
      responses: { 200: ['OK', responseSchemas.configs], ...errors(401) },
    },
  },
  '/api/webhooks/configs/{id}': {
    get: {
      summary: 'One config',
      pathParams: ['id'],
      responses: { 200: ['OK', responseSchemas.config], ...errors(401, 404) },
    },
    patch: {
      summary: 'Change a config',
      pathParams: ['id'],
      body: updateSchema,
      responses: { 200: ['OK', responseSchemas.config], ...errors(400, 401, 404) },
    },
    delete: {
      summary: 'Delete a config (and its subscription at the provider)',
      pathParams: ['id'],
      responses: { 204: ['Deleted', undefined], ...errors(401, 404) },
    },
  },
  '/api/webhooks/configs/{id}/rotate-secret': {
    post: {
      summary: 'New secret; the previous one stays valid for the grace period',
      pathParams: ['id'],
      responses: { 200: ['OK', responseSchemas.config], ...errors(401, 404, 409) },
    },
  },
  '/api/webhooks/metrics': {
    get: {
      summary:
        "The minute history (webhook_metrics): the caller's figures per provider and minute; operators every owner's together, or owner=",
      query: metricsQuerySchema,
      responses: { 200: ['OK', responseSchemas.metrics], ...errors(400, 401, 403) },
    },
  },
  '/api/webhooks/status': {
    get: {
      summary: 'Health and statistics per webhook (cached about 60 s)',
      query: statusQuerySchema,
      responses: { 200: ['OK', responseSchemas.status], ...errors(400, 401) },
    },
  },
  '/api/webhooks/events': {
    get: {
      summary: "The caller's deliveries, newest first, with cursor pagination",
      query: eventQuerySchema,
      responses: { 200: ['OK', responseSchemas.events], ...errors(400, 401) },
    },
  },
  '/api/webhooks/events/{id}': {
    get: {
      summary: 'One delivery with its payload',
      pathParams: ['id'],
      responses: { 200: ['OK', responseSchemas.event], ...errors(401, 404) },
    },
  },
  '/api/webhooks/events/{id}/replay': {
    post: {
      summary:
        'Enqueue the stored delivery again (effects stay idempotent); a quarantined one is parsed again and released',
      pathParams: ['id'],
      responses: { 202: ['Queued', responseSchemas.replay], ...errors(401, 404, 409, 503) },
    },
  },
  '/api/webhooks/ledger': {
    get: {
      summary:
        'How the deliveries received in a window ended: received = processed + duplicate + quarantined + dead + in_flight',
      query: ledgerQuerySchema,
      responses: { 200: ['OK', responseSchemas.ledger], ...errors(400, 401, 403) },
    },
  },
  '/api/webhooks/dlq': {
    get: {
      summary: 'DLQ depth and redrive tasks per priority (operators)',
      responses: { 200: ['OK', responseSchemas.dlq], ...errors(401, 403) },
    },
  },
  '/api/webhooks/dlq/redrive': {
    post: {
      summary: "Move one priority's dead letters back to its queue (operators)",
      body: redriveSchema,
      responses: { 202: ['Started', responseSchemas.redrive], ...errors(400, 401, 403, 409) },
    },
  },
  '/api/webhooks/alert-rules': {
    post: {
      summary: 'Create an alert rule; it becomes a CloudWatch alarm within moments',
      body: alertRuleSchema,
      responses: { 201: ['Created', responseSchemas.alertRule], ...errors(400, 401) },
    },
    get: {
      summary: "The caller's alert rules",
      responses: { 200: ['OK', responseSchemas.alertRules], ...errors(401) },
    },
  },
  '/api/webhooks/alert-rules/{id}': {
    get: {
      summary: 'One alert rule',
      pathParams: ['id'],
      responses: { 200: ['OK', responseSchemas.alertRule], ...errors(401, 404) },
    },
    patch: {
      summary: 'Change an alert rule (`enabled: false` pauses it)',
      pathParams: ['id'],
      body: alertRuleUpdateSchema,
      responses: { 200: ['OK', responseSchemas.alertRule], ...errors(400, 401, 404) },
    },
    delete: {
      summary: 'Delete an alert rule and its alarm (its alerts are kept)',
      pathParams: ['id'],
      responses: { 204: ['Deleted', undefined], ...errors(401, 404) },
    },
  },
  '/api/webhooks/alerts': {
    get: {
      summary: "The caller's alerts, newest first (operators also see the ops alarms' alerts)",
      query: alertQuerySchema,
      responses: { 200: ['OK', responseSchemas.alerts], ...errors(400, 401) },
    },
  },
  '/api/webhooks/alerts/{id}/acknowledge': {
    post: {
      summary: 'Acknowledge an alert (records who and when; acknowledging again changes nothing)',
      pathParams: ['id'],
      responses: { 200: ['OK', responseSchemas.alert], ...errors(401, 404) },
    },
  },
};

let cached: { baseUrl: string; document: unknown } | undefined;

/** The management API as OpenAPI 3.1, generated from the same zod schemas that validate it. */
export function openApiDocument(baseUrl: string): unknown {
  if (cached?.baseUrl === baseUrl) return cached.document;
  const json = (schema: z.ZodType, io: 'input' | 'output') =>
    z.toJSONSchema(schema, { io, unrepresentable: 'any' });
  const paths: Record<string, unknown> = {};
  for (const [path, methods] of Object.entries(OPERATIONS)) {
    paths[path] = Object.fromEntries(
      Object.entries(methods).map(([method, op]) => {
        const parameters = [
          ...(op.pathParams ?? []).map((name) => ({
            name,
            in: 'path',
            required: true,
            schema: { type: 'string' },
          })),
          ...queryParameters(op.query, json),
        ];
        return [
          method,
          {
            summary: op.summary,
            ...(op.public ? { security: [] } : {}),
            ...(parameters.length > 0 ? { parameters } : {}),
            ...(op.body
              ? {
                  requestBody: {
                    required: true,
                    content: { 'application/json': { schema: json(op.body, 'input') } },
                  },
                }
              : {}),
            responses: Object.fromEntries(
              Object.entries(op.responses).map(([code, [description, schema]]) => [
                code,
                {
                  description,
                  ...(schema ? { content: { 'application/json': { schema: json(schema, 'output') } } } : {}),
                },
              ]),
            ),
          },
        ];
      }),
    );
  }
  const document = {
    openapi: '3.1.0',
    info: { title: 'Webhook management API', version: '1.0.0' },
    servers: [{ url: baseUrl.replace(/\/+$/, '') }],
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    security: [{ bearer: [] }],
    paths,
  };
  cached = { baseUrl, document };
  return document;
}

/** Each property of a query schema as one `in: query` parameter. */
function queryParameters(
  schema: z.ZodType | undefined,
  json: (schema: z.ZodType, io: 'input' | 'output') => Record<string, unknown>,
) {
  if (!schema) return [];
  const object = json(schema, 'input') as { properties?: Record<string, unknown>; required?: string[] };
  return Object.entries(object.properties ?? {}).map(([name, property]) => ({
    name,
    in: 'query',
    required: object.required?.includes(name) ?? false,
    schema: property,
  }));
}
