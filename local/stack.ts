// First: it turns off the AWS SDK's Node.js version warning before any client is built.
import './node-support';
import * as path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { interceptLocalhostDns } from 'fauxqs';
import pg from 'pg';
import type { WebhooksConfigInput } from '../lib/config';
import { contentSecurityPolicy } from '../lib/dashboard-csp';
import { MANAGEMENT_ROUTES } from '../shared/api/routes';
import { useWireProtocol } from '../shared/db/client';
import { wireDb } from '../shared/db/wire';
import { numberEnv } from '../shared/env';
import { PRIORITIES, type Priority } from '../shared/envelope';
import { retryWindowMs } from '../shared/process/retry-schedule';
import { providers } from '../shared/providers/registry';
import { dashboardSite } from './dashboard-site';
import { alertWebhookSigningSecret, devTokenSecret } from './dev-secret';
import { edgeLimits } from './edge-limits';
import { createEventBridge, type RecordedDomainEvent } from './eventbridge';
import { type AnyPart, type ConfigOf, type HostedProcess, type ReadyOf, startHosted } from './hosted';
import { createLocalKms } from './kms';
import { close, listen } from './net';
import { interruptServer } from './outage';
import type * as DynamoDbPart from './parts/dynamodb';
import type * as PostgresPart from './parts/postgres';
import type * as ProcessorsPart from './parts/processors';
import type * as SqsPart from './parts/sqs';
import { createQueues, createTables, type LocalQueue, TABLES } from './resources';
import { createRestApi, type ProxyHandler } from './rest-api';
import { localStackConfig } from './stack-config';
import { createWebSocketApi, type WebSocketRoutes, withRequestAuthorizer } from './websocket-api';
import { startWorkflowDeliveries, targetEvent, type WorkflowDeliveries } from './workflows';

export interface LocalStackOptions {
  port: number;
  wsPort: number;
  /**
   * The address the REST front and the WebSocket server listen on: 127.0.0.1 (HOST) unless told
   * otherwise, so a laptop's stack is not reachable from its network. The stand-ins always listen on
   * 127.0.0.1, and the local @connections endpoint answers loopback callers only.
   */
  host?: string;
  /** Public base URL providers call (HubSpot v3 signs it); defaults to http://localhost:PORT. */
  webhookBaseUrl?: string;
  /** A real PostgreSQL server; when absent an embedded PGlite serves the wire protocol. */
  databaseUrl?: string;
  /** Port of the embedded PGlite (0: any free one). */
  pglitePort?: number;
  /** Provider signing secrets, as SHOPIFY_WEBHOOK_SECRET etc. would give them. */
  secrets: Partial<Record<string, string>>;
  processorTimeoutMs?: number;
  visibilityTimeoutSeconds?: number;
  /**
   * Fraction (0..1) of processing attempts that fail before writing anything, to exercise the
   * retry path; CHAOS_FAILURE_RATE by default, 0 without it.
   */
  chaosFailureRate?: number;
  /**
   * Fraction (0..1) of processor invocations that die after their batch's work, before answering
   * the event source; CHAOS_CRASH_RATE by default, 0 without it.
   */
  chaosCrashRate?: number;
  /**
   * Fraction (0..1) of records that kill their processor mid-batch (after their writes, before
   * they are marked processed); CHAOS_KILL_RATE by default, 0 without it.
   */
  chaosKillRate?: number;
  /**
   * The stack configuration (`webhooks` context shape) for what the local stack shares with the
   * deployed one; WEBHOOKS_CONFIG or cdk.json's when absent (local/stack-config.ts).
   */
  config?: WebhooksConfigInput;
  /**
   * Apply the seed's rate limits (per provider route, per source IP) as API Gateway and WAF do;
   * true by default. The benchmarks turn them off: their load comes from one address.
   */
  edgeLimits?: boolean;
  /**
   * The local workflows file (lib/workflows.ts `localWorkflowsSchema`): WORKFLOWS_FILE, else
   * workflows.local.json in the working directory; read again whenever it changes.
   */
  workflowsFile?: string;
  /** Every queue's processor batch size instead of the deployed defaults (the bench compares sizes). */
  processorBatchSize?: number;
  /**
   * The processors' process priority (`os.setPriority`: 0, the default, as the stack's; up to 19, the
   * lowest). In AWS ingest never waits for a processor's CPU; on one machine a lower priority for
   * the processors comes closest: ingest and the stand-ins it calls run first, processing takes the
   * rest (`npm start` and the bench use PROCESSOR_NICE, default 10).
   */
  processorNice?: number;
  log?: (line: string) => void;
}

