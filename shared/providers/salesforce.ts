import { XMLParser } from 'fast-xml-parser';
import { decodeProtectedHeader, errors, importSPKI, type JWTPayload, jwtVerify } from 'jose';
import { hmacSha256, safeEqual, sha256Hex } from '../crypto';
import { BadRequestError, PayloadTooLargeError, UnauthorizedError } from '../errors';
import { contentId, decodeUtf8, isJsonObject, parseJsonItems } from '../json';
import type { RejectionCause } from '../rejections/causes';
import { normalizeSourceAccount } from '../source-account';
import { toIsoTime } from '../time';
import * as z from '../zod-mini';
import { OUTBOUND_MESSAGE_TOKEN_PARAMETER } from './outbound-message-token';
import { DEFAULT_MAX_TOKEN_LIFETIME_SECONDS } from './salesforce-limits';
import type {
  Acknowledgement,
  ProviderEvent,
  VerifySettings,
  WebhookProvider,
  WebhookRequest,
} from './types';

/** Bearer tokens may be this far off on exp/nbf; PROVIDERS.md allows at most 60 s. */
const CLOCK_SKEW_SECONDS = 60;
export const SALESFORCE_MAX_BATCH = 100;
/**
 * The largest Outbound Message parsed: 100 notifications of a few dozen fields fit many times over,
 * and the XML parser never sees more, whatever MAX_BODY_BYTES allows JSON deliveries.
 */
export const OUTBOUND_MESSAGE_MAX_BYTES = 1024 * 1024;

const XML_TYPES = ['text/xml', 'application/xml', 'application/soap+xml'];

/** What Salesforce must receive, within 60 s, for an Outbound Message not to be resent. */
export const OUTBOUND_MESSAGE_ACK =
  '<?xml version="1.0" encoding="UTF-8"?>' +
  '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>' +
  '<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack></notificationsResponse>' +
  '</soapenv:Body></soapenv:Envelope>';

const recordId = z.string().check(z.regex(/^[A-Za-z0-9]{1,40}$/, 'must be a Salesforce record id'));
const entityName = z.string().check(z.regex(/^[A-Za-z][A-Za-z0-9_]{0,79}$/, 'must be an sObject name'));
const changeType = z.string().check(z.regex(/^[A-Z_]{1,40}$/));
const recordIds = z.array(recordId).check(z.minLength(1), z.maxLength(1000));
const count = () => z.int().check(z.nonnegative());
const transactionKey = z.string().check(z.minLength(1), z.maxLength(200));

/** CDC `ChangeEventHeader` (Pub/Sub API / Event Relay field names). */
const changeEventHeaderSchema = z.looseObject({
  entityName,
  recordIds,
  changeType,
  commitTimestamp: z.optional(count()),
  transactionKey: z.optional(transactionKey),
  sequenceNumber: z.optional(count()),
  commitUser: z.optional(z.string().check(z.maxLength(40))),
  changedFields: z.optional(z.array(z.string().check(z.maxLength(200))).check(z.maxLength(5000))),
});

/** Our users' simplified shape: `{header:{recordId, changeType}, data:{...}}`. */
const simplifiedSchema = z.looseObject({
  eventType: z.optional(z.string()),
  event_type: z.optional(z.string()),
  header: z.looseObject({
    recordId: z.optional(recordId),
    recordIds: z.optional(recordIds),
    changeType: z.optional(changeType),
    entityName: z.optional(entityName),
    eventType: z.optional(z.string()),
    commitTimestamp: z.optional(count()),
    transactionKey: z.optional(transactionKey),
    sequenceNumber: z.optional(count()),
  }),
  data: z.optional(z.record(z.string(), z.unknown())),
});

const CHANGE_EVENT_TYPE = /^([A-Za-z][A-Za-z0-9_]{0,79})ChangeEvent$/;

const xml = new XMLParser({
  removeNSPrefix: true,
  ignoreAttributes: false,
  parseTagValue: false,
  // Field values arrive escapes and all ("Johnson &amp; Johnson"): decode the predefined and
  // numeric entities. DTDs, the only source of custom (and exploding) entities, are refused first.
  processEntities: true,
  htmlEntities: true,
  isArray: (name) => name === 'Notification',
});

