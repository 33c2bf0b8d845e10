import { randomBytes } from 'node:crypto';
import { GetQueueAttributesCommand, type QueueAttributeName, SendMessageCommand } from '@aws-sdk/client-sqs';
import pg from 'pg';
import type { LocalStack } from '../../local/stack';
import { OPERATORS_GROUP, signDevToken } from '../../shared/auth/tokens';
import type { Envelope } from '../../shared/envelope';
import { connect, type TestClient } from './ws-client';

export interface E2eStack {
  stack: LocalStack;
  /**
   * Direct connections to the stack's Postgres, for asserting rows: a pool, so that a connection
   * cut by a stand-in outage (the fault runs) is replaced.
   */
  db: pg.Pool;
  /** An operator's dashboard client already subscribed to webhook-event: it sees every owner's events. */
  client: TestClient;
  /** A dev bearer token for the management API, as `npm run token -- <userId> [--operator]` mints it. */
  token(userId: string, groups?: string[]): Promise<string>;
  /** A management API call as `userId` (in `groups`), its JSON body parsed. */
  api(
    userId: string,
    method: string,
    path: string,
    options?: { body?: unknown; groups?: string[] },
  ): Promise<{ status: number; body: ReturnType<typeof JSON.parse> }>;
  stop(): Promise<void>;
}

/**
 * Starts the local stack on free ports in this test file's process, plus a Postgres client and a
 * subscribed WebSocket client. Call it once per file: the handlers read their environment when
 * first imported, so the environment must be set before (`env` is applied first).
 */
export async function startE2eStack(options: {
  secrets: Partial<Record<string, string>>;
  env?: Record<string, string>;
  /** The seed's edge limits (per source IP, per provider); on unless a run's load comes from one address at scale. */
  edgeLimits?: boolean;
}): Promise<E2eStack> {
  const tokenSecret = 'e2e-dev-token-secret';
  Object.assign(process.env, { DEV_TOKEN_SECRET: tokenSecret, ...options.env });
  const { startLocalStack } = await import('../../local/stack');
  const database = await freshDatabase();
  const stack = await startLocalStack({
    port: 0,
    wsPort: 0,
    secrets: options.secrets,
    databaseUrl: database?.url,
    edgeLimits: options.edgeLimits,
  });
  const db = new pg.Pool({ connectionString: stack.databaseUrl, max: 2 });
  db.on('error', () => undefined);
  const client = await connect(
    `${stack.wsUrl}?token=${await signDevToken(tokenSecret, 'e2e-dashboard', undefined, [OPERATORS_GROUP])}`,
  );
  client.send({ type: 'subscribe', data: { events: ['webhook-event'] } });
  await client.next((m) => m.type === 'subscribed');
  return {
    stack,
    db,
    client,
    token: (userId, groups = []) => signDevToken(tokenSecret, userId, undefined, groups),
    api: async (userId, method, path, options = {}) => {
      const token = await signDevToken(tokenSecret, userId, undefined, options.groups ?? []);
      const response = await fetch(`${stack.httpUrl}${path}`, {
        method,
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
      });
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : undefined };
    },
    stop: async () => {
      client.close();
      await db.end();
      await stack.stop();
      await database?.drop();
    },
  };
}

/** Reads until `done` holds, every 100 ms, failing with what it last read after `timeoutMs`. */
export async function eventually<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  what: string,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * With TEST_DATABASE_URL (CI sets it to a real PostgreSQL server), a database of this file's own,
 * dropped afterwards; without it the stack embeds PGlite.
 */
async function freshDatabase(): Promise<{ url: string; drop: () => Promise<void> } | undefined> {
  const serverUrl = process.env.TEST_DATABASE_URL;
  if (!serverUrl) return undefined;
  const name = `e2e_${randomBytes(6).toString('hex')}`;
  const admin = async (statement: string) => {
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    await client.query(statement).finally(() => client.end());
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`DROP DATABASE ${name} WITH (FORCE)`) };
}

/** Messages in the stack's main queues, visible or in flight (a record waiting for its retry is in flight). */
export function messagesInMainQueues(stack: LocalStack): Promise<number> {
  return messagesIn(stack, 'url');
}

/** Messages in the stack's dead-letter queues, visible or in flight. */
export function messagesInDlqs(stack: LocalStack): Promise<number> {
  return messagesIn(stack, 'dlqUrl');
}

/**
 * Messages of the DLQs that a receive would return now: not those the DLQ sweep holds while it
 * reads them (for DLQ_SWEEP_HOLD_SECONDS if an outage kept it from releasing them).
 */
export function visibleInDlqs(stack: LocalStack): Promise<number> {
  return messagesIn(stack, 'dlqUrl', ['ApproximateNumberOfMessages']);
}

async function messagesIn(
  stack: LocalStack,
  which: 'url' | 'dlqUrl',
  counted: readonly QueueAttributeName[] = [
    'ApproximateNumberOfMessages',
    'ApproximateNumberOfMessagesNotVisible',
  ],
): Promise<number> {
  let total = 0;
  for (const queue of Object.values(stack.queues)) {
    const { Attributes } = await stack.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queue[which],
        AttributeNames: [...counted] as QueueAttributeName[],
      }),
    );
    for (const name of counted) total += Number(Attributes?.[name] ?? 0);
  }
  return total;
}

/**
 * An envelope put straight on one of the stack's queues (a main queue or a DLQ), as ingest or SQS's
 * redrive would have: grouped by its ordering key, deduplicated by its dedup key.
 */
export async function putOnQueue(stack: LocalStack, queueUrl: string, envelope: Envelope): Promise<void> {
  await stack.sqs.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: JSON.stringify(envelope),
      MessageGroupId: envelope.orderingKey,
      MessageDeduplicationId: envelope.dedupKey,
    }),
  );
}
