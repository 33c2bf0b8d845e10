import * as z from 'zod';
import { PROVIDER_NAMES } from '../shared/envelope';

/*
 * Workflows: which domain events (docs/domain-events.md) reach which target. The stack turns each
 * into an EventBridge rule on the domain event bus (lib/constructs/workflow-targets.ts); the local
 * stack's EventBridge stand-in delivers to the HTTP ones (local/workflows.ts). No CDK import: the
 * local stack loads it.
 */

/** One value or a non-empty list of them, always read as a list. */
function oneOrMore<T extends z.ZodType>(item: T) {
  return z
    .union([item, z.array(item).min(1)])
    .transform((value) => (Array.isArray(value) ? value : [value]) as z.output<T>[]);
}

export const workflowMatchSchema = z
  .object({
    /** The provider(s) whose events match; every provider when absent. */
    provider: oneOrMore(z.enum(PROVIDER_NAMES)).optional(),
    /** The provider's event type, exact (`orders/create`) or a prefix ending in `*` (`orders/*`). */
    eventType: oneOrMore(
      z.string().regex(/^[^*\s]+\*?$/, 'an event type, or a prefix ending in * (e.g. orders/*)'),
    ).optional(),
    /** The normalized change: `created`, `updated`, `deleted`, `paid`, `stage_changed`... */
    changeType: oneOrMore(z.string().regex(/^[a-z][a-z0-9_]*$/, 'a change type in snake_case')).optional(),
  })
  .strict()
  .prefault({});

export type WorkflowMatch = z.output<typeof workflowMatchSchema>;

/** EventBridge's retry policy of a target; what still fails then goes to the workflow's DLQ. */
export const workflowRetrySchema = z
  .object({
    /** Retries after the first attempt (EventBridge allows 0 to 185). */
    maximumRetryAttempts: z.number().int().min(0).max(185).default(8),
    /** How long an undelivered event keeps being retried (60 s to 24 h). */
    maximumEventAgeSeconds: z.number().int().min(60).max(86_400).default(3600),
  })
  .strict()
  .prefault({});

export type WorkflowRetry = z.output<typeof workflowRetrySchema>;

/** A Secrets Manager secret name (letters, digits and /_+=.@-). */
const secretName = z.string().regex(/^[A-Za-z0-9/_+=.@-]{1,512}$/, 'must be a Secrets Manager secret name');

/**
 * The credentials of an HTTPS target, held by its EventBridge connection. The secret (an existing
 * Secrets Manager secret, a plain string) holds the API key or the password; CloudFormation reads it
 * at deploy time, so it never appears in the template.
 */
const authorizationSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('apiKey'),
      headerName: z.string().regex(/^[A-Za-z0-9-]{1,100}$/, 'must be an HTTP header name'),
      secretName,
    })
    .strict(),
  z.object({ type: z.literal('basic'), username: z.string().min(1).max(512), secretName }).strict(),
]);

const arn = (service: string, resource: string) =>
  new RegExp(`^arn:aws[a-z-]*:${service}:[a-z0-9-]+:\\d{12}:${resource}$`);