interface OutboundMessage {
  organizationId: string;
  actionId: string;
  notifications: { id: string; entity: string; fields: Record<string, unknown> }[];
}

/** Parsed once in verify and reused by parse. */
const outboundMessages = new WeakMap<WebhookRequest, OutboundMessage>();
/** The org id claim of a verified bearer token, for sourceAccounts. */
const tokenOrgs = new WeakMap<WebhookRequest, string>();
const publicKeys = new Map<string, ReturnType<typeof importSPKI>>();

export const salesforce: WebhookProvider = {
  name: 'salesforce',
  mediaTypes: ['application/json', ...XML_TYPES],

  async verify(request, settings, now) {
    if (isXml(request)) return verifyOutboundMessage(request, settings);
    await verifyBearerToken(request, settings, now);
  },

  signsBody: false,

  /** An HS256 bearer token signed with this secret, whatever its claims say. */
  signedWith(request, secret) {
    const token = bearerTokenOf(request);
    if (token === undefined || secret === '') return false;
    const [header, payload, signature] = token.split('.') as [string, string, string];
    try {
      if (decodeProtectedHeader(token).alg !== 'HS256') return false;
    } catch {
      return false;
    }
    return safeEqual(hmacSha256(secret, `${header}.${payload}`), Buffer.from(signature, 'base64url'));
  },

  parse(request, receivedAt) {
    if (isXml(request)) return outboundMessageEvents(outboundMessageOf(request), receivedAt);
    const items = parseJsonItems(request.body, SALESFORCE_MAX_BATCH);
    return items.flatMap((item, index) =>
      jsonEvents(item, index, request.headers['x-salesforce-event-type'], receivedAt),
    );
  },

  acknowledge(request): Acknowledgement | undefined {
    return isXml(request)
      ? { contentType: 'text/xml; charset=utf-8', body: OUTBOUND_MESSAGE_ACK }
      : undefined;
  },

  /** A bearer token's signature part only: the token itself is a credential until it expires. */
  signatureOf(request) {
    const token = /^Bearer +[\w-]+\.[\w-]+\.([\w-]*)$/i.exec(request.headers.authorization ?? '')?.[1];
    return token || undefined;
  },

  /** The org of an Outbound Message, or the org id claim of its bearer token. */
  sourceAccountOf(request) {
    const org = isXml(request) ? outboundMessageOf(request).organizationId : tokenOrgs.get(request);
    return org === undefined ? undefined : normalizeSourceAccount('salesforce', org);
  },
};

function isXml(request: WebhookRequest): boolean {
  const mediaType = request.headers['content-type']?.split(';', 1)[0]?.trim().toLowerCase() ?? '';
  return XML_TYPES.includes(mediaType);
}

function bearerTokenOf(request: WebhookRequest): string | undefined {
  return /^Bearer +([\w-]+\.[\w-]+\.[\w-]*)$/i.exec(request.headers.authorization ?? '')?.[1];
}

/**
 * A bearer token is accepted when its signature verifies (HS256 with an accepted secret, or RS256
 * with the configured public key), it is within `nbf`..`exp` (60 s skew), it names its issue time
 * (`iat`) and is valid for at most `maxTokenLifetimeSeconds` (`exp - iat`), its `aud` and org claim
 * match what is configured, and, when it carries a `body_sha256` claim, that claim is the SHA-256 of
 * this very body. A token replayed within its lifetime delivers the same events again, which the
 * dedup keys make harmless; with `body_sha256` it cannot carry another body at all.
 */