export interface LocalStack {
  httpUrl: string;
  wsUrl: string;
  databaseUrl: string;
  queues: Record<Priority, LocalQueue>;
  sqs: SQSClient;
  /** Every event the processors put on the local domain event bus, in order. */
  domainEvents: RecordedDomainEvent[];
  /** Dedup keys of the records that killed their processor (CHAOS_KILL_RATE), once per kill. */
  killedRecords: string[];
  eventBusName: string;
  /** The queues' redrive maxReceiveCount, which the processors also get as MAX_RECEIVE_COUNT. */
  maxReceiveCount: number;
  /**
   * An outage of one stand-in for `downMs` (the fault runs): its listener goes away, every open
   * connection is cut, then it listens again on the same port with its data kept. An external
   * DATABASE_URL cannot be taken down from here: the stack's connections to it are terminated.
   */
  interrupt(standIn: StandIn, downMs: number): Promise<void>;
  /** The processes the stand-ins and the processors run in (local/hosted.ts), for the bench's meters. */
  processes: HostedProcess[];
  stop(): Promise<void>;
}

export const STAND_INS = ['sqs', 'dynamodb', 'postgres', 'eventbridge'] as const;
export type StandIn = (typeof STAND_INS)[number];

const REGION = 'us-east-1';
const ACCOUNT = '000000000000';
const PAYLOAD_BUCKET = 'webhook-payloads';
const EVENT_BUS_NAME = 'webhooks-domain-events';
const STAGE = 'local';
/** Where the stand-ins listen, and the servers too unless HOST says otherwise. */
const LOOPBACK = '127.0.0.1';

