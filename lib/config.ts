import { createPublicKey } from 'node:crypto';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import ipaddr from 'ipaddr.js';
import * as z from 'zod';
import { alertRuleSchema } from '../shared/alerts/rules';
import { PRIORITIES, PROVIDER_NAMES, type Priority, type ProviderName } from '../shared/envelope';
import {
  DEFAULT_RETRY,
  MAX_CONFIG_RETRY_ATTEMPTS,
  retrySpanMs,
  retryWindowMs,
} from '../shared/process/retry-schedule';
import { DEFAULT_MAX_TOKEN_LIFETIME_SECONDS } from '../shared/providers/salesforce-limits';
import {
  CONFIG_RATE_LIMIT_PER_MINUTE_DEFAULT,
  IP_RATE_LIMIT_PER_MINUTE_DEFAULT,
  PROVIDER_RATE_LIMIT_PER_MINUTE_DEFAULTS,
  PROVIDER_THROTTLING_DEFAULTS,
  SOURCE_PATH_RATE_LIMIT_PER_MINUTE_DEFAULT,
} from './edge-limits';
import { PROCESSOR_DEFAULTS, visibilityTimeoutSeconds } from './processor-defaults';
import { workflowsSchema } from './workflows';

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

/** SQS's largest message (attributes included): a claim-check threshold above it could never be enqueued. */
export const SQS_MAX_MESSAGE_BYTES = 262_144;

/**
 * The longest a message can live in SQS: the dead-letter queues keep 14 days, counted from the
 * original enqueue. A claim-check object must outlive every pointer to it, or a redriven message
 * would point at nothing.
 */
const LONGEST_MESSAGE_AGE_DAYS = 14;

/** Lambda refuses more than 4 KB of environment variables per function; the overrides travel in one. */
const MAX_PRIORITY_OVERRIDES_CHARS = 2048;

/** The default alert rules travel to the alert recorder in one environment variable too. */
const MAX_DEFAULT_RULES_CHARS = 2048;

/** The longest visibility timeout SQS accepts (ChangeMessageVisibility included): 12 hours. */
export const SQS_MAX_VISIBILITY_MS = 43_200_000;

/** DynamoDB's largest item; an inline payload must leave room for the log entry's other attributes. */
const DYNAMODB_MAX_ITEM_BYTES = 409_600;
const EVENT_LOG_ENTRY_OVERHEAD_BYTES = 51_200;

/**
 * Whether the most attempts a delivery may be given (a config's largest `retry_attempts`, or the
 * system's, plus the first) fit both limits of its queue: the retry window before the retention
 * would expire it, and SQS's own redrive (maxReceiveCount), which would dead-letter it first.
 */
export function attemptsFitTheQueue(config: {
  processing: { retryBaseDelayMs: number; maxRetryDelayMs: number; retryAttempts: number };
  queues: { retentionDays: number; maxReceiveCount: number };
  processors: Record<Priority, { timeoutSeconds: number }>;
}): boolean {
  const attempts = Math.max(MAX_CONFIG_RETRY_ATTEMPTS, config.processing.retryAttempts) + 1;
  const schedule = {
    baseDelayMs: config.processing.retryBaseDelayMs,
    maxDelayMs: config.processing.maxRetryDelayMs,
  };
  const longestTimeout = Math.max(
    ...PRIORITIES.map((priority) => config.processors[priority].timeoutSeconds),
  );
  const window = retryWindowMs({
    retentionMs: config.queues.retentionDays * 86_400_000,
    schedule,
    visibilityTimeoutMs: visibilityTimeoutSeconds(longestTimeout) * 1000,
  });
  return attempts <= config.queues.maxReceiveCount && retrySpanMs(schedule, attempts - 1) < window;
}

/** Stage throttling of one provider's route (API Gateway method settings). */
function throttleSchema(defaults: { rateLimit: number; burstLimit: number }) {
  return z
    .object({
      /** Steady-state requests per second. */
      rateLimit: z.number().int().min(1).default(defaults.rateLimit),
      /** Requests API Gateway accepts at once above the steady rate. */
      burstLimit: z.number().int().min(1).default(defaults.burstLimit),
    })
    .strict()
    .prefault({});
}

