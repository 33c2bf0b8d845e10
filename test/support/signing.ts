import { createHash, createHmac } from 'node:crypto';

/** Shopify: base64 HMAC-SHA256 of the raw body bytes. */
export function shopifyHmac(secret: string, body: string | Buffer): string {
  return createHmac('sha256', secret).update(body).digest('base64');
}

/** HubSpot v3: base64 HMAC-SHA256 of method + URI + body + timestamp (URIs here need no decoding). */
export function hubspotV3(
  secret: string,
  method: string,
  uri: string,
  body: string,
  timestamp: string,
): string {
  return createHmac('sha256', secret).update(`${method}${uri}${body}${timestamp}`).digest('base64');
}

/** HubSpot v1: hex SHA-256 of secret + body (a plain hash, not an HMAC). */
export function hubspotV1(secret: string, body: string): string {
  return createHash('sha256')
    .update(secret + body)
    .digest('hex');
}

/**
 * A compact JWS built by hand, so tests can make the tokens a library refuses to: `alg: none`
 * (key null: empty signature), HS256 with an empty key, or an RS256 header over an HMAC signature.
 */
export function handMadeJwt(
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
  key: string | null,
) {
  const encode = (part: Record<string, unknown>) => Buffer.from(JSON.stringify(part)).toString('base64url');
  const input = `${encode(header)}.${encode(claims)}`;
  const signature = key === null ? '' : createHmac('sha256', key).update(input).digest('base64url');
  return `${input}.${signature}`;
}

export function epochSeconds(offsetSeconds = 0): number {
  return Math.floor(Date.now() / 1000) + offsetSeconds;
}
