import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { HttpError } from '../errors';
import type { WebhookRequest } from '../providers/types';

/**
 * Converts a REST API proxy event into the raw request the providers verify. The API is
 * configured with binary media type `*\/*`, so bodies arrive base64-encoded and byte-exact.
 */
export function toWebhookRequest(event: APIGatewayProxyEvent, publicBaseUrl: string): WebhookRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (value !== undefined) headers[name.toLowerCase()] = value;
  }
  const body =
    event.body == null ? Buffer.alloc(0) : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
  return {
    method: event.httpMethod,
    url: `${publicBaseUrl.replace(/\/+$/, '')}${event.path}${queryString(event)}`,
    headers,
    body,
    sourceIp: event.requestContext?.identity?.sourceIp ?? '',
  };
}

function queryString(event: APIGatewayProxyEvent): string {
  const params = event.multiValueQueryStringParameters;
  if (!params) return '';
  const search = new URLSearchParams();
  for (const [name, values] of Object.entries(params))
    for (const value of values ?? []) search.append(name, value);
  const text = search.toString();
  return text ? `?${text}` : '';
}

export function jsonResponse(
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyResult {
  return {
    statusCode,
    headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers },
    body: JSON.stringify(body),
  };
}

/** The one error shape of every API response: `{success:false, error:{code, message}}`. */
export function errorResponse(error: unknown): APIGatewayProxyResult {
  if (error instanceof HttpError) {
    return jsonResponse(
      error.statusCode,
      { success: false, error: { code: error.code, message: error.message } },
      error.headers,
    );
  }
  // Unknown failures never leak details; 500 makes providers retry.
  return jsonResponse(500, { success: false, error: { code: 'internal_error', message: 'Internal error' } });
}
