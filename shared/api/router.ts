import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { MethodNotAllowedError, NotFoundError } from '../errors';

export interface RouteContext {
  event: APIGatewayProxyEvent;
  params: Record<string, string>;
}

export type RouteHandler = (context: RouteContext) => Promise<APIGatewayProxyResult>;

interface CompiledRoute {
  method: string;
  segments: string[];
  handler: RouteHandler;
}

/**
 * A small method + path router for one Lambda behind several API Gateway resources. It matches the
 * request path (not `resource`, so it works behind `{proxy+}` and custom domains with a base path,
 * matching the route's suffix), literal segments before `{param}` ones, as API Gateway does. A path
 * no route has is 404; a known path with another method is 405 with `Allow`.
 */
export class Router {
  private readonly routes: CompiledRoute[] = [];

  on(method: string, path: string, handler: RouteHandler): this {
    this.routes.push({ method, segments: split(path), handler });
    return this;
  }

  resolve(event: APIGatewayProxyEvent): { handler: RouteHandler; params: Record<string, string> } {
    const path = split(event.path ?? '');
    let best: { route: CompiledRoute; params: Record<string, string>; rank: string }[] = [];
    for (const route of this.routes) {
      const params = match(route.segments, path);
      if (!params) continue;
      const rank = route.segments.map((segment) => (isParam(segment) ? '1' : '0')).join('');
      if (best.length === 0 || rank < (best[0]?.rank ?? '')) best = [{ route, params, rank }];
      else if (rank === best[0]?.rank) best.push({ route, params, rank });
    }
    if (best.length === 0) throw new NotFoundError('No such route');
    const found = best.find(({ route }) => route.method === event.httpMethod);
    if (!found) throw new MethodNotAllowedError(best.map(({ route }) => route.method));
    return { handler: found.route.handler, params: found.params };
  }
}

function split(path: string): string[] {
  return path.split('/').filter((segment) => segment !== '');
}

function isParam(segment: string): boolean {
  return segment.startsWith('{') && segment.endsWith('}');
}

/** Matches the route against the end of the path (a custom domain may put a base path before it). */
function match(route: string[], path: string[]): Record<string, string> | undefined {
  if (path.length < route.length) return undefined;
  const tail = path.slice(path.length - route.length);
  const params: Record<string, string> = {};
  for (const [index, segment] of route.entries()) {
    const actual = tail[index] as string;
    if (isParam(segment)) {
      let value: string;
      try {
        value = decodeURIComponent(actual);
      } catch {
        return undefined;
      }
      params[segment.slice(1, -1)] = value;
    } else if (segment !== actual) return undefined;
  }
  return params;
}
