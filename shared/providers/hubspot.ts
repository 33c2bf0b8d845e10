import { hmacSha256, safeEqual, sha256Hex } from '../crypto';
import { BadRequestError, UnauthorizedError } from '../errors';
import { contentId, parseJsonItems } from '../json';
import { normalizeSourceAccount } from '../source-account';
import { toIsoTime } from '../time';
import * as z from '../zod-mini';
import type { ProviderEvent, WebhookProvider, WebhookRequest } from './types';

/** HubSpot rejects nothing older than this itself; we refuse replays outside the same window. */
export const HUBSPOT_MAX_AGE_MS = 5 * 60 * 1000;
/** Tolerated clock difference for timestamps from the future. */
export const HUBSPOT_MAX_FUTURE_SKEW_MS = 60 * 1000;
export const HUBSPOT_MAX_BATCH = 100;

/** HubSpot's v3 rule: only these escapes are decoded in the URI before signing. */
const V3_URI_DECODES: Record<string, string> = {
  '%3A': ':',
  '%2F': '/',
  '%3F': '?',
  '%40': '@',
  '%21': '!',
  '%24': '$',
  '%27': "'",
  '%28': '(',
  '%29': ')',
  '%2A': '*',
  '%2C': ',',
  '%3B': ';',
};

export function hubspotV3Uri(uri: string): string {
  return uri.replace(
    /%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)/g,
    (sequence) => V3_URI_DECODES[sequence] ?? sequence,
  );
}

/** base64 HMAC-SHA256 of method + uri + body + timestamp (the MAC alone; the age check is separate). */
export function hubspotV3Signature(
  secret: string,
  method: string,
  uri: string,
  body: Buffer,
  timestamp: string,
): string {
  const signed = Buffer.concat([Buffer.from(method + hubspotV3Uri(uri)), body, Buffer.from(timestamp)]);
  return hmacSha256(secret, signed).toString('base64');
}

/** v1: sha256(secret + body); v2: sha256(secret + method + uri + body); both hex. */
export function hubspotLegacySignature(
  version: 'v1' | 'v2',
  secret: string,
  method: string,
  uri: string,
  body: Buffer,
): string {
  const prefix = version === 'v1' ? secret : secret + method + uri;
  return sha256Hex(Buffer.concat([Buffer.from(prefix), body]));
}

/** HubSpot's generic `object.*` subscriptions name the type by id. */
const OBJECT_TYPE_IDS: Record<string, string> = {
  '0-1': 'contact',
  '0-2': 'company',
  '0-3': 'deal',
  '0-5': 'ticket',
};

const count = () => z.int().check(z.nonnegative());
const text = (min: number, max: number) => z.string().check(z.minLength(min), z.maxLength(max));
const upTo = (max: number) => z.string().check(z.maxLength(max));
const idSchema = z.pipe(z.union([text(1, 200), count()]), z.transform(String));

const eventSchema = z.looseObject({
  eventId: z.optional(idSchema),
  subscriptionId: z.optional(idSchema),
  portalId: z.optional(idSchema),
  appId: z.optional(idSchema),
  occurredAt: z.optional(count()),
  subscriptionType: z.optional(text(3, 100)),
  eventType: z.optional(text(3, 100)),
  attemptNumber: z.optional(count()),
  objectId: z.optional(idSchema),
  objectTypeId: z.optional(upTo(20)),
  propertyName: z.optional(upTo(200)),
  changeSource: z.optional(upTo(100)),
  primaryObjectId: z.optional(idSchema),
  fromObjectId: z.optional(idSchema),
});

type HubSpotEvent = z.infer<typeof eventSchema>;

export const hubspot: WebhookProvider = {
  name: 'hubspot',
  mediaTypes: ['application/json'],

  verify(request, { secrets, acceptLegacySignatures = false }, now) {
    const v3 = request.headers['x-hubspot-signature-v3'];
    if (v3) return verifyV3(request, v3, secrets, now);
    const legacy = request.headers['x-hubspot-signature'];
    if (!legacy)
      throw new UnauthorizedError(
        'Missing X-HubSpot-Signature-v3 or X-HubSpot-Signature header',
        'signature_missing',
      );
    if (!acceptLegacySignatures)
      throw new UnauthorizedError('Only X-HubSpot-Signature-v3 is accepted', 'legacy_signature_refused');
    const version = legacyVersionOf(request);
    if (!version)
      throw new UnauthorizedError(
        `Unsupported signature version ${request.headers['x-hubspot-signature-version']}`,
        'signature_malformed',
      );
    if (!secrets.some((secret) => legacyMatches(request, version, legacy, secret)))
      throw new UnauthorizedError('Invalid X-HubSpot-Signature');
  },

  signsBody: true,

  /** The v3 signature when there is one (the one verify checks), else the legacy one. */
  signedWith(request, secret) {
    if (secret === '') return false;
    const v3 = request.headers['x-hubspot-signature-v3'];
    const timestamp = request.headers['x-hubspot-request-timestamp'];
    if (v3) return timestamp !== undefined && v3Matches(request, v3, timestamp, secret);
    const legacy = request.headers['x-hubspot-signature'];
    const version = legacyVersionOf(request);
    return legacy !== undefined && version !== undefined && legacyMatches(request, version, legacy, secret);
  },

  parse(request, receivedAt) {
    return parseJsonItems(request.body, HUBSPOT_MAX_BATCH).map((item, index) =>
      toEvent(item, index, receivedAt),
    );
  },

  signatureOf(request) {
    return request.headers['x-hubspot-signature-v3'] ?? request.headers['x-hubspot-signature'];
  },

  /** Each event names its portal (an app installed in several portals may mix them in one batch). */
  sourceAccountOf(_request, event) {
    const portal = event.meta.portalId;
    return portal === undefined ? undefined : normalizeSourceAccount('hubspot', portal);
  },
};