async function verifyBearerToken(
  request: WebhookRequest,
  settings: VerifySettings,
  now: Date,
): Promise<void> {
  const token = bearerTokenOf(request);
  if (!token) {
    const given = request.headers.authorization;
    throw given
      ? new UnauthorizedError('Authorization must be Bearer <JWT>', 'signature_malformed')
      : new UnauthorizedError('Missing Authorization: Bearer <JWT>', 'signature_missing');
  }
  let alg: string | undefined;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch {
    throw new UnauthorizedError('Malformed bearer token', 'signature_malformed');
  }
  // The algorithm is tied to the kind of key we hold: "none", or HS256 signed with our public key, never verify.
  const keys =
    alg === 'RS256' && settings.publicKey
      ? [await publicKey(settings.publicKey)]
      : alg === 'HS256'
        ? settings.secrets.map((secret) => new TextEncoder().encode(secret))
        : [];
  if (keys.length === 0)
    throw new UnauthorizedError(`Unsupported token algorithm ${alg ?? 'none'}`, 'token_claims_invalid');

  let claims: JWTPayload | undefined;
  let refusal: UnauthorizedError | undefined;
  for (const key of keys) {
    try {
      ({ payload: claims } = await jwtVerify(token, key, {
        algorithms: [alg as string],
        audience: settings.audience,
        clockTolerance: CLOCK_SKEW_SECONDS,
        currentDate: now,
        requiredClaims: ['exp', 'iat'],
      }));
      break;
    } catch (error) {
      // A claim failure means this key verified the signature: that is the answer. Otherwise try
      // the next accepted secret (rotation); none left means the token is not ours.
      refusal = tokenRefusal(error);
      if (refusal.reason?.cause !== 'signature_mismatch') break;
    }
  }
  if (!claims) throw refusal ?? new UnauthorizedError('Invalid bearer token');
  const lifetime = (claims.exp as number) - (claims.iat as number);
  const maxLifetime = settings.maxTokenLifetimeSeconds ?? DEFAULT_MAX_TOKEN_LIFETIME_SECONDS;
  if (lifetime > maxLifetime)
    throw new UnauthorizedError(
      `Bearer tokens may be valid for at most ${maxLifetime} s (exp - iat); this one for ${lifetime} s`,
      'token_lifetime_invalid',
    ).because('token_lifetime_invalid', { lifetime_seconds: lifetime, max_seconds: maxLifetime });
  if ((claims.iat as number) > now.getTime() / 1000 + CLOCK_SKEW_SECONDS)
    throw new UnauthorizedError('Bearer token issued in the future', 'token_not_yet_valid');
  const bodyHash = claims.body_sha256;
  if (
    bodyHash !== undefined &&
    (typeof bodyHash !== 'string' || bodyHash.toLowerCase() !== sha256Hex(request.body))
  )
    throw new UnauthorizedError('The token was issued for another body (body_sha256)', 'body_hash_mismatch');
  const org = claims.organization_id ?? claims.org_id ?? claims.orgId;
  if (typeof org === 'string') tokenOrgs.set(request, org);
  if (settings.orgId && (typeof org !== 'string' || !sameOrg(org, settings.orgId))) {
    throw new UnauthorizedError('Token is not from the configured Salesforce org', 'source_account_mismatch');
  }
}

/** jose's reasons for refusing a token, as rejection causes. */
function tokenRefusal(error: unknown): UnauthorizedError {
  if (error instanceof errors.JWTExpired)
    return new UnauthorizedError('Expired bearer token', 'token_expired');
  if (error instanceof errors.JWTClaimValidationFailed) {
    const causes: Record<string, RejectionCause> = {
      nbf: 'token_not_yet_valid',
      iat: 'token_lifetime_invalid',
      exp: 'token_lifetime_invalid',
    };
    const cause = causes[error.claim] ?? 'token_claims_invalid';
    return new UnauthorizedError(`Bearer token refused: ${error.claim} claim ${error.reason}`, cause);
  }
  return new UnauthorizedError('Invalid bearer token', 'signature_mismatch');
}

function publicKey(pem: string): ReturnType<typeof importSPKI> {
  let key = publicKeys.get(pem);
  if (!key) {
    key = importSPKI(pem, 'RS256');
    publicKeys.set(pem, key);
  }
  return key;
}

/** Org ids come as 15 or 18 characters; the first 15 identify the org (case-sensitive). */
function sameOrg(a: string, b: string): boolean {
  return a.length >= 15 && b.length >= 15 && a.slice(0, 15) === b.slice(0, 15);
}

