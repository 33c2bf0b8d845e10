import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { z } from 'zod';
import { PRIORITIES, PROVIDER_NAMES, type Priority } from '../shared/envelope';

/**
 * Typed stack configuration: read once from CDK context (`-c webhooks='{...}'` or the `webhooks`
 * key in cdk.json), validated here, then passed down as props. Constructs never read context or
 * the environment themselves.
 */

const RETENTION_DAYS = new Set<number>(
  Object.values(RetentionDays).filter((value): value is number => typeof value === 'number'),
);

const logRetentionDays = z
  .number()
  .int()
  .refine((days) => RETENTION_DAYS.has(days) && days !== RetentionDays.INFINITE, {
    message: `must be one of CloudWatch Logs' retention periods: ${[...RETENTION_DAYS].filter((d) => d > 0).join(', ')}`,
  });

/** Multiples of 0.5 ACU, as Aurora Serverless v2 requires. */
const acu = z
  .number()
  .min(0)
  .max(256)
  .refine((value) => Number.isInteger(value * 2), { message: 'must be a multiple of 0.5 ACU' });

function processorSchema(defaults: { batchSize: number; maxConcurrency: number; timeoutSeconds: number }) {
  return z
    .object({
      /** Messages per invocation; SQS FIFO event sources accept at most 10 (and no batching window). */
      batchSize: z.number().int().min(1).max(10).default(defaults.batchSize),
      /** Upper bound of concurrent invocations the event source starts (SQS allows 2 to 1000). */
      maxConcurrency: z.number().int().min(2).max(1000).default(defaults.maxConcurrency),
      timeoutSeconds: z.number().int().min(1).max(900).default(defaults.timeoutSeconds),
    })
    .strict()
    .prefault({});
}

export const configSchema = z
  .object({
    /** API Gateway stage name of both APIs; it appears in every public URL. */
    stage: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, "-" and "_" only')
      .default('prod'),
    /** What happens to data-bearing resources (tables, database, user pool, secrets, logs) on stack deletion. */
    removalPolicy: z.enum(['retain', 'destroy']).default('retain'),
    /** Retention of every Lambda, API access and VPC flow log group. */
    logRetentionDays: logRetentionDays.default(30),
    /** TTL of the event log entries, written by the processors (expiresAt). */
    eventLogRetentionDays: z.number().int().min(1).max(3650).default(30),
    /** Providers that get a public webhook route, an ingest Lambda and a signing secret. */
    providers: z
      .array(z.enum(PROVIDER_NAMES))
      .min(1)
      .refine((list) => new Set(list).size === list.length, { message: 'must not repeat a provider' })
      .default(['shopify']),
    lambda: z
      .object({
        memorySize: z.number().int().min(128).max(10_240).default(512),
        /** X-Ray active tracing on every function. */
        tracing: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    api: z
      .object({
        /** Stage-wide steady-state limit (requests per second) of the webhook REST API. */
        throttlingRateLimit: z.number().int().min(1).default(100),
        throttlingBurstLimit: z.number().int().min(1).default(200),
        /** X-Ray tracing on the REST API stage. */
        tracing: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    queues: z
      .object({
        /** Receives before SQS moves a message to its priority's DLQ. */
        maxReceiveCount: z.number().int().min(1).max(1000).default(5),
        /** How long an unprocessed message stays in a main queue (DLQs keep 14 days). */
        retentionDays: z.number().int().min(1).max(14).default(4),
      })
      .strict()
      .prefault({}),
    processors: z
      .object({
        high: processorSchema({ batchSize: 5, maxConcurrency: 20, timeoutSeconds: 30 }),
        medium: processorSchema({ batchSize: 10, maxConcurrency: 10, timeoutSeconds: 30 }),
        low: processorSchema({ batchSize: 10, maxConcurrency: 2, timeoutSeconds: 60 }),
      })
      .strict()
      .prefault({}),
    database: z
      .object({
        name: z
          .string()
          .regex(/^[a-z][a-z0-9_]{0,62}$/)
          .default('webhooks'),
        /** 0 lets the writer auto-pause when idle (Aurora PostgreSQL 16.3+). */
        minCapacity: acu.default(0.5),
        maxCapacity: acu.min(1).default(4),
        /** Idle time before an auto-pause; only with minCapacity 0. */
        autoPauseMinutes: z.number().int().min(5).max(1440).optional(),
        deletionProtection: z.boolean().default(true),
        backupRetentionDays: z.number().int().min(1).max(35).default(7),
      })
      .strict()
      .prefault({})
      .refine((db) => db.maxCapacity >= db.minCapacity, {
        message: 'maxCapacity must not be below minCapacity',
        path: ['maxCapacity'],
      })
      .refine((db) => db.autoPauseMinutes === undefined || db.minCapacity === 0, {
        message: 'autoPauseMinutes requires minCapacity 0',
        path: ['autoPauseMinutes'],
      }),
  })
  .strict();

export type WebhooksConfig = z.infer<typeof configSchema>;
export type WebhooksConfigInput = z.input<typeof configSchema>;
export type ProcessorConfig = WebhooksConfig['processors'][Priority];

export { PRIORITIES, type Priority };

/** The CDK context key holding the configuration object (or its JSON text when given with -c). */
export const CONFIG_CONTEXT_KEY = 'webhooks';

/** Validates a raw configuration, with a message naming every offending field. */
export function parseConfig(raw: unknown): WebhooksConfig {
  const text = typeof raw === 'string' ? parseJson(raw) : raw;
  const result = configSchema.safeParse(text ?? {});
  if (!result.success) {
    throw new Error(`Invalid "${CONFIG_CONTEXT_KEY}" configuration:\n${z.prettifyError(result.error)}`);
  }
  return result.data;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(
      `The "${CONFIG_CONTEXT_KEY}" context value is not valid JSON: ${(error as Error).message}`,
    );
  }
}
