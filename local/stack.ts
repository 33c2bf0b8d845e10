import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import dynalite from 'dynalite';
import { interceptLocalhostDns, startFauxqs } from 'fauxqs';
import { PRIORITIES, type Priority } from '../shared/envelope';
import { providers } from '../shared/providers/registry';
import { devTokenSecret } from './dev-secret';
import { createQueues, createTables, type LocalQueue, TABLES } from './resources';
import { createRestApi } from './rest-api';
import { startSqsPoller } from './sqs-poller';
import { createWebSocketApi, type WebSocketRoutes } from './websocket-api';

export interface LocalStackOptions {
  port: number;
  wsPort: number;
  /** Public base URL providers call (HubSpot v3 signs it); defaults to http://localhost:PORT. */
  webhookBaseUrl?: string;
  /** A real PostgreSQL server; when absent an embedded PGlite serves the wire protocol. */
  databaseUrl?: string;
  /** Provider signing secrets, as SHOPIFY_WEBHOOK_SECRET etc. would give them. */
  secrets: Partial<Record<string, string>>;
  processorTimeoutMs?: number;
  visibilityTimeoutSeconds?: number;
  log?: (line: string) => void;
}

export interface LocalStack {
  httpUrl: string;
  wsUrl: string;
  databaseUrl: string;
  queues: Record<Priority, LocalQueue>;
  sqs: SQSClient;
  stop(): Promise<void>;
}

const REGION = 'us-east-1';
const PAYLOAD_BUCKET = 'webhook-payloads';
const STAGE = 'local';

