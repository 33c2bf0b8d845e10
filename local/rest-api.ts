import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';

export type ProxyHandler = (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;

export interface Route {
  /** An HTTP method, or ANY as in API Gateway. */
  method: string;
  /** API Gateway resource path, e.g. /api/webhooks/shopify */
  resource: string;
  handler: ProxyHandler;
}

/** API Gateway REST's payload limit; larger requests never reach a Lambda. */
const MAX_REQUEST_BYTES = 10 * 1024 * 1024;

/**
 * A local stand-in for the REST API: it builds the same proxy events API Gateway sends (body
 * base64-encoded, as with binary media type *\/*) and writes the handler's result back.
 */
export interface StaticSite {
  file: (pathname: string) => Promise<{ body: Buffer; contentType: string } | undefined>;
  /** Response headers of every file (the CloudFront response headers policy's, in AWS). */
  headers: Record<string, string>;
}

export function createRestApi(options: {
  routes: Route[];
  stage: string;
  isReady: () => boolean;
  /** The dashboard, served as CloudFront does in front of the API: GETs outside /api/. */
  site?: StaticSite;
  /** The rate limits WAF and API Gateway apply before any route is run (local/edge-limits.ts). */
  edge?: (pathname: string, sourceIp: string) => APIGatewayProxyResult | undefined;
}): Server {
  // Idle client connections stay open for a minute, as API Gateway keeps them for much longer than
  // Node's 5 s default: a client reusing one just as the server closed it would see a reset.
  return createServer({ keepAliveTimeout: 60_000 }, async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (
        options.site &&
        (req.method === 'GET' || req.method === 'HEAD') &&
        !url.pathname.startsWith('/api/')
      ) {
        const file = await options.site.file(url.pathname);
        if (file) {
          if (bodyUnread(req)) res.setHeader('Connection', 'close');
          res.writeHead(200, { 'Content-Type': file.contentType, ...options.site.headers });
          return res.end(req.method === 'HEAD' ? undefined : file.body);
        }
      }
      if (url.pathname === '/health') {
        const ready = options.isReady();
        return send(req, res, {
          statusCode: ready ? 200 : 503,
          body: JSON.stringify({ status: ready ? 'ok' : 'starting' }),
        });
      }
      const refused = options.edge?.(url.pathname, sourceIpOf(req));
      if (refused) return send(req, res, refused);
      const matched = matchResource(options.routes, url.pathname);
      if (!matched) return send(req, res, jsonError(404, 'not_found', 'No such route'));
      const { routes: sameResource, pathParameters } = matched;
      const route = sameResource.find((r) => r.method === req.method || r.method === 'ANY');
      if (!route)
        return send(
          req,
          res,
          jsonError(405, 'method_not_allowed', `Use ${sameResource.map((r) => r.method).join(', ')}`),
        );
      const body = await readBody(req);
      if (body === undefined)
        return send(req, res, jsonError(413, 'payload_too_large', 'Request body too large'));
      send(req, res, await route.handler(toProxyEvent(req, url, route, options.stage, body, pathParameters)));
    } catch {
      send(req, res, jsonError(502, 'bad_gateway', 'Internal server error'));
    }
  });
}

function toProxyEvent(
  req: IncomingMessage,
  url: URL,
  route: Route,
  stage: string,
  body: Buffer,
  pathParameters: Record<string, string> | null,
): APIGatewayProxyEvent {
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i] as string;
    const value = req.rawHeaders[i + 1] as string;
    headers[name] = value;
    multiValueHeaders[name] = [...(multiValueHeaders[name] ?? []), value];
  }
  const query: Record<string, string> = {};
  const multiQuery: Record<string, string[]> = {};
  for (const [name, value] of url.searchParams) {
    query[name] = value;
    multiQuery[name] = [...(multiQuery[name] ?? []), value];
  }
  const hasQuery = url.searchParams.size > 0;
  const sourceIp = sourceIpOf(req);
  return {
    resource: route.resource,
    path: url.pathname,
    httpMethod: req.method ?? 'GET',
    headers,
    multiValueHeaders,
    queryStringParameters: hasQuery ? query : null,
    multiValueQueryStringParameters: hasQuery ? multiQuery : null,
    pathParameters,
    stageVariables: null,
    body: body.length > 0 ? body.toString('base64') : null,
    isBase64Encoded: body.length > 0,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      authorizer: null,
      protocol: `HTTP/${req.httpVersion}`,
      httpMethod: req.method ?? 'GET',
      identity: {
        sourceIp,
        userAgent: req.headers['user-agent'] ?? null,
      } as APIGatewayProxyEvent['requestContext']['identity'],
      path: `/${stage}${url.pathname}`,
      stage,
      requestId: randomUUID(),
      requestTimeEpoch: Date.now(),
      resourceId: 'local',
      resourcePath: route.resource,
    },
  };
}

/** The caller's address as API Gateway reports it (IPv4 without the IPv6-mapped prefix). */
function sourceIpOf(req: IncomingMessage): string {
  return req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '127.0.0.1';
}

/**
 * The routes of the resource API Gateway would pick for a path: `{name}` segments match one
 * segment each, and a literal segment beats a variable one (so `/api/webhooks/configs/{id}` wins
 * over `/api/webhooks/{provider}/{configId}`). Path parameters are URL-decoded, as API Gateway does.
 */
function matchResource(
  routes: Route[],
  pathname: string,
): { routes: Route[]; pathParameters: Record<string, string> | null } | undefined {
  // Empty segments are kept: `/api/webhooks/shopify/` is not `/api/webhooks/shopify` (404, as in AWS).
  const path = pathname.split('/').slice(1);
  let best: { resource: string; rank: string; parameters: Record<string, string> } | undefined;
  for (const resource of new Set(routes.map((route) => route.resource))) {
    const segments = resource.split('/').slice(1);
    if (segments.length !== path.length) continue;
    const parameters: Record<string, string> = {};
    let rank = '';
    const matches = segments.every((segment, index) => {
      const actual = path[index] as string;
      if (segment.startsWith('{') && segment.endsWith('}')) {
        if (actual === '') return false;
        try {
          parameters[segment.slice(1, -1)] = decodeURIComponent(actual);
        } catch {
          return false;
        }
        rank += '1';
        return true;
      }
      rank += '0';
      return segment === actual;
    });
    if (matches && (!best || rank < best.rank)) best = { resource, rank, parameters };
  }
  if (!best) return undefined;
  const { resource, parameters } = best;
  return {
    routes: routes.filter((route) => route.resource === resource),
    pathParameters: Object.keys(parameters).length > 0 ? parameters : null,
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_REQUEST_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Whether the request has a body the front has not read to its end. */
function bodyUnread(req: IncomingMessage): boolean {
  if (req.complete) return false;
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Writes the answer. A connection whose request body the front will not read is closed after it:
 * kept open, the unread rest would be taken for the client's next request on it, which would then
 * hang or be reset. Until Node closes it, what still arrives is read and dropped.
 */
function send(req: IncomingMessage, res: ServerResponse, result: APIGatewayProxyResult): void {
  if (bodyUnread(req)) res.setHeader('Connection', 'close');
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) headers[name] = String(value);
  res.writeHead(result.statusCode, headers);
  res.end(result.isBase64Encoded ? Buffer.from(result.body, 'base64') : result.body);
}

function jsonError(statusCode: number, code: string, message: string): APIGatewayProxyResult {
  return {
    statusCode,
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ success: false, error: { code, message } }),
  };
}