/**
 * Outbound Messages carry no signature and their OrganizationId is public. Cheap checks first, before
 * any XML is parsed: the size limit of Outbound Messages, then the endpoint token in the URL
 * (shared/providers/outbound-message-token.ts), compared in constant time; only then the org id
 * (provider-wide: SALESFORCE_ORG_ID; per config: the bound source account, see shared/ingest.ts).
 */
function verifyOutboundMessage(request: WebhookRequest, settings: VerifySettings): void {
  if (request.body.length > OUTBOUND_MESSAGE_MAX_BYTES)
    throw new PayloadTooLargeError(OUTBOUND_MESSAGE_MAX_BYTES);
  const tokens = settings.outboundMessageTokens ?? [];
  if (tokens.length === 0)
    throw new UnauthorizedError(
      'Outbound Messages are not accepted on this endpoint',
      'outbound_message_token_invalid',
    );
  const given = outboundMessageTokenOf(request);
  if (given === undefined)
    throw new UnauthorizedError(
      'Outbound Messages need the endpoint token in the URL (?token=)',
      'outbound_message_token_invalid',
    );
  const bytes = Buffer.from(given);
  if (!tokens.some((token) => safeEqual(Buffer.from(token), bytes)))
    throw new UnauthorizedError('Invalid Outbound Message endpoint token', 'outbound_message_token_invalid');
  if (settings.orgId && !sameOrg(outboundMessageOf(request).organizationId, settings.orgId)) {
    throw new UnauthorizedError(
      'Outbound Message is not from the configured Salesforce org',
      'source_account_mismatch',
    );
  }
}

function outboundMessageTokenOf(request: WebhookRequest): string | undefined {
  try {
    return new URL(request.url).searchParams.get(OUTBOUND_MESSAGE_TOKEN_PARAMETER) ?? undefined;
  } catch {
    return undefined;
  }
}

function outboundMessageOf(request: WebhookRequest): OutboundMessage {
  const cached = outboundMessages.get(request);
  if (cached) return cached;
  const text = decodeUtf8(request.body);
  // SOAP forbids document type declarations; refusing them rules out entity expansion attacks.
  if (/<!DOCTYPE/i.test(text)) throw new BadRequestError('Outbound Messages must not contain a DOCTYPE');
  let document: unknown;
  try {
    document = xml.parse(text, true);
  } catch {
    throw new BadRequestError('Body must be a well-formed SOAP Outbound Message');
  }
  const notifications = field(field(field(document, 'Envelope'), 'Body'), 'notifications');
  const organizationId = field(notifications, 'OrganizationId');
  const list = field(notifications, 'Notification');
  if (typeof organizationId !== 'string' || !Array.isArray(list) || list.length === 0) {
    throw new BadRequestError('Outbound Message needs OrganizationId and at least one Notification');
  }
  if (list.length > SALESFORCE_MAX_BATCH)
    throw new BadRequestError(`At most ${SALESFORCE_MAX_BATCH} notifications`);
  const message: OutboundMessage = {
    organizationId,
    actionId: String(field(notifications, 'ActionId') ?? ''),
    notifications: list.map((notification, index) => {
      const id = field(notification, 'Id');
      const sObject = field(notification, 'sObject');
      const type = field(sObject, '@_type');
      const entity = typeof type === 'string' ? type.replace(/^.*:/, '') : '';
      if (typeof id !== 'string' || !entityName.safeParse(entity).success || !isJsonObject(sObject)) {
        throw new BadRequestError(`Notification ${index} needs an Id and a typed sObject`);
      }
      const fields = Object.fromEntries(Object.entries(sObject).filter(([name]) => !name.startsWith('@_')));
      return { id, entity, fields };
    }),
  };
  outboundMessages.set(request, message);
  return message;
}

function field(value: unknown, name: string): unknown {
  return isJsonObject(value) ? value[name] : undefined;
}

