import { hmacSha256, safeEqual } from '../crypto';
import { BadRequestError, UnauthorizedError } from '../errors';
import { contentId, isJsonObject, parseJsonBody } from '../json';
import { normalizeSourceAccount } from '../source-account';
import { toIsoTime } from '../time';
import type { ProviderEvent, WebhookProvider } from './types';

const TOPIC = /^[a-z_]+\/[a-z_]+$/;

/** Shopify resource (topic prefix) -> our object type. */
const OBJECT_TYPES: Record<string, string> = {
  orders: 'order',
  customers: 'customer',
  products: 'product',
  inventory_levels: 'inventory_level',
};

export const shopify: WebhookProvider = {
  name: 'shopify',
  mediaTypes: ['application/json'],

  verify(request, { secrets }) {
    const header = request.headers['x-shopify-hmac-sha256'];
    if (!header) throw new UnauthorizedError('Missing X-Shopify-Hmac-Sha256 header');
    const given = Buffer.from(header, 'base64');
    // Node's decoder skips what it cannot read (`<signature>, junk` decodes like the signature
    // alone): only the canonical encoding of exactly one digest is a signature.
    if (given.length !== 32 || given.toString('base64') !== header.trim())
      throw new UnauthorizedError('Invalid X-Shopify-Hmac-Sha256 signature');
    // Several secrets are accepted so deliveries signed before a rotation still verify.
    const valid = secrets.some((secret) => safeEqual(hmacSha256(secret, request.body), given));
    if (!valid) throw new UnauthorizedError('Invalid X-Shopify-Hmac-Sha256 signature');
  },

  parse(request, receivedAt) {
    const topic = request.headers['x-shopify-topic'];
    if (!topic || !TOPIC.test(topic))
      throw new BadRequestError('Missing or malformed X-Shopify-Topic header');
    const payload = parseBody(request.body);

    const resource = topic.slice(0, topic.indexOf('/'));
    const objectType = OBJECT_TYPES[resource] ?? resource;
    const objectId = objectIdOf(objectType, payload);
    const shopDomain = request.headers['x-shopify-shop-domain'] ?? '';
    // The seed's minimal example has no Webhook-Id: its topic, shop and body identify it instead.
    const deliveryId =
      request.headers['x-shopify-webhook-id'] || contentId({ topic, shop: shopDomain, payload });

    const meta: Record<string, string> = { topic };
    for (const [key, header] of META_HEADERS) {
      const value = request.headers[header];
      if (value) meta[key] = value;
    }

    const event: ProviderEvent = {
      eventType: topic,
      objectType,
      objectId,
      occurredAt: sourceTime(payload, request.headers['x-shopify-triggered-at'], receivedAt),
      deliveryId,
      dedupKey: `shopify:${deliveryId}`,
      orderingKey: `shopify:${shopDomain}:${objectType}:${objectId}`,
      meta,
      payload,
    };
    return [event];
  },

  signatureOf(request) {
    return request.headers['x-shopify-hmac-sha256'];
  },

  sourceAccountOf(request) {
    const shop = request.headers['x-shopify-shop-domain'];
    return shop === undefined ? undefined : normalizeSourceAccount('shopify', shop);
  },
};

const META_HEADERS = [
  ['shopDomain', 'x-shopify-shop-domain'],
  ['apiVersion', 'x-shopify-api-version'],
  ['eventId', 'x-shopify-event-id'],
  ['triggeredAt', 'x-shopify-triggered-at'],
] as const;

function parseBody(body: Buffer): Record<string, unknown> {
  const payload = parseJsonBody(body);
  if (!isJsonObject(payload)) throw new BadRequestError('Body must be a JSON object');
  return payload;
}

function objectIdOf(objectType: string, payload: Record<string, unknown>): string {
  if (objectType === 'inventory_level') {
    const item = idString(payload.inventory_item_id);
    const location = idString(payload.location_id);
    if (item && location) return `${item}:${location}`;
    throw new BadRequestError('inventory_levels payload needs inventory_item_id and location_id');
  }
  const id = idString(payload.id);
  if (!id) throw new BadRequestError('Payload needs an id');
  return id;
}

function idString(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  if (typeof value === 'string' && /^[0-9A-Za-z_:/.-]{1,200}$/.test(value)) return value;
  return undefined;
}

/** The change's own time: updated_at, else created_at, else when Shopify triggered it, else now. */
function sourceTime(
  payload: Record<string, unknown>,
  triggeredAt: string | undefined,
  receivedAt: Date,
): string {
  for (const candidate of [payload.updated_at, payload.created_at, triggeredAt]) {
    // Only strings: a bare number here is not a Shopify timestamp.
    const iso = typeof candidate === 'string' ? toIsoTime(candidate) : undefined;
    if (iso) return iso;
  }
  return receivedAt.toISOString();
}