/**
 * Starts the whole system on one machine: fauxqs (SQS), dynalite (DynamoDB), PGlite (Postgres),
 * a REST front and a WebSocket server. The production handlers run unchanged; only their
 * environment points at the stand-ins.
 */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const log = options.log ?? (() => undefined);
  const stops: (() => Promise<unknown>)[] = [];
  let ready = false;
  try {
    // fauxqs queue URLs use sqs.<region>.localhost hosts, which not every resolver maps to loopback.
    const restoreDns = interceptLocalhostDns();
    stops.push(async () => restoreDns());
    // The stand-ins start side by side; PGlite's first start (initdb in WASM) takes the longest.
    const [fauxqs, dynamoUrl, databaseUrl] = await Promise.all([
      startFauxqs({ port: 0, logger: false, defaultRegion: REGION }).then((server) => {
        stops.push(() => server.stop());
        return server;
      }),
      startDynalite(stops),
      options.databaseUrl ?? startPglite(stops),
    ]);
    // The same host as the queue URLs fauxqs hands out, so the SDK never has to pick between them.
    const sqsEndpoint = `http://sqs.${REGION}.localhost:${fauxqs.port}`;

    // The handlers read their configuration from the environment, exactly as in Lambda.
    Object.assign(process.env, {
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL_SQS: sqsEndpoint,
      AWS_ENDPOINT_URL_S3: `http://s3.localhost:${fauxqs.port}`,
      PAYLOAD_BUCKET: PAYLOAD_BUCKET,
      AWS_ENDPOINT_URL_DYNAMODB: dynamoUrl,
      DATABASE_URL: databaseUrl,
      EVENT_LOG_TABLE: TABLES.eventLog,
      CONNECTIONS_TABLE: TABLES.connections,
      DEV_TOKEN_SECRET: devTokenSecret(),
      POWERTOOLS_METRICS_DISABLED: 'true',
      POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'WARN',
    });
    for (const [provider, secret] of Object.entries(options.secrets)) {
      if (secret) process.env[`${provider.toUpperCase()}_WEBHOOK_SECRET`] = secret;
    }

    const sqs = new SQSClient({ region: REGION, endpoint: sqsEndpoint });
    const ddb = new DynamoDBClient({ region: REGION, endpoint: dynamoUrl });
    const processorTimeoutMs = options.processorTimeoutMs ?? 30_000;
    const queues = await createQueues(sqs, {
      visibilityTimeoutSeconds: options.visibilityTimeoutSeconds ?? 30,
      maxReceiveCount: 5,
    });
    await createTables(ddb);
    fauxqs.createBucket(PAYLOAD_BUCKET);

    const { migrate, loadMigrations } = await import('../shared/db/migrate');
    const { dbFromEnv } = await import('../shared/db/client');
    const applied = await migrate(dbFromEnv(), await loadMigrations());
    log(`migrations applied: ${applied.join(', ') || 'none (up to date)'}`);

    // Servers first, so their real ports (0 picks a free one) can go into the handlers' environment;
    // the routes are filled in once the handlers are loaded.
    const notReady = async () => ({ statusCode: 503 });
    const wsRoutes: WebSocketRoutes = { $connect: notReady, $disconnect: notReady, $default: notReady };
    const wsServer = createWebSocketApi(wsRoutes);
    const wsPort = await listen(wsServer, options.wsPort);
    stops.push(() => close(wsServer));
    const restRoutes: Parameters<typeof createRestApi>[0]['routes'] = [];
    const restServer = createRestApi({ routes: restRoutes, stage: STAGE, isReady: () => ready });
    const port = await listen(restServer, options.port);
    stops.push(() => close(restServer));

    Object.assign(process.env, {
      WEBSOCKET_ENDPOINT: `http://127.0.0.1:${wsPort}`,
      WEBHOOK_BASE_URL: options.webhookBaseUrl ?? `http://localhost:${port}`,
      QUEUE_URL_HIGH: queues.high.url,
      QUEUE_URL_MEDIUM: queues.medium.url,
      QUEUE_URL_LOW: queues.low.url,
    });

    const { ingestHandlerFromEnv } = await import('../functions/ingest/handler');
    for (const name of Object.keys(providers) as (keyof typeof providers)[]) {
      // ANY, as in lib/constructs/ingestion.ts: the handler itself answers 405 to other methods.
      restRoutes.push({
        method: 'ANY',
        resource: `/api/webhooks/${name}`,
        handler: ingestHandlerFromEnv(name),
      });
    }
    const [connect, disconnect, message, processor] = await Promise.all([
      import('../functions/ws/connect'),
      import('../functions/ws/disconnect'),
      import('../functions/ws/message'),
      import('../functions/process'),
    ]);
    // Same route table as lib/constructs/realtime.ts.
    Object.assign(wsRoutes, {
      $connect: connect.handler,
      $disconnect: disconnect.handler,
      $default: message.handler,
      subscribe: message.handler,
    });

    for (const priority of PRIORITIES) {
      const poller = startSqsPoller({
        sqs,
        queueUrl: queues[priority].url,
        queueArn: queues[priority].arn,
        region: REGION,
        handler: processor.handler,
        batchSize: 10,
        concurrency: 2,
        timeoutMs: processorTimeoutMs,
        onError: (error) => log(`processor (${priority}) error: ${(error as Error).message}`),
      });
      stops.push(() => poller.stop());
    }

    ready = true;
    return {
      httpUrl: `http://localhost:${port}`,
      wsUrl: `ws://localhost:${wsPort}/ws`,
      databaseUrl,
      queues,
      sqs,
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

async function startDynalite(stops: (() => Promise<unknown>)[]): Promise<string> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const port = await listen(server, 0);
  stops.push(() => close(server));
  return `http://127.0.0.1:${port}`;
}

/** An in-memory Postgres reachable over the wire protocol, like any server DATABASE_URL names. */
async function startPglite(stops: (() => Promise<unknown>)[]): Promise<string> {
  const pglite = new PGlite();
  const server = new PGLiteSocketServer({ db: pglite, port: 0, host: '127.0.0.1', maxConnections: 16 });
  await server.start();
  stops.push(async () => {
    await server.stop();
    await pglite.close();
  });
  return `postgres://postgres@${server.getServerConn()}/postgres?sslmode=disable`;
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => resolve((server.address() as AddressInfo).port));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections?.();
  });
}
