import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type WebSocket, WebSocketServer } from 'ws';
import type {
  WebSocketAuthorizerEvent,
  WebSocketAuthorizerResult,
  WebSocketEvent,
  WebSocketResult,
} from '../functions/ws/event';

export type WebSocketHandler = (event: WebSocketEvent) => Promise<WebSocketResult>;
export type WebSocketAuthorizer = (event: WebSocketAuthorizerEvent) => Promise<WebSocketAuthorizerResult>;

export interface WebSocketRoutes {
  $connect: WebSocketHandler;
  $disconnect: WebSocketHandler;
  $default: WebSocketHandler;
  /** Other routes, chosen like API Gateway's `$request.body.type` route selection. */
  [routeKey: string]: WebSocketHandler;
}

/** API Gateway's frame limit for WebSocket messages. */
const MAX_MESSAGE_BYTES = 128 * 1024;

/**
 * A local stand-in for the API Gateway WebSocket API: clients connect at /ws, each event goes to
 * the same handlers as in AWS, and the same process serves the `@connections` management endpoint
 * that ApiGatewayManagementApiClient posts to.
 */
export interface LocalWebSocketApi extends Server {
  /** Resolves once every socket is closed and its handler calls have finished (used when stopping). */
  drain(): Promise<void>;
}

export function createWebSocketApi(routes: WebSocketRoutes): LocalWebSocketApi {
  const sockets = new Map<string, WebSocket>();
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  // Handler calls in flight: stopping must wait for them, or they reach stand-ins already closed.
  const inFlight = new Set<Promise<unknown>>();
  const track = (call: Promise<unknown> | undefined) => {
    if (!call) return;
    const settled = call.catch(() => undefined).finally(() => inFlight.delete(settled));
    inFlight.add(settled);
  };

  const server = createServer((req, res) => {
    // The @connections endpoint is the handlers' (API Gateway's management API, signed with IAM in
    // AWS): nobody but this machine may push to or close a connection, whatever address (HOST) the
    // server listens on.
    if (!isLoopback(req.socket.remoteAddress)) return reply(res, 403, { message: 'Forbidden' });
    manageConnection(req, res, sockets).catch(() => reply(res, 500));
  });

  server.on('upgrade', async (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/ws') return refuse(socket, 404);
    const connectionId = randomBytes(12).toString('base64url');
    const query = Object.fromEntries(url.searchParams);
    const result = await routes
      .$connect({ requestContext: { connectionId, routeKey: '$connect' }, queryStringParameters: query })
      .catch(() => ({ statusCode: 500 }));
    if (result.statusCode !== 200) return refuse(socket, result.statusCode);

    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.set(connectionId, ws);
      ws.on('message', (data) => {
        const body = data.toString();
        const routeKey = selectRoute(body, routes);
        track(routes[routeKey]?.({ requestContext: { connectionId, routeKey }, body }));
      });
      ws.on('close', () => {
        sockets.delete(connectionId);
        track(routes.$disconnect({ requestContext: { connectionId, routeKey: '$disconnect' } }));
      });
    });
  });

  server.on('close', () => {
    for (const ws of sockets.values()) ws.terminate();
    wss.close();
  });
  return Object.assign(server, {
    drain: async () => {
      // Terminated sockets emit 'close' (and start $disconnect) a moment after the server closes.
      const deadline = Date.now() + 2000;
      while ((sockets.size > 0 || inFlight.size > 0) && Date.now() < deadline) {
        await Promise.race([Promise.all(inFlight), new Promise((resolve) => setTimeout(resolve, 10))]);
      }
    },
  });
}

/** The method ARN local authorizers see (API Gateway's shape, with a local API id and account). */
export const LOCAL_CONNECT_METHOD_ARN =
  'arn:aws:execute-api:local:000000000000:local-websocket-api/local/$connect';

/**
 * API Gateway's REQUEST authorizer in front of `$connect`, as lib/constructs/realtime.ts attaches
 * it: the connection is refused with 401 when the identity source (`?{queryParameter}=`) is missing
 * or empty, without calling the authorizer; with 401 when the authorizer fails with `Unauthorized`,
 * 403 when its policy does not allow `execute-api:Invoke` on the route, and 500 on any other
 * failure. Otherwise `$connect` runs with `requestContext.authorizer` set to the principal id and
 * the authorizer's context. The check itself is the authorizer function's, unchanged.
 */
