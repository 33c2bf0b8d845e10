import type { APIGatewayProxyEvent } from 'aws-lambda';
import type * as z from 'zod';
import { BadRequestError, NotFoundError } from '../errors';
import { ValidationFailedError } from './errors';

/* Reading a management API request: path ids, query parameters and JSON bodies, validated. */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function uuidParam(params: Record<string, string>, what: string): string {
  const id = params.id ?? '';
  // Not a UUID: it cannot name a row (and need not cost a read).
  if (!UUID.test(id)) throw new NotFoundError(`No such ${what}`);
  return id.toLowerCase();
}

export const configIdParam = (params: Record<string, string>) => uuidParam(params, 'webhook config');

export function definedOnly<T extends object>(record: T): Partial<T> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/** An event id is its owner-scoped dedup key (`system:shopify:<webhook id>`), URL-encoded in the path. */
export function eventIdParam(params: Record<string, string>): string {
  const id = params.id ?? '';
  if (id.length === 0 || id.length > 1024) throw new NotFoundError('No such event');
  return id;
}

/** Query parameters (the last value of a repeated one) against a schema: 400 with field errors. */
export function parseQuery<T extends z.ZodType>(event: APIGatewayProxyEvent, schema: T): z.output<T> {
  const result = schema.safeParse(event.queryStringParameters ?? {});
  if (!result.success) throw ValidationFailedError.fromZod(result.error);
  return result.data;
}

export function parseBody<T extends z.ZodType>(event: APIGatewayProxyEvent, schema: T): z.output<T> {
  const raw =
    event.body == null
      ? ''
      : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8').toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new BadRequestError('The body must be JSON');
  }
  const result = schema.safeParse(json);
  if (!result.success) throw ValidationFailedError.fromZod(result.error);
  return result.data;
}
