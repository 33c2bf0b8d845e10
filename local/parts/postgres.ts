import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import type { StartedPart } from '../hosted-part';

/** An in-memory Postgres (PGlite) reachable over the wire protocol, like any server DATABASE_URL names. */
export async function start(config: { port: number }): Promise<StartedPart<{ url: string }>> {
  const pglite = new PGlite();
  const server = new PGLiteSocketServer({
    db: pglite,
    port: config.port,
    host: '127.0.0.1',
    maxConnections: 16,
  });
  await server.start();
  return {
    ready: { url: `postgres://postgres@${server.getServerConn()}/postgres?sslmode=disable` },
    operations: {
      // stop() detaches every client (rolling back its open transaction) and keeps the database.
      interrupt: async (downMs: number) => {
        await server.stop();
        await new Promise((resolve) => setTimeout(resolve, downMs));
        await server.start();
      },
    },
    stop: async () => {
      await server.stop();
      await pglite.close();
    },
  };
}