function outboundMessageEvents(message: OutboundMessage, receivedAt: Date): ProviderEvent[] {
  return message.notifications.map(({ id, entity, fields }, index) => {
    const objectId = recordId.safeParse(fields.Id);
    if (!objectId.success) throw new BadRequestError(`Notification ${index} has no valid sObject Id`);
    const objectType = entity.toLowerCase();
    return {
      eventType: `${entity}OutboundMessage`,
      objectType,
      objectId: objectId.data,
      occurredAt: toIsoTime(fields.LastModifiedDate ?? fields.SystemModstamp) ?? receivedAt.toISOString(),
      deliveryId: id,
      dedupKey: `salesforce:om:${id}`,
      orderingKey: `salesforce:${objectType}:${objectId.data}`,
      meta: {
        source: 'outbound-message',
        changeType: 'UPDATE',
        organizationId: message.organizationId,
        actionId: message.actionId,
      },
      payload: fields,
    };
  });
}

/** A CDC change event (bare, or wrapped in `payload` / `detail.payload`) or the simplified shape. */
function jsonEvents(
  item: unknown,
  index: number,
  eventTypeHeader: string | undefined,
  receivedAt: Date,
): ProviderEvent[] {
  const changeEvent = [item, field(item, 'payload'), field(field(item, 'detail'), 'payload')].find(
    (candidate) => isJsonObject(field(candidate, 'ChangeEventHeader')),
  );
  if (changeEvent) {
    const header = changeEventHeaderSchema.safeParse(field(changeEvent, 'ChangeEventHeader'));
    if (!header.success)
      throw new BadRequestError(
        `Event ${index}: invalid ChangeEventHeader (${header.error.issues[0]?.message})`,
      );
    return changeEvents(
      { ...header.data, eventType: `${header.data.entityName}ChangeEvent` },
      changeEvent,
      receivedAt,
    );
  }

  const simplified = simplifiedSchema.safeParse(item);
  if (!simplified.success)
    throw new BadRequestError(`Event ${index} is neither a change event nor {header, data}`);
  const { header } = simplified.data;
  const eventType =
    simplified.data.eventType ??
    simplified.data.event_type ??
    header.eventType ??
    (header.entityName ? `${header.entityName}ChangeEvent` : undefined) ??
    eventTypeHeader;
  const entity = CHANGE_EVENT_TYPE.exec(eventType ?? '')?.[1];
  if (!eventType || !entity) {
    throw new BadRequestError(
      `Event ${index}: name the event type (e.g. OpportunityChangeEvent) in the body or X-Salesforce-Event-Type`,
    );
  }
  const recordIds = header.recordIds ?? (header.recordId ? [header.recordId] : []);
  if (recordIds.length === 0) throw new BadRequestError(`Event ${index}: header.recordId is required`);
  return changeEvents(
    { ...header, entityName: entity, eventType, recordIds, changeType: header.changeType ?? 'UPDATE' },
    item,
    receivedAt,
  );
}

interface ChangeHeader {
  entityName: string;
  eventType: string;
  recordIds: string[];
  changeType: string;
  commitTimestamp?: number;
  transactionKey?: string;
  sequenceNumber?: number;
  commitUser?: string;
}

/**
 * One event per record: a change event may name several records. It is identified by its
 * transaction and sequence number, or where it lacks either, by its content.
 */
function changeEvents(header: ChangeHeader, payload: unknown, receivedAt: Date): ProviderEvent[] {
  const deliveryId =
    header.transactionKey && header.sequenceNumber !== undefined
      ? `${header.transactionKey}:${header.sequenceNumber}`
      : contentId({ eventType: header.eventType, payload });
  const objectType = header.entityName.toLowerCase();
  const meta: Record<string, string> = {
    changeType: header.changeType,
    sequence: String(header.sequenceNumber ?? 0),
  };
  if (header.transactionKey) meta.transactionKey = header.transactionKey;
  if (header.commitUser) meta.commitUser = header.commitUser;
  // GAP_* events say "something changed, the data is not here": the record must be re-fetched.
  if (header.changeType.startsWith('GAP_')) meta.refetch = 'true';
  const occurredAt = toIsoTime(header.commitTimestamp) ?? receivedAt.toISOString();
  return header.recordIds.map((id) => ({
    eventType: header.eventType,
    objectType,
    objectId: id,
    occurredAt,
    deliveryId,
    dedupKey: `salesforce:${deliveryId}:${id}`,
    orderingKey: `salesforce:${objectType}:${id}`,
    meta,
    payload,
  }));
}
