import pg from 'pg';
import type { LocalStack } from '../../local/stack';
import { signDevToken } from '../../shared/auth/tokens';
import { connect, type TestClient } from './ws-client';

export interface E2eStack {
  stack: LocalStack;
  /** A direct connection to the stack's Postgres, for asserting rows. */
  db: pg.Client;
  /** A dashboard client already subscribed to webhook-event. */
  client: TestClient;
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
}): Promise<E2eStack> {
  const tokenSecret = 'e2e-dev-token-secret';
  Object.assign(process.env, { DEV_TOKEN_SECRET: tokenSecret, ...options.env });
  const { startLocalStack } = await import('../../local/stack');
  const stack = await startLocalStack({ port: 0, wsPort: 0, secrets: options.secrets });
  const db = new pg.Client({ connectionString: stack.databaseUrl });
  await db.connect();
  const client = await connect(`${stack.wsUrl}?token=${await signDevToken(tokenSecret, 'e2e-dashboard')}`);
  client.send({ type: 'subscribe', data: { events: ['webhook-event'] } });
  await client.next((m) => m.type === 'subscribed');
  return {
    stack,
    db,
    client,
    stop: async () => {
      client.close();
      await db.end();
      await stack.stop();
    },
  };
}
