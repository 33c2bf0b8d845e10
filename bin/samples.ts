/**
 * Realistic, correctly signed provider deliveries, shared by `npm run send`, the end-to-end tests
 * and the benchmarks. Each sample is exactly what the provider would POST.
 */
import { createHash, createHmac, randomInt, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { ProviderName } from '../shared/envelope';
import { outboundMessageUrl, PROVIDER_WIDE_SCOPE } from '../shared/providers/outbound-message-token';

export interface SignedRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface SampleOptions {
  /** The full URL the request goes to (HubSpot signs it). */
  url: string;
  secret: string;
  /** Object id to use; random by default so each send creates a new record. */
  objectId?: string;
  /** Source time of the change; now by default. */
  at?: Date;
  /** Salesforce org id (Outbound Messages and token claims). */
  orgId?: string;
}

type SampleBuilder = (
  options: SampleOptions & { eventType: string },
) => Promise<SignedRequest> | SignedRequest;

const SHOPIFY_TOPICS = [
  'orders/create',
  'orders/updated',
  'orders/paid',
  'orders/cancelled',
  'orders/fulfilled',
  'customers/create',
  'customers/update',
  'products/create',
  'products/update',
  'inventory_levels/update',
] as const;

const HUBSPOT_TYPES = [
  'contact.creation',
  'contact.propertyChange',
  'contact.deletion',
  'contact.merge',
  'contact.associationChange',
  'company.creation',
  'company.propertyChange',
  'deal.creation',
  'deal.stageChange',
  'deal.deletion',
  'object.creation',
] as const;

const SALESFORCE_TYPES = [
  'OpportunityChangeEvent',
  'LeadChangeEvent',
  'AccountChangeEvent',
  'TaskChangeEvent',
  'CaseChangeEvent',
  'OpportunityOutboundMessage',
] as const;

export const SAMPLE_EVENT_TYPES: Record<ProviderName, readonly string[]> = {
  shopify: SHOPIFY_TOPICS,
  hubspot: HUBSPOT_TYPES,
  salesforce: SALESFORCE_TYPES,
};

export const DEFAULT_ORG_ID = '00D5g000004XyZ1EAK';

/** The scope of an endpoint's Outbound Message token: the config id of a per-config URL, else provider-wide. */
function outboundMessageScope(url: string): string {
  const configId = /\/api\/webhooks\/salesforce\/([0-9a-f-]{36})\/?$/i.exec(new URL(url).pathname)?.[1];
  return configId?.toLowerCase() ?? PROVIDER_WIDE_SCOPE;
}

/** 18 digits, above 2^53, like real Shopify ids. */
function bigId(): string {
  return `${randomInt(100_000, 999_999)}${randomInt(100_000, 999_999)}${randomInt(100_000, 999_999)}`;
}

function salesforceId(prefix: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let id = prefix;
  while (id.length < 18) id += alphabet[randomInt(alphabet.length)];
  return id;
}

const shopify: SampleBuilder = ({ url, secret, eventType, objectId, at = new Date() }) => {
  const id = objectId ?? bigId();
  const time = at.toISOString();
  const resource = eventType.split('/')[0];
  const payloads: Record<string, () => object> = {
    orders: () => ({
      id: `@${id}@`,
      admin_graphql_api_id: `gid://shopify/Order/${id}`,
      order_number: randomInt(1000, 9999),
      name: '#1001',
      email: 'jon@example.com',
      currency: 'USD',
      total_price: '403.00',
      subtotal_price: '398.00',
      financial_status: eventType === 'orders/paid' ? 'paid' : 'pending',
      fulfillment_status: eventType === 'orders/fulfilled' ? 'fulfilled' : null,
      cancelled_at: eventType === 'orders/cancelled' ? time : null,
      created_at: time,
      updated_at: time,
      customer: {
        id: '@706405506930370084@',
        email: 'jon@example.com',
        first_name: 'Jon',
        last_name: 'Snow',
      },
      line_items: [{ id: '@866550311766439020@', title: 'IPod Nano - 8GB', quantity: 1, price: '199.00' }],
    }),
    customers: () => ({
      id: `@${id}@`,
      email: 'bob@example.com',
      first_name: 'Bob',
      last_name: 'Norman',
      orders_count: 0,
      state: 'disabled',
      total_spent: '0.00',
      created_at: time,
      updated_at: time,
    }),
    products: () => ({
      id: `@${id}@`,
      title: 'Example T-Shirt',
      vendor: 'Acme',
      product_type: 'Shirts',
      status: 'active',
      created_at: time,
      updated_at: time,
    }),
    inventory_levels: () => ({
      inventory_item_id: `@${objectId ?? '271878346596884015'}@`,
      location_id: 24826418,
      available: randomInt(0, 100),
      updated_at: time,
    }),
  };
  const build = payloads[resource ?? ''];
  if (!build) throw new Error(`Unknown Shopify topic ${eventType}`);
  // Ids above 2^53 are written as bare JSON numbers, exactly as Shopify sends them.
  const body = JSON.stringify(build()).replace(/"@(\d+)@"/g, '$1');
  return {
    url,
    body,
    headers: {
      'Content-Type': 'application/json',
      'X-Shopify-Topic': eventType,
      'X-Shopify-Hmac-Sha256': createHmac('sha256', secret).update(body).digest('base64'),
      'X-Shopify-Shop-Domain': 'example.myshopify.com',
      'X-Shopify-API-Version': '2026-10',
      'X-Shopify-Webhook-Id': randomUUID(),
      'X-Shopify-Event-Id': randomUUID(),
      'X-Shopify-Triggered-At': time,
    },
  };
};

const hubspot: SampleBuilder = ({ url, secret, eventType, objectId, at = new Date() }) => {
  const base = {
    eventId: randomInt(1, 2 ** 31),
    subscriptionId: 1_234_567,
    portalId: 62_515,
    appId: 54_321,
    occurredAt: at.getTime(),
    attemptNumber: 0,
    objectId: Number(objectId ?? randomInt(1, 2 ** 40)),
    changeSource: 'CRM',
  };
  const [objectType] = eventType.split('.');
  const events: Record<string, object> = {
    'deal.stageChange': {
      subscriptionType: 'deal.propertyChange',
      propertyName: 'dealstage',
      propertyValue: 'closedwon',
    },
    'contact.propertyChange': {
      subscriptionType: eventType,
      propertyName: 'email',
      propertyValue: 'new@example.com',
    },
    'company.propertyChange': {
      subscriptionType: eventType,
      propertyName: 'name',
      propertyValue: 'Acme Inc',
    },
    'contact.merge': {
      subscriptionType: eventType,
      primaryObjectId: base.objectId,
      mergedObjectIds: [101, 102],
      newObjectId: base.objectId,
    },
    'contact.associationChange': {
      subscriptionType: eventType,
      associationType: 'CONTACT_TO_COMPANY',
      fromObjectId: base.objectId,
      toObjectId: 555,
      associationRemoved: false,
    },
    'object.creation': { subscriptionType: eventType, objectTypeId: '0-1' },
  };
  if (!objectType || !['contact', 'company', 'deal', 'object'].includes(objectType)) {
    throw new Error(`Unknown HubSpot event type ${eventType}`);
  }
  const body = JSON.stringify([
    { ...base, ...(events[eventType] ?? { subscriptionType: eventType, changeFlag: 'CREATED' }) },
  ]);
  const timestamp = String(Date.now());
  const signature = createHmac('sha256', secret).update(`POST${url}${body}${timestamp}`).digest('base64');
  return {
    url,
    body,
    headers: {
      'Content-Type': 'application/json',
      'X-HubSpot-Signature-v3': signature,
      'X-HubSpot-Request-Timestamp': timestamp,
      // Older apps also send the v1 header; v3 is preferred when both are present.
      'X-HubSpot-Signature': createHash('sha256')
        .update(secret + body)
        .digest('hex'),
      'X-HubSpot-Signature-Version': 'v1',
    },
  };
};

const ENTITY_PREFIXES: Record<string, string> = {
  Opportunity: '006',
  Lead: '00Q',
  Account: '001',
  Task: '00T',
  Case: '500',
};

const FIELDS: Record<string, object> = {
  Opportunity: { StageName: 'Closed Won', Amount: 50000, Name: 'Acme - 200 licenses' },
  Lead: { Status: 'Working - Contacted', Company: 'Acme', Email: 'lead@example.com' },
  Account: { Name: 'Acme Inc', Industry: 'Manufacturing' },
  Task: { Subject: 'Follow up', Status: 'Not Started', Priority: 'High' },
  Case: { Subject: 'Cannot log in', Status: 'New', Priority: 'High' },
};

const salesforce: SampleBuilder = async ({
  url,
  secret,
  eventType,
  objectId,
  at = new Date(),
  orgId = DEFAULT_ORG_ID,
}): Promise<SignedRequest> => {
  const entity = /^([A-Za-z]+?)(ChangeEvent|OutboundMessage)$/.exec(eventType)?.[1];
  if (!entity || !ENTITY_PREFIXES[entity]) throw new Error(`Unknown Salesforce event type ${eventType}`);
  const recordId = objectId ?? salesforceId(ENTITY_PREFIXES[entity]);
  if (eventType.endsWith('OutboundMessage')) {
    const fields = Object.entries(FIELDS[entity] ?? {})
      .map(([name, value]) => `<sf:${name}>${value}</sf:${name}>`)
      .join('');
    const body =
      '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" ' +
      'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>' +
      `<notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>${orgId}</OrganizationId>` +
      `<ActionId>04k5g000000XyZ1AAK</ActionId><SessionId xsi:nil="true"/><Notification><Id>${salesforceId('04l')}</Id>` +
      `<sObject xsi:type="sf:${entity}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com"><sf:Id>${recordId}</sf:Id>` +
      `${fields}<sf:LastModifiedDate>${at.toISOString()}</sf:LastModifiedDate></sObject></Notification></notifications>` +
      '</soapenv:Body></soapenv:Envelope>';
    // Salesforce posts to the endpoint URL its admin set: the one with the endpoint's token.
    return {
      url: outboundMessageUrl(url, secret, outboundMessageScope(url)),
      body,
      headers: { 'Content-Type': 'text/xml; charset=utf-8', SOAPAction: '""' },
    };
  }
  const body = JSON.stringify({
    ChangeEventHeader: {
      entityName: entity,
      recordIds: [recordId],
      changeType: 'UPDATE',
      changedFields: Object.keys(FIELDS[entity] ?? {}),
      commitTimestamp: at.getTime(),
      commitNumber: randomInt(1, 2 ** 40),
      commitUser: '0055g00000ABCDEAA4',
      sequenceNumber: 1,
      transactionKey: randomUUID(),
    },
    ...FIELDS[entity],
  });
  // Short-lived and bound to this body: a captured token is worth nothing elsewhere, or for long.
  const token = await new SignJWT({
    organization_id: orgId,
    body_sha256: createHash('sha256').update(body).digest('hex'),
  })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer('https://login.salesforce.com')
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(secret));
  return { url, body, headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` } };
};

const BUILDERS: Record<ProviderName, SampleBuilder> = { shopify, hubspot, salesforce };

export function signedSample(
  provider: ProviderName,
  eventType: string,
  options: SampleOptions,
): Promise<SignedRequest> {
  return Promise.resolve(BUILDERS[provider]({ ...options, eventType }));
}
