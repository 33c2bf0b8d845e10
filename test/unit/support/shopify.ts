import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { WebhookRequest } from '../../../shared/providers/types';

export const SHOP_DOMAIN = 'jsmith.myshopify.com';
export const SECRET = 'shpss_current_0f9d2c7e5b1a';
export const PREVIOUS_SECRET = 'shpss_previous_7a3e91c4d2f8';

/** A Shopify sample payload exactly as stored (raw bytes, so big ids keep every digit). */
export function shopifyFixture(name: string): Buffer {
  return readFileSync(new URL(`../../fixtures/shopify/${name}`, import.meta.url));
}

export function shopifySignature(body: Buffer | string, secret: string): string {
  return createHmac('sha256', secret).update(body).digest('base64');
}

/** The headers Shopify sends with a delivery, lower-cased as the ingest adapter passes them on. */
export function shopifyHeaders(
  body: Buffer,
  options: { topic?: string; secret?: string; webhookId?: string } = {},
): Record<string, string> {
  return {
    'content-type': 'application/json',
    'x-shopify-hmac-sha256': shopifySignature(body, options.secret ?? SECRET),
    'x-shopify-topic': options.topic ?? 'orders/create',
    'x-shopify-shop-domain': SHOP_DOMAIN,
    'x-shopify-api-version': '2025-07',
    'x-shopify-webhook-id': options.webhookId ?? 'b54557e4-bdd9-4b37-8a5f-bf7d70bcd043',
    'x-shopify-event-id': '98880550-7158-44d4-b7cd-2c97c8a091b5',
    'x-shopify-triggered-at': '2022-01-01T00:00:05.000Z',
  };
}

export function shopifyRequest(
  body: Buffer,
  options: { topic?: string; secret?: string; webhookId?: string; headers?: Record<string, string> } = {},
): WebhookRequest {
  return {
    method: 'POST',
    url: 'https://hooks.example.com/api/webhooks/shopify',
    headers: { ...shopifyHeaders(body, options), ...options.headers },
    body,
    sourceIp: '34.123.45.67',
  };
}
