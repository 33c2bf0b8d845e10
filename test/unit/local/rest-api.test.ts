import { Agent, request, type Server } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRestApi } from '../../../local/rest-api';

/** API Gateway's 10 MiB, as the front applies it. */
const MAX_REQUEST_BYTES = 10 * 1024 * 1024;
const MiB = 1024 * 1024;

let server: Server;
let port: number;

beforeAll(async () => {
  server = createRestApi({
    routes: [
      {
        method: 'POST',
        resource: '/api/echo',
        handler: async (event) => ({
          statusCode: 200,
          body: JSON.stringify({ bytes: Buffer.from(event.body ?? '', 'base64').length }),
        }),
      },
    ],
    stage: 'local',
    isReady: () => true,
    edge: (pathname) =>
      pathname === '/api/limited' ? { statusCode: 429, body: '{"success":false}' } : undefined,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

interface Answer {
  status: number;
  connection: string | undefined;
  reusedSocket: boolean;
  text: string;
}

function send(agent: Agent, method: string, path: string, body?: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method, path, agent, headers: { 'Content-Length': body?.length ?? 0 } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            connection: res.headers.connection,
            reusedSocket: req.reusedSocket,
            text: Buffer.concat(chunks).toString(),
          }),
        );
      },
    );
    req.setTimeout(5_000, () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', reject);
    req.end(body);
  });
}

describe('local REST front connections', () => {
  it.each([
    ['413 to a body 1 MiB over the limit', 'POST', '/api/echo', MAX_REQUEST_BYTES + MiB, 413],
    ['404 to a body for no route', 'POST', '/api/nowhere', 2 * MiB, 404],
    ['405 to a body with a method the route does not take', 'PUT', '/api/echo', 2 * MiB, 405],
    ['429 from the edge limits, before the body', 'POST', '/api/limited', 2 * MiB, 429],
  ])(
    'answers %s, closes that connection, and the next request on the agent is answered',
    async (_case, method, path, size, status) => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const early = await send(agent, method, path, Buffer.alloc(size, 'x'));
        const next = await send(agent, 'POST', '/api/echo', Buffer.from('{}'));

        expect(early).toMatchObject({ status, connection: 'close' });
        expect(next).toMatchObject({ status: 200, text: '{"bytes":2}', reusedSocket: false });
      } finally {
        agent.destroy();
      }
    },
  );

  it('keeps a connection whose request it read to the end', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await send(agent, 'POST', '/api/echo', Buffer.alloc(MiB, 'x'));
      const next = await send(agent, 'POST', '/api/echo', Buffer.from('{}'));

      expect(first).toMatchObject({ status: 200, connection: 'keep-alive', text: `{"bytes":${MiB}}` });
      expect(next).toMatchObject({ status: 200, reusedSocket: true });
    } finally {
      agent.destroy();
    }
  });

  it('lets a client still sending its body after the 413 finish it, without a reset', async () => {
    const socket = connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    const errors: string[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => errors.push(error.code ?? error.message));
    const closed = new Promise<string>((resolve) => {
      socket.on('close', () => resolve('closed'));
      setTimeout(() => resolve('still open after 10 s'), 10_000).unref();
    });
    const total = MAX_REQUEST_BYTES + 2 * MiB;
    socket.write(`POST /api/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${total}\r\n\r\n`);
    socket.write(Buffer.alloc(MAX_REQUEST_BYTES + MiB, 'x'));
    await waitFor(() => Buffer.concat(received).includes('\r\n\r\n'));
    // The answer is in; the client sends the rest of its body, as a client that reads late would.
    await new Promise((resolve) => setTimeout(resolve, 100));
    socket.end(Buffer.alloc(MiB, 'x'));

    expect(await closed).toBe('closed');
    expect(errors).toEqual([]);
    expect(Buffer.concat(received).toString()).toMatch(/^HTTP\/1\.1 413 .*\r\nConnection: close\r\n/is);
  });
});

async function waitFor(done: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  if (!done()) throw new Error('no answer within 5 s');
}
