import { createHmac } from 'node:crypto';

/** Signs a body the way Shopify does: base64 HMAC-SHA256 of the raw bytes. */
export function shopifySignature(secret: string, body: string): string {
  return createHmac('sha256', secret).update(body, 'utf8').digest('base64');
}

export async function postShopify(
  baseUrl: string,
  body: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${baseUrl}/api/webhooks/shopify`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body,
  });
  return { status: response.status, body: await response.json() };
}