/**
 * A CIDR block AWS WAF accepts in an IP set: any prefix but /0, and no host bits set (WAF refuses
 * `10.0.0.1/8`; the message names both readings of such a block).
 */
const wafCidr = z
  .union([z.cidrv4(), z.cidrv6()])
  .refine((cidr) => !cidr.endsWith('/0'), { message: 'AWS WAF IP sets do not accept /0' })
  .superRefine((cidr, ctx) => {
    const [address, prefix] = ipaddr.parseCIDR(cidr);
    const network = ipaddr.IPv4.isValid(address.toString())
      ? ipaddr.IPv4.networkAddressFromCIDR(cidr)
      : ipaddr.IPv6.networkAddressFromCIDR(cidr);
    if (network.toString() === address.toString()) return;
    const host = address.kind() === 'ipv4' ? 32 : 128;
    ctx.addIssue({
      code: 'custom',
      message: `"${cidr}" has host bits set, which AWS WAF refuses: write ${network.toString()}/${prefix} (the network) or ${address.toString()}/${host} (the one address)`,
    });
  });

/**
 * The WAF IP sets' and web ACL's description pattern: letters, digits, spaces and `+=:#@/-,.`
 * (no parentheses), 1 to 256 characters.
 */
export const WAF_DESCRIPTION = /^[\w+=:#@/\-,.][\w+=:#@/\-,.\s]+[\w+=:#@/\-,.]$/;

/** Stage names that keep their data on `cdk destroy` unless `removalPolicy` says otherwise. */
export const PRODUCTION_STAGES: readonly string[] = ['prod', 'production'];

/** Words a Cognito domain prefix must not contain. */
const COGNITO_RESERVED = /aws|amazon|cognito/i;

/** An AWS region code, e.g. eu-west-1, us-gov-west-1. */
const region = z
  .string()
  .regex(/^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$/, 'must be an AWS region code, e.g. eu-west-1');

/**
 * `provider:eventType` (exact) or a prefix ending in `*` (`hubspot:contact.*`), as the ingest
 * function's priority table reads them (shared/priority.ts).
 */
const PRIORITY_KEY = new RegExp(`^(?:${PROVIDER_NAMES.join('|')}):(?:[^*\\s]+\\*?|\\*)$`);

/** An RSA public key in PEM (SPKI, `-----BEGIN PUBLIC KEY-----`), as the Salesforce verifier imports it. */
const rsaPublicKeyPem = z
  .string()
  .regex(/^-----BEGIN PUBLIC KEY-----[\s\S]+-----END PUBLIC KEY-----\s*$/, 'must be a PEM "PUBLIC KEY" block')
  .refine(
    (pem) => {
      try {
        return createPublicKey(pem).asymmetricKeyType === 'rsa';
      } catch {
        return false;
      }
    },
    { message: 'must be a valid RSA public key' },
  );

/** E.164, as SNS SMS subscriptions take it. */
const smsNumber = z.string().regex(/^\+[1-9]\d{6,14}$/, 'must be an E.164 number (+ and 7 to 15 digits)');

/** A Secrets Manager secret name (letters, digits and /_+=.@-). */
const secretName = z.string().regex(/^[A-Za-z0-9/_+=.@-]{1,512}$/, 'must be a Secrets Manager secret name');

const unique = <T>(list: T[]) => new Set(list).size === list.length;

const alertingSchema = z
  .object({
    /** Email addresses subscribed to the email topic (each confirms the subscription once). */
    emails: z.array(z.email()).refine(unique, { message: 'must not repeat an address' }).default([]),
    /** Phone numbers (E.164) subscribed to the SMS topic. */
    smsNumbers: z.array(smsNumber).refine(unique, { message: 'must not repeat a number' }).default([]),
    /**
     * An existing Secrets Manager secret holding the Slack incoming-webhook URL. Absent: the stack
     * creates one with a placeholder for the operator to replace (output SlackWebhookSecretArn).
     */
    slackWebhookSecretName: secretName.optional(),
    /** HTTPS endpoints of the `webhook` channel: each gets an HMAC-signed JSON POST per alert. */
    webhookUrls: z
      .array(z.url({ protocol: /^https$/ }))
      .max(20)
      .refine(unique, { message: 'must not repeat a URL' })
      .default([]),
    /** AWS Chatbot posts the alarm topics to this Slack channel (the workspace is authorized once in the console). */
    chatbot: z
      .object({
        slackWorkspaceId: z
          .string()
          .regex(/^[A-Z0-9]{9,11}$/, 'must be a Slack workspace (team) id, e.g. T07EA123LEP'),
        slackChannelId: z.string().regex(/^[A-Z0-9]{9,11}$/, 'must be a Slack channel id, e.g. C07EZ1ABC23'),
      })
      .strict()
      .optional(),
    /**
     * Alert rules defined with the stack, in the body shape of `POST /api/webhooks/alert-rules`
     * (snake_case, same validation): each becomes the CDK-owned alarm `<stack>-default-<index>`
     * (disabled ones none), the same alarm the reconciler writes for a rule created through the API.
     */
    defaultRules: z
      .array(alertRuleSchema)
      .refine((rules) => JSON.stringify(rules).length <= MAX_DEFAULT_RULES_CHARS, {
        message: `must stay under ${MAX_DEFAULT_RULES_CHARS} characters of JSON (the recorder reads them from its environment, 4 KB per function)`,
      })
      .default([]),
    /** "Provider went silent": alarm after this many minutes without a processed event (0: off). */
    providerSilentMinutes: z
      .number()
      .int()
      .min(0)
      .max(1440)
      .refine((minutes) => minutes === 0 || minutes >= 5, { message: 'must be 0 (off) or at least 5' })
      .default(60),
    /** Alarm when the oldest message of a main queue is older than this. */
    queueAgeAlarmSeconds: z.number().int().min(60).max(1_209_600).default(900),
    /** Alarm when more than this percentage of the webhook REST API's requests answer 5xx over 5 minutes. */
    api5xxRatePercent: z.number().gt(0).max(100).default(5),
    /** Alarm when WAF blocks more requests than this in 5 minutes. */
    wafBlockedRequestsPer5Minutes: z.number().int().min(1).default(1000),
  })
  .strict()
  .prefault({});

export const configSchema = z
  .object({
    /**
     * API Gateway stage name of both APIs, and the stack's name (`Webhooks-<stage>`): each stage is a
     * stack of its own. Letters and digits only: "-" separates it in the stack name and in every
     * alarm name, where `Webhooks-prod-` must never be the start of another stage's names.
     */
    stage: z
      .string()
      .regex(/^[A-Za-z0-9]{1,24}$/, 'letters and digits only, at most 24 (it names the stack and its alarms)')
      .default('prod'),
    /**
     * The region to deploy to. Absent, the AWS CLI's region is used (AWS_REGION or the profile's,
     * which the CDK CLI passes as CDK_DEFAULT_REGION); `cdk synth` prints which one it took.
     */
    region: region.optional(),
    /**
     * What happens to data-bearing resources (tables, database, user pool, buckets, secrets, logs)
     * on `cdk destroy`. Default: `retain` for the stages prod and production, `destroy` for others.
     */
    removalPolicy: z.enum(['retain', 'destroy']).optional(),
    /** Operator sign-in (Cognito managed login). */
    auth: z
      .object({
        /**
         * Email of the first operator: the stack creates the user in the `operators` group and
         * Cognito emails a temporary password. Absent: create one with the command in the README.
         */
        firstOperatorEmail: z.email().optional(),
        /**
         * Prefix of the Cognito managed login domain (`<prefix>.auth.<region>.amazoncognito.com`),
         * unique in the region across all AWS accounts. Default: `webhooks-<stage>-<8 hex of the stack id>`.
         */
        domainPrefix: z
          .string()
          .regex(
            /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/,
            'lowercase letters, digits and "-" (not first or last), at most 63',
          )
          .refine((prefix) => !COGNITO_RESERVED.test(prefix), {
            message: 'must not contain aws, amazon or cognito (Cognito refuses such domains)',
          })
          .optional(),
        /**
         * Let the dashboard client sign in with USER_PASSWORD_AUTH (the password sent to Cognito as
         * is). Off: the page and the CLI use managed login (SRP and the authorization code).
         */
        allowPasswordAuth: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    /** Data-store settings that change an index: see README "Deploy", one index change per update. */
    storage: z
      .object({
        /**
         * Keep the configs table's old `byUser` index (projecting every attribute, ciphertexts
         * included) beside `byOwner`, which replaced it. DynamoDB changes one index per update: a
         * stack that has `byUser` adds `byOwner` first (this default) and drops `byUser` with
         * `false` in a later deploy; a new stack can start with `false`. No function may read it.
         */
        legacyConfigsIndex: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    /** Retention of every Lambda, API access and VPC flow log group. */
    logRetentionDays: logRetentionDays.default(30),
    /** TTL of the event log entries, written by the processors (expiresAt). */
    eventLogRetentionDays: z.number().int().min(1).max(3650).default(30),
    /**
     * How long claim-check objects (payloads too large for SQS) stay in the payload bucket. At least
     * the event log's retention (a log entry may point at its payload) and at least the 14 days a
     * dead-lettered message can wait for a redrive.
     */
    payloadRetentionDays: z.number().int().min(LONGEST_MESSAGE_AGE_DAYS).max(3650).default(30),
    /** How long `webhook_alerts` rows are kept (the hourly cleanup job deletes older ones). */
    alertRetentionDays: z.number().int().min(1).max(3650).default(90),
    /** How long `webhook_metrics` rows (one a minute per provider) are kept. */
    metricsRetentionDays: z.number().int().min(1).max(3650).default(30),
    /** Providers that get a public webhook route, an ingest Lambda and a signing secret. */
    providers: z
      .array(z.enum(PROVIDER_NAMES))
      .min(1)
      .refine((list) => new Set(list).size === list.length, { message: 'must not repeat a provider' })
      .default([...PROVIDER_NAMES]),
    /**
     * Priority overrides on top of the defaults of shared/priority.ts, passed to every ingest
     * function as PRIORITY_OVERRIDES: `{"shopify:orders/updated": "high", "hubspot:contact.*": "low"}`.
     */
    priorities: z
      .record(z.string(), z.enum(PRIORITIES))
      .superRefine((table, ctx) => {
        for (const key of Object.keys(table)) {
          if (PRIORITY_KEY.test(key)) continue;
          ctx.addIssue({
            code: 'custom',
            path: [key],
            message: `"${key}": keys are provider:eventType, or a prefix ending in * (e.g. shopify:orders/*)`,
          });
        }
      })
      .refine((table) => JSON.stringify(table).length <= MAX_PRIORITY_OVERRIDES_CHARS, {
        message: `must stay under ${MAX_PRIORITY_OVERRIDES_CHARS} characters of JSON (Lambda allows 4 KB of environment per function)`,
      })
      .default({}),
    ingest: z
      .object({
        /**
         * Largest body an ingest function accepts (413 above). Lambda takes at most 6 MB of
         * synchronous payload and API Gateway base64-encodes every body, so 4 MiB is about the top.
         */
        maxBodyBytes: z
          .number()
          .int()
          .min(1024)
          .max(4_718_592)
          .default(4 * 1024 * 1024),
        /** Envelopes above this size go to the payload bucket and travel as a pointer (claim check). */
        claimCheckBytes: z
          .number()
          .int()
          .min(1024)
          .max(SQS_MAX_MESSAGE_BYTES, `must fit one SQS message (${SQS_MAX_MESSAGE_BYTES} bytes)`)
          .default(192 * 1024),
        /**
         * The most events one request may carry, after fan-out (a HubSpot batch, a Salesforce change
         * event naming many records): 413 above. Also the ceiling of each config's max_events_per_request.
         */
        maxEventsPerRequest: z.number().int().min(1).max(10_000).default(1000),
      })
      .strict()
      .prefault({}),
    hubspot: z
      .object({
        /**
         * Accept v1/v2 signatures (apps created before v3) besides v3. Off: they carry no timestamp,
         * so a captured delivery could be replayed for ever (the local stack accepts them).
         */
        acceptLegacySignatures: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    salesforce: z
      .object({
        /** RSA public key (PEM) of the org's certificate, for RS256-signed bearer tokens. */
        publicKeyPem: rsaPublicKeyPem.optional(),
        /** Expected `aud` of the bearer tokens. */
        audience: z.string().min(1).max(512).optional(),
        /** The Salesforce org (15 or 18 characters, `00D...`) whose events are accepted. */
        orgId: z
          .string()
          .regex(/^00D[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?$/, 'must be a 15- or 18-character org id (00D...)')
          .optional(),
        /**
         * Take Outbound Messages on the provider-wide endpoint: only from `orgId`, and only with the
         * endpoint token derived from the Salesforce secret (README "Security"). Off by default.
         */
        acceptOutboundMessages: z.boolean().default(false),
        /** The longest a bearer token may be valid (`exp - iat`), in seconds. */
        maxTokenLifetimeSeconds: z
          .number()
          .int()
          .min(30)
          .max(3600)
          .default(DEFAULT_MAX_TOKEN_LIFETIME_SECONDS),
      })
      .strict()
      .prefault({})
      .refine((salesforce) => !salesforce.acceptOutboundMessages || salesforce.orgId !== undefined, {
        message: 'acceptOutboundMessages needs orgId: an Outbound Message is taken from that org only',
        path: ['acceptOutboundMessages'],
      }),
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
        /**
         * Create the role API Gateway writes execution and access logs with, and set it on the
         * account (AWS::ApiGateway::Account). It is one setting per account and region: turn this
         * off when another stack already manages it.
         */
        createCloudWatchRole: z.boolean().default(true),
        /**
         * Stage limits of the dashboard WebSocket API (messages from dashboards, per second): a
         * dashboard sends a handful of subscribe and ping messages, so a flood is never legitimate.
         */
        webSocketThrottling: throttleSchema({ rateLimit: 50, burstLimit: 100 }),
        /** Per-provider limits of `/api/webhooks/{provider}`, overriding the stage-wide ones. */
        providerThrottling: z
          .object({
            hubspot: throttleSchema(PROVIDER_THROTTLING_DEFAULTS.hubspot),
            shopify: throttleSchema(PROVIDER_THROTTLING_DEFAULTS.shopify),
            salesforce: throttleSchema(PROVIDER_THROTTLING_DEFAULTS.salesforce),
          } satisfies Record<ProviderName, unknown>)
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    waf: z
      .object({
        /**
         * Requests one IP address may send per 60 s before WAF answers 429. High on purpose:
         * providers deliver bursts (bulk imports, flash sales) from a handful of egress IPs, so a
         * low per-IP limit would throttle the legitimate sender; it stops floods from single hosts.
         */
        ipRateLimitPerMinute: z
          .number()
          .int()
          .min(10)
          .max(2_000_000_000)
          .default(IP_RATE_LIMIT_PER_MINUTE_DEFAULT),
        /**
         * Requests one IP address may send to one webhook path per 60 s (429 above): far below a
         * provider route's throttle, so one source cannot take a route's whole capacity.
         */
        sourcePathRateLimitPerMinute: z
          .number()
          .int()
          .min(10)
          .max(2_000_000_000)
          .default(SOURCE_PATH_RATE_LIMIT_PER_MINUTE_DEFAULT),
        /**
         * Requests one per-config endpoint may receive per 60 s from all sources together (429
         * above), before its own rate_limit is even counted: one tenant cannot take the per-config
         * route's shared throttle.
         */
        configRateLimitPerMinute: z
          .number()
          .int()
          .min(10)
          .max(2_000_000_000)
          .default(CONFIG_RATE_LIMIT_PER_MINUTE_DEFAULT),
        /**
         * Requests each provider's routes may take per 60 s from every source together (429 above):
         * the seed's per-provider limit over a one-minute sliding window.
         */
        providerRateLimitPerMinute: z
          .object(
            Object.fromEntries(
              PROVIDER_NAMES.map((provider) => [
                provider,
                z
                  .number()
                  .int()
                  .min(10)
                  .max(2_000_000_000)
                  .default(PROVIDER_RATE_LIMIT_PER_MINUTE_DEFAULTS[provider]),
              ]),
            ) as Record<ProviderName, z.ZodDefault<z.ZodNumber>>,
          )
          .strict()
          .prefault({}),
        /** CIDR blocks (IPv4 or IPv6) refused outright (one IP set per family, 10,000 each at most). */
        blockedCidrs: z
          .array(wafCidr)
          .max(10_000)
          .refine((list) => unique(list.map((cidr) => cidr.toLowerCase())), {
            message: 'must not repeat a CIDR block',
          })
          .default([]),
      })
      .strict()
      .prefault({}),
    queues: z
      .object({
        /**
         * Receives before SQS moves a message to its priority's DLQ on its own: a backstop. The
         * processors dead-letter before it (and log it), and held-back or crashed receives count.
         */
        maxReceiveCount: z.number().int().min(1).max(1000).default(DEFAULT_RETRY.maxReceiveCount),
        /** How long an unprocessed message stays in a main queue (DLQs keep 14 days). */
        retentionDays: z.number().int().min(1).max(14).default(4),
      })
      .strict()
      .prefault({}),
    processing: z
      .object({
        /**
         * The retry schedule (shared/process/retry-schedule.ts): a failed delivery is retried at
         * once, then after this delay, doubling each time (5, 10, 20, 40 s by default) up to
         * maxRetryDelayMs, through ChangeMessageVisibility (FIFO queues have no per-message delay).
         */
        retryBaseDelayMs: z
          .number()
          .int()
          .min(0)
          .max(SQS_MAX_VISIBILITY_MS)
          .default(DEFAULT_RETRY.baseDelayMs),
        maxRetryDelayMs: z
          .number()
          .int()
          .min(1000)
          .max(SQS_MAX_VISIBILITY_MS)
          .default(DEFAULT_RETRY.maxDelayMs),
        /** Failed attempts of a delivery's own fault after its first, without a config (`retry_attempts`). */
        retryAttempts: z.number().int().min(0).max(100).default(DEFAULT_RETRY.retryAttempts),
        /** The longest one attempt of a delivery may take, without a config (`timeout_ms`). */
        attemptTimeoutMs: z.number().int().min(1000).max(900_000).default(DEFAULT_RETRY.timeoutMs),
        /** Payloads above this size are kept in the event log as a pointer only (0: always a pointer). */
        eventLogPayloadMaxBytes: z
          .number()
          .int()
          .min(0)
          .max(
            DYNAMODB_MAX_ITEM_BYTES - EVENT_LOG_ENTRY_OVERHEAD_BYTES,
            `must leave ${EVENT_LOG_ENTRY_OVERHEAD_BYTES} bytes of a DynamoDB item (${DYNAMODB_MAX_ITEM_BYTES}) to the rest of the log entry`,
          )
          .default(65_536),
      })
      .strict()
      .prefault({}),
    management: z
      .object({
        /**
         * After a secret rotation, how long the previous signing secret of a webhook configuration
         * is still accepted (0: never), so senders can switch over without failed deliveries.
         */
        secretGraceHours: z.number().int().min(0).max(720).default(24),
      })
      .strict()
      .prefault({}),
    /** Alarm topics, channels, default alert rules and the thresholds of the built-in ops alarms. */
    alerting: alertingSchema,
    workflowEvents: z
      .object({
        /** How long the domain event bus's archive keeps events for replay. */
        archiveDays: z.number().int().min(1).max(3650).default(7),
      })
      .strict()
      .prefault({}),
    /**
     * Workflows triggered by domain events: each a name, a match (provider, event type or prefix,
     * change type) and a target (HTTPS endpoint, SQS queue, Lambda function or Step Functions state
     * machine) with its retry policy and a dead-letter queue (lib/workflows.ts).
     */
    workflows: workflowsSchema,
    processors: z
      .object({
        high: processorSchema(PROCESSOR_DEFAULTS.high),
        medium: processorSchema(PROCESSOR_DEFAULTS.medium),
        low: processorSchema(PROCESSOR_DEFAULTS.low),
      })
      .strict()
      .prefault({}),
    database: z
      .object({
        /** Aurora PostgreSQL's rules: a letter, then letters, digits, "_"; not a reserved database. */
        name: z
          .string()
          .regex(
            /^[a-z][a-z0-9_]{0,62}$/,
            'a lowercase letter, then lowercase letters, digits and "_", at most 63',
          )
          .refine((name) => !['postgres', 'rdsadmin', 'template0', 'template1'].includes(name), {
            message: 'is a database Aurora PostgreSQL reserves',
          })
          .default('webhooks'),
        /** 0 lets the writer auto-pause when idle (Aurora PostgreSQL 16.3+). */
        minCapacity: acu.default(0.5),
        maxCapacity: acu.min(1).default(4),
        /** Idle time before an auto-pause; only with minCapacity 0. */
        autoPauseMinutes: z.number().int().min(5).max(1440).optional(),
        /** Default: on when the stage retains its data (removalPolicy retain), off otherwise. */
        deletionProtection: z.boolean().optional(),
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
  .strict()
  .refine((config) => config.payloadRetentionDays >= config.eventLogRetentionDays, {
    message:
      'payloadRetentionDays must not be below eventLogRetentionDays (log entries point at their payloads)',
    path: ['payloadRetentionDays'],
  })
  .refine((config) => config.processing.maxRetryDelayMs >= config.processing.retryBaseDelayMs, {
    message: 'processing.maxRetryDelayMs must not be below processing.retryBaseDelayMs',
    path: ['processing', 'maxRetryDelayMs'],
  })
  .refine(attemptsFitTheQueue, {
    message: `the retries of a delivery's most attempts (retry_attempts up to ${MAX_CONFIG_RETRY_ATTEMPTS}, or processing.retryAttempts) must fit within queues.maxReceiveCount receives and end well within queues.retentionDays (an expired message never reaches its DLQ)`,
    path: ['processing', 'retryBaseDelayMs'],
  })
  .refine((config) => config.auth.domainPrefix !== undefined || !COGNITO_RESERVED.test(config.stage), {
    message:
      'the stage is part of the Cognito sign-in domain, which must not contain aws, amazon or cognito: rename it or set auth.domainPrefix',
    path: ['stage'],
  })
  .transform((config) => {
    const removalPolicy =
      config.removalPolicy ?? (PRODUCTION_STAGES.includes(config.stage) ? 'retain' : 'destroy');
    return {
      ...config,
      removalPolicy,
      database: {
        ...config.database,
        deletionProtection: config.database.deletionProtection ?? removalPolicy === 'retain',
      },
    };
  });

export type WebhooksConfig = z.infer<typeof configSchema>;
export type WebhooksConfigInput = z.input<typeof configSchema>;
export type ProcessorConfig = WebhooksConfig['processors'][Priority];
export type ProcessingConfig = WebhooksConfig['processing'];
export type ManagementConfig = WebhooksConfig['management'];
export type AlertingConfig = WebhooksConfig['alerting'];
export type DefaultAlertRule = AlertingConfig['defaultRules'][number];
export type ThrottleConfig = WebhooksConfig['api']['providerThrottling'][ProviderName];

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
