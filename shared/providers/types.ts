import type { ProviderName } from '../envelope';

/** An inbound webhook as the provider sent it: raw bytes, lower-cased header names. */
export interface WebhookRequest {
  method: string;
  /** The public URL the provider called, with the query string (HubSpot v3 signs it). */
  url: string;
  headers: Readonly<Record<string, string>>;
  body: Buffer;
  sourceIp: string;
}

/** One business event extracted from a request, before routing adds priority and timestamps. */
export interface ProviderEvent {
  eventType: string;
  objectType: string;
  objectId: string;
  occurredAt: string;
  deliveryId: string;
  dedupKey: string;
  orderingKey: string;
  meta: Record<string, string>;
  payload: unknown;
}

/** What a provider checks a request against; only `secrets` is common to all of them. */
export interface VerifySettings {
  /** Shared signing secrets, current first (the previous one stays valid during a rotation). */
  secrets: readonly string[];
  /** Salesforce: PEM public key (SPKI) for RS256 bearer tokens. */
  publicKey?: string;
  /** Salesforce: expected `aud` of bearer tokens. */
  audience?: string;
  /** Salesforce: the org id bearer tokens and Outbound Messages must carry. */
  orgId?: string;
  /**
   * Salesforce: the endpoint tokens an Outbound Message may carry (shared/providers/outbound-message-token.ts);
   * none: Outbound Messages are refused.
   */
  outboundMessageTokens?: readonly string[];
  /** Salesforce: the longest a bearer token may be valid (`exp - iat`), in seconds; default 300. */
  maxTokenLifetimeSeconds?: number;
  /** HubSpot: also accept the v1/v2 signatures, which carry no timestamp. */
  acceptLegacySignatures?: boolean;
}

/** The 2xx body a provider expects once everything is enqueued. */
export interface Acknowledgement {
  contentType: string;
  body: string;
}

/** The one interface every provider module implements; see shared/providers/registry.ts. */
export interface WebhookProvider {
  readonly name: ProviderName;
  /** Content types this provider sends (compared without parameters such as charset). */
  readonly mediaTypes: readonly string[];
  /** Throws (or rejects with) UnauthorizedError unless the request is authentic. */
  verify(request: WebhookRequest, settings: VerifySettings, now: Date): void | Promise<void>;
  /** Throws BadRequestError for bodies that are not a valid delivery of this provider. */
  parse(request: WebhookRequest, receivedAt: Date): ProviderEvent[];
  /** The success answer, when the provider requires a specific one (Salesforce's SOAP Ack). */
  acknowledge?(request: WebhookRequest): Acknowledgement | undefined;
  /**
   * The provider account a verified event comes from, in its comparable form (shared/source-account.ts:
   * a Shopify shop domain, a HubSpot portal id, a Salesforce org id); undefined when it names none.
   * A webhook config bound to an account refuses events from any other (shared/ingest.ts).
   */
  sourceAccountOf(request: WebhookRequest, event: ProviderEvent): string | undefined;
  /** The request's signature as recorded with the delivery (never a credential); undefined if none. */
  signatureOf(request: WebhookRequest): string | undefined;
  /**
   * Whether the request's signature was made with this secret over the request as given (its body
   * may be a normalized copy), timestamps and claims aside: what the rejection diagnosis asks
   * (shared/rejections/diagnose.ts). False when the request carries no signature of this kind.
   */
  signedWith(request: WebhookRequest, secret: string): boolean;
  /** Whether the signature covers the body (so a body changed on the way breaks it). */
  readonly signsBody: boolean;
}
