/**
 * The inputs of issue 15's "Why" list, as the fault runs send them (test/support/fault-run.ts),
 * each with how it must end: every one is answered 2xx and ends visible, processed or quarantined,
 * none lost. (The bad-input corpus has the same inputs case by case: test/fixtures/bad-input.)
 */
import type { ProviderName } from '../../shared/envelope';
import { hubspotV3, shopifyHmac } from './signing';

export interface FaultInput {
  name: string;
  /** The request, signed with the run's secrets for the stack at `baseUrl`. */
  request(baseUrl: string, secrets: Record<ProviderName, string>): { url: string; init: RequestInit };
  /** `quarantined`: verified, kept whole with the reason, one entry per input. */
  ends: 'quarantined';
}

export const FAULT_INPUTS: readonly FaultInput[] = [
  {
    name: 'a valid Shopify signature over a body that is not an order',
    ends: 'quarantined',
    request: (baseUrl, secrets) => {
      const body = JSON.stringify({ note: 'an order without its id', total_price: '12.00' });
      return {
        url: `${baseUrl}/api/webhooks/shopify`,
        init: {
          method: 'POST',
          headers: {
            'Content-Type': 'application/json',
            'X-Shopify-Topic': 'orders/create',
            'X-Shopify-Hmac-Sha256': shopifyHmac(secrets.shopify, body),
            'X-Shopify-Webhook-Id': 'fault-input-no-id',
          },
          body,
        },
      };
    },
  },
  {
    name: 'a valid HubSpot v3 signature over a batch with an event of an unknown shape',
    ends: 'quarantined',
    request: (baseUrl, secrets) => {
      const url = `${baseUrl}/api/webhooks/hubspot`;
      const occurredAt = Date.now();
      const event = { eventId: 1, subscriptionId: 7, portalId: 62_515, appId: 54_321, occurredAt };
      const body = JSON.stringify([
        { ...event, subscriptionType: 'contact.creation', objectId: 1 },
        { ...event, eventId: 2, subscriptionType: 'contact.creation' },
      ]);
      const timestamp = String(Date.now());
      return {
        url,
        init: {
          method: 'POST',
          headers: {
            'Content-Type': 'application/json',
            'X-HubSpot-Signature-v3': hubspotV3(secrets.hubspot, 'POST', url, body, timestamp),
            'X-HubSpot-Request-Timestamp': timestamp,
          },
          body,
        },
      };
    },
  },
];
