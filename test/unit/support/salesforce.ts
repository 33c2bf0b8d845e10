import { readFileSync } from 'node:fs';
import type { WebhookRequest } from '../../../shared/providers/types';

/** The org of the Outbound Message fixture, in its 18-character form. */
export const ORG_ID = '00D5g000004AbCdEAA';
export const WEBHOOK_URL = 'https://hooks.example.com/api/webhooks/salesforce';

/** A Salesforce fixture exactly as stored (raw bytes). */
export function salesforceFixture(name: string): Buffer {
  return readFileSync(new URL(`../../fixtures/salesforce/${name}`, import.meta.url));
}

/** A CDC fixture as a plain object, to wrap or alter before re-serializing it. */
export function changeEventFixture(name: string): Record<string, unknown> {
  return JSON.parse(salesforceFixture(name).toString('utf8'));
}

/** A JSON delivery (Flow/Apex callout or Event Relay push); objects are serialized as sent. */
export function salesforceJsonRequest(
  body: Buffer | string | object,
  headers: Record<string, string> = {},
): WebhookRequest {
  const bytes = Buffer.isBuffer(body)
    ? body
    : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  return {
    method: 'POST',
    url: WEBHOOK_URL,
    headers: { 'content-type': 'application/json', ...headers },
    body: bytes,
    sourceIp: '13.108.0.10',
  };
}

/** The endpoint token the Outbound Message tests configure (and send, unless told otherwise). */
export const OM_TOKEN = 'om-token-0123456789abcdefghijklmnopqrstuvwxyzAB';

/** A SOAP Outbound Message as Salesforce posts it, to the endpoint URL with `?token=` (none: null). */
export function outboundMessageRequest(
  body: Buffer | string = salesforceFixture('outbound-message.xml'),
  token: string | null = OM_TOKEN,
) {
  return {
    method: 'POST',
    url: token === null ? WEBHOOK_URL : `${WEBHOOK_URL}?token=${encodeURIComponent(token)}`,
    headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: '""' },
    body: Buffer.isBuffer(body) ? body : Buffer.from(body),
    sourceIp: '13.108.0.10',
  } satisfies WebhookRequest;
}