function verifyV3(request: WebhookRequest, signature: string, secrets: readonly string[], now: Date): void {
  const timestamp = request.headers['x-hubspot-request-timestamp'];
  if (!timestamp || !/^\d{1,15}$/.test(timestamp))
    throw new UnauthorizedError('Missing X-HubSpot-Request-Timestamp', 'signature_malformed');
  const age = now.getTime() - Number(timestamp);
  const skew = { skew_seconds: Math.round(age / 1000) };
  if (age > HUBSPOT_MAX_AGE_MS)
    throw new UnauthorizedError('Request timestamp is older than 5 minutes', 'stale_timestamp').because(
      'stale_timestamp',
      skew,
    );
  if (age < -HUBSPOT_MAX_FUTURE_SKEW_MS)
    throw new UnauthorizedError('Request timestamp is in the future', 'stale_timestamp').because(
      'stale_timestamp',
      skew,
    );
  if (!secrets.some((secret) => v3Matches(request, signature, timestamp, secret)))
    throw new UnauthorizedError('Invalid X-HubSpot-Signature-v3');
}

function v3Matches(request: WebhookRequest, signature: string, timestamp: string, secret: string): boolean {
  return safeEqual(
    Buffer.from(hubspotV3Signature(secret, request.method, request.url, request.body, timestamp), 'base64'),
    Buffer.from(signature, 'base64'),
  );
}

function legacyVersionOf(request: WebhookRequest): 'v1' | 'v2' | undefined {
  const version = (request.headers['x-hubspot-signature-version'] ?? 'v1').toLowerCase();
  return version === 'v1' || version === 'v2' ? version : undefined;
}

function legacyMatches(
  request: WebhookRequest,
  version: 'v1' | 'v2',
  signature: string,
  secret: string,
): boolean {
  // The seed's examples write the header as "sha256=<hex>".
  const given = Buffer.from(signature.replace(/^sha256=/i, '').toLowerCase(), 'utf8');
  return safeEqual(
    Buffer.from(hubspotLegacySignature(version, secret, request.method, request.url, request.body)),
    given,
  );
}

function toEvent(item: unknown, index: number, receivedAt: Date): ProviderEvent {
  const parsed = eventSchema.safeParse(item);
  if (!parsed.success)
    throw new BadRequestError(`Event ${index} is not a HubSpot event: ${parsed.error.issues[0]?.message}`);
  const event = parsed.data;
  const subscriptionType = event.subscriptionType ?? event.eventType;
  if (!subscriptionType) throw new BadRequestError(`Event ${index} has no subscriptionType`);
  const { objectType, eventType } = classify(subscriptionType, event);
  const objectId = event.objectId ?? event.primaryObjectId ?? event.fromObjectId;
  if (!objectId) throw new BadRequestError(`Event ${index} has no objectId`);

  const occurredAt = event.occurredAt === undefined ? receivedAt.toISOString() : toIsoTime(event.occurredAt);
  if (!occurredAt) throw new BadRequestError(`Event ${index} has an invalid occurredAt`);
  const portal = event.portalId ?? '-';
  // eventId alone is not unique; HubSpot's own dedup tuple is portal, subscription, event and time.
  // An event without an eventId or occurredAt is told apart by its content too, less the
  // attemptNumber that a retry of it changes.
  const tuple = [
    portal,
    event.appId ?? '-',
    event.subscriptionId ?? '-',
    event.eventId ?? '-',
    event.occurredAt ?? '-',
  ];
  if (event.eventId === undefined || event.occurredAt === undefined)
    tuple.push(contentId({ ...(item as object), attemptNumber: undefined }));
  const deliveryId = tuple.join(':');
  const meta: Record<string, string> = { subscriptionType };
  if (event.attemptNumber !== undefined) meta.attemptNumber = String(event.attemptNumber);
  if (event.propertyName) meta.propertyName = event.propertyName;
  if (event.changeSource) meta.changeSource = event.changeSource;
  if (event.portalId) meta.portalId = event.portalId;

  return {
    eventType,
    objectType,
    objectId,
    occurredAt,
    deliveryId,
    dedupKey: `hubspot:${deliveryId}`,
    orderingKey: `hubspot:${portal}:${objectType}:${objectId}`,
    meta,
    payload: item,
  };
}

/**
 * Names the object and the event the way our users do: `deal.propertyChange` of `dealstage` is a
 * `deal.stageChange`; generic `object.creation` with objectTypeId 0-1 is a `contact.creation`.
 */
function classify(subscriptionType: string, event: HubSpotEvent): { objectType: string; eventType: string } {
  const dot = subscriptionType.indexOf('.');
  if (dot <= 0) throw new BadRequestError(`Unknown subscriptionType ${subscriptionType}`);
  let objectType = subscriptionType.slice(0, dot);
  const action = subscriptionType.slice(dot + 1);
  if (objectType === 'object') {
    objectType = OBJECT_TYPE_IDS[event.objectTypeId ?? ''] ?? `object-${event.objectTypeId ?? 'unknown'}`;
  }
  const isStageChange =
    objectType === 'deal' && action === 'propertyChange' && event.propertyName === 'dealstage';
  return { objectType, eventType: isStageChange ? 'deal.stageChange' : `${objectType}.${action}` };
}