/**
 * Starts the whole system on one machine: fauxqs (SQS), dynalite (DynamoDB), PGlite (Postgres),
 * a REST front and a WebSocket server. The production handlers run unchanged; only their
 * environment points at the stand-ins. As in AWS, where each service and each function has its
 * own machines, the stand-ins and the processors run in processes of their own (local/parts/),
 * so that the event loop serving ingest (this process's) does nothing else at the same time.
 */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const log = options.log ?? (() => undefined);
  const config = localStackConfig(options.config);
  // The handlers reach DATABASE_URL (PGlite or a real server) over the wire protocol here.
  useWireProtocol(wireDb);
  const stops: (() => Promise<unknown>)[] = [];
  const processes: HostedProcess[] = [];
  /** A part in a process of its own (local/parts/); stopped with the stack. */
  const host = async <P extends AnyPart>(
    name: string,
    file: string,
    config: ConfigOf<P>,
    onEvent?: (event: string, data: unknown) => void,
    priority?: number,
  ): Promise<{ process: HostedProcess; ready: ReadyOf<P> }> => {
    const starting = startHosted<P>(name, new URL(file, import.meta.url), config, {
      onEvent,
      priority,
      onExit: (code) => log(`${name} process exited unexpectedly (${code})`),
    });
    stops.push(async () => (await starting.catch(() => undefined))?.process.stop());
    const started = await starting;
    processes.push(started.process);
    return started;
  };
  let ready = false;
  try {
    // fauxqs queue URLs use sqs.<region>.localhost hosts, which not every resolver maps to loopback.
    const restoreDns = interceptLocalhostDns();
    stops.push(async () => restoreDns());
    // The stand-ins start side by side; PGlite's first start (initdb in WASM) takes the longest.
    // Rule targets: the HTTPS workflows of the local workflows file, started once SQS (their DLQs) is up.
    let workflows: WorkflowDeliveries | undefined;
    const eventBridge = createEventBridge({
      busNames: [EVENT_BUS_NAME],
      onEvent: (event) => workflows?.deliver(targetEvent(event, ACCOUNT, REGION)),
    });
    const kms = createLocalKms({ region: REGION, account: ACCOUNT });
    const [sqsPart, dynamodb, postgres, eventBridgePort, kmsPort] = await Promise.all([
      host<typeof SqsPart>('sqs', './parts/sqs.ts', { region: REGION, bucket: PAYLOAD_BUCKET }),
      host<typeof DynamoDbPart>('dynamodb', './parts/dynamodb.ts', undefined),
      options.databaseUrl
        ? externalPostgres(options.databaseUrl)
        : host<typeof PostgresPart>('postgres', './parts/postgres.ts', {
            port: options.pglitePort ?? 0,
          }).then(
            ({ process, ready }): LocalPostgres => ({
              url: ready.url,
              interrupt: (downMs) => process.call('interrupt', downMs),
            }),
          ),
      listen(eventBridge.server, 0, LOOPBACK).then((port) => {
        stops.push(() => close(eventBridge.server));
        return port;
      }),
      listen(kms.server, 0, LOOPBACK).then((port) => {
        stops.push(() => close(kms.server));
        return port;
      }),
    ]);
    const { sqsEndpoint, s3Endpoint } = sqsPart.ready;
    const dynamoUrl = dynamodb.ready.url;
    const databaseUrl = postgres.url;
    const interruptions: Record<StandIn, (downMs: number) => Promise<void>> = {
      sqs: (downMs) => sqsPart.process.call('interrupt', downMs),
      dynamodb: (downMs) => dynamodb.process.call('interrupt', downMs),
      postgres: postgres.interrupt,
      eventbridge: (downMs) => interruptServer(eventBridge.server, downMs),
    };

    // The queues' redrive and the processors' backstop are one number, as in lib/constructs.
    const maxReceiveCount = numberEnv('MAX_RECEIVE_COUNT', config.queues.maxReceiveCount);
    const visibilityTimeoutSeconds =
      options.visibilityTimeoutSeconds ?? numberEnv('VISIBILITY_TIMEOUT_SECONDS', 30);
    const chaosFailureRate = options.chaosFailureRate ?? numberEnv('CHAOS_FAILURE_RATE', 0);

    // The handlers read their configuration from the environment, exactly as in Lambda: the
    // stack configuration's retry policy, unless set (the fault runs shorten it), and
    // EVENT_LOG_PAYLOAD_MAX_BYTES when set.
    const retry = {
      RETRY_BASE_DELAY_MS: numberEnv('RETRY_BASE_DELAY_MS', config.processing.retryBaseDelayMs),
      MAX_RETRY_DELAY_MS: numberEnv('MAX_RETRY_DELAY_MS', config.processing.maxRetryDelayMs),
      RETRY_ATTEMPTS: numberEnv('RETRY_ATTEMPTS', config.processing.retryAttempts),
      ATTEMPT_TIMEOUT_MS: numberEnv('ATTEMPT_TIMEOUT_MS', config.processing.attemptTimeoutMs),
    };
    const retryWindowSeconds = numberEnv(
      'RETRY_WINDOW_SECONDS',
      retryWindowMs({
        retentionMs: config.queues.retentionDays * 86_400_000,
        schedule: { baseDelayMs: retry.RETRY_BASE_DELAY_MS, maxDelayMs: retry.MAX_RETRY_DELAY_MS },
        visibilityTimeoutMs: visibilityTimeoutSeconds * 1000,
      }) / 1000,
    );
    Object.assign(process.env, {
      ...Object.fromEntries(Object.entries(retry).map(([name, value]) => [name, String(value)])),
      RETRY_WINDOW_SECONDS: String(retryWindowSeconds),
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL_SQS: sqsEndpoint,
      AWS_ENDPOINT_URL_S3: s3Endpoint,
      PAYLOAD_BUCKET: PAYLOAD_BUCKET,
      AWS_ENDPOINT_URL_DYNAMODB: dynamoUrl,
      // Named, so that an outage of an external server can find the stack's connections.
      DATABASE_URL: withApplicationName(databaseUrl),
      EVENT_LOG_TABLE: TABLES.eventLog,
      CONNECTIONS_TABLE: TABLES.connections,
      METRICS_TABLE: TABLES.metrics,
      CONFIGS_TABLE: TABLES.configs,
      RATE_LIMIT_TABLE: TABLES.rateLimits,
      REJECTIONS_TABLE: TABLES.rejections,
      // Accepted locally, off in a deployed stack unless configured (README "Security"): HubSpot's
      // v1/v2 signatures, and Outbound Messages on the provider-wide Salesforce endpoint (with the
      // token of the dev secret, from the org SALESFORCE_ORG_ID names).
      HUBSPOT_ACCEPT_LEGACY_SIGNATURES: process.env.HUBSPOT_ACCEPT_LEGACY_SIGNATURES ?? 'true',
      SALESFORCE_ACCEPT_OUTBOUND_MESSAGES: process.env.SALESFORCE_ACCEPT_OUTBOUND_MESSAGES ?? 'true',
      AWS_ENDPOINT_URL_EVENTBRIDGE: `http://127.0.0.1:${eventBridgePort}`,
      // Config secrets are encrypted with this key (shared/secret-cipher.ts), as in AWS.
      AWS_ENDPOINT_URL_KMS: `http://127.0.0.1:${kmsPort}`,
      SECRETS_KEY_ID: kms.keyArn,
      EVENT_BUS_NAME,
      MAX_RECEIVE_COUNT: String(maxReceiveCount),
      // One process holds every handler here, so a config change through the API applies at once;
      // in AWS each ingest instance caches configs for 60 s.
      CONFIG_CACHE_TTL_SECONDS: process.env.CONFIG_CACHE_TTL_SECONDS ?? '0',
      DEV_TOKEN_SECRET: devTokenSecret(),
      POWERTOOLS_METRICS_DISABLED: 'true',
      POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'WARN',
    });
    for (const [provider, secret] of Object.entries(options.secrets)) {
      if (secret) process.env[`${provider.toUpperCase()}_WEBHOOK_SECRET`] = secret;
    }

    const sqs = new SQSClient({ region: REGION, endpoint: sqsEndpoint });
    const workflowsFile = path.resolve(
      options.workflowsFile ?? process.env.WORKFLOWS_FILE ?? 'workflows.local.json',
    );
    workflows = startWorkflowDeliveries({
      file: workflowsFile,
      sqs,
      account: ACCOUNT,
      region: REGION,
      retryBaseDelayMs: numberEnv('WORKFLOW_RETRY_BASE_DELAY_MS', 1000),
      log,
    });
    stops.push(() => (workflows as WorkflowDeliveries).stop());
    const ddb = new DynamoDBClient({ region: REGION, endpoint: dynamoUrl });
    const processorTimeoutMs = options.processorTimeoutMs ?? numberEnv('PROCESSOR_TIMEOUT_MS', 30_000);
    const queues = await createQueues(sqs, {
      visibilityTimeoutSeconds,
      maxReceiveCount,
      retentionDays: config.queues.retentionDays,
    });
    await createTables(ddb);

    const { migrate, loadMigrations } = await import('../shared/db/migrate');
    const { dbFromEnv } = await import('../shared/db/client');
    const applied = await migrate(dbFromEnv(), await loadMigrations());
    log(`migrations applied: ${applied.join(', ') || 'none (up to date)'}`);

    // Servers first, so their real ports (0 picks a free one) can go into the handlers' environment;
    // the routes are filled in once the handlers are loaded.
    const notReady = async () => ({ statusCode: 503 });
    const wsRoutes: WebSocketRoutes = { $connect: notReady, $disconnect: notReady, $default: notReady };
    const wsServer = createWebSocketApi(wsRoutes);
    const bindHost = options.host ?? process.env.HOST ?? LOOPBACK;
    const wsPort = await listen(wsServer, options.wsPort, bindHost);
    stops.push(async () => {
      await close(wsServer);
      await wsServer.drain();
    });
    const restRoutes: Parameters<typeof createRestApi>[0]['routes'] = [];
    const wsUrl = `ws://localhost:${wsPort}/ws`;
    const restServer = createRestApi({
      routes: restRoutes,
      stage: STAGE,
      isReady: () => ready,
      edge:
        options.edgeLimits === false
          ? undefined
          : edgeLimits({
              providers: config.api.providerThrottling,
              ipRateLimitPerMinute: config.waf.ipRateLimitPerMinute,
              sourcePathRateLimitPerMinute: config.waf.sourcePathRateLimitPerMinute,
              configRateLimitPerMinute: config.waf.configRateLimitPerMinute,
              providerRateLimitPerMinute: config.waf.providerRateLimitPerMinute,
            }),
      site: {
        file: dashboardSite(() => ({ apiBaseUrl: '', websocketUrl: wsUrl })),
        headers: {
          'Content-Security-Policy': contentSecurityPolicy(`ws://localhost:${wsPort}`),
          'X-Content-Type-Options': 'nosniff',
          'Referrer-Policy': 'no-referrer',
          'Cache-Control': 'no-store',
        },
      },
    });
    const port = await listen(restServer, options.port, bindHost);
    stops.push(() => close(restServer));

    Object.assign(process.env, {
      WEBSOCKET_ENDPOINT: `http://127.0.0.1:${wsPort}`,
      WEBHOOK_BASE_URL: options.webhookBaseUrl ?? `http://localhost:${port}`,
      QUEUE_URL_HIGH: queues.high.url,
      QUEUE_URL_MEDIUM: queues.medium.url,
      QUEUE_URL_LOW: queues.low.url,
      ...Object.fromEntries(
        PRIORITIES.flatMap((priority) => {
          const suffix = priority.toUpperCase();
          const { arn, dlqArn, dlqUrl } = queues[priority];
          return [
            [`QUEUE_ARN_${suffix}`, arn],
            [`DLQ_ARN_${suffix}`, dlqArn],
            [`DLQ_URL_${suffix}`, dlqUrl],
          ];
        }),
      ),
    });

    // One processor per queue, as in Lambda: the same factory the Lambda entry point uses, with the
    // queue's own DLQ (its DLQ_URL there), in a process of its own that reads the environment set
    // above (local/parts/processors.ts). Chaos, when asked for, wraps the event log port there.
    if (chaosFailureRate > 0) log(`chaos: ${chaosFailureRate * 100}% of processing attempts fail`);
    const chaosKillRate = options.chaosKillRate ?? numberEnv('CHAOS_KILL_RATE', 0);
    if (chaosKillRate > 0) log(`chaos: ${chaosKillRate * 100}% of records kill their processor mid-batch`);
    const chaosCrashRate = options.chaosCrashRate ?? numberEnv('CHAOS_CRASH_RATE', 0);
    if (chaosCrashRate > 0)
      log(`chaos: ${chaosCrashRate * 100}% of processor invocations crash before answering`);
    const killedRecords: string[] = [];
    // Started while this process loads the other handlers; awaited before the stack is ready.
    const processors = host<typeof ProcessorsPart>(
      'processors',
      './parts/processors.ts',
      {
        region: REGION,
        sqsEndpoint,
        queues,
        timeoutMs: processorTimeoutMs,
        chaos: { failureRate: chaosFailureRate, killRate: chaosKillRate, crashRate: chaosCrashRate },
        batchSize: options.processorBatchSize,
      },
      (event, data) => {
        if (event === 'killed') killedRecords.push(String(data));
        else log(String(data));
      },
      options.processorNice,
    );
    // Settled here too, so a failure elsewhere during startup does not leave it unobserved.
    processors.catch(() => undefined);

    const { ingestHandlerFromEnv } = await import('../functions/ingest/handler');
    const ingestHandlers = new Map<string, ProxyHandler>();
    for (const [name, provider] of Object.entries(providers)) {
      const handler = ingestHandlerFromEnv(provider);
      ingestHandlers.set(name, handler);
      // ANY, as in lib/constructs/ingestion.ts: the handler itself answers 405 to other methods.
      restRoutes.push({ method: 'ANY', resource: `/api/webhooks/${name}`, handler });
    }
    // Per-config endpoints: the same provider Lambda, with pathParameters {provider, configId}.
    restRoutes.push({
      method: 'ANY',
      resource: '/api/webhooks/{provider}/{configId}',
      handler: async (event) => {
        const handler = ingestHandlers.get(event.pathParameters?.provider ?? '');
        return handler ? handler(event) : notFound();
      },
    });
    // The management API: one Lambda behind every management resource; it answers 405 itself.
    const management = await import('../functions/api/management');
    for (const path of new Set(MANAGEMENT_ROUTES.map(([, path]) => path)))
      restRoutes.push({ method: 'ANY', resource: `/api/webhooks/${path}`, handler: management.handler });
    const [authorize, connect, disconnect, message] = await Promise.all([
      import('../functions/ws/authorize'),
      import('../functions/ws/connect'),
      import('../functions/ws/disconnect'),
      import('../functions/ws/message'),
    ]);
    // Same route table as lib/constructs/realtime.ts, with the same REQUEST authorizer on $connect.
    Object.assign(wsRoutes, {
      $connect: withRequestAuthorizer(authorize.handler, connect.handler, {
        queryParameter: authorize.TOKEN_QUERY_PARAMETER,
      }),
      $disconnect: disconnect.handler,
      $default: message.handler,
      subscribe: message.handler,
    });

    await processors;

    // The schedules of AWS (EventBridge rules) are timers here running the same handlers: the
    // minute metrics push (lib/constructs/metrics-push.ts), the cleanup job (lib/constructs/cleanup.ts),
    // with the stack configuration's retention, and the DLQ sweep (lib/constructs/dead-letter-sweep.ts).
    Object.assign(process.env, {
      ALERT_RETENTION_DAYS: process.env.ALERT_RETENTION_DAYS ?? String(config.alertRetentionDays),
      METRICS_RETENTION_DAYS: process.env.METRICS_RETENTION_DAYS ?? String(config.metricsRetentionDays),
    });
    const [metricsPush, cleanup, deadLetterSweep] = await Promise.all([
      import('../functions/realtime/metrics-push'),
      import('../functions/cleanup'),
      import('../functions/dead-letter-sweep'),
    ]);
    stops.push(
      everyInterval(
        numberEnv('METRICS_PUSH_INTERVAL_SECONDS', 60) * 1000,
        () => metricsPush.handler(),
        (error) => log(`metrics push error: ${(error as Error).message}`),
      ),
      everyInterval(
        numberEnv('CLEANUP_INTERVAL_SECONDS', 3600) * 1000,
        () => cleanup.handler(),
        (error) => log(`cleanup error: ${(error as Error).message}`),
      ),
      everyInterval(
        numberEnv('DLQ_SWEEP_INTERVAL_SECONDS', 60) * 1000,
        () => deadLetterSweep.handler(),
        (error) => log(`DLQ sweep error: ${(error as Error).message}`),
      ),
    );

    // Alert rules: CloudWatch alarms in AWS; here the same rules on the same counters every
    // ALERT_EVAL_INTERVAL_SECONDS, feeding the same recorder (functions/alerts/record.ts). The
    // `webhook` channel really POSTs to ALERT_WEBHOOK_URLS_JSON, always signed: with
    // ALERT_WEBHOOK_SIGNING_SECRET, else a generated key kept in .local/.
    Object.assign(process.env, {
      ALARM_PREFIX: process.env.ALARM_PREFIX ?? 'WebhooksLocal-',
      ALERT_WEBHOOK_SIGNING_SECRET: alertWebhookSigningSecret(),
    });
    const { startAlertEvaluator } = await import('./alert-evaluator');
    stops.push(
      await startAlertEvaluator({ intervalMs: numberEnv('ALERT_EVAL_INTERVAL_SECONDS', 60) * 1000, log }),
    );

    ready = true;
    return {
      httpUrl: `http://localhost:${port}`,
      wsUrl,
      databaseUrl,
      queues,
      sqs,
      domainEvents: eventBridge.events,
      killedRecords,
      eventBusName: EVENT_BUS_NAME,
      maxReceiveCount,
      interrupt: (standIn, downMs) => interruptions[standIn](downMs),
      processes,
      stop: async () => {
        ready = false;
        // Pollers and servers first, the stand-ins they talk to last.
        for (const stop of stops.reverse()) await stop().catch(() => undefined);
        stops.length = 0;
      },
    };
  } catch (error) {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    throw error;
  }
}

/** A schedule's stand-in: runs `job` every `intervalMs`; a run still going when the next is due makes it skip. */
function everyInterval(
  intervalMs: number,
  job: () => Promise<unknown>,
  onError: (error: unknown) => void,
): () => Promise<void> {
  let running: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    running ??= job()
      .catch(onError)
      .finally(() => {
        running = undefined;
      });
  }, intervalMs);
  return async () => {
    clearInterval(timer);
    await running;
  };
}

async function notFound() {
  return {
    statusCode: 404,
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ success: false, error: { code: 'not_found', message: 'No such route' } }),
  };
}

interface LocalPostgres {
  url: string;
  interrupt(downMs: number): Promise<void>;
}

const APPLICATION_NAME = 'webhooks-local';

function withApplicationName(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  url.searchParams.set('application_name', APPLICATION_NAME);
  return url.toString();
}

/** A server the stack does not own: its outage is the stack's connections being terminated. */
function externalPostgres(url: string): LocalPostgres {
  return {
    url,
    interrupt: async (downMs) => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE datname = current_database() AND application_name = $1`,
          [APPLICATION_NAME],
        );
      } finally {
        await client.end();
      }
      await new Promise((resolve) => setTimeout(resolve, downMs));
    },
  };
}
