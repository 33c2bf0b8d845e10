import { asRecord, sendJson, splitIds, truncate } from './http';
import { type SubscriptionApi, subscribeAll, unsubscribeAll } from './subscriptions';
import {
  APP_ID,
  type HubspotCredentials,
  type RegistrationDeps,
  type RegistrationResult,
  type UnregistrationResult,
} from './types';

const API = 'https://api.hubapi.com/webhooks/v3';

/** HubSpot's documented example values; the settings PUT requires a throttling object. */
export const HUBSPOT_THROTTLING = { maxConcurrentRequests: 10, period: 'SECONDLY' } as const;

export interface HubspotSubscription {
  eventType: string;
  propertyName?: string;
}

/**
 * `contact.creation` or `contact.propertyChange:email`. A propertyChange subscription is for one
 * property, so it must name it; other event types take none.
 */
export function parseHubspotEvent(
  event: string,
): { ok: true; value: HubspotSubscription } | { ok: false; reason: string } {
  const [eventType = '', propertyName, ...rest] = event.trim().split(':');
  if (rest.length > 0 || !/^[a-z][a-z_]{0,49}\.[A-Za-z]{1,50}$/.test(eventType)) {
    return { ok: false, reason: `"${truncate(event)}" is not a HubSpot event type (e.g. contact.creation)` };
  }
  const isPropertyChange = eventType.endsWith('.propertyChange');
  if (propertyName === undefined || propertyName === '') {
    return isPropertyChange
      ? { ok: false, reason: `${eventType} needs a property: use ${eventType}:<property name>` }
      : { ok: true, value: { eventType } };
  }
  if (!isPropertyChange)
    return { ok: false, reason: `Only propertyChange events take a property (${truncate(event)})` };
  if (!/^[A-Za-z0-9_]{1,100}$/.test(propertyName)) {
    return { ok: false, reason: `"${truncate(propertyName)}" is not a HubSpot property name` };
  }
  return { ok: true, value: { eventType, propertyName } };
}

/**
 * Points the app's webhooks at `endpointUrl`, then creates one subscription per event.
 * HubSpot webhook settings are per app (not per account): the target URL is shared by every
 * subscription of that app.
 */
export async function registerHubspot(
  events: readonly string[],
  endpointUrl: string,
  credentials: HubspotCredentials,
  deps: RegistrationDeps,
): Promise<RegistrationResult> {
  if (!APP_ID.test(credentials.app_id)) return { status: 'failed', reason: 'HubSpot app_id must be numeric' };
  const subscriptions = new Map<string, { event: string; subscription: HubspotSubscription }>();
  for (const event of events) {
    const parsed = parseHubspotEvent(event);
    if (!parsed.ok) return { status: 'failed', reason: parsed.reason };
    const key = `${parsed.value.eventType}:${parsed.value.propertyName ?? ''}`;
    if (!subscriptions.has(key)) subscriptions.set(key, { event, subscription: parsed.value });
  }
  if (subscriptions.size === 0) return { status: 'failed', reason: 'No events to subscribe to' };

  const settings = await call(deps, credentials, 'PUT', '/settings', {
    targetUrl: endpointUrl,
    throttling: HUBSPOT_THROTTLING,
  });
  if (!settings.ok) {
    return { status: 'failed', reason: `HubSpot could not set the webhook target URL: ${settings.reason}` };
  }

  return subscribeAll(
    hubspotApi(credentials, deps),
    [...subscriptions.values()].map(({ event, subscription }) => [event, subscription] as const),
  );
}

/** HubSpot's webhook subscriptions of one app. */
function hubspotApi(
  credentials: HubspotCredentials,
  deps: RegistrationDeps,
): SubscriptionApi<HubspotSubscription> {
  return {
    provider: 'HubSpot',
    noun: 'subscription ',
    create: async (subscription) => {
      const outcome = await call(deps, credentials, 'POST', '/subscriptions', {
        ...subscription,
        active: true,
      });
      return outcome.ok ? { ok: true, id: idOf(outcome.body) } : outcome;
    },
    remove: (id) => deleteSubscription(id, credentials, deps),
  };
}

export async function unregisterHubspot(
  externalWebhookId: string,
  credentials: HubspotCredentials,
  deps: RegistrationDeps,
): Promise<UnregistrationResult> {
  if (!APP_ID.test(credentials.app_id)) return { ok: false, reason: 'HubSpot app_id must be numeric' };
  return unsubscribeAll(hubspotApi(credentials, deps), splitIds(externalWebhookId));
}

async function deleteSubscription(
  id: string,
  credentials: HubspotCredentials,
  deps: RegistrationDeps,
): Promise<{ ok: true } | { ok: false; reason: string }> {
  // Ids are ours (from a create response) but still go into a path: only digits are sent.
  if (!/^\d{1,20}$/.test(id)) return { ok: false, reason: 'not a HubSpot subscription id' };
  const outcome = await call(deps, credentials, 'DELETE', `/subscriptions/${id}`);
  // Already gone is what we wanted: keeps unregistering idempotent.
  return outcome.ok || outcome.status === 404 ? { ok: true } : outcome;
}

/** The developer API key authenticates app-level calls as the `hapikey` query parameter. */
function call(
  deps: RegistrationDeps,
  credentials: HubspotCredentials,
  method: 'PUT' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
) {
  const url = new URL(`${API}/${credentials.app_id}${path}`);
  url.searchParams.set('hapikey', credentials.developer_api_key);
  return sendJson(deps, { method, url: url.toString(), body }, [credentials.developer_api_key]);
}

/** HubSpot documents the id as a string ("12") but older responses use a number. */
function idOf(body: unknown): string | undefined {
  const id = asRecord(body)?.id;
  if (typeof id === 'number' && Number.isSafeInteger(id)) return String(id);
  return typeof id === 'string' && /^\d{1,20}$/.test(id) ? id : undefined;
}
