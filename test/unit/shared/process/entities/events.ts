import { readFileSync } from 'node:fs';
import { type Envelope, envelopeSchema, type ProviderName } from '../../../../../shared/envelope';
import { parseJsonExact } from '../../../../../shared/json';
import { priorityOf } from '../../../../../shared/priority';
import { hubspot } from '../../../../../shared/providers/hubspot';
import { salesforce } from '../../../../../shared/providers/salesforce';
import { shopify } from '../../../../../shared/providers/shopify';
import type { ProviderEvent } from '../../../../../shared/providers/types';
import { outboundMessageRequest, salesforceJsonRequest } from '../../../support/salesforce';
import { shopifyRequest } from '../../../support/shopify';

/**
 * Envelopes exactly as ingest builds them: every event goes through the real provider parser, so
 * the entity handlers see the shapes (ids, meta, payloads) production sees.
 */

export const RECEIVED_AT = new Date('2025-11-29T10:10:00.000Z');

type Json = Record<string, unknown>;

function fixtureText(path: string): string {
  return readFileSync(new URL(`../../../../fixtures/${path}`, import.meta.url), 'utf8');
}

/** A fixture parsed as ingest parses it (ids above 2^53 become exact decimal strings). */
export function fixture(path: string): Json {
  return parseJsonExact(fixtureText(path)) as Json;
}

/** Named events of a fixture file holding a map of them. */
export function fixtureEvent(path: string, name: string): Json {
  const event = fixture(path)[name];
  if (typeof event !== 'object' || event === null) throw new Error(`${path} has no event ${name}`);
  return structuredClone(event) as Json;
}

function toEnvelope(provider: ProviderName, event: ProviderEvent): Envelope {
  return envelopeSchema.parse({
    version: 1,
    provider,
    priority: priorityOf(provider, event.eventType),
    receivedAt: RECEIVED_AT.toISOString(),
    ...event,
  });
}

function only<T>(items: readonly T[]): T {
  if (items.length !== 1) throw new Error(`expected one event, got ${items.length}`);
  return items[0] as T;
}

// Shopify --------------------------------------------------------------------------------------

export interface ShopifyOptions {
  topic: string;
  webhookId?: string;
  shopDomain?: string;
  /** X-Shopify-Triggered-At: the source time of bodies without updated_at (deletions). */
  triggeredAt?: string;
}

/** A Shopify delivery of a raw body (bytes as stored, big ids as bare JSON numbers). */
export function shopifyRaw(body: string, options: ShopifyOptions): Envelope {
  const request = shopifyRequest(Buffer.from(body), {
    topic: options.topic,
    webhookId: options.webhookId ?? `wh-${options.topic}-${body.length}`,
    headers: {
      ...(options.shopDomain ? { 'x-shopify-shop-domain': options.shopDomain } : {}),
      ...(options.triggeredAt ? { 'x-shopify-triggered-at': options.triggeredAt } : {}),
    },
  });
  return toEnvelope('shopify', only(shopify.parse(request, RECEIVED_AT)));
}

export function shopifyFixtureText(path: string): string {
  return fixtureText(path);
}

/** A Shopify delivery of a payload object (ids as strings, as ingest would hold them). */
export function shopifyEvent(payload: Json, options: ShopifyOptions): Envelope {
  return shopifyRaw(JSON.stringify(payload), options);
}

// HubSpot --------------------------------------------------------------------------------------

/** One HubSpot webhook event (a batch of one), as HubSpot posts it. */
export function hubspotEvent(event: Json): Envelope {
  return only(hubspotEvents([event]));
}

export function hubspotEvents(events: Json[]): Envelope[] {
  const request = {
    method: 'POST',
    url: 'https://hooks.example.com/api/webhooks/hubspot',
    headers: { 'content-type': 'application/json' },
    body: Buffer.from(JSON.stringify(events)),
    sourceIp: '54.174.52.1',
  };
  return hubspot.parse(request, RECEIVED_AT).map((event) => toEnvelope('hubspot', event));
}

// Salesforce -----------------------------------------------------------------------------------

/** The envelopes of a CDC or simplified JSON delivery (one per record id). */
export function salesforceEvents(body: Json | Json[]): Envelope[] {
  return salesforce
    .parse(salesforceJsonRequest(body), RECEIVED_AT)
    .map((event) => toEnvelope('salesforce', event));
}

export function salesforceEvent(body: Json): Envelope {
  return only(salesforceEvents(body));
}

export function outboundMessageEvents(): Envelope[] {
  return salesforce
    .parse(outboundMessageRequest(), RECEIVED_AT)
    .map((event) => toEnvelope('salesforce', event));
}

/** A CDC event with header fields replaced. */
export function withHeader(event: Json, header: Json): Json {
  return { ...event, ChangeEventHeader: { ...(event.ChangeEventHeader as Json), ...header } };
}
