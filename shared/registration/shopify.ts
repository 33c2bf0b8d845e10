import { asRecord, providerMessage, redact, sendJson, splitIds, truncate } from './http';
import { type SubscriptionApi, subscribeAll, unsubscribeAll } from './subscriptions';
import {
  type RegistrationDeps,
  type RegistrationResult,
  SHOP_DOMAIN,
  type ShopifyCredentials,
  type UnregistrationResult,
} from './types';

export const SHOPIFY_DEFAULT_API_VERSION = '2025-10';

const CREATE_MUTATION = `mutation webhookSubscriptionCreate($topic: WebhookSubscriptionTopic!, $webhookSubscription: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription) {
    webhookSubscription { id }
    userErrors { field message }
  }
}`;

const DELETE_MUTATION = `mutation webhookSubscriptionDelete($id: ID!) {
  webhookSubscriptionDelete(id: $id) {
    deletedWebhookSubscriptionId
    userErrors { field message }
  }
}`;

/** `orders/create` -> `ORDERS_CREATE` (a WebhookSubscriptionTopic value); undefined if it cannot be one. */
export function shopifyTopic(event: string): string | undefined {
  const topic = event.trim().toUpperCase().replaceAll('/', '_');
  return /^[A-Z][A-Z0-9_]{0,98}[A-Z0-9]$/.test(topic) ? topic : undefined;
}

/** 2025-10 added `uri` to WebhookSubscriptionInput and deprecated `callbackUrl`; older versions only know the latter. */
export function shopifyEndpointField(apiVersion: string): 'uri' | 'callbackUrl' {
  return apiVersion === 'unstable' || apiVersion >= '2025-10' ? 'uri' : 'callbackUrl';
}

/** One subscription per topic; `externalWebhookId` is the created GIDs joined with ','. */
export async function registerShopify(
  events: readonly string[],
  endpointUrl: string,
  credentials: ShopifyCredentials,
  deps: RegistrationDeps,
): Promise<RegistrationResult> {
  if (!SHOP_DOMAIN.test(credentials.shop_domain)) {
    return { status: 'failed', reason: 'Shopify shop_domain must be <name>.myshopify.com' };
  }
  const topics = new Map<string, string>();
  for (const event of events) {
    const topic = shopifyTopic(event);
    if (!topic) {
      return { status: 'failed', reason: `"${truncate(event)}" is not a Shopify topic (e.g. orders/create)` };
    }
    if (!topics.has(topic)) topics.set(topic, event);
  }
  if (topics.size === 0) return { status: 'failed', reason: 'No events to subscribe to' };

  const apiVersion = credentials.api_version ?? SHOPIFY_DEFAULT_API_VERSION;
  const webhookSubscription = { [shopifyEndpointField(apiVersion)]: endpointUrl, format: 'JSON' };
  return subscribeAll(
    shopifyApi(credentials, deps, webhookSubscription),
    [...topics].map(([topic, event]) => [event, topic] as const),
  );
}

/** Shopify's subscriptions through the Admin GraphQL API of one shop. */
function shopifyApi(
  credentials: ShopifyCredentials,
  deps: RegistrationDeps,
  webhookSubscription: Record<string, string> = {},
): SubscriptionApi<string> {
  return {
    provider: 'Shopify',
    noun: '',
    create: async (topic) => {
      const outcome = await mutate(credentials, deps, CREATE_MUTATION, 'webhookSubscriptionCreate', {
        topic,
        webhookSubscription,
      });
      return outcome.ok ? { ok: true, id: gidOf(outcome.payload) } : outcome;
    },
    remove: (id) => deleteSubscription(id, credentials, deps),
  };
}

export async function unregisterShopify(
  externalWebhookId: string,
  credentials: ShopifyCredentials,
  deps: RegistrationDeps,
): Promise<UnregistrationResult> {
  if (!SHOP_DOMAIN.test(credentials.shop_domain)) {
    return { ok: false, reason: 'Shopify shop_domain must be <name>.myshopify.com' };
  }
  return unsubscribeAll(shopifyApi(credentials, deps), splitIds(externalWebhookId));
}

async function deleteSubscription(
  id: string,
  credentials: ShopifyCredentials,
  deps: RegistrationDeps,
): Promise<{ ok: true } | { ok: false; reason: string }> {
  const outcome = await mutate(credentials, deps, DELETE_MUTATION, 'webhookSubscriptionDelete', { id });
  // Already gone is what we wanted: keeps unregistering idempotent.
  if (!outcome.ok && /does ?n[o']t exist|not found/i.test(outcome.reason)) return { ok: true };
  return outcome.ok ? { ok: true } : outcome;
}

type MutationOutcome = { ok: true; payload: Record<string, unknown> } | { ok: false; reason: string };

async function mutate(
  credentials: ShopifyCredentials,
  deps: RegistrationDeps,
  query: string,
  field: string,
  variables: Record<string, unknown>,
): Promise<MutationOutcome> {
  const apiVersion = credentials.api_version ?? SHOPIFY_DEFAULT_API_VERSION;
  const secrets = [credentials.access_token];
  const outcome = await sendJson(
    deps,
    {
      method: 'POST',
      url: `https://${credentials.shop_domain}/admin/api/${apiVersion}/graphql.json`,
      headers: { 'X-Shopify-Access-Token': credentials.access_token },
      body: { query, variables },
    },
    secrets,
  );
  if (!outcome.ok) return outcome;
  const body = asRecord(outcome.body);
  // Access, throttling and schema problems arrive as HTTP 200 with top-level `errors`.
  if (body?.errors !== undefined) {
    return { ok: false, reason: redact(providerMessage(body) ?? 'GraphQL error', secrets) };
  }
  const payload = asRecord(asRecord(body?.data)?.[field]);
  if (!payload) return { ok: false, reason: 'unexpected response from Shopify' };
  const userErrors = Array.isArray(payload.userErrors) ? payload.userErrors : [];
  if (userErrors.length > 0) {
    const messages = userErrors.map((error) => String(asRecord(error)?.message ?? 'unknown error'));
    return { ok: false, reason: redact(truncate(messages.join('; ')), secrets) };
  }
  return { ok: true, payload };
}

function gidOf(payload: Record<string, unknown>): string | undefined {
  const id = asRecord(payload.webhookSubscription)?.id;
  return typeof id === 'string' && id !== '' && !id.includes(',') ? id : undefined;
}
