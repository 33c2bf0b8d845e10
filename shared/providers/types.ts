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

/** The one interface every provider module implements; see shared/providers/registry.ts. */
export interface WebhookProvider {
  readonly name: ProviderName;
  /** Content types this provider sends (compared without parameters such as charset). */
  readonly mediaTypes: readonly string[];
  /** Throws UnauthorizedError unless the request is signed with one of `secrets`. */
  verify(request: WebhookRequest, secrets: readonly string[], now: Date): void;
  /** Throws BadRequestError for bodies that are not a valid delivery of this provider. */
  parse(request: WebhookRequest, receivedAt: Date): ProviderEvent[];
}