export function withRequestAuthorizer(
  authorizer: WebSocketAuthorizer,
  connect: WebSocketHandler,
  options: { queryParameter: string; methodArn?: string },
): WebSocketHandler {
  const methodArn = options.methodArn ?? LOCAL_CONNECT_METHOD_ARN;
  return async (event) => {
    if (!event.queryStringParameters?.[options.queryParameter]) return { statusCode: 401 };
    let result: WebSocketAuthorizerResult;
    try {
      result = await authorizer({
        type: 'REQUEST',
        methodArn,
        queryStringParameters: event.queryStringParameters,
        requestContext: {
          connectionId: event.requestContext.connectionId,
          routeKey: '$connect',
          eventType: 'CONNECT',
        },
      });
    } catch (error) {
      return { statusCode: (error as Error).message === 'Unauthorized' ? 401 : 500 };
    }
    if (!allows(result, methodArn)) return { statusCode: 403 };
    const context = Object.fromEntries(
      Object.entries(result.context ?? {}).map(([key, value]) => [key, String(value)]),
    );
    return connect({
      ...event,
      requestContext: {
        ...event.requestContext,
        authorizer: { ...context, principalId: result.principalId },
      },
    });
  };
}

/** IAM evaluation of the returned policy for one action on one resource: an explicit Deny wins. */
function allows(result: WebSocketAuthorizerResult, methodArn: string): boolean {
  const applicable = (result.policyDocument?.Statement ?? []).filter((statement) => {
    const { Action, Resource } = statement as { Action?: string | string[]; Resource?: string | string[] };
    return (
      [Action ?? []].flat().some((action) => glob(action).test('execute-api:Invoke')) &&
      [Resource ?? []].flat().some((resource) => glob(resource).test(methodArn))
    );
  });
  return applicable.some((s) => s.Effect === 'Allow') && !applicable.some((s) => s.Effect === 'Deny');
}

/** An IAM pattern (`*` any run of characters, `?` one) as a regular expression. */
function glob(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${escaped.replaceAll('*', '.*').replaceAll('?', '.')}$`);
}

function selectRoute(body: string, routes: WebSocketRoutes): string {
  try {
    const type: unknown = JSON.parse(body)?.type;
    if (typeof type === 'string' && !type.startsWith('$') && Object.hasOwn(routes, type)) return type;
  } catch {
    // Not JSON: API Gateway falls back to $default too.
  }
  return '$default';
}

/** POST/GET/DELETE /@connections/{id}, answering like the management API (410 when gone). */
async function manageConnection(req: IncomingMessage, res: ServerResponse, sockets: Map<string, WebSocket>) {
  const match = /^\/@connections\/([^/?]+)$/.exec(new URL(req.url ?? '/', 'http://localhost').pathname);
  if (!match?.[1]) return reply(res, 404);
  const ws = sockets.get(decodeURIComponent(match[1]));
  // The error type header is how the SDK tells a GoneException from any other 410.
  if (!ws || ws.readyState !== ws.OPEN)
    return reply(res, 410, { message: 'Gone' }, { 'x-amzn-ErrorType': 'GoneException' });
  if (req.method === 'POST') {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    ws.send(Buffer.concat(chunks).toString());
    return reply(res, 200);
  }
  if (req.method === 'DELETE') {
    ws.close(1000);
    return reply(res, 204);
  }
  if (req.method === 'GET') return reply(res, 200, { connectedAt: new Date().toISOString() });
  return reply(res, 405);
}

/** Whether a peer address is this machine's loopback (IPv4, IPv6, or IPv4-mapped IPv6). */
export function isLoopback(address: string | undefined): boolean {
  const ip = address?.replace(/^::ffff:/, '') ?? '';
  return ip === '::1' || ip.startsWith('127.');
}

function reply(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, {
    ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    ...headers,
  });
  res.end(body === undefined ? undefined : JSON.stringify(body));
}

function refuse(socket: import('node:stream').Duplex, status: number) {
  const reason =
    status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : status === 404 ? 'Not Found' : 'Error';
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