function targetSchema(endpoint: z.ZodType<string>) {
  return z.discriminatedUnion('type', [
    z
      .object({
        /** An HTTPS endpoint, called through an EventBridge API destination. */
        type: z.literal('https'),
        endpoint,
        method: z.enum(['POST', 'PUT', 'PATCH']).default('POST'),
        authorization: authorizationSchema,
        /** The API destination's invocation rate (EventBridge's default is 300). */
        rateLimitPerSecond: z.number().int().min(1).max(300).default(300),
      })
      .strict(),
    z
      .object({
        type: z.literal('sqs'),
        queueArn: z.string().regex(arn('sqs', '[A-Za-z0-9_-]{1,80}(?:\\.fifo)?'), 'must be an SQS queue ARN'),
        /** A FIFO queue's message group (EventBridge sets one static group per target). */
        messageGroupId: z
          .string()
          .regex(/^[\x21-\x7e]{1,128}$/)
          .optional(),
      })
      .strict()
      .refine((target) => !target.queueArn.endsWith('.fifo') || target.messageGroupId !== undefined, {
        message: 'a FIFO queue needs a messageGroupId',
        path: ['messageGroupId'],
      }),
    z
      .object({
        type: z.literal('lambda'),
        functionArn: z
          .string()
          .regex(
            arn('lambda', 'function:[A-Za-z0-9_-]{1,64}(?::[A-Za-z0-9$_-]+)?'),
            'must be a Lambda function ARN',
          ),
      })
      .strict(),
    z
      .object({
        type: z.literal('stepFunctions'),
        stateMachineArn: z
          .string()
          .regex(
            arn('states', 'stateMachine:[A-Za-z0-9_-]{1,80}'),
            'must be a Step Functions state machine ARN',
          ),
      })
      .strict(),
  ]);
}

function workflowSchema(endpoint: z.ZodType<string>) {
  return z
    .object({
      /** Names the rule, the DLQ and the alarms: letters, digits and `-`. */
      name: z
        .string()
        .regex(
          /^[A-Za-z][A-Za-z0-9-]{0,39}$/,
          'letters, digits and "-" (at most 40), starting with a letter',
        ),
      description: z.string().max(256).optional(),
      match: workflowMatchSchema,
      target: targetSchema(endpoint),
      retry: workflowRetrySchema,
    })
    .strict();
}

function workflowListSchema(endpoint: z.ZodType<string>) {
  return z
    .array(workflowSchema(endpoint))
    .max(50)
    .refine((list) => new Set(list.map((w) => w.name.toLowerCase())).size === list.length, {
      message: 'must not repeat a workflow name',
    })
    .default([]);
}

/** The stack's workflows (config `workflows`): API destinations only call HTTPS. */
export const workflowsSchema = workflowListSchema(
  z.url({ protocol: /^https$/, error: 'must be an https URL (API destinations call HTTPS only)' }),
);

/**
 * The local stack's workflows (local/workflows.ts): the same entries, where an HTTP target may also
 * be plain http (a receiver on this machine), plus stand-in values of the connections' secrets.
 */
export const localWorkflowsSchema = z
  .object({
    workflows: workflowListSchema(z.url({ protocol: /^https?$/, error: 'must be an http or https URL' })),
    /** Secret name -> value, standing in for Secrets Manager. */
    secrets: z.record(z.string(), z.string()).default({}),
  })
  .strict();

export type Workflow = z.output<typeof workflowsSchema>[number];
export type WorkflowTarget = Workflow['target'];
export type LocalWorkflows = z.output<typeof localWorkflowsSchema>;

/** A value list of an EventBridge pattern: exact strings, or `{prefix}`. */
export type PatternValues = (string | { prefix: string })[];

export interface WorkflowEventPattern {
  source: PatternValues;
  detail?: Record<string, PatternValues>;
}

/** Every domain event's `source` starts with this, followed by the provider (`webhooks.shopify`). */
export const DOMAIN_EVENT_SOURCE_PREFIX = 'webhooks.';

/**
 * The EventBridge event pattern of a match: fields are ANDed, the values of one field ORed; an
 * event type ending in `*` is a prefix.
 */
export function workflowEventPattern(match: WorkflowMatch): WorkflowEventPattern {
  const detail: Record<string, PatternValues> = {};
  if (match.eventType)
    detail.eventType = match.eventType.map((type) =>
      type.endsWith('*') ? { prefix: type.slice(0, -1) } : type,
    );
  if (match.changeType) detail.changeType = [...match.changeType];
  return {
    source: match.provider
      ? match.provider.map((provider) => `${DOMAIN_EVENT_SOURCE_PREFIX}${provider}`)
      : [{ prefix: DOMAIN_EVENT_SOURCE_PREFIX }],
    ...(Object.keys(detail).length > 0 && { detail }),
  };
}
